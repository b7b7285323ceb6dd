"""True grid distances to goal cells, one BFS field per goal, kept in a bounded pool.

Each field is one int32 per grid cell (40 KB on the 161 x 63 warehouse, 263 KB on den520d). The pool
holds `max_bytes // (4 * cells)` fields (128 MB by default); fields in use by an agent are pinned and
the least recently used unpinned field is reused for a new goal. The pool only grows past the budget
when more distinct goals are pinned at once than fit (one per agent at most), and says so in `bytes`.
"""

from __future__ import annotations

from collections import OrderedDict

import numpy as np

from mixflow.errors import ValidationError
from mixflow.fleet._kernels import INF, bfs_to_goal, dial_queue, dial_to_goal
from mixflow.fleet.grid import Grid

DEFAULT_MAX_BYTES = 128 * 1024 * 1024


class DistanceTable:
    """Distance fields to goals: `pool[row, c]` = cost from cell c to the row's goal.

    Without `move_cost` the cost is the number of moves (BFS). With it, each move u -> direction d
    costs `move_cost[u, d]` and `unit` is the cost of a plain move (lane guidance); divide by `unit`
    for an estimate in moves.
    """

    def __init__(
        self,
        grid: Grid,
        max_bytes: int = DEFAULT_MAX_BYTES,
        min_rows: int = 0,
        move_cost: np.ndarray | None = None,
        unit: int = 1,
    ) -> None:
        if max_bytes <= 0:
            raise ValidationError("DistanceTable.max_bytes", "must be positive")
        if move_cost is not None and (move_cost.shape != (grid.n_cells, 4) or int(move_cost.min()) < 1):
            raise ValidationError("DistanceTable.move_cost", "must be (cells, 4) positive integers")
        if unit < 1:
            raise ValidationError("DistanceTable.unit", "must be >= 1")
        self.grid = grid
        self.move_cost = None if move_cost is None else np.ascontiguousarray(move_cost, dtype=np.int32)
        self.unit = unit
        self._queue = None if self.move_cost is None else dial_queue(self.move_cost)
        row_bytes = 4 * grid.n_cells
        self.capacity = max(1, min_rows, max_bytes // row_bytes)
        # Every row is allocated up front (untouched pages cost no memory until used): growing the
        # pool later would copy it all inside one step, a spike of hundreds of milliseconds. A planner
        # (min_rows agents) pins one row each and briefly one more per new goal: keep headroom.
        rows = self.capacity if min_rows == 0 else max(self.capacity, min_rows + 64)
        self.pool = np.empty((rows, grid.n_cells), dtype=np.int32)
        self.closed = np.zeros(grid.n_cells, dtype=np.bool_)
        self._row_of: OrderedDict[int, int] = OrderedDict()  # goal -> row, least recently used first
        self._goal_of: dict[int, int] = {}
        self._pins = np.zeros(len(self.pool), dtype=np.int64)
        self._unused: list[int] = list(range(len(self.pool) - 1, -1, -1))
        self.bfs_runs = 0

    @property
    def bytes(self) -> int:
        """Memory held by the distance fields now."""
        return int(self.pool.nbytes)

    def acquire(self, goal: int) -> int:
        """Pin and return the pool row holding distances to `goal`, computing it if needed."""
        row = self._row_of.get(goal)
        if row is None:
            row = self._take_row()
            self._fill(goal, row)
            self._row_of[goal] = row
            self._goal_of[row] = goal
        else:
            self._row_of.move_to_end(goal)
        self._pins[row] += 1
        return row

    def release(self, row: int) -> None:
        """Unpin a row returned by `acquire`; it stays cached until the space is needed."""
        if self._pins[row] <= 0:
            raise ValidationError("DistanceTable.release", f"row {row} is not pinned")
        self._pins[row] -= 1

    def release_all(self) -> None:
        """Unpin every row (the planner that held them is gone); the fields stay cached."""
        self._pins[:] = 0

    def field(self, goal: int) -> np.ndarray:
        """A copy of the distance field to `goal` (for one-off questions such as task assignment)."""
        row = self.acquire(goal)
        try:
            return self.pool[row].copy()
        finally:
            self.release(row)

    def distance(self, source: int, goal: int) -> int:
        """Moves from source to goal, or INF when unreachable."""
        row = self.acquire(goal)
        try:
            return int(self.pool[row, source])
        finally:
            self.release(row)

    def set_closed(self, closed: np.ndarray) -> None:
        """Treat `closed` cells as walls (broken robots); pinned fields are recomputed, others dropped."""
        closed = np.asarray(closed, dtype=np.bool_)
        if closed.shape != self.closed.shape:
            raise ValidationError(
                "DistanceTable.closed", f"must have one entry per cell ({self.closed.shape[0]})"
            )
        if np.array_equal(closed, self.closed):
            return
        self.closed = closed.copy()
        for goal, row in list(self._row_of.items()):
            if self._pins[row] > 0:
                self._fill(goal, row)
            else:
                del self._row_of[goal]
                del self._goal_of[row]
                self._unused.append(row)

    def __getstate__(self) -> dict[str, object]:
        """Pickled (a plant's checkpoint), the table keeps only the fields agents have pinned: the rest
        of the pool is a cache, 128 MB of it, that refills on demand."""
        state = self.__dict__.copy()
        pinned = [row for row in self._goal_of if self._pins[row] > 0]
        kept = set(pinned)
        state["pool"] = (self.pool.shape, pinned, self.pool[pinned])
        state["_row_of"] = OrderedDict((goal, row) for goal, row in self._row_of.items() if row in kept)
        state["_goal_of"] = {row: goal for goal, row in state["_row_of"].items()}
        state["_unused"] = [row for row in range(len(self.pool) - 1, -1, -1) if row not in kept]
        return state

    def __setstate__(self, state: dict[str, object]) -> None:
        kept: tuple[tuple[int, int], list[int], np.ndarray] = state.pop("pool")  # type: ignore[assignment]
        pool = np.empty(kept[0], dtype=np.int32)
        pool[kept[1]] = kept[2]
        self.__dict__.update(state, pool=pool)

    def _fill(self, goal: int, row: int) -> None:
        if self.move_cost is None or self._queue is None:
            bfs_to_goal(self.grid.predecessors, goal, self.closed, self.pool[row])
        else:
            dial_to_goal(
                self.grid.predecessors, self.move_cost, goal, self.closed, self.pool[row], self._queue
            )
        self.bfs_runs += 1

    def _take_row(self) -> int:
        if self._unused:
            return self._unused.pop()
        for goal, row in self._row_of.items():  # least recently used first
            if self._pins[row] == 0:
                del self._row_of[goal]
                del self._goal_of[row]
                return row
        return self._grow(len(self.pool) + 64)  # every row pinned: more live goals than the budget holds

    def _grow(self, rows: int) -> int:
        old = len(self.pool)
        rows = max(rows, 2 * old)  # rare (more live goals than the budget): double, so copies amortise
        pool = np.empty((rows, self.grid.n_cells), dtype=np.int32)
        pool[:old] = self.pool
        self.pool = pool
        self._pins = np.concatenate([self._pins, np.zeros(rows - old, dtype=np.int64)])
        self._unused.extend(range(rows - 1, old, -1))
        return old


__all__ = ["INF", "DistanceTable"]
