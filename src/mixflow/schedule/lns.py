"""Large-neighbourhood search: free a window of the incumbent, re-solve it with CP-SAT, keep if no worse.

Neighbourhoods are consecutive operations in start order (a time window), all operations of a few
machines (a machine group), or all operations of a few jobs. Small and medium problems re-solve the
neighbourhood inside the whole model with the other operations chained in their machine order; at
plant scale only the neighbourhood is modelled and everything else is a constant. After every
accepted move the schedule is re-timed (left-shifted keeping every machine's order), so a gain in one
window propagates to the whole plan. The neighbourhood size adapts: it grows when CP-SAT proves the
window optimal quickly and shrinks when it runs out of time.
"""

from __future__ import annotations

import time

import numpy as np

from mixflow.schedule import _kernels
from mixflow.schedule._arrays import FlatProblem, score
from mixflow.schedule.cpsat import Incumbent, solve_chained, solve_local
from mixflow.schedule.dispatch import durations_of

STEP_LIMIT = 0.3
CHAINED_LIMIT = 2500
"""Problems up to this many operations re-solve neighbourhoods inside the whole (chained) model."""


def retime(
    flat: FlatProblem, machine: np.ndarray, start: np.ndarray, floor: np.ndarray | None = None
) -> Incumbent:
    """Earliest feasible times keeping each machine's order as in `start` (and never before `floor`)."""
    order = np.lexsort((flat.topo_rank, start))
    duration = durations_of(flat, machine)
    new_start = _kernels.propagate(
        order, machine, duration, np.zeros(flat.n_ops, dtype=np.int64) if floor is None else floor,
        flat.pred_ptr, flat.pred_idx, flat.family, flat.setup, flat.machine_setup,
        flat.down_ptr, flat.down_start, flat.down_end, flat.release, flat.n_machines,
    )
    return Incumbent(machine, new_start, new_start + duration)


def _window(incumbent: Incumbent, size: int, rng: np.random.Generator) -> np.ndarray:
    order = np.argsort(incumbent.start, kind="stable")
    first = int(rng.integers(0, max(len(order) - size, 0) + 1))
    return order[first : first + size]


def _machines(flat: FlatProblem, incumbent: Incumbent, size: int, rng: np.random.Generator) -> np.ndarray:
    counts = np.bincount(incumbent.machine, minlength=flat.n_machines)
    chosen: list[int] = []
    total = 0
    for m in rng.permutation(flat.n_machines):
        if total >= size:
            break
        chosen.append(int(m))
        total += int(counts[m])
    return np.flatnonzero(np.isin(incumbent.machine, chosen))


def _jobs(flat: FlatProblem, size: int, rng: np.random.Generator) -> np.ndarray:
    lengths = flat.job_last - flat.job_first + 1
    picked: list[np.ndarray] = []
    total = 0
    for j in rng.permutation(flat.n_jobs):
        if total >= size:
            break
        picked.append(np.arange(flat.job_first[j], flat.job_last[j] + 1))
        total += int(lengths[j])
    return np.concatenate(picked) if picked else np.zeros(0, dtype=np.int64)


def _group_window(flat: FlatProblem, incumbent: Incumbent, size: int, rng: np.random.Generator) -> np.ndarray:
    """Operations on one operation's eligible machines, nearest in time to it (a machine group's window).

    For tardiness the operation belongs to a late job (picked by weighted lateness), for makespan it
    ends at the makespan or is a random one.
    """
    seed_op = int(rng.integers(flat.n_ops))
    if not flat.makespan_objective:
        late = np.where(flat.job_due >= 0, np.maximum(incumbent.end[flat.job_last] - flat.job_due, 0), 0)
        late = late * flat.job_weight
        if late.sum() > 0:
            j = int(rng.choice(flat.n_jobs, p=late / late.sum()))
            seed_op = int(rng.integers(flat.job_first[j], flat.job_last[j] + 1))
    machines = flat.mode_machine[flat.mode_ptr[seed_op] : flat.mode_ptr[seed_op + 1]]
    on_group = np.flatnonzero(np.isin(incumbent.machine, machines))
    distance = np.abs(incumbent.start[on_group] - incumbent.start[seed_op])
    return on_group[np.argsort(distance, kind="stable")[:size]]


def improve(
    flat: FlatProblem, incumbent: Incumbent, time_limit: float, seed: int, workers: int, lower_bound: int
) -> tuple[Incumbent, int]:
    """Improve `incumbent` by LNS until `time_limit` seconds pass or it meets `lower_bound`.

    Returns the best schedule and the number of improving moves.
    """
    rng = np.random.default_rng(seed)
    deadline = time.perf_counter() + time_limit
    best = incumbent
    best_score = score(flat, best.end)[0]
    chained = flat.n_ops <= CHAINED_LIMIT
    size = min(flat.n_ops, 60 if chained else 40)
    step_limit = STEP_LIMIT if chained else 0.5
    moves = 0
    while best_score > lower_bound:
        left = deadline - time.perf_counter()
        if left <= 0.05:
            break
        kind = int(rng.integers(3))
        if chained:
            if kind == 0:
                free_ops = _window(best, size, rng)
            else:
                free_ops = _machines(flat, best, size, rng) if kind == 1 else _jobs(flat, size, rng)
            free = np.zeros(flat.n_ops, dtype=bool)
            free[free_ops] = True
            step_seed = int(rng.integers(1 << 30))
            solved = solve_chained(flat, best, free, min(step_limit, left), step_seed, workers)
        else:
            free_ops = _group_window(flat, best, size, rng) if kind else _window(best, size, rng)
            solved = solve_local(flat, best, np.sort(free_ops), min(step_limit, left),
                                 int(rng.integers(1 << 30)), workers)
        if solved is None:
            size = max(8, int(size * 0.8))
            continue
        candidate = retime(flat, *solved.overlay(best.machine, best.start))
        value = score(flat, candidate.end)[0]
        if value <= best_score:
            moves += value < best_score
            best, best_score = candidate, value
        size = min(flat.n_ops, int(size * 1.1) + 1) if solved.optimal else max(8, int(size * 0.9))
    return best, moves
