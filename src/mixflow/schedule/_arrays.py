"""ProblemData flattened into numpy arrays (CSR lists) for the numba kernels and the CP-SAT models."""

from __future__ import annotations

import weakref
from dataclasses import dataclass

import numpy as np

from mixflow.schedule.data import Objective, ProblemData


@dataclass(frozen=True)
class FlatProblem:
    """Arrays indexed by flat operation / machine / job index; built once per solve."""

    n_ops: int
    n_machines: int
    n_jobs: int
    op_job: np.ndarray
    job_first: np.ndarray
    job_last: np.ndarray
    mode_ptr: np.ndarray
    mode_machine: np.ndarray
    mode_duration: np.ndarray
    pred_ptr: np.ndarray
    pred_idx: np.ndarray
    succ_ptr: np.ndarray
    succ_idx: np.ndarray
    family: np.ndarray
    setup: np.ndarray
    machine_setup: np.ndarray
    down_ptr: np.ndarray
    down_start: np.ndarray
    down_end: np.ndarray
    release: np.ndarray
    job_due: np.ndarray
    job_weight: np.ndarray
    topo_rank: np.ndarray
    tail: np.ndarray
    makespan_objective: bool

    def modes(self, i: int) -> range:
        """Positions of operation i's modes in mode_machine / mode_duration."""
        return range(int(self.mode_ptr[i]), int(self.mode_ptr[i + 1]))

    def has_setups(self, machine: int) -> bool:
        """Whether the machine has a setup matrix at all."""
        return bool(self.machine_setup[machine] >= 0)

    def setup_between(self, machine: int, before: int, after: int) -> int:
        """Setup seconds on `machine` between operations `before` and `after` (flat indices)."""
        kind = self.machine_setup[machine]
        if kind < 0:
            return 0
        return int(self.setup[kind, self.family[before], self.family[after]])


def _csr(lists: list[list[int]]) -> tuple[np.ndarray, np.ndarray]:
    ptr = np.zeros(len(lists) + 1, dtype=np.int64)
    ptr[1:] = np.cumsum([len(items) for items in lists])
    flat = np.fromiter((x for items in lists for x in items), dtype=np.int64, count=int(ptr[-1]))
    return ptr, flat


