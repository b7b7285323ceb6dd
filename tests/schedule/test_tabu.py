"""The sequence tabu searches: the pure job-shop one finds optima and never closes a cycle; the general
one keeps setups and downtime; both give checked schedules no longer than their start."""

from __future__ import annotations

import numpy as np

from mixflow.schedule import Job, Machine, Mode, Operation, ProblemData, _jobshop, check
from mixflow.schedule._arrays import FlatProblem, flat_of
from mixflow.schedule.cpsat import Incumbent, solve_full
from mixflow.schedule.lns import retime
from mixflow.schedule.tabu import improve_sequences, pure_job_shop


def _job_shop(seed: int, jobs: int, machines: int, revisits: bool = False, **machine_args: object
              ) -> ProblemData:
    """Random job shop: each job visits every machine once in a random order (or, with `revisits`,
    random machines that may repeat within a job)."""
    rng = np.random.default_rng(seed)
    job_list = []
    for _ in range(jobs):
        route = rng.integers(0, machines, machines) if revisits else rng.permutation(machines)
        job_list.append(Job(tuple(Operation((Mode(int(m), int(rng.integers(1, 20))),),
                                            family=int(rng.integers(0, 2))) for m in route)))
    shop = tuple(Machine(f"m{m}", **machine_args) for m in range(machines))  # type: ignore[arg-type]
    return ProblemData(shop, tuple(job_list))


def _job_order_start(data: ProblemData) -> Incumbent:
    """A poor start: the operations in flat (job by job) order on every machine."""
    flat = flat_of(data)
    machine = flat.mode_machine[flat.mode_ptr[:-1]].astype(np.int64)
    return retime(flat, machine, np.arange(flat.n_ops, dtype=np.int64))


def test_pure_job_shop_is_recognised() -> None:
    assert pure_job_shop(flat_of(_job_shop(0, 4, 3)))
    assert not pure_job_shop(flat_of(_job_shop(0, 4, 3, setup_times=((0, 2), (2, 0)))))
    assert not pure_job_shop(flat_of(_job_shop(0, 4, 3, downtime=((5, 9),))))


def test_reaches_the_cpsat_optimum() -> None:
    # one and two threads
    for seed in range(3):
        data = _job_shop(seed, 8, 5)
        flat = flat_of(data)
        optimum = solve_full(flat, 10.0, 0, 1)
        assert optimum is not None and optimum.optimal
        start = _job_order_start(data)
        found = improve_sequences(flat, start, 3.0, seed, lower_bound=optimum.objective, workers=1 + seed % 2)
        report = check(data, found.machine, found.start, found.end)
        assert report.feasible, report.violations
        assert report.makespan == int(found.end.max()) == optimum.objective


def _arrays(flat: FlatProblem) -> tuple[np.ndarray, ...]:
    machine = flat.mode_machine.astype(np.int64)
    job_pred = np.full(flat.n_ops, -1, dtype=np.int64)
    job_pred[np.diff(flat.pred_ptr) == 1] = flat.pred_idx
    job_succ = np.full(flat.n_ops, -1, dtype=np.int64)
    job_succ[np.diff(flat.succ_ptr) == 1] = flat.succ_idx
    seq_ptr = np.zeros(flat.n_machines + 1, dtype=np.int64)
    seq_ptr[1:] = np.cumsum(np.bincount(machine, minlength=flat.n_machines))
    return machine, flat.mode_duration.astype(np.int64), job_pred, job_succ, seq_ptr


