"""The pure flexible job-shop kernel values every insertion exactly, and its walks find optima."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from mixflow.schedule import Job, Machine, Mode, Operation, ProblemData, check, flextabu
from mixflow.schedule import _flexjobshop as fj
from mixflow.schedule._arrays import FlatProblem, flat_of
from mixflow.schedule._kernels import put_in, take_out
from mixflow.schedule.cpsat import solve_full
from mixflow.schedule.flextabu import (
    LEAD_CHECK,
    _Member,
    _SecondWorker,
    _Shop,
    improve_assignment,
    pure_flexible_job_shop,
)
from mixflow.schedule.lns import retime


def _plain(seed: int, jobs: int = 6, machines: int = 4, ops: int = 4) -> ProblemData:
    """A random flexible job shop without setups, releases or downtime (one to three machines each)."""
    rng = np.random.default_rng(seed)
    shop = tuple(Machine(f"m{m}") for m in range(machines))
    job_list = tuple(
        Job(tuple(
            Operation(tuple(Mode(int(m), int(rng.integers(1, 10)))
                            for m in rng.choice(machines, size=int(rng.integers(1, 4)), replace=False)))
            for _ in range(ops)
        ))
        for _ in range(jobs)
    )
    return ProblemData(shop, job_list)


def _random_member(shop: _Shop, rng: np.random.Generator) -> _Member:
    """Random eligible machines and a random order (as far as the job chains allow)."""
    flat = shop.flat
    machine = np.array([flat.mode_machine[rng.integers(flat.mode_ptr[i], flat.mode_ptr[i + 1])]
                        for i in range(flat.n_ops)], dtype=np.int64)
    return shop.rows(machine, rng.permutation(flat.n_ops))


def test_insertion_values_are_the_exact_makespans() -> None:
    checked = 0
    for seed in range(5):
        flat = flat_of(_plain(seed))
        shop = _Shop(flat, seed)
        n = flat.n_ops
        member = _random_member(shop, np.random.default_rng(seed))
        seq, count, machine = member.seq, member.count, member.machine
        pos = np.full(n, -1, dtype=np.int64)
        for m in range(flat.n_machines):
            pos[seq[m, : count[m]]] = np.arange(count[m])
        head, tail, indeg, order = (np.zeros(n, dtype=np.int64) for _ in range(4))
        makespan = fj.times(seq, count, pos, machine, shop.dmat, shop.job_pred, shop.job_succ, -1, head, tail,
                            indeg, order)
        assert makespan == member.makespan
        rank = np.empty(n, dtype=np.int64)
        rank[order] = np.arange(n)
        ends = head[order] + shop.dmat[order, machine[order]]
        end_before = np.concatenate(([0], np.maximum.accumulate(ends)))
        width = len(flat.mode_machine) + 2 * n + 2
        out = [np.zeros(width, dtype=np.int64) for _ in range(4)]
        for v in range(n):
            home, home_k = int(machine[v]), int(pos[v])
            take_out(v, seq, count, pos, machine)
            head2, tail2 = np.zeros(n, dtype=np.int64), np.zeros(n, dtype=np.int64)
            lminus = fj.times_without(v, seq, count, pos, machine, shop.dmat, shop.job_pred, shop.job_succ,
                                      order, rank, head, tail, end_before, head2, tail2)
            head3, tail3 = np.zeros(n, dtype=np.int64), np.zeros(n, dtype=np.int64)
            assert lminus == fj.times(seq, count, pos, machine, shop.dmat, shop.job_pred, shop.job_succ, v,
                                      head3, tail3, indeg, np.zeros(n, dtype=np.int64))
            others = np.arange(n) != v
            assert (head2[others] == head3[others]).all() and (tail2[others] == tail3[others]).all()
            found = fj.insertions(v, home, home_k, seq, count, machine, shop.dmat, flat.mode_ptr,
                                  flat.mode_machine, shop.job_pred, shop.job_succ, head2, tail2, lminus, *out)
            put_in(v, home, home_k, seq, count, pos, machine)
            for x in range(found):
                take_out(v, seq, count, pos, machine)
                put_in(v, int(out[0][x]), int(out[1][x]), seq, count, pos, machine)
                exact = fj.times(seq, count, pos, machine, shop.dmat, shop.job_pred, shop.job_succ, -1,
                                 np.zeros(n, dtype=np.int64), np.zeros(n, dtype=np.int64), indeg,
                                 np.zeros(n, dtype=np.int64))
                assert exact == out[2][x] >= 0  # acyclic, and valued exactly
                take_out(v, seq, count, pos, machine)
                put_in(v, home, home_k, seq, count, pos, machine)
                checked += 1
    assert checked > 500


def test_walk_reaches_the_cpsat_optimum() -> None:
    data = _plain(3, jobs=6, machines=3, ops=3)
    flat = flat_of(data)
    optimum = solve_full(flat, 5.0, 0, 1)
    assert optimum is not None and optimum.optimal
    shop = _Shop(flat, 0)
    best = _random_member(shop, np.random.default_rng(0))
    rng = np.random.default_rng(1)
    for _ in range(5):  # walks one after another, each from the best so far
        best = shop.exact_walk(best, 2000, float("inf"), optimum.objective, rng)
    assert best.makespan == optimum.objective
    assert check(data, best.machine, best.start, best.end).feasible


def test_pure_shops_only(make_problem: Callable[..., ProblemData]) -> None:
    assert pure_flexible_job_shop(flat_of(_plain(0)))
    assert not pure_flexible_job_shop(flat_of(make_problem(0)))  # setups, downtime, releases


def test_two_workers_give_checked_schedules_never_worse() -> None:
    for seed in range(3):
        data = _plain(seed, jobs=8, machines=4, ops=5)
        flat = flat_of(data)
        machine = flat.mode_machine[flat.mode_ptr[:-1]].astype(np.int64)
        start = retime(flat, machine, np.arange(flat.n_ops, dtype=np.int64))
        found, _ = improve_assignment(flat, start, 0.5, seed, workers=2)
        report = check(data, found.machine, found.start, found.end)
        assert report.feasible, report.violations
        assert report.makespan == int(found.end.max()) <= int(start.end.max())


class _StartsSeen(_Shop):
    """The real shop, noting the schedule each exact walk starts from."""

    def __init__(self, flat: FlatProblem, seed: int) -> None:
        super().__init__(flat, seed)
        self.starts: list[_Member] = []

    def exact_walk(self, member: _Member, *args: Any, **kwargs: Any) -> _Member:
        self.starts.append(member)
        return super().exact_walk(member, *args, **kwargs)


def test_second_thread_walks_from_members_of_the_population(monkeypatch: Any) -> None:
    # walking always from the one best schedule kept returning to its plateau (mk07)
    _without_proof(monkeypatch)
    flat = flat_of(_plain(4, jobs=8, machines=4, ops=5))
    shop = _StartsSeen(flat, 0)
    rng = np.random.default_rng(2)
    first, *population = (_random_member(shop, rng) for _ in range(4))
    side = _SecondWorker(shop, first, time.perf_counter() + 0.6, 0, 0)
    side.offer(first, population)
    time.sleep(0.6)
    side.stop.set()
    side.thread.join()
    later = shop.starts[1:]  # the first walk may begin before the offer
    assert len(later) >= 3
    assert all(any(start is member for member in population) for start in later)
    assert len({id(start) for start in later}) >= 2


def _without_proof(monkeypatch: Any) -> None:
    """No moment of CP-SAT first (`flextabu.cpsat_moment`): on these small shops it would prove the
    optimum and end the search before what the test looks at."""
    monkeypatch.setattr(flextabu, "PROOF_SHARE", 0.0)


def _memetic_starts(monkeypatch: Any) -> list[float]:
    """When the second worker starts its own memetic search (the real one runs); no CP-SAT run first."""
    _without_proof(monkeypatch)
    starts: list[float] = []
    real = flextabu.memetic

    def noted(*args: Any, **kwargs: Any) -> _Member:
        starts.append(time.perf_counter())
        return real(*args, **kwargs)

    monkeypatch.setattr(flextabu, "memetic", noted)
    return starts


def test_walks_that_do_not_lead_give_way_to_a_population_of_its_own(monkeypatch: Any) -> None:
    flat = flat_of(_plain(3, jobs=6, machines=3, ops=3))
    optimum = solve_full(flat, 5.0, 0, 1)
    assert optimum is not None and optimum.optimal
    machine, start = np.zeros(flat.n_ops, dtype=np.int64), np.zeros(flat.n_ops, dtype=np.int64)
    machine[optimum.ops], start[optimum.ops] = optimum.machine, optimum.start
    shop = _Shop(flat, 0)
    unbeatable = shop.rows(machine, shop.order_key(start))
    assert unbeatable.makespan == optimum.objective
    starts = _memetic_starts(monkeypatch)
    began = time.perf_counter()
    second = _SecondWorker(shop, unbeatable, began + 1.0, 0, 0)
    second.thread.join()
    assert len(starts) == 1 and starts[0] - began >= LEAD_CHECK * 1.0 - 0.05

    poor = _random_member(shop, np.random.default_rng(5))  # walks beat it at once and keep walking
    leading = _SecondWorker(shop, poor, time.perf_counter() + 0.5, 0, 0)
    leading.thread.join()
    assert len(starts) == 1 and leading.led and leading.best.makespan < poor.makespan


def test_where_walks_do_not_apply_the_second_worker_searches_alone(
    make_problem: Callable[..., ProblemData], monkeypatch: Any
) -> None:
    data = make_problem(0)  # setups, downtime, releases
    flat = flat_of(data)
    shop = _Shop(flat, 0)
    poor = _random_member(shop, np.random.default_rng(0))
    starts = _memetic_starts(monkeypatch)
    began = time.perf_counter()
    second = _SecondWorker(shop, poor, began + 1.0, 0, 0)
    second.thread.join()
    assert len(starts) == 1 and starts[0] - began < LEAD_CHECK * 1.0  # at once, not after the check
    assert second.best.makespan < poor.makespan
    report = check(data, second.best.machine, second.best.start, second.best.end)
    assert report.feasible, report.violations


@pytest.mark.parametrize("workers", [1, 2])
def test_an_optimum_cpsat_proves_ends_the_search_early(workers: int) -> None:
    # the moment of CP-SAT (the second worker's first step, or with one worker before the search) proves
    # this shop's optimum: the search stops there with that bound rather than searching out its limit
    data = _plain(3, jobs=6, machines=3, ops=3)
    flat = flat_of(data)
    optimum = solve_full(flat, 5.0, 0, 1)
    assert optimum is not None and optimum.optimal
    machine = flat.mode_machine[flat.mode_ptr[:-1]].astype(np.int64)
    start = retime(flat, machine, np.arange(flat.n_ops, dtype=np.int64))
    assert int(start.end.max()) > optimum.objective
    began = time.perf_counter()
    found, bound = improve_assignment(flat, start, 60.0, 0, workers=workers)
    assert time.perf_counter() - began < 30.0
    assert bound == int(found.end.max()) == optimum.objective
    assert check(data, found.machine, found.start, found.end).feasible


def test_without_time_for_cpsat_the_bound_is_the_one_given(monkeypatch: Any) -> None:
    _without_proof(monkeypatch)
    data = _plain(1, jobs=8, machines=4, ops=5)
    flat = flat_of(data)
    machine = flat.mode_machine[flat.mode_ptr[:-1]].astype(np.int64)
    start = retime(flat, machine, np.arange(flat.n_ops, dtype=np.int64))
    found, bound = improve_assignment(flat, start, 0.3, 0, lower_bound=7, workers=1)
    assert bound == 7 and int(found.end.max()) <= int(start.end.max())
