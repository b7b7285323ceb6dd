"""The order horizon: where a vehicle is planned to go on after its decision point (spec 6.6.2).

The lifelong planner commits one cell a second, so the base is one cell ahead; the horizon shows the
vehicle (and any viewer of its state) the next `HORIZON_CELLS` cells of its way on to its current
goal. That way is a shortest path read off the planner's distance field to the goal: from each cell,
the move whose cost plus the distance left is least (the field's own move costs, so the lanes the
planner prefers are the ones shown). PIBT may leave that path to let others pass; the horizon is
unreleased, replaced at every update, so a vehicle never acts on a stale one.

`Ahead` is what the master control asks (`MasterControl(ahead=...)`); `planner_ahead` answers it from
a `mixflow.fleet.PIBTPlanner` read through the `Planner` protocol below (connect may not import the
fleet package, DESIGN.md layers). No goal, or standing on it: no horizon.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

import numpy as np
from numba import njit

from mixflow.model.plant import Cell

HORIZON_CELLS = 5
"""Cells of horizon per order message. Five seconds of driving at the planner's cell a second: enough
for a vehicle to plan its speed past the decision point and for a viewer to see where it heads, while
PIBT's detours around other vehicles make cells further on mostly wrong; each adds a node and an edge
(about 300 bytes) to every order message of every moving vehicle, every second."""

UNREACHABLE = 1 << 30
"""The planner's distance for a cell from which the goal cannot be reached (`fleet._kernels.INF`)."""

Ahead = Callable[[str, Cell], Sequence[Cell]]
"""(AGV id, its decision point cell) -> the cells it is planned to pass next, nearest first, each a
neighbour of the one before (the first of the decision point); empty for none."""


class PlannerGrid(Protocol):
    @property
    def neighbors(self) -> np.ndarray: ...  # (cells, 4): the cell a move in each direction reaches, -1

    @property
    def width(self) -> int: ...


class PlannerDistances(Protocol):
    @property
    def pool(self) -> np.ndarray: ...  # rows of distance fields, one per goal

    @property
    def move_cost(self) -> np.ndarray | None: ...  # (cells, 4) cost of each move; None: every move 1


class Planner(Protocol):
    """What the horizon reads of the lifelong planner: its grid, its goals (cell index, -1 none) and
    for each robot the row of `distances.pool` that holds the distance field to its goal."""

    @property
    def grid(self) -> PlannerGrid: ...

    @property
    def distances(self) -> PlannerDistances: ...

    @property
    def goals(self) -> np.ndarray: ...

    @property
    def slots(self) -> np.ndarray: ...


def way_on(
    neighbors: np.ndarray, field: np.ndarray, move_cost: np.ndarray | None, start: int, cells: int
) -> list[int]:
    """Up to `cells` cells after `start` down the distance `field` to its goal: each the move of least
    cost plus distance left (the first such direction on a tie). Stops at the goal, and where no move
    gets closer (a cell cut off from the goal)."""
    if not 0 <= start < len(field) or cells <= 0:
        return []
    cost = _UNIT_COST if move_cost is None else move_cost
    return [int(c) for c in _descend(neighbors, field, cost, move_cost is None, start, cells)]


_UNIT_COST = np.ones((1, 4), dtype=np.int32)


@njit(cache=True)
def _descend(
    neighbors: np.ndarray, field: np.ndarray, cost: np.ndarray, unit: bool, start: int, cells: int
) -> np.ndarray:  # pragma: no cover - numba
    """way_on's loop, compiled: interpreted, the 720 vehicles of a step took 7.2 ms of the master's turn
    for their horizons, compiled 3.4 ms (the calls around it)."""
    way = np.empty(cells, dtype=np.int64)
    n = 0
    here = start
    while n < cells and 0 < field[here] < UNREACHABLE:
        best, best_cost = -1, UNREACHABLE
        for d in range(4):
            nxt = neighbors[here, d]
            if nxt < 0 or field[nxt] >= field[here]:
                continue
            step = 1 if unit else cost[here, d]
            if field[nxt] + step < best_cost:
                best, best_cost = nxt, field[nxt] + step
        if best < 0:
            break
        way[n] = best
        n += 1
        here = best
    return way[:n]


def planner_ahead(planner: Planner, agv_ids: Sequence[str], cells: int = HORIZON_CELLS) -> Ahead:
    """The `Ahead` of a fleet planned by `planner`, robot k being `agv_ids[k]`; read when asked, so it
    follows the goals the planner has at that moment."""
    robot_of = {agv: k for k, agv in enumerate(agv_ids)}

    def ahead(agv_id: str, cell: Cell) -> list[Cell]:
        robot = robot_of.get(agv_id)
        grid, distances = planner.grid, planner.distances
        width = grid.width
        if robot is None or cells <= 0 or planner.goals[robot] < 0 or planner.slots[robot] < 0:
            return []
        if not 0 <= cell[0] < width:
            return []
        field = distances.pool[int(planner.slots[robot])]
        way = way_on(grid.neighbors, field, distances.move_cost, cell[1] * width + cell[0], cells)
        return [(c % width, c // width) for c in way]

    return ahead
