"""Repair after a machine breakdown: move only what must move, and say what moved.

When machine m goes down over [start_s, end_s), the operations it was to run in that window (and the
one it was running) must go elsewhere. Each is placed in the earliest gap that fits it on one of its
eligible machines (m itself only after the repair), never inside the frozen window
[start_s, start_s + frozen_s) that the shop floor has already been told about. Everything else keeps
its machine and may only be pushed later, and only as far as precedences, machine order, setups and
calendars demand; operations that started before the breakdown stay as they are.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace

import numpy as np

from mixflow.errors import ValidationError
from mixflow.schedule import _kernels
from mixflow.schedule._arrays import FlatProblem, flat_of
from mixflow.schedule.cpsat import Incumbent
from mixflow.schedule.data import ProblemData
from mixflow.schedule.dispatch import durations_of
from mixflow.schedule.result import ScheduleResult
from mixflow.schedule.solve import result_of


@dataclass(frozen=True)
class Breakdown:
    """Machine `machine` (index) is down from `start_s` (now) until `end_s`."""

    machine: int
    start_s: int
    end_s: int

    def __post_init__(self) -> None:
        if self.machine < 0:
            raise ValidationError("Breakdown.machine", f"machine index must be >= 0, got {self.machine}")
        if not 0 <= self.start_s < self.end_s:
            raise ValidationError("Breakdown.end_s", f"window ({self.start_s}, {self.end_s}) is empty")


def with_breakdown(data: ProblemData, breakdown: Breakdown) -> ProblemData:
    """The same problem with the breakdown added to the machine's downtime."""
    if breakdown.machine >= len(data.machines):
        raise ValidationError("Breakdown.machine", f"machine {breakdown.machine} does not exist")
    machines = list(data.machines)
    down = machines[breakdown.machine]
    machines[breakdown.machine] = replace(
        down, downtime=tuple(sorted((*down.downtime, (breakdown.start_s, breakdown.end_s))))
    )
    return replace(data, machines=tuple(machines))


def _earliest_gap(
    flat: FlatProblem, i: int, m: int, duration: int, t0: int, machine: np.ndarray, start: np.ndarray,
    end: np.ndarray, placed: np.ndarray,
) -> int:
    """Earliest start >= t0 of operation i on machine m between the operations already there."""
    on = np.flatnonzero((machine == m) & placed)
    on = on[np.argsort(start[on], kind="stable")]
    prev = -1
    for nxt in [*on.tolist(), -1]:
        s = t0
        if prev >= 0:
            s = max(s, int(end[prev]) + flat.setup_between(m, prev, i))
        s = int(_kernels.fit_start(s, duration, m, flat.down_ptr, flat.down_start, flat.down_end))
        if nxt < 0 or s + duration + flat.setup_between(m, i, nxt) <= start[nxt]:
            return s
        prev = nxt
    raise AssertionError("the slot after a machine's last operation always fits")


def _flat_with_breakdown(data: ProblemData, breakdown: Breakdown) -> FlatProblem:
    """The flat arrays of `data` (as `solve` left them) with the breakdown merged into the
    machine's downtime, without validating and flattening the whole problem again."""
    if breakdown.machine >= len(data.machines):
        raise ValidationError("Breakdown.machine", f"machine {breakdown.machine} does not exist")
    flat = flat_of(data)
    m = breakdown.machine
    lo, hi = int(flat.down_ptr[m]), int(flat.down_ptr[m + 1])
    spans = sorted([*zip(flat.down_start[lo:hi].tolist(), flat.down_end[lo:hi].tolist(), strict=True),
                    (breakdown.start_s, breakdown.end_s)])
    merged: list[tuple[int, int]] = []
    for start, end in spans:
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    added = len(merged) - (hi - lo)
    down_ptr = flat.down_ptr.copy()
    down_ptr[m + 1 :] += added
    starts = np.asarray([a for a, _ in merged], dtype=np.int64)
    ends = np.asarray([b for _, b in merged], dtype=np.int64)
    return replace(
        flat,
        down_ptr=down_ptr,
        down_start=np.concatenate([flat.down_start[:lo], starts, flat.down_start[hi:]]),
        down_end=np.concatenate([flat.down_end[:lo], ends, flat.down_end[hi:]]),
    )


def repair(
    data: ProblemData, schedule: ScheduleResult, breakdown: Breakdown, frozen_s: int = 0
) -> ScheduleResult:
    """Repair `schedule` of `data` after `breakdown`; `moved` lists every (job, op) whose machine or
    start changed. The repaired schedule is feasible for `with_breakdown(data, breakdown)`."""
    started = time.perf_counter()
    if frozen_s < 0:
        raise ValidationError("repair.frozen_s", f"frozen window must be >= 0, got {frozen_s}")
    flat = _flat_with_breakdown(data, breakdown)
    if len(schedule.machine) != flat.n_ops:
        raise ValidationError("repair.schedule", "schedule does not match the problem's operations")
    machine = schedule.machine.astype(np.int64).copy()
    start = schedule.start.astype(np.int64).copy()
    end = schedule.end.astype(np.int64).copy()
    now, frozen_until = breakdown.start_s, breakdown.start_s + frozen_s
    hit = (machine == breakdown.machine) & (end > now) & (start < breakdown.end_s)
    must_move = np.flatnonzero(hit)
    floor = start.copy()
    placed = ~hit
    # place displaced operations in routing order so a job's later step sees its earlier one
    for i in must_move[np.argsort(flat.topo_rank[must_move])]:
        i = int(i)
        t0 = max(frozen_until, now, int(flat.release[i]))
        for k in range(flat.pred_ptr[i], flat.pred_ptr[i + 1]):
            t0 = max(t0, int(end[flat.pred_idx[k]]))
        best_m, best_s, best_end = -1, 0, np.iinfo(np.int64).max
        for k in flat.modes(i):
            m, d = int(flat.mode_machine[k]), int(flat.mode_duration[k])
            s = _earliest_gap(flat, i, m, d, t0, machine, start, end, placed)
            if s + d < best_end:
                best_m, best_s, best_end = m, s, s + d
        machine[i], start[i], end[i] = best_m, best_s, best_end
        floor[i] = best_s
        placed[i] = True
    duration = durations_of(flat, machine)
    # precedence pass (with calendars) so the processing order below respects every precedence
    one_mode = np.arange(flat.n_ops + 1, dtype=np.int64)
    topo = np.argsort(flat.topo_rank)
    pushed = _kernels.earliest_ends(
        topo, one_mode, machine, duration, flat.pred_ptr, flat.pred_idx, flat.down_ptr, flat.down_start,
        flat.down_end, np.maximum(floor, flat.release),
    ) - duration
    order = np.lexsort((flat.topo_rank, pushed))
    new_start = _kernels.propagate(
        order, machine, duration, floor, flat.pred_ptr, flat.pred_idx, flat.family, flat.setup,
        flat.machine_setup, flat.down_ptr, flat.down_start, flat.down_end, flat.release, flat.n_machines,
    )
    changed = np.flatnonzero((new_start != schedule.start) | (machine != schedule.machine))
    moved = tuple((int(flat.op_job[i]), int(i - flat.job_first[flat.op_job[i]])) for i in changed)
    incumbent = Incumbent(machine, new_start, new_start + duration)
    # more downtime never lowers a bound, so the schedule's bound still holds
    return result_of(flat, incumbent, schedule.lower_bound, started, "repair", moved)
