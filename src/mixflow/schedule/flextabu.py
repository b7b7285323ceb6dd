"""Tabu search that also moves critical operations to other eligible machines (flexible shops)."""

from __future__ import annotations

import time

import numpy as np

from mixflow.schedule import _flextabu
from mixflow.schedule._arrays import FlatProblem
from mixflow.schedule.cpsat import Incumbent

FLEX_LIMIT = 1500
"""Largest flexible problem (operations) the machine-reassigning tabu search runs on: it scores every
candidate move exactly, O(operations) each."""


def improve_assignment(
    flat: FlatProblem, incumbent: Incumbent, time_limit: float, seed: int, lower_bound: int = 0
) -> Incumbent:
    """Shorten the makespan of `incumbent` within `time_limit` seconds by tabu search that moves critical
    operations within their machine sequence or to another eligible machine (flexible shops)."""
    n = flat.n_ops
    if n == 0 or n > FLEX_LIMIT or not flat.makespan_objective:
        return incumbent
    deadline = time.perf_counter() + time_limit
    machine = incumbent.machine.astype(np.int64)
    dmat = np.full((n, flat.n_machines), -1, dtype=np.int64)
    rows = np.repeat(np.arange(n), np.diff(flat.mode_ptr))
    dmat[rows, flat.mode_machine] = flat.mode_duration
    order = np.lexsort((flat.topo_rank, incumbent.start, machine))
    count = np.bincount(machine, minlength=flat.n_machines).astype(np.int64)
    seq = np.full((flat.n_machines, n), -1, dtype=np.int64)
    first = np.concatenate(([0], np.cumsum(count)[:-1]))
    for m in range(flat.n_machines):
        seq[m, : count[m]] = order[first[m] : first[m] + count[m]]
    best_seq, best_count, best_machine = seq.copy(), count.copy(), machine.copy()
    tabu_machine = np.zeros((n, flat.n_machines), dtype=np.int64)
    tabu_op = np.zeros(n, dtype=np.int64)
    best = int(incumbent.end.max())
    iteration = stale = 0
    chunk = 20
    rng = np.random.default_rng(seed)
    while time.perf_counter() < deadline and best > lower_bound:
        before = time.perf_counter()
        best, iteration, stale = _flextabu.search(
            seq, count, machine, dmat, flat.mode_ptr, flat.mode_machine, flat.pred_ptr, flat.pred_idx,
            flat.succ_ptr, flat.succ_idx, flat.family, flat.setup, flat.machine_setup, flat.down_ptr,
            flat.down_start, flat.down_end, flat.release, best_seq, best_count, best_machine, tabu_machine,
            tabu_op, iteration, chunk, rng.integers(0, 1 << 30, 4099), 5, 10, 500, best, stale,
        )
        if time.perf_counter() - before < 0.05:
            chunk = min(2 * chunk, 1 << 20)
    start = np.zeros(n, dtype=np.int64)
    end = np.zeros(n, dtype=np.int64)
    pos = np.full(n, -1, dtype=np.int64)
    for m in range(flat.n_machines):
        pos[best_seq[m, : best_count[m]]] = np.arange(best_count[m])
    _flextabu.evaluate(best_seq, best_count, pos, best_machine, dmat, flat.pred_ptr, flat.pred_idx,
                       flat.succ_ptr, flat.succ_idx, flat.family, flat.setup, flat.machine_setup,
                       flat.down_ptr, flat.down_start, flat.down_end, flat.release, start, end,
                       np.zeros(n, dtype=np.int64), np.zeros(n, dtype=np.int64))
    if int(end.max()) > int(incumbent.end.max()):
        return incumbent
    return Incumbent(best_machine, start, end)
