"""The order horizon: where a vehicle is planned to go on after its decision point (spec 6.6.2).

The lifelong planner commits one cell a second, so the base is one cell ahead; the horizon shows the
vehicle (and any viewer of its state) the next `HORIZON_CELLS` cells of its way on to its current
goal. That way is a shortest path read off a distance field to the goal: from each cell, the move
whose cost plus the distance left is least. PIBT may leave that path to let others pass; the horizon
is unreleased, replaced at every update, so a vehicle never acts on a stale one.

`Ahead` is what the master control asks (`MasterControl(ahead=...)`), giving the goal it knows for the
vehicle from the fleet's commands (the pickup, then the drop of its task). Two answer it:

- `FloorWays(plant.floor)`, master control on its own: the floor's own distance fields (walls and
  one-way lanes, one BFS per goal, kept in a bounded cache) toward the goal master control gives.
  This is what a plant runs (`VdaFleetFactory` behind the factory port sees no planner).
- `planner_ahead(planner, agv_ids)`: the lifelong planner's distance field to the goal the planner
  holds (its move costs, so the lanes it prefers are the ones shown; it also knows goals the port
  does not carry: chargers, parking), read through the `Planner` protocol below (connect may not
  import the fleet package, DESIGN.md layers). For runs that hold the planner in the same process.

No goal, or standing on it: no horizon.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Protocol

import numpy as np
from numba import njit

from mixflow.model.plant import EAST, NORTH, SOUTH, WEST, Cell, FloorGrid

HORIZON_CELLS = 5
"""Cells of horizon per order message. Five seconds of driving at the planner's cell a second: enough
for a vehicle to plan its speed past the decision point and for a viewer to see where it heads, while
PIBT's detours around other vehicles make cells further on mostly wrong; each adds a node and an edge
(about 300 bytes) to every order message of every moving vehicle, every second."""

UNREACHABLE = 1 << 30
"""The planner's distance for a cell from which the goal cannot be reached (`fleet._kernels.INF`)."""

Ahead = Callable[[str, Cell, Cell | None], Sequence[Cell]]
"""(AGV id, its decision point cell, the goal master control knows for it or None) -> the cells it is
planned to pass next, nearest first, each a neighbour of the one before (the first of the decision
point); empty for none."""

FIELDS_MAX_BYTES = 64 * 1024 * 1024
"""What `FloorWays` keeps of distance fields beyond one per vehicle: 537 goals on the reference floor
(125 KB a field). It keeps one per vehicle that asked and 64 more whatever this says, so the goals in
use at once always fit (each vehicle heads for one): dropping one that is still wanted would make every
step compute fields again."""

MOVES: tuple[tuple[int, int, int], ...] = ((NORTH, 0, -1), (EAST, 1, 0), (SOUTH, 0, 1), (WEST, -1, 0))
"""Each exit bit of `FloorGrid.exits` and the (dx, dy) of the move it allows."""


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
    follows the goals the planner has at that moment (the goal master control gives is not needed)."""
    robot_of = {agv: k for k, agv in enumerate(agv_ids)}

    def ahead(agv_id: str, cell: Cell, _goal: Cell | None = None) -> list[Cell]:
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


class FloorWays:
    """The `Ahead` of master control on its own: ways down the floor's distance fields (walls and
    one-way lanes as `FloorGrid` has them, every move one) to the goal master control gives; a field
    is computed the first time its goal is asked for and kept, the least recently used dropped past
    `max_bytes` or one per vehicle asking and 64 more, whichever is more."""

    def __init__(
        self, floor: FloorGrid, cells: int = HORIZON_CELLS, max_bytes: int = FIELDS_MAX_BYTES
    ) -> None:
        self.width, self.height, self.cells = floor.width, floor.height, cells
        self.neighbors = floor_neighbors(floor)
        self.predecessors = np.full_like(self.neighbors, -1)
        for d in range(4):
            starts = np.flatnonzero(self.neighbors[:, d] >= 0)
            self.predecessors[self.neighbors[starts, d], d] = starts
        self.capacity = max(1, max_bytes // (4 * len(self.neighbors)))
        self._fields: OrderedDict[int, np.ndarray] = OrderedDict()
        self._asking: set[str] = set()
        self.fills = 0  # fields computed: one per goal while they fit

    def __call__(self, agv_id: str, cell: Cell, goal: Cell | None) -> list[Cell]:
        if goal is None or goal == cell or not (self._inside(cell) and self._inside(goal)):
            return []
        self._asking.add(agv_id)
        way = way_on(self.neighbors, self.field(goal), None, self._index(cell), self.cells)
        return [(c % self.width, c // self.width) for c in way]

    def field(self, goal: Cell) -> np.ndarray:
        """Moves from every cell to `goal` (`UNREACHABLE` where it cannot be reached)."""
        index = self._index(goal)
        field = self._fields.get(index)
        if field is not None:
            self._fields.move_to_end(index)
            return field
        if len(self._fields) >= max(self.capacity, len(self._asking) + 64):
            _, field = self._fields.popitem(last=False)
        else:
            field = np.empty(len(self.neighbors), dtype=np.int32)
        _fill_field(self.predecessors, index, field)
        self.fills += 1
        self._fields[index] = field
        return field

    def _inside(self, cell: Cell) -> bool:
        return 0 <= cell[0] < self.width and 0 <= cell[1] < self.height

    def _index(self, cell: Cell) -> int:
        return cell[1] * self.width + cell[0]


def floor_neighbors(floor: FloorGrid) -> np.ndarray:
    """(cells, 4): the cell (y * width + x) each move of `MOVES` reaches from each cell, -1 where the
    move is not allowed (the floor's edge, a blocked cell on either end, a one-way lane)."""
    height, width = floor.height, floor.width
    ys, xs = np.mgrid[0:height, 0:width]
    free = ~np.asarray(floor.blocked, dtype=bool)
    neighbors = np.full((height * width, 4), -1, dtype=np.int64)
    for d, (bit, dx, dy) in enumerate(MOVES):
        tx, ty = xs + dx, ys + dy
        inside = (tx >= 0) & (tx < width) & (ty >= 0) & (ty < height)
        target_free = np.zeros_like(free)
        target_free[inside] = free[ty[inside], tx[inside]]
        allowed = free & target_free & ((np.asarray(floor.exits) & bit) != 0)
        neighbors[:, d] = np.where(allowed, ty * width + tx, -1).ravel()
    return neighbors


@njit(cache=True)
def _fill_field(predecessors: np.ndarray, goal: int, field: np.ndarray) -> None:  # pragma: no cover - numba
    """Breadth first from `goal` backwards along the allowed moves: `field[c]` = moves from c to it."""
    field[:] = UNREACHABLE
    queue = np.empty(len(field), dtype=np.int64)
    field[goal] = 0
    queue[0] = goal
    head, tail = 0, 1
    while head < tail:
        here = queue[head]
        head += 1
        for d in range(4):
            before = predecessors[here, d]
            if before >= 0 and field[before] == UNREACHABLE:
                field[before] = field[here] + 1
                queue[tail] = before
                tail += 1
