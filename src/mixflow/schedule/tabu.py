"""Tabu search on the machine sequences of an incumbent (makespan only; machines stay as assigned)."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import numpy as np

from mixflow.schedule import _jobshop, _tabu
from mixflow.schedule._arrays import FlatProblem
from mixflow.schedule.cpsat import Incumbent
from mixflow.schedule.dispatch import durations_of

TABU_LIMIT = 4000
"""Largest problem (operations) the tabu search runs on; its tabu matrix is n x n."""
POOL = 16
"""Elite solutions the pure job-shop search keeps to restart from. With admission by quality and
distance, ta10 (7.2 s, 2 threads, seeds 0-19) had 15 runs within 1% at 8, 18 at 16 and 12 at 30."""
PATIENCE = 5000
"""Steps without improvement after which a job-shop walk ends and a new one starts from the pool."""
NEAR = 10
"""Differing operation pairs below which two elite solutions count as one (the pool keeps the better)."""
FRESH = 8
"""Walks each thread starts from a random solution (random interleaving of the job chains) before it
relinks. Measured on ta10 (7.2 s, 2 threads, seeds 0-9, pool shared): 6 of 10 runs within 1% against
4 of 10 with every walk grown from the dispatch start."""
SHARED_LIMIT = 300
"""Largest problem (operations) whose walks share their pool, start from random solutions and kick near
twins; larger ones keep one pool per thread grown from the dispatch start, each walk relinking within
its own. Sharing was not measured to help on 20x20 at 30 s (ta21 seeds 0-2: 1661, 1660, 1658 shared,
1654, 1662, 1644 apart; ta22-ta24 seed 0 alike within run-to-run noise, ta23 gave 1571 both ways), so
larger problems keep the walks that were there."""
SPREAD = 60
"""Differing pairs below which two elite solutions are too alike to relink between; the walk then
restarts from one of them kicked towards a random neighbour (KICK adjacent swaps per machine)."""
KICK = 8
"""Random adjacent swaps per machine of the kick target (3 and 8 measured alike on ta10)."""
TENURE_SPAN = 4
"""Random extra tabu tenure of the job-shop search, on top of its minimum."""
BETA = 0.6
"""Weight of quality against distance when a full elite pool decides which solution to drop (the
value of Peng, Lu & Cheng 2015)."""


def pure_job_shop(flat: FlatProblem) -> bool:
    """Whether the problem is a classic job shop: one machine per operation, precedences forming
    chains, no releases, setups or downtime. Then heads and tails give exact longest paths and the
    faster `_jobshop` search applies."""
    return bool(
        (np.diff(flat.mode_ptr) == 1).all() and (np.diff(flat.pred_ptr) <= 1).all()
        and (np.diff(flat.succ_ptr) <= 1).all() and not flat.release.any()
        and (flat.machine_setup < 0).all() and flat.down_ptr[-1] == 0
    )


@dataclass
class _Walk:
    """One thread's search state: its sequences, tabu marks and elite pool (a copy of the shared one, as
    `handed` back last time, so that only what the walk changed is merged: each merge of a full pool
    measures the distances between all its members)."""

    seq: np.ndarray
    best_seq: np.ndarray
    walk_seq: np.ndarray
    tabu: np.ndarray
    pool: np.ndarray
    pool_value: np.ndarray
    state: np.ndarray
    handed: np.ndarray
    handed_value: np.ndarray


def _improve_job_shop(
    flat: FlatProblem, incumbent: Incumbent, deadline: float, seed: int, lower_bound: int, walks: int
) -> Incumbent:
    """`_jobshop.search` from the incumbent's machine sequences until `deadline`, in `walks` threads
    with their own seeds (the kernel releases the GIL); the best sequences win. On small problems each
    thread merges its elite pool into one shared pool between kernel calls and takes that back: with a
    pool per thread both pools grew out of the one dispatch start and held near-identical solutions."""
    n = flat.n_ops
    machine = flat.mode_machine.astype(np.int64)
    duration = flat.mode_duration.astype(np.int64)
    job_pred = np.full(n, -1, dtype=np.int64)
    job_pred[np.diff(flat.pred_ptr) == 1] = flat.pred_idx
    job_succ = np.full(n, -1, dtype=np.int64)
    job_succ[np.diff(flat.succ_ptr) == 1] = flat.succ_idx
    seq = np.lexsort((flat.topo_rank, incumbent.start, machine)).astype(np.int64)
    seq_ptr = np.zeros(flat.n_machines + 1, dtype=np.int64)
    seq_ptr[1:] = np.cumsum(np.bincount(machine, minlength=flat.n_machines))
    makespan = int(incumbent.end.max())
    # Zhang et al. 2007 draw the tenure from [L, 1.4 L] with L = 10 + jobs/machines; marking every pair a
    # move reverses makes the list stronger, and half that (L = 5 + jobs/machines) did better on ta01-ta10
    tenure_min = 5 + flat.n_jobs // flat.n_machines
    states = [
        _Walk(seq.copy(), seq.copy(), seq.copy(), np.zeros((n, n), dtype=np.int64),
              np.zeros((POOL, n), dtype=np.int64), np.full(POOL, -1, dtype=np.int64),
              np.array([0, 0, makespan, makespan, 0], dtype=np.int64),
              np.zeros((POOL, n), dtype=np.int64), np.full(POOL, -1, dtype=np.int64))
        for _ in range(walks)
    ]

    shared = n <= SHARED_LIMIT
    fresh, spread = (FRESH, SPREAD) if shared else (0, 0)
    shared_pool = np.zeros((POOL, n), dtype=np.int64)
    shared_value = np.full(POOL, -1, dtype=np.int64)
    lock = threading.Lock()

    def share(walk: _Walk, rank: np.ndarray) -> None:
        """Merge the walk's pool into the shared one and hand the result back, so every walk relinks
        between the elite solutions of all walks."""
        with lock:
            for e in range(POOL):
                changed = walk.pool_value[e] != walk.handed_value[e] or not np.array_equal(
                    walk.pool[e], walk.handed[e])
                if walk.pool_value[e] >= 0 and changed:
                    _jobshop._remember(walk.pool[e], walk.pool_value[e], shared_pool, shared_value, seq_ptr,
                                       rank, NEAR, BETA)
            walk.pool[:] = shared_pool
            walk.pool_value[:] = shared_value
            walk.handed[:] = shared_pool
            walk.handed_value[:] = shared_value

    def run(k: int) -> None:
        walk = states[k]
        rank = np.zeros(n, dtype=np.int64)
        rng = np.random.default_rng([seed, k])
        chunk = 1000
        while time.perf_counter() < deadline and min(w.state[2] for w in states) > lower_bound:
            before = time.perf_counter()
            _jobshop.search(walk.seq, seq_ptr, machine, duration, job_pred, job_succ, walk.best_seq,
                            walk.walk_seq, walk.tabu, walk.pool, walk.pool_value, walk.state, chunk,
                            tenure_min, TENURE_SPAN, PATIENCE, NEAR, BETA, lower_bound, fresh, spread, KICK,
                            rng)
            if shared:
                share(walk, rank)
            if time.perf_counter() - before < 0.05:
                chunk *= 2

    if walks == 1:
        run(0)
    else:
        threads = [threading.Thread(target=run, args=(k,)) for k in range(walks)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    best_seq = min(states, key=lambda w: int(w.state[2])).best_seq
    pos = np.empty(n, dtype=np.int64)
    pos[best_seq] = np.arange(n)
    head = np.zeros(n, dtype=np.int64)
    makespan = _jobshop.times(best_seq, pos, seq_ptr, machine, duration, job_pred, job_succ, head,
                              np.zeros(n, dtype=np.int64), np.zeros(n, dtype=np.int64),
                              np.zeros(n, dtype=np.int64))
    if makespan < 0 or makespan > int(incumbent.end.max()):
        return incumbent
    return Incumbent(machine, head, head + duration)


def improve_sequences(
    flat: FlatProblem, incumbent: Incumbent, time_limit: float, seed: int, lower_bound: int = 0,
    workers: int = 1,
) -> Incumbent:
    """Shorten the makespan of `incumbent` by tabu search within `time_limit` seconds; a pure job
    shop is searched by `workers` threads."""
    n = flat.n_ops
    if n == 0 or n > TABU_LIMIT or not flat.makespan_objective:
        return incumbent
    deadline = time.perf_counter() + time_limit
    if pure_job_shop(flat):
        return _improve_job_shop(flat, incumbent, deadline, seed, lower_bound, max(workers, 1))
    machine = incumbent.machine.astype(np.int64)
    duration = durations_of(flat, machine)
    order = np.lexsort((flat.topo_rank, incumbent.start, machine))
    seq = order.astype(np.int64)
    seq_ptr = np.zeros(flat.n_machines + 1, dtype=np.int64)
    seq_ptr[1:] = np.cumsum(np.bincount(machine, minlength=flat.n_machines))
    best_seq = seq.copy()
    tabu = np.zeros((n, n), dtype=np.int64)
    best = int(incumbent.end.max())
    iteration = stale = 0
    chunk = 200
    rng = np.random.default_rng(seed)
    tenure_min = 10 + n // 200
    while time.perf_counter() < deadline and best > lower_bound:
        before = time.perf_counter()
        best, iteration, stale = _tabu.search(
            seq, seq_ptr, machine, duration, flat.pred_ptr, flat.pred_idx, flat.succ_ptr, flat.succ_idx,
            flat.family, flat.setup, flat.machine_setup, flat.down_ptr, flat.down_start, flat.down_end,
            flat.release, best_seq, tabu, iteration, chunk, rng.integers(0, 1 << 30, 4099), tenure_min, 8,
            4000, best, stale,
        )
        spent = time.perf_counter() - before
        if spent < 0.05:
            chunk *= 2
    start = np.zeros(n, dtype=np.int64)
    end = np.zeros(n, dtype=np.int64)
    pos = np.empty(n, dtype=np.int64)
    pos[best_seq] = np.arange(n)
    _tabu.evaluate(best_seq, pos, seq_ptr, machine, duration, flat.pred_ptr, flat.pred_idx, flat.succ_ptr,
                   flat.succ_idx, flat.family, flat.setup, flat.machine_setup, flat.down_ptr,
                   flat.down_start, flat.down_end, flat.release, start, end, np.zeros(n, dtype=np.int64),
                   np.zeros(n, dtype=np.int64))
    if int(end.max()) > int(incumbent.end.max()):
        return incumbent
    return Incumbent(machine, start, end)