def test_accepted_moves_never_close_a_cycle() -> None:
    # jobs that revisit machines put job neighbours inside the jumped segments: the hardest case
    rng = np.random.default_rng(0)
    checked = 0
    for seed in range(4):
        data = _job_shop(seed, 6, 4, revisits=True)
        flat = flat_of(data)
        machine, duration, job_pred, job_succ, seq_ptr = _arrays(flat)
        n = flat.n_ops
        seq = np.lexsort((flat.topo_rank, _job_order_start(data).start, machine)).astype(np.int64)
        pos = np.empty(n, dtype=np.int64)
        pos[seq] = np.arange(n)
        head, tail, indeg, order = (np.zeros(n, dtype=np.int64) for _ in range(4))
        for _ in range(6):  # test every move of a state, then walk on by a random accepted one
            assert _jobshop.times(seq, pos, seq_ptr, machine, duration, job_pred, job_succ, head, tail,
                                  indeg, order) > 0
            accepted = []
            for m in range(flat.n_machines):
                for s in range(seq_ptr[m], seq_ptr[m + 1]):
                    for t in range(seq_ptr[m], seq_ptr[m + 1]):
                        if s != t and _jobshop._feasible(s, t, seq, pos, machine, duration, job_pred,
                                                         job_succ, head, tail):
                            accepted.append((s, t))
            for s, t in accepted:
                moved, moved_pos = seq.copy(), pos.copy()
                _jobshop._apply(s, t, moved, moved_pos)
                assert _jobshop.times(moved, moved_pos, seq_ptr, machine, duration, job_pred, job_succ,
                                      np.zeros(n, dtype=np.int64), np.zeros(n, dtype=np.int64), indeg,
                                      np.zeros(n, dtype=np.int64)) > 0
            checked += len(accepted)
            s, t = accepted[rng.integers(len(accepted))]
            _jobshop._apply(s, t, seq, pos)
    assert checked > 100


def test_general_search_keeps_setups_and_downtime() -> None:
    data = _job_shop(3, 6, 4, setup_times=((0, 4), (3, 0)), downtime=((30, 40),))
    start = _job_order_start(data)
    found = improve_sequences(flat_of(data), start, 0.5, 0)
    report = check(data, found.machine, found.start, found.end)
    assert report.feasible, report.violations
    assert int(found.end.max()) <= int(start.end.max())


def test_random_starts_are_acyclic_machine_sequences() -> None:
    # the walks that seed the elite pool start from random interleavings of the job chains
    data = _job_shop(1, 6, 4, revisits=True)
    flat = flat_of(data)
    machine, duration, job_pred, job_succ, seq_ptr = _arrays(flat)
    n = flat.n_ops
    rng = np.random.default_rng(0)
    seen = set()
    for _ in range(20):
        seq, pos = np.zeros(n, dtype=np.int64), np.zeros(n, dtype=np.int64)
        _jobshop._random_start(seq, pos, seq_ptr, machine, job_pred, job_succ, np.zeros(n, dtype=np.int64),
                               rng)
        assert sorted(seq) == list(range(n)) and (pos[seq] == np.arange(n)).all()
        assert (machine[seq] == np.repeat(np.arange(flat.n_machines), np.diff(seq_ptr))).all()
        assert _jobshop.times(seq, pos, seq_ptr, machine, duration, job_pred, job_succ,
                              *(np.zeros(n, dtype=np.int64) for _ in range(4))) > 0
        seen.add(tuple(seq))
    assert len(seen) > 10


def test_full_elite_pool_drops_a_near_twin_before_a_distant_worse_solution() -> None:
    # quality alone would turn the distant candidate away and keep two near copies of one region
    data = _job_shop(2, 8, 5)
    flat = flat_of(data)
    machine, _, job_pred, job_succ, seq_ptr = _arrays(flat)
    n = flat.n_ops
    rng = np.random.default_rng(1)
    starts = []
    for _ in range(3):
        seq, pos = np.zeros(n, dtype=np.int64), np.zeros(n, dtype=np.int64)
        _jobshop._random_start(seq, pos, seq_ptr, machine, job_pred, job_succ, np.zeros(n, dtype=np.int64),
                               rng)
        starts.append(seq)
    twin = starts[1].copy()
    for m in range(flat.n_machines):  # one adjacent swap per machine: 5 pairs apart
        twin[[seq_ptr[m], seq_ptr[m] + 1]] = twin[[seq_ptr[m] + 1, seq_ptr[m]]]
    rank = np.zeros(n, dtype=np.int64)
    assert _jobshop._distance(twin, starts[1], seq_ptr, rank) == flat.n_machines
    pool = np.stack([starts[0], starts[1], twin])
    values = np.array([100, 110, 110], dtype=np.int64)
    _jobshop._remember(starts[2], 120, pool, values, seq_ptr, rank, 0, 0.6)
    assert values.tolist() in ([100, 120, 110], [100, 110, 120])
    assert (pool[0] == starts[0]).all() and any((row == starts[2]).all() for row in pool)
    best_first = np.array([100, 110, 110], dtype=np.int64)
    pool = np.stack([starts[0], starts[1], twin])
    _jobshop._remember(starts[1], 90, pool, best_first, seq_ptr, rank, 0, 0.6)  # the better twin replaces
    assert best_first.tolist() == [100, 90, 110]
