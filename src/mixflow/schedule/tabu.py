"""Tabu search on the machine sequences of an incumbent (makespan only; machines stay as assigned)."""

from __future__ import annotations

import time

import numpy as np

from mixflow.schedule import _tabu
from mixflow.schedule._arrays import FlatProblem
from mixflow.schedule.cpsat import Incumbent
from mixflow.schedule.dispatch import durations_of

TABU_LIMIT = 4000
"""Largest problem (operations) the tabu search runs on; its tabu matrix is n x n."""


def improve_sequences(
    flat: FlatProblem, incumbent: Incumbent, time_limit: float, seed: int, lower_bound: int = 0
) -> Incumbent:
    """Shorten the makespan of `incumbent` by tabu search within `time_limit` seconds."""
    n = flat.n_ops
    if n == 0 or n > TABU_LIMIT or not flat.makespan_objective:
        return incumbent
    deadline = time.perf_counter() + time_limit
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
