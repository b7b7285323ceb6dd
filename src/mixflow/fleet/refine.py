"""Anytime improvement of a one-shot plan by large neighbourhood search (MAPF-LNS, Li et al. IJCAI 2021).

LaCAM finds a first plan fast but robots wait and detour a lot. Each LNS round takes a small group of
robots out of the plan, re-plans them one after another (random order) by space-time A* around
everybody else, and keeps the new paths if the group's sum of arrival times did not grow. Groups come
from four neighbourhoods chosen adaptively (ALNS): a late robot with the robots that cross its goal
after it could have arrived, a late robot with the robots on its way, the robots through one junction,
and random robots. Every accepted plan stays collision-free, so the search can be stopped at any
time. On warehouse-10-20-10-2-1 with 700 robots (random-1) it takes LaCAM's 91,598
to about 74,500 within 5 s of CPU in all (the sum of distances, a lower bound, is 56,964).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from mixflow.errors import ValidationError
from mixflow.fleet._kernels import bfs_to_goal, space_time_path
from mixflow.fleet.grid import Grid

MAX_BYTES = 256 << 20
"""Memory cap of the search tables (occupancy, space-time marks, one distance field per robot); a plan
too long or a floor too big for it is returned unchanged."""

NEIGHBOURHOODS = ("goal_crossers", "late_robot", "junction", "random")


@dataclass(frozen=True)
class Refined:
    """The improved plan `paths[t, agent]` (every robot on its goal in the last row) and the search's
    record: rounds run, rounds kept, sum of costs before and after."""

    paths: np.ndarray
    rounds: int
    kept: int
    sum_of_costs_before: int
    sum_of_costs: int


def arrivals(paths: np.ndarray, goals: np.ndarray) -> np.ndarray:
    """Each robot's arrival time: the first step from which it stays on its goal."""
    away = paths != goals[None, :]
    steps = paths.shape[0]
    return np.where(away.any(axis=0), steps - np.argmax(away[::-1], axis=0), 0).astype(np.int64)


class _Plan:
    """The plan being improved, with the occupancy table `occ[t, cell]` kept in step with it."""

    def __init__(self, grid: Grid, paths: np.ndarray, goals: np.ndarray, slack: int) -> None:
        steps = paths.shape[0]
        self.horizon = steps + slack
        self.paths = np.vstack([paths, np.repeat(paths[-1:], slack, axis=0)]).astype(np.int32)
        self.goals = goals
        self.arrival = arrivals(paths, goals)
        self.occ = np.full((self.horizon, grid.n_cells), -1, dtype=np.int32)
        self.rows = np.arange(self.horizon)
        for i in range(paths.shape[1]):
            self.occ[self.rows, self.paths[:, i]] = i

    def lift(self, i: int) -> None:
        self.occ[self.rows, self.paths[:, i]] = -1

    def put(self, i: int, path: np.ndarray) -> None:
        self.paths[:, i] = path
        self.occ[self.rows, path] = i


