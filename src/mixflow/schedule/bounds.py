"""Cheap proven lower bounds: longest routing path (from releases, through calendars) and machine loads."""

from __future__ import annotations

import numpy as np

from mixflow.schedule import _kernels
from mixflow.schedule._arrays import FlatProblem


def earliest_starts(flat: FlatProblem) -> np.ndarray:
    """Earliest start of each operation from releases and precedences alone (shortest durations)."""
    min_duration = np.minimum.reduceat(flat.mode_duration, flat.mode_ptr[:-1])
    est = flat.release.copy()
    for i in np.argsort(flat.topo_rank):
        preds = flat.pred_idx[flat.pred_ptr[i] : flat.pred_ptr[i + 1]]
        if len(preds):
            est[i] = max(est[i], int((est[preds] + min_duration[preds]).max()))
    return est


def lower_bound(flat: FlatProblem) -> int:
    """A bound no schedule can beat on the problem's objective (makespan or weighted tardiness)."""
    if flat.n_ops == 0:
        return 0
    est = earliest_starts(flat)
    min_duration = np.minimum.reduceat(flat.mode_duration, flat.mode_ptr[:-1])
    ends = _kernels.earliest_ends(
        np.argsort(flat.topo_rank), flat.mode_ptr, flat.mode_machine, flat.mode_duration, flat.pred_ptr,
        flat.pred_idx, flat.down_ptr, flat.down_start, flat.down_end, flat.release,
    )
    if not flat.makespan_objective:
        done = ends[flat.job_last]
        late = np.where(flat.job_due >= 0, np.maximum(done - flat.job_due, 0), 0)
        return int((late * flat.job_weight).sum())
    path = int((est + flat.tail).max())
    single = np.diff(flat.mode_ptr) == 1
    load = np.bincount(flat.mode_machine[flat.mode_ptr[:-1][single]],
                       weights=flat.mode_duration[flat.mode_ptr[:-1][single]], minlength=flat.n_machines)
    first_free = np.full(flat.n_machines, np.iinfo(np.int64).max)
    np.minimum.at(first_free, flat.mode_machine[flat.mode_ptr[:-1][single]], est[single])
    machine_bound = np.where(load > 0, first_free + load, 0).max()
    pooled = int(np.ceil(min_duration.sum() / flat.n_machines))
    return max(path, int(ends.max()), int(machine_bound), pooled)
