"""The lifelong planner: a stateful PIBT that moves every robot one cell per step towards its goal.

The scheduler drives it step by step: set goals as tasks come and go, mark robots held (a robot
that reports it will miss this step), broken (an obstacle until repaired), then `step()` returns
and commits every robot's next cell. Moves are collision-free by construction (vertex and swap).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mixflow.errors import ValidationError
from mixflow.fleet._kernels import INF, add_flow, flow_zero_after, plan_step, warm_up
from mixflow.fleet.distances import DEFAULT_MAX_BYTES, DistanceTable
from mixflow.fleet.grid import Grid


@dataclass(frozen=True)
class PlannerOptions:
    """How PIBT chooses among cells.

    `swap` enables the swap operation (meant for one-shot problems; in lifelong warehouse runs it
    lowers throughput, so it is off by default); `occupied_penalty` (< 1) prefers a free cell over an
    occupied one at equal distance; `flow_weight` adds a traffic-aware guidance cost for moving
    against the recent flow of robots (decayed by `flow_decay` each step). `lane_cost` is the static
    guidance: distances are computed with moves against a crisscross of soft one-way lanes costing
    (4 + lane_cost) / 4 moves, so opposing traffic streams separate instead of meeting head-on. On
    warehouse-10-20-10-2-1 with 700 robots: plain 4.35, flow 4.9, flow + lanes 7.6 goals per step.

    `unstick` (0: off) negates the priority of a robot that has not moved for that many steps while
    away from its goal: it falls below every robot that moves, and among robots stuck together the
    order turns round. Lifelong PIBT without swap locks for good when its highest robot waits to
    enter a dead end whose occupant can only leave through it: the two keep their order for ever and
    the fleet piles up behind them (on random-32-32-20 plain PIBT's goals a step fall to 0 within 500
    steps). Turned round, the occupant goes first, pushes the waiting robot aside and gets out.
    """

    swap: bool = False
    occupied_penalty: float = 0.0
    flow_weight: float = 0.05
    lane_cost: int = 8
    flow_decay: float = 0.9
    unstick: int = 0

    def __post_init__(self) -> None:
        if not 0.0 <= self.occupied_penalty < 1.0:
            raise ValidationError("PlannerOptions.occupied_penalty", "must be in [0, 1)")
        if self.flow_weight < 0.0:
            raise ValidationError("PlannerOptions.flow_weight", "must be >= 0")
        if self.lane_cost < 0:
            raise ValidationError("PlannerOptions.lane_cost", "must be >= 0")
        if not 0.0 <= self.flow_decay < 1.0:
            raise ValidationError("PlannerOptions.flow_decay", "must be in [0, 1)")
        if self.unstick < 0:
            raise ValidationError("PlannerOptions.unstick", "must be >= 0 (0: off)")


LANE_UNIT = 4

PLAIN_PIBT = PlannerOptions(swap=False, occupied_penalty=0.0, flow_weight=0.0, lane_cost=0)
"""The baseline: textbook PIBT, distance then random tie-break, no swap, no guidance."""


def lane_move_cost(grid: Grid, extra: int) -> np.ndarray:
    """Move costs of a soft crisscross of lanes, in quarter moves: a move costs LANE_UNIT, plus `extra`
    against the lane (even rows run east, odd rows west, even columns south, odd columns north)."""
    rows, cols = np.divmod(np.arange(grid.n_cells), grid.width)
    cost = np.full((grid.n_cells, 4), LANE_UNIT, dtype=np.int32)
    cost[:, 0] += np.where(cols % 2 == 0, extra, 0)  # north, against an even column
    cost[:, 1] += np.where(rows % 2 == 0, 0, extra)  # east, against an odd row
    cost[:, 2] += np.where(cols % 2 == 0, 0, extra)  # south, against an odd column
    cost[:, 3] += np.where(rows % 2 == 0, extra, 0)  # west, against an even row
    return cost


class PIBTPlanner:
    """Lifelong PIBT over a grid; one instance per fleet, deterministic for a seed."""

    def __init__(
        self,
        grid: Grid,
        starts: np.ndarray,
        goals: np.ndarray,
        options: PlannerOptions | None = None,
        seed: int = 0,
        distances: DistanceTable | None = None,
    ) -> None:
        starts = np.asarray(starts, dtype=np.int32)
        goals = np.asarray(goals, dtype=np.int32)
        if starts.ndim != 1 or goals.shape != starts.shape:
            raise ValidationError("PIBTPlanner.goals", "needs one goal per start")
        free = ~grid.blocked.ravel()
        if len(starts) > int(free.sum()):
            raise ValidationError(
                "PIBTPlanner.starts", f"{len(starts)} agents but only {int(free.sum())} free cells"
            )
        for i, cell in enumerate(starts):
            if not grid.is_free(int(cell)):
                raise ValidationError(
                    f"agent {i}", f"starts on cell {grid.xy(int(cell))} which is blocked or outside"
                )
        seen = np.full(grid.n_cells, -1, dtype=np.int64)
        for i, cell in enumerate(starts):
            if seen[cell] >= 0:
                raise ValidationError(
                    f"agent {i}", f"starts on cell {grid.xy(int(cell))} like agent {seen[cell]}"
                )
            seen[cell] = i
        warm_up()
        self.grid = grid
        self.options = options or PlannerOptions()
        self.n_agents = len(starts)
        if distances is None:
            lanes = self.options.lane_cost > 0
            distances = DistanceTable(
                grid,
                DEFAULT_MAX_BYTES,
                min_rows=self.n_agents,
                move_cost=lane_move_cost(grid, self.options.lane_cost) if lanes else None,
                unit=LANE_UNIT if lanes else 1,
            )
        self.distances = distances
        self._unit = float(distances.unit)
        self.positions = starts.copy()
        self.goals = np.full(self.n_agents, -1, dtype=np.int32)
        self.slots = np.full(self.n_agents, -1, dtype=np.int32)
        self.broken = np.zeros(self.n_agents, dtype=np.bool_)
        self.time = 0
        self._rng = np.random.default_rng(seed)
        self._tiebreak = self._rng.random(self.n_agents) * 0.5
        self.priorities = self._tiebreak.copy()
        self._waited = np.zeros(self.n_agents, dtype=np.int64)  # steps without a move, away from the goal
        self._deg = (grid.neighbors >= 0).sum(axis=1).astype(np.int32)
        self._occ_now = np.full(grid.n_cells, -1, dtype=np.int32)
        self._occ_next = np.full(grid.n_cells, -1, dtype=np.int32)
        # traffic guidance, kept lazily: each flow entry carries the number of decays applied to it and
        # is brought up to date when PIBT reads it (decaying the whole grid each step cost more than
        # the PIBT step itself)
        self._flow = np.zeros((grid.n_cells, 4), dtype=np.float64)
        self._flow_stamp = np.zeros((grid.n_cells, 4), dtype=np.int64)
        self._flow_time = 0
        self._flow_zero_after = flow_zero_after(self.options.flow_decay)
        for i, goal in enumerate(goals):
            self.set_goal(i, int(goal))

    def set_goal(self, agent: int, goal: int) -> None:
        """Send an agent to a cell; its priority restarts from its tie-break value."""
        if not self.grid.is_free(goal):
            raise ValidationError(
                f"agent {agent}", f"goal {self.grid.xy(goal)} is blocked or outside the grid"
            )
        row = self.distances.acquire(goal)
        if self.distances.pool[row, self.positions[agent]] >= INF and not self.broken[agent]:
            self.distances.release(row)
            raise ValidationError(f"agent {agent}", f"goal {self.grid.xy(goal)} is unreachable from its cell")
        if self.slots[agent] >= 0:
            self.distances.release(int(self.slots[agent]))
        self.slots[agent] = row
        self.goals[agent] = goal
        self.priorities[agent] = self._tiebreak[agent]

    def place(self, cells: np.ndarray) -> None:
        """Put every agent on the cell it was seen on (a restarted planner learns where its robots
        stand); each then waits there until given a goal. Broken marks are cleared."""
        cells = np.asarray(cells, dtype=np.int32)
        if cells.shape != self.positions.shape:
            raise ValidationError("PIBTPlanner.place", f"needs {self.n_agents} cells, got {cells.shape}")
        seen = np.full(self.grid.n_cells, -1, dtype=np.int64)
        for i, cell in enumerate(cells.tolist()):
            if not self.grid.is_free(cell):
                raise ValidationError(f"agent {i}", f"seen on cell {self.grid.xy(cell)}, blocked or outside")
            if seen[cell] >= 0:
                where = self.grid.xy(cell)
                raise ValidationError(f"agent {i}", f"seen on cell {where} like agent {seen[cell]}")
            seen[cell] = i
        self.broken[:] = False
        self.distances.set_closed(np.zeros(self.grid.n_cells, dtype=np.bool_))
        self.positions = cells.copy()
        self._waited = np.zeros(self.n_agents, dtype=np.int64)  # seated anew: no robot has waited yet
        for i, cell in enumerate(cells.tolist()):
            self.set_goal(i, cell)

    def reachable(self, agent: int, goal: int) -> bool:
        """Whether the agent can reach `goal` with the current broken robots as walls."""
        return self.distances.distance(int(self.positions[agent]), goal) < INF

    def set_broken(self, agent: int, broken: bool) -> None:
        """A broken robot stays put and is a wall for everyone's distances until repaired."""
        self.broken[agent] = broken
        closed = np.zeros(self.grid.n_cells, dtype=np.bool_)
        closed[self.positions[self.broken]] = True
        self.distances.set_closed(closed)

    def step(self, held: np.ndarray | None = None) -> np.ndarray:
        """Plan and commit one step; `held` robots (missing this step) and broken ones stay put.

        Returns the next cell of every agent (a copy).
        """
        nxt = np.full(self.n_agents, -1, dtype=np.int32)
        fixed = self.broken.copy()
        if held is not None:
            fixed |= np.asarray(held, dtype=np.bool_)
        nxt[fixed] = self.positions[fixed]
        noise = self._rng.random((self.n_agents, 5)) * 1e-3
        order = np.argsort(-self.priorities, kind="stable").astype(np.int32)
        decay = self.options.flow_decay
        weight = self.options.flow_weight * self._unit
        ok = plan_step(
            order,
            self.grid.neighbors,
            self._deg,
            self.distances.pool,
            self.slots,
            self.goals,
            self.positions,
            self._flow,
            self._flow_stamp,
            self._flow_time,
            decay,
            self._flow_zero_after,
            weight,
            noise,
            self.options.occupied_penalty * self._unit,
            self.options.swap,
            self._occ_now,
            self._occ_next,
            nxt,
        )
        if not ok:  # cannot happen without LaCAM constraints; guard the invariant loudly
            raise RuntimeError("PIBT produced a colliding step")
        if weight > 0.0:
            self._flow_time += 1
            add_flow(
                self._flow, self._flow_stamp, self.grid.neighbors, self.positions, nxt,
                self._flow_time, decay, self._flow_zero_after,
            )
        at_goal = nxt == self.goals
        priorities = np.where(at_goal, self._tiebreak, self.priorities + 1.0)
        if self.options.unstick > 0:
            waiting = (nxt == self.positions) & ~at_goal & ~fixed  # held or broken: not a lock
            self._waited = np.where(waiting, self._waited + 1, 0)
            stuck = np.flatnonzero(self._waited >= self.options.unstick)
            self._waited[stuck] = 0
            # negated, not reset to the tie-break: robots locked together wait and drop together, and
            # their order must turn round (the one that went first gives way) or they lock again
            priorities[stuck] = -priorities[stuck]
        self.positions = nxt
        self.priorities = priorities
        self.time += 1
        return nxt.copy()
