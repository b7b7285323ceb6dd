"""One-shot MAPF (every robot to its own goal) by LaCAM (Okumura, AAAI 2023).

LaCAM searches over whole configurations (one cell per robot). Each high-level node keeps a lazy
tree of low-level constraints ("robot i goes to cell u next"); expanding a node takes the next
constraint set and completes it with one PIBT step (with swap), so the search is complete: if a
solution exists it is found, and PIBT usually finds it with almost no backtracking. The default
generator is PIBT with swap (including the clear operation) over lane-guided distances (see
PlannerOptions.lane_cost): on warehouse-10-20-10-2-1 it solves 700 robots in about 0.3 s of CPU. The
first plan is then improved by large neighbourhood search (mixflow.fleet.refine) within the time limit.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field

import numpy as np

from mixflow.errors import InfeasibleError, ValidationError
from mixflow.fleet._kernels import INF, plan_step
from mixflow.fleet.distances import DistanceTable
from mixflow.fleet.grid import Grid
from mixflow.fleet.planner import LANE_UNIT, PIBTPlanner, PlannerOptions, lane_move_cost
from mixflow.fleet.refine import refine_plan


@dataclass(frozen=True)
class OneShotResult:
    """A one-shot plan: `paths[t, agent]` cells; solved means every robot ends on its goal.

    `solve_s` is the wall time of the whole solve (after the distance fields are built), `solve_cpu_s`
    its CPU time, which a busy machine does not inflate. `first_*` describe LaCAM's first solution;
    `refine_rounds` counts the LNS rounds that then lowered the sum of costs.
    """

    paths: np.ndarray
    solved: bool
    sum_of_costs: int
    makespan: int
    solve_s: float
    nodes: int
    solve_cpu_s: float = 0.0
    first_solve_cpu_s: float = 0.0
    first_sum_of_costs: int = 0
    refine_rounds: int = 0


@dataclass
class _Constraint:
    parent: _Constraint | None
    who: int
    where: int
    depth: int

    def assignments(self) -> list[tuple[int, int]]:
        out = []
        node: _Constraint | None = self
        while node is not None and node.depth > 0:
            out.append((node.who, node.where))
            node = node.parent
        return out


@dataclass
class _Node:
    config: np.ndarray
    parent: _Node | None
    priorities: np.ndarray
    order: np.ndarray
    tree: deque[_Constraint] = field(default_factory=deque)


def solve_oneshot(
    grid: Grid,
    starts: np.ndarray,
    goals: np.ndarray,
    time_limit: float = 10.0,
    seed: int = 0,
    options: PlannerOptions | None = None,
    refine: bool = True,
) -> OneShotResult:
    """Find collision-free paths taking every robot to its goal and keeping it there.

    LaCAM finds a first plan; with `refine`, large neighbourhood search (mixflow.fleet.refine) then
    lowers its sum of costs for the rest of `time_limit` (or until it stops gaining).
    Raises ValidationError naming the agent for a start on a wall, duplicate goals or an unreachable
    goal; returns `solved=False` with the best-so-far prefix when the time limit is hit.
    """
    if time_limit <= 0:
        raise ValidationError("time_limit", "must be positive")
    options = options or PlannerOptions(swap=True, occupied_penalty=0.0, flow_weight=0.0)
    starts = np.asarray(starts, dtype=np.int32)
    goals = np.asarray(goals, dtype=np.int32)
    lanes = options.lane_cost > 0
    distances = DistanceTable(
        grid,
        min_rows=len(starts),
        move_cost=lane_move_cost(grid, options.lane_cost) if lanes else None,
        unit=LANE_UNIT if lanes else 1,
    )
    planner = PIBTPlanner(grid, starts, goals, options, seed=seed, distances=distances)  # validates input
    _check_goals(grid, goals)
    n = len(starts)
    rng = np.random.default_rng(seed)
    nbr = grid.neighbors
    deg = (nbr >= 0).sum(axis=1).astype(np.int32)
    slots = planner.slots
    occ_now = np.full(grid.n_cells, -1, dtype=np.int32)
    occ_next = np.full(grid.n_cells, -1, dtype=np.int32)
    flow = np.zeros((grid.n_cells, 4))  # no traffic guidance in the one-shot search
    flow_stamp = np.zeros((grid.n_cells, 4), dtype=np.int64)
    start_dist = distances.pool[slots, starts].astype(np.float64)
    pri = start_dist / (start_dist.max() + 1.0)
    root = _Node(starts.copy(), None, pri, np.argsort(-pri, kind="stable").astype(np.int32))
    root.tree.append(_Constraint(None, -1, -1, 0))
    explored: dict[bytes, _Node] = {starts.tobytes(): root}
    open_: list[_Node] = [root]
    began = time.perf_counter()
    began_cpu = time.thread_time()
    goal_node: _Node | None = None
    nodes = 1
    while open_ and time.perf_counter() - began < time_limit:
        node = open_[-1]
        if np.array_equal(node.config, goals):
            goal_node = node
            break
        if not node.tree:
            open_.pop()
            continue
        constraint = node.tree.popleft()
        if constraint.depth < n:
            i = int(node.order[constraint.depth])
            v = int(node.config[i])
            cells = [v, *(int(u) for u in nbr[v] if u >= 0)]
            rng.shuffle(cells)
            for u in cells:
                node.tree.append(_Constraint(constraint, i, u, constraint.depth + 1))
        nxt = np.full(n, -1, dtype=np.int32)
        for who, where in constraint.assignments():
            nxt[who] = where
        noise = rng.random((n, 5)) * 1e-3
        if not plan_step(
            node.order,
            nbr,
            deg,
            distances.pool,
            slots,
            goals,
            node.config,
            flow,
            flow_stamp,
            0,
            0.0,
            1,
            0.0,
            noise,
            options.occupied_penalty,
            options.swap,
            occ_now,
            occ_next,
            nxt,
        ):
            continue
        key = nxt.tobytes()
        known = explored.get(key)
        if known is not None:
            open_.append(known)
            continue
        at_goal = nxt == goals
        pri = np.where(at_goal, node.priorities - np.floor(node.priorities), node.priorities + 1.0)
        child = _Node(nxt, node, pri, np.argsort(-pri, kind="stable").astype(np.int32))
        child.tree.append(_Constraint(None, -1, -1, 0))
        explored[key] = child
        open_.append(child)
        nodes += 1
    elapsed = time.perf_counter() - began
    cpu = time.thread_time() - began_cpu
    if goal_node is None:
        if not open_ and time.perf_counter() - began < time_limit:
            raise InfeasibleError("one-shot MAPF: the search space is exhausted, no solution exists")
        path = _backtrack(open_[-1]) if open_ else starts[None, :].copy()
        return OneShotResult(path, False, *_costs(path, goals), solve_s=elapsed, nodes=nodes, solve_cpu_s=cpu)
    path = _backtrack(goal_node)
    first_cost = _costs(path, goals)[0]
    rounds = 0
    left = time_limit - (time.perf_counter() - began)
    if refine and left > 0:
        better = refine_plan(grid, path, goals, left, seed=seed)
        path, rounds = better.paths, better.rounds
    return OneShotResult(
        path,
        True,
        *_costs(path, goals),
        solve_s=time.perf_counter() - began,
        nodes=nodes,
        solve_cpu_s=time.thread_time() - began_cpu,
        first_solve_cpu_s=cpu,
        first_sum_of_costs=first_cost,
        refine_rounds=rounds,
    )


def _check_goals(grid: Grid, goals: np.ndarray) -> None:
    owner: dict[int, int] = {}
    for i, cell in enumerate(goals.tolist()):
        if cell in owner:
            raise ValidationError(f"agent {i}", f"has goal {grid.xy(cell)} like agent {owner[cell]}")
        owner[cell] = i


def _backtrack(node: _Node) -> np.ndarray:
    configs = []
    cur: _Node | None = node
    while cur is not None:
        configs.append(cur.config)
        cur = cur.parent
    return np.array(configs[::-1], dtype=np.int32)


def _costs(paths: np.ndarray, goals: np.ndarray) -> tuple[int, int]:
    """Sum of costs (each robot's arrival time, counted once it stays) and makespan."""
    away = paths != goals[None, :]
    steps = paths.shape[0]
    last_away = np.where(away.any(axis=0), steps - 1 - np.argmax(away[::-1], axis=0), -1)
    arrival = last_away + 1
    return int(arrival.sum()), int(arrival.max(initial=0))


__all__ = ["INF", "OneShotResult", "solve_oneshot"]