def flatten(data: ProblemData) -> FlatProblem:
    """Build the flat arrays of `data` (validated already, so no checks here)."""
    n = data.num_operations
    offsets = np.asarray(data.job_offsets(), dtype=np.int64)
    op_job = np.repeat(np.arange(len(data.jobs), dtype=np.int64), np.diff(offsets))
    machines: list[list[int]] = []
    durations: list[list[int]] = []
    family = np.zeros(n, dtype=np.int64)
    release = np.zeros(n, dtype=np.int64)
    preds: list[list[int]] = [[] for _ in range(n)]
    succs: list[list[int]] = [[] for _ in range(n)]
    i = 0
    for job in data.jobs:
        for o, op in enumerate(job.operations):
            machines.append([mode.machine for mode in op.modes])
            durations.append([mode.duration for mode in op.modes])
            family[i] = op.family
            release[i] = job.release
            if o > 0:
                preds[i].append(i - 1)
                succs[i - 1].append(i)
            i += 1
    for before, after in data.precedences:
        a, b = data.op_index(*before), data.op_index(*after)
        preds[b].append(a)
        succs[a].append(b)
    mode_ptr, mode_machine = _csr(machines)
    _, mode_duration = _csr(durations)
    pred_ptr, pred_idx = _csr(preds)
    succ_ptr, succ_idx = _csr(succs)

    kinds: dict[tuple[tuple[int, ...], ...], int] = {}
    machine_setup = np.full(len(data.machines), -1, dtype=np.int64)
    for m, machine in enumerate(data.machines):
        if machine.setup_times is not None and any(any(row) for row in machine.setup_times):
            machine_setup[m] = kinds.setdefault(machine.setup_times, len(kinds))
    size = max([len(matrix) for matrix in kinds] + [1])
    setup = np.zeros((max(len(kinds), 1), size, size), dtype=np.int64)
    for matrix, kind in kinds.items():
        setup[kind, : len(matrix), : len(matrix)] = np.asarray(matrix, dtype=np.int64)

    windows = [sorted(machine.downtime) for machine in data.machines]
    merged: list[list[tuple[int, int]]] = []
    for spans in windows:
        out: list[tuple[int, int]] = []
        for start, end in spans:
            if out and start <= out[-1][1]:
                out[-1] = (out[-1][0], max(out[-1][1], end))
            else:
                out.append((start, end))
        merged.append(out)
    down_ptr = np.zeros(len(data.machines) + 1, dtype=np.int64)
    down_ptr[1:] = np.cumsum([len(spans) for spans in merged])
    down_start = np.asarray([s for spans in merged for s, _ in spans], dtype=np.int64)
    down_end = np.asarray([e for spans in merged for _, e in spans], dtype=np.int64)

    indeg = np.diff(pred_ptr)
    order = []
    stack = [int(k) for k in np.flatnonzero(indeg == 0)[::-1]]
    remaining = indeg.copy()
    while stack:
        k = stack.pop()
        order.append(k)
        for s in succ_idx[succ_ptr[k] : succ_ptr[k + 1]]:
            remaining[s] -= 1
            if remaining[s] == 0:
                stack.append(int(s))
    topo = np.asarray(order, dtype=np.int64)
    topo_rank = np.empty(n, dtype=np.int64)
    topo_rank[topo] = np.arange(n)
    min_duration = np.minimum.reduceat(mode_duration, mode_ptr[:-1]) if n else np.zeros(0, np.int64)
    tail = min_duration.astype(np.int64).copy()
    for k in topo[::-1]:
        nxt = succ_idx[succ_ptr[k] : succ_ptr[k + 1]]
        if len(nxt):
            tail[k] = min_duration[k] + tail[nxt].max()

    return FlatProblem(
        n_ops=n,
        n_machines=len(data.machines),
        n_jobs=len(data.jobs),
        op_job=op_job,
        job_first=offsets[:-1].copy(),
        job_last=offsets[1:] - 1,
        mode_ptr=mode_ptr,
        mode_machine=mode_machine,
        mode_duration=mode_duration,
        pred_ptr=pred_ptr,
        pred_idx=pred_idx,
        succ_ptr=succ_ptr,
        succ_idx=succ_idx,
        family=family,
        setup=setup,
        machine_setup=machine_setup,
        down_ptr=down_ptr,
        down_start=down_start,
        down_end=down_end,
        release=release,
        job_due=np.asarray([-1 if job.due is None else job.due for job in data.jobs], dtype=np.int64),
        job_weight=np.asarray([job.weight for job in data.jobs], dtype=np.int64),
        topo_rank=topo_rank,
        tail=tail,
        makespan_objective=data.objective is Objective.MAKESPAN,
    )


def score(flat: FlatProblem, end: np.ndarray) -> tuple[int, int, int]:
    """(objective, makespan, weighted tardiness) of a schedule's end times."""
    makespan = int(end.max()) if len(end) else 0
    completion = end[flat.job_last] if flat.n_jobs else np.zeros(0, dtype=np.int64)
    late = np.where(flat.job_due >= 0, np.maximum(completion - flat.job_due, 0), 0)
    tardiness = int((late * flat.job_weight).sum())
    return (makespan if flat.makespan_objective else tardiness), makespan, tardiness


_LATEST: list[tuple[weakref.ref[ProblemData], FlatProblem]] = []


def flat_of(data: ProblemData) -> FlatProblem:
    """`flatten(data)`, remembered for the latest problem object so a repair right after a solve of
    the same plan does not rebuild the arrays (problems are immutable, so this is safe)."""
    if _LATEST and _LATEST[0][0]() is data:
        return _LATEST[0][1]
    flat = flatten(data)
    _LATEST[:] = [(weakref.ref(data), flat)]
    return flat
