"""The machine-reassigning tabu search gives checked schedules no longer than its start, and finds optima."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from mixflow.schedule import Job, Machine, Mode, Operation, ProblemData, check
from mixflow.schedule._arrays import flat_of
from mixflow.schedule.cpsat import Incumbent, solve_full
from mixflow.schedule.flextabu import _Member, _replaced, _Shop, improve_assignment
from mixflow.schedule.lns import retime


def _all_on_first_machine(data: ProblemData) -> Incumbent:
    """A poor start: every operation on its first eligible machine, in job order."""
    flat = flat_of(data)
    machine = flat.mode_machine[flat.mode_ptr[:-1]].astype(np.int64)
    return retime(flat, machine, np.arange(flat.n_ops, dtype=np.int64))


def test_checked_and_never_worse(make_problem: Callable[..., ProblemData]) -> None:
    for seed in range(4):
        data = make_problem(seed, jobs=6, machines=4, ops=4)  # setups, downtime, releases, precedence
        start = _all_on_first_machine(data)
        found, _ = improve_assignment(flat_of(data), start, 0.3, seed)
        report = check(data, found.machine, found.start, found.end)
        assert report.feasible, report.violations
        assert report.makespan == int(found.end.max()) <= int(start.end.max())


def test_moves_work_to_the_idle_machine() -> None:
    # four one-operation jobs that may run on either machine: the start piles them on machine 0
    job = Job((Operation((Mode(0, 5), Mode(1, 5))),))
    data = ProblemData((Machine("a"), Machine("b")), (job,) * 4)
    start = _all_on_first_machine(data)
    assert int(start.end.max()) == 20
    found, _ = improve_assignment(flat_of(data), start, 1.0, 0, lower_bound=10)
    assert int(found.end.max()) == 10
    assert set(found.machine.tolist()) == {0, 1}


def test_one_step_trades_two_operations_between_machines() -> None:
    # each operation is slow on the machine it starts on: moving either alone makes the other machine
    # longer (12), trading places gives 2
    jobs = (Job((Operation((Mode(0, 2), Mode(1, 10))),)), Job((Operation((Mode(0, 10), Mode(1, 2))),)))
    data = ProblemData((Machine("a"), Machine("b")), jobs)
    flat = flat_of(data)
    start = retime(flat, np.array([1, 0], dtype=np.int64), np.zeros(2, dtype=np.int64))
    shop = _Shop(flat, 0)
    member = shop.rows(start.machine, shop.order_key(start.start))
    assert member.makespan == 10
    found = shop.walk(member, 1, float("inf"))
    assert found.makespan == 2
    assert found.machine.tolist() == [0, 1]


def test_reaches_the_cpsat_optimum() -> None:
    # a plain flexible job shop (no setups or calendars): 6 jobs x 3 operations on 3 machines
    rng = np.random.default_rng(5)
    jobs = tuple(
        Job(tuple(Operation(tuple(Mode(int(m), int(rng.integers(2, 10)))
                                  for m in rng.choice(3, size=2, replace=False))) for _ in range(3)))
        for _ in range(6)
    )
    data = ProblemData(tuple(Machine(f"m{m}") for m in range(3)), jobs)
    flat = flat_of(data)
    optimum = solve_full(flat, 5.0, 0, 1)
    assert optimum is not None and optimum.optimal
    found, _ = improve_assignment(flat, _all_on_first_machine(data), 2.0, 0, lower_bound=optimum.objective)
    assert check(data, found.machine, found.start, found.end).feasible
    assert int(found.end.max()) == optimum.objective


def test_crossed_children_are_checked_schedules(make_problem: Callable[..., ProblemData]) -> None:
    # the cross-job precedence of make_problem is what a plain merge of two orders could break
    for seed in range(6):
        data = make_problem(seed, jobs=6, machines=4, ops=4)
        flat = flat_of(data)
        shop = _Shop(flat, seed)
        first = shop.rows(_all_on_first_machine(data).machine, np.arange(flat.n_ops))
        second = shop.mutant(first, 1.0)
        child = shop.child(first, second)
        report = check(data, child.machine, child.start, child.end)
        assert report.feasible, report.violations
        assert report.makespan == child.makespan
        mine = (child.machine == first.machine) | (child.machine == second.machine)
        assert mine.mean() > 0.8  # at most the light mutation strays from both parents


def _member(makespan: int, machine: list[int]) -> _Member:
    """A population member of which only the makespan and machine assignment matter here."""
    empty = np.zeros(len(machine), dtype=np.int64)
    return _Member(empty, empty, np.array(machine, dtype=np.int64), empty, empty, makespan)


def test_a_child_replaces_the_closest_member_no_better_than_it() -> None:
    population = [_member(60, [0, 0, 0, 0]), _member(58, [1, 1, 0, 0]), _member(59, [1, 1, 1, 0])]
    # not the worst (60, three machines apart) but the 59 one machine apart; the 58 is better
    assert _replaced(population, _member(59, [1, 1, 1, 1])) == 2
    # an equal makespan counts as no better: the 58 one machine apart goes
    assert _replaced(population, _member(58, [1, 1, 0, 1])) == 1
    # of two members equally far, the worse goes
    assert _replaced(population, _member(57, [1, 0, 0, 0])) == 0
    # a child worse than every member, or one already kept, takes no place
    assert _replaced(population, _member(61, [0, 0, 0, 0])) == -1
    assert _replaced(population, _member(58, [1, 1, 0, 0])) == -1
