"""Lifelong runs: robots chase an endless stream of goals, as in the League of Robot Runners.

`RoundRobinStream` is the Robot Runners rule: agent i's k-th goal is cell (i + k * N) mod L of a list.
`run_lifelong` drives a PIBTPlanner for a number of steps and records paths, goals reached and the
wall time of each step (goal bookkeeping and BFS included), optionally with random robot delays.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from mixflow.errors import ValidationError
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
