"""Fast constructive schedules: Giffler-Thompson dispatching with priority rules, randomised restarts.

Makespan problems favour the operation with the most work left on its path (MWKR); tardiness problems
the one with the least slack (due date minus work left). Restarts add seeded noise to the priorities.
"""

from __future__ import annotations

import time

import numpy as np

from mixflow.schedule import _kernels
from mixflow.schedule._arrays import FlatProblem, score


def durations_of(flat: FlatProblem, machine: np.ndarray) -> np.ndarray:
    """Duration of each operation on its assigned machine."""
    op_of_mode = np.repeat(np.arange(flat.n_ops), np.diff(flat.mode_ptr))
    used = flat.mode_machine == machine[op_of_mode]
    out = np.zeros(flat.n_ops, dtype=np.int64)
    out[op_of_mode[used]] = flat.mode_duration[used]
    return out


def priorities(flat: FlatProblem) -> np.ndarray:
    """Base dispatch priority per operation (smaller goes first)."""
    if flat.makespan_objective:
        return -flat.tail.astype(np.float64)
    due = flat.job_due[flat.op_job].astype(np.float64)
    slack = due - flat.tail
    no_due = flat.job_due[flat.op_job] < 0
    slack[no_due] = 1e15 - flat.tail[no_due]
    return slack


def build(flat: FlatProblem, priority: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One dispatch pass: (machine, start) per operation."""
    return _kernels.dispatch(
        flat.mode_ptr, flat.mode_machine, flat.mode_duration, flat.pred_ptr, flat.succ_ptr, flat.succ_idx,
        flat.family, flat.setup, flat.machine_setup, flat.down_ptr, flat.down_start, flat.down_end,
        flat.release, priority.astype(np.float64), flat.n_machines,
    )


def best_dispatch(
    flat: FlatProblem, time_limit: float, seed: int, max_restarts: int = 64
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The best of one plain and several noisy dispatch passes within `time_limit`: (machine, start, end)."""
    rng = np.random.default_rng(seed)
    base = priorities(flat)
    scale = float(np.abs(base[np.isfinite(base)]).max(initial=1.0)) * 0.15 if flat.n_ops else 1.0
    deadline = time.perf_counter() + time_limit
    best: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
    best_score = None
    for attempt in range(max_restarts):
        noise = 0.0 if attempt == 0 else rng.random(flat.n_ops) * scale
        machine, start = build(flat, base + noise)
        end = start + durations_of(flat, machine)
        value = score(flat, end)
        if best_score is None or value < best_score:
            best, best_score = (machine, start, end), value
        if time.perf_counter() > deadline:
            break
    assert best is not None
    return best
