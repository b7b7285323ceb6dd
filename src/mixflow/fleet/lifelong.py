"""Lifelong runs: robots chase an endless stream of goals, as in the League of Robot Runners.

`RoundRobinStream` is the Robot Runners rule: agent i's k-th goal is cell (i + k * N) mod L of a list.
`run_lifelong` drives a PIBTPlanner for a number of steps and records paths, goals reached and the
wall time of each step (goal bookkeeping and BFS included), optionally with random robot delays.
`free_flow_throughput` is what no planner can beat on a stream: every robot alone on the floor.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from mixflow.errors import ValidationError
from mixflow.fleet._kernels import INF, bfs_to_goal
from mixflow.fleet.distances import DistanceTable
from mixflow.fleet.grid import Grid
from mixflow.fleet.planner import PIBTPlanner, PlannerOptions


@dataclass(frozen=True)
class RoundRobinStream:
    """Goal k of agent i is `cells[(i + k * team) % len(cells)]`."""

    cells: np.ndarray
    team: int

    def __post_init__(self) -> None:
        if len(self.cells) == 0:
            raise ValidationError("RoundRobinStream.cells", "needs at least one goal cell")
        if self.team <= 0:
            raise ValidationError("RoundRobinStream.team", "must be positive")

    def goal(self, agent: int, k: int) -> int:
        return int(self.cells[(agent + k * self.team) % len(self.cells)])


@dataclass(frozen=True)
class Delays:
    """Random delays: each robot-step a moving robot stalls with `probability` for 1..`max_steps` steps."""

    probability: float = 0.01
    max_steps: int = 5

    def __post_init__(self) -> None:
        if not 0.0 <= self.probability <= 1.0:
            raise ValidationError("Delays.probability", "must be in [0, 1]")
        if self.max_steps < 1:
            raise ValidationError("Delays.max_steps", "must be >= 1")


@dataclass(frozen=True)
class LifelongResult:
    """What a lifelong run did: `paths[t, agent]` cells, goals reached as (agent, cell, step).

    `step_ms` is wall time per step; `step_cpu_ms` the thread's CPU time, which a busy machine
    does not inflate by pre-empting the planner. `warmup_s` is the load before the first step
    (kernels, the first goals' distance fields), kept out of the step times.
    """

    paths: np.ndarray
    reached: list[tuple[int, int, int]]
    step_ms: np.ndarray
    step_cpu_ms: np.ndarray
    goals_per_agent: np.ndarray
    delayed_robot_steps: int
    warmup_s: float = 0.0

    @property
    def steps(self) -> int:
        return len(self.paths) - 1

    @property
    def throughput(self) -> float:
        return len(self.reached) / self.steps if self.steps else 0.0


def run_lifelong(
    grid: Grid,
    starts: np.ndarray,
    stream: RoundRobinStream,
    steps: int,
    options: PlannerOptions | None = None,
    seed: int = 0,
    delays: Delays | None = None,
    distances: DistanceTable | None = None,
) -> LifelongResult:
    """Run `steps` steps; an agent standing on its goal after a step has reached it and gets the next.

    `distances` (optional) is the table the planner uses, e.g. one warmed up by an earlier run.
    """
    if steps < 1:
        raise ValidationError("steps", "must be >= 1")
    loading = time.perf_counter()
    starts = np.asarray(starts, dtype=np.int32)
    n = len(starts)
    counter = np.zeros(n, dtype=np.int64)
    first_goals = np.array([stream.goal(i, 0) for i in range(n)], dtype=np.int32)
    planner = PIBTPlanner(grid, starts, first_goals, options, seed=seed, distances=distances)
    rng = np.random.default_rng(seed + 7919)
    stall = np.zeros(n, dtype=np.int64)
    delayed = 0
    paths = np.empty((steps + 1, n), dtype=np.int32)
    paths[0] = starts
    reached: list[tuple[int, int, int]] = []
    step_ms = np.empty(steps)
    step_cpu_ms = np.empty(steps)
    warmup_s = time.perf_counter() - loading
    for t in range(1, steps + 1):
        held = None
        if delays is not None and delays.probability > 0.0:
            start = (stall == 0) & (rng.random(n) < delays.probability)
            stall[start] = rng.integers(1, delays.max_steps + 1, size=int(start.sum()))
            held = stall > 0
            delayed += int(held.sum())
            stall[held] -= 1
        began = time.perf_counter()
        began_cpu = time.thread_time()
        nxt = planner.step(held)
        for i in np.flatnonzero(nxt == planner.goals):
            reached.append((int(i), int(nxt[i]), t))
            counter[i] += 1
            planner.set_goal(int(i), stream.goal(int(i), int(counter[i])))
        step_ms[t - 1] = (time.perf_counter() - began) * 1000.0
        step_cpu_ms[t - 1] = (time.thread_time() - began_cpu) * 1000.0
        paths[t] = nxt
    return LifelongResult(paths, reached, step_ms, step_cpu_ms, counter, delayed, warmup_s)


def free_flow_throughput(grid: Grid, starts: np.ndarray, stream: RoundRobinStream, steps: int) -> float:
    """Goals a step the fleet would reach if every robot were alone on the floor: an upper bound for
    any collision-free planner on this stream, since each robot must take at least the distance
    between its consecutive goals (and one step for a goal it already stands on).

    Under the round-robin rule the leg after goal `cells[j]` always leads to `cells[(j + team) % L]`,
    so one BFS per distinct goal cell prices every leg of every robot.
    """
    if steps < 1:
        raise ValidationError("steps", "must be >= 1")
    starts = np.asarray(starts, dtype=np.int32)
    cells = np.asarray(stream.cells, dtype=np.int64)
    n, size = len(starts), len(cells)
    closed = np.zeros(grid.n_cells, dtype=np.bool_)
    field = np.empty(grid.n_cells, dtype=np.int32)
    leg = np.empty(size, dtype=np.int64)  # moves from cells[j] to the goal after it
    first = np.empty(n, dtype=np.int64)  # moves from each start to its first goal
    after = (np.arange(size) + stream.team) % size
    firsts = np.arange(n) % size
    for goal in np.unique(cells).tolist():
        bfs_to_goal(grid.predecessors, goal, closed, field)
        leg[cells[after] == goal] = field[cells[cells[after] == goal]]
        ask = cells[firsts] == goal
        first[ask] = field[starts[ask]]
    leg = np.maximum(leg, 1)
    reached = 0
    for i in range(n):
        t, j = max(int(first[i]), 1), i % size
        if first[i] >= INF:
            continue
        while t <= steps:
            reached += 1
            if leg[j] >= INF:
                break
            t += int(leg[j])
            j = int(after[j])
    return reached / steps
