"""Every solver returns a schedule the independent checker accepts, on problems with every feature."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from mixflow.errors import ValidationError
from mixflow.schedule import METHODS, Job, Machine, Mode, Operation, ProblemData, check, lns, solve
from mixflow.schedule.formats import read

DATA = Path(__file__).parent / "data"


@pytest.mark.parametrize("method", METHODS)
def test_methods_give_checked_schedules(flexible: ProblemData, method: str) -> None:
    result = solve(flexible, time_limit=1.0, seed=3, method=method)
    report = check(flexible, result.machine, result.start, result.end)
    assert report.feasible, report.violations
    assert report.objective == result.objective
    assert result.lower_bound <= result.objective


@pytest.mark.parametrize("method", ["auto", "cpsat"])
def test_tardiness_objective(tardy: ProblemData, method: str) -> None:
    result = solve(tardy, time_limit=1.0, seed=0, method=method)
    report = check(tardy, result.machine, result.start, result.end)
    assert report.feasible, report.violations
    assert result.objective == report.weighted_tardiness


def brute_force_makespan(data: ProblemData) -> int:
    """Optimal makespan of a tiny job shop: best semi-active schedule over all machine orders."""
    best = None
    n_machines = len(data.machines)
    ops = [(j, o) for j, job in enumerate(data.jobs) for o in range(len(job.operations))]
    per_machine = [[op for op in ops if data.jobs[op[0]].operations[op[1]].modes[0].machine == m]
                   for m in range(n_machines)]
    for orders in itertools.product(*(itertools.permutations(group) for group in per_machine)):
        end: dict[tuple[int, int], int] = {}
        position = [0] * n_machines
        free = [0] * n_machines
        progress = True
        while progress:
            progress = False
            for m, order in enumerate(orders):
                if position[m] < len(order):
                    j, o = order[position[m]]
                    if o == 0 or (j, o - 1) in end:
                        mode = data.jobs[j].operations[o].modes[0]
                        start = max(free[m], end.get((j, o - 1), 0))
                        end[(j, o)] = free[m] = start + mode.duration
                        position[m] += 1
                        progress = True
        if len(end) == len(ops):
            makespan = max(end.values())
            best = makespan if best is None else min(best, makespan)
    assert best is not None
    return best


def test_cpsat_and_auto_reach_the_brute_force_optimum() -> None:
    data = read(DATA / "tiny3x3.txt")
    optimum = brute_force_makespan(data)
    for method in ("cpsat", "auto"):
        assert solve(data, time_limit=2.0, method=method).makespan == optimum


def test_a_proved_optimum_ends_the_solve_early(flexible: ProblemData) -> None:
    # the second worker's moment of CP-SAT proves this small shop's optimum (setups, downtime, releases):
    # the solve returns it with that bound instead of searching out its limit
    result = solve(flexible, time_limit=60.0, seed=0, workers=2)
    assert result.lower_bound == result.makespan
    assert result.time_s < 30.0
    assert check(flexible, result.machine, result.start, result.end).feasible


def test_local_lns_keeps_schedules_valid(tardy: ProblemData, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(lns, "CHAINED_LIMIT", 0)  # force the plant-scale neighbourhoods
    result = solve(tardy, time_limit=1.5, seed=1)
    assert check(tardy, result.machine, result.start, result.end).feasible


def test_seed_gives_the_same_dispatch(flexible: ProblemData) -> None:
    first = solve(flexible, time_limit=0.2, seed=5, method="dispatch")
    again = solve(flexible, time_limit=0.2, seed=5, method="dispatch")
    assert first.objective == again.objective


def test_setup_and_downtime_push_the_second_operation() -> None:
    machine = Machine("m", downtime=((5, 8),), setup_times=((0, 4), (4, 0)))
    data = ProblemData((machine,), (Job((Operation((Mode(0, 3),), family=0),)),
                                    Job((Operation((Mode(0, 2),), family=1),))))
    result = solve(data, time_limit=1.0, method="cpsat")
    assert result.makespan == 10  # 0-3, setup 3-7 overlaps the downtime, then 8-10


def test_bad_arguments() -> None:
    data = read(DATA / "tiny3x3.txt")
    with pytest.raises(ValidationError, match="method"):
        solve(data, method="magic")
    with pytest.raises(ValidationError, match="time limit"):
        solve(data, time_limit=0)