def refine_plan(
    grid: Grid,
    paths: np.ndarray,
    goals: np.ndarray,
    time_limit: float,
    seed: int = 0,
    group_size: int = 6,
    max_rounds: int | None = None,
    cpu_clock: bool = False,
    max_expansions: int = 20000,
    patience: int | None = None,
) -> Refined:
    """Lower the sum of costs of a solved, collision-free plan `paths[t, agent]` until `time_limit`
    seconds (CPU seconds of this thread if `cpu_clock`) or `max_rounds` rounds have passed, or
    `patience` rounds in a row (default 4 per robot) brought no gain, or every robot is on time.

    `max_expansions` bounds each space-time search; a search that hits it drops its round. Plans whose
    search tables would exceed MAX_BYTES come back unchanged (zero rounds).
    """
    if time_limit <= 0:
        raise ValidationError("time_limit", "must be positive")
    if group_size < 1:
        raise ValidationError("group_size", "must be >= 1")
    paths = np.asarray(paths, dtype=np.int32)
    goals = np.asarray(goals, dtype=np.int32)
    if paths.ndim != 2 or paths.shape[1] != len(goals) or not np.array_equal(paths[-1], goals):
        raise ValidationError("paths", "must be a solved plan: (steps+1, agents) ending on the goals")
    clock = time.thread_time if cpu_clock else time.perf_counter
    began = clock()
    n = len(goals)
    slack = max(32, paths.shape[0] // 2)
    states = (paths.shape[0] + slack) * grid.n_cells
    if states * 12 + n * grid.n_cells * 4 > MAX_BYTES:
        cost = int(arrivals(paths, goals).sum())
        return Refined(paths.copy(), 0, 0, cost, cost)  # too big to search in space-time here
    plan = _Plan(grid, paths, goals, slack)
    before = int(plan.arrival.sum())
    closed = np.zeros(grid.n_cells, dtype=np.bool_)
    h = np.empty((n, grid.n_cells), dtype=np.int32)
    for i in range(n):
        bfs_to_goal(grid.predecessors, int(goals[i]), closed, h[i])
    nbr = grid.neighbors
    shortest = h[np.arange(n), paths[0]].astype(np.int64)
    junctions = np.flatnonzero((nbr >= 0).sum(axis=1) >= 3)
    seen = np.zeros(plan.horizon * grid.n_cells, dtype=np.int32)
    parent = np.empty(plan.horizon * grid.n_cells, dtype=np.int32)
    heap_keys = np.empty(1 << 20, dtype=np.int64)
    heap_vals = np.empty(1 << 20, dtype=np.int64)
    out = np.empty(plan.horizon, dtype=np.int32)
    rng = np.random.default_rng(seed)
    weights = np.ones(len(NEIGHBOURHOODS))
    patience = 4 * n if patience is None else patience
    lower_bound = int(shortest.sum())
    rounds = kept = idle = stamp = 0
    while (
        clock() - began < time_limit
        and (max_rounds is None or rounds < max_rounds)
        and idle < patience
        and int(plan.arrival.sum()) > lower_bound
    ):
        rounds += 1
        idle += 1
        kind = int(rng.choice(len(NEIGHBOURHOODS), p=weights / weights.sum()))
        group = _neighbourhood(kind, plan, shortest, junctions, group_size, rng)
        if len(group) == 0:
            continue
        old_paths = plan.paths[:, group].copy()
        old_cost = int(plan.arrival[group].sum())
        for i in group:
            plan.lift(int(i))
        new_arrival = np.empty(len(group), dtype=np.int64)
        ok = True
        for k in rng.permutation(len(group)):
            i = int(group[k])
            goal = int(goals[i])
            busy = np.flatnonzero(plan.occ[:, goal] >= 0)
            stamp += 1
            t = space_time_path(
                nbr, h[i], int(paths[0, i]), goal, plan.occ, int(busy[-1]) + 1 if len(busy) else 0,
                seen, stamp, parent, heap_keys, heap_vals, out, max_expansions,
            )  # fmt: skip
            if t < 0:
                ok = False
                break
            out[t + 1 :] = goal
            plan.put(i, out)
            new_arrival[k] = t
        gain = old_cost - int(new_arrival.sum()) if ok else -1
        if gain < 0:
            for i in group:
                plan.lift(int(i))
            for k, i in enumerate(group):
                plan.put(int(i), old_paths[:, k])
        else:
            plan.arrival[group] = new_arrival
            kept += 1
            if gain > 0:
                idle = 0
        weights[kind] = 0.9 * weights[kind] + 0.1 * max(gain, 0) + 0.01
    last = int(plan.arrival.max(initial=0))
    result = plan.paths[: last + 1].copy()
    return Refined(result, rounds, kept, before, int(plan.arrival.sum()))


def _neighbourhood(
    kind: int, plan: _Plan, shortest: np.ndarray, junctions: np.ndarray, size: int, rng: np.random.Generator
) -> np.ndarray:
    """Robots to re-plan together: `kind` indexes NEIGHBOURHOODS."""
    n = plan.paths.shape[1]
    if kind <= 1:
        delay = (plan.arrival - shortest).astype(np.float64)
        if delay.sum() <= 0:
            return np.empty(0, dtype=np.int64)
        a = int(rng.choice(n, p=delay / delay.sum()))
        if kind == 0:  # robots crossing a's goal after a could have arrived keep a waiting
            column = plan.occ[int(shortest[a]) :, int(plan.goals[a])]
        else:  # robots on the cells a walks through, while a is on its way
            until = int(plan.arrival[a])
            column = plan.occ[:until, :][:, np.unique(plan.paths[:until, a])]
        others = np.unique(column[column >= 0])
        others = others[others != a]
        picked = rng.choice(others, size=min(size - 1, len(others)), replace=False) if len(others) else others
        return np.concatenate([[a], picked]).astype(np.int64)
    if kind == 2:
        cell = int(junctions[rng.integers(len(junctions))]) if len(junctions) else int(rng.integers(n))
        t0 = int(rng.integers(max(1, int(plan.arrival.max(initial=1)))))
        column = plan.occ[t0 : t0 + 16, cell]
        through = np.unique(column[column >= 0])
        if len(through) < 2:
            return np.empty(0, dtype=np.int64)
        return rng.choice(through, size=min(size, len(through)), replace=False).astype(np.int64)
    return rng.choice(n, size=min(size, n), replace=False).astype(np.int64)


__all__ = ["MAX_BYTES", "NEIGHBOURHOODS", "Refined", "arrivals", "refine_plan"]
