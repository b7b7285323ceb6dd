"""The shop floor as the fleet sees it: a 4-connected grid of cells, some blocked, some one-way.

Cells are numbered `row * width + col` inside the fleet; (x, y) = (column, row) only at the edges.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

import numpy as np

from mixflow.errors import ValidationError

# Move directions in the order used everywhere in the fleet: up, right, down, left.
DIRECTIONS: tuple[tuple[int, int], ...] = ((-1, 0), (0, 1), (1, 0), (0, -1))
ALL_DIRECTIONS = 0b1111


@dataclass(frozen=True, eq=False)
class Grid:
    """A 4-connected floor grid: `blocked[row, col]` cells are walls or racks.

    `exits[row, col]` is an optional bit mask of the directions a robot may leave the cell by (bit d =
    DIRECTIONS[d]); it makes one-way lanes. `zones` names sets of cells (e.g. "charging", "line-side").
    """

    blocked: np.ndarray
    exits: np.ndarray | None = None
    zones: Mapping[str, np.ndarray] = field(default_factory=dict)
    name: str = "grid"
    neighbors: np.ndarray = field(init=False, repr=False)
    predecessors: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        blocked = np.asarray(self.blocked)
        if blocked.ndim != 2 or blocked.shape[0] < 1 or blocked.shape[1] < 1:
            raise ValidationError("Grid.blocked", f"must be a non-empty 2-D array, got shape {blocked.shape}")
        if blocked.dtype != np.bool_:
            raise ValidationError("Grid.blocked", f"must be a bool array, got dtype {blocked.dtype}")
        blocked = blocked.copy()
        blocked.setflags(write=False)
        object.__setattr__(self, "blocked", blocked)
        if self.exits is not None:
            exits = np.asarray(self.exits)
            if exits.shape != blocked.shape:
                raise ValidationError(
                    "Grid.exits", f"shape {exits.shape} differs from blocked {blocked.shape}"
                )
            if exits.size and (int(exits.min()) < 0 or int(exits.max()) > ALL_DIRECTIONS):
                raise ValidationError("Grid.exits", "each entry must be a 4-bit direction mask in 0..15")
            exits = exits.astype(np.uint8)
            exits.setflags(write=False)
            object.__setattr__(self, "exits", exits)
        zones: dict[str, np.ndarray] = {}
        for zone, cells in self.zones.items():
            arr = np.asarray(cells, dtype=np.int64).ravel()
            if arr.size and (arr.min() < 0 or arr.max() >= blocked.size):
                raise ValidationError(f"Grid.zones[{zone!r}]", "holds a cell index outside the grid")
            if arr.size and self.blocked.ravel()[arr].any():
                raise ValidationError(f"Grid.zones[{zone!r}]", "holds a blocked cell")
            zones[zone] = arr
        object.__setattr__(self, "zones", MappingProxyType(zones))
        nbr, pred = _adjacency(blocked, self.exits)
        object.__setattr__(self, "neighbors", nbr)
        object.__setattr__(self, "predecessors", pred)

    @property
    def height(self) -> int:
        return int(self.blocked.shape[0])

    @property
    def width(self) -> int:
        return int(self.blocked.shape[1])

    @property
    def n_cells(self) -> int:
        return int(self.blocked.size)

    @property
    def free_cells(self) -> np.ndarray:
        """Indices of every free cell, ascending."""
        return np.flatnonzero(~self.blocked.ravel())

    def cell(self, x: int, y: int) -> int:
        """Cell index of column x, row y."""
        return y * self.width + x

    def xy(self, cell: int) -> tuple[int, int]:
        """(column, row) of a cell index."""
        return cell % self.width, cell // self.width

    def is_free(self, cell: int) -> bool:
        return 0 <= cell < self.n_cells and not bool(self.blocked.flat[cell])

    def adjacent(self, a: int, b: int) -> bool:
        """True when a robot may move from cell a to cell b in one step (or wait, a == b)."""
        return a == b or bool((self.neighbors[a] == b).any())


def _adjacency(blocked: np.ndarray, exits: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """Out-neighbour and in-neighbour tables, shape (cells, 4), -1 where there is no move."""
    h, w = blocked.shape
    n = h * w
    rows, cols = np.divmod(np.arange(n), w)
    free = ~blocked.ravel()
    nbr = np.full((n, 4), -1, dtype=np.int32)
    pred = np.full((n, 4), -1, dtype=np.int32)
    for d, (dr, dc) in enumerate(DIRECTIONS):
        r2, c2 = rows + dr, cols + dc
        inside = (r2 >= 0) & (r2 < h) & (c2 >= 0) & (c2 < w)
        target = np.where(inside, r2 * w + c2, 0)
        ok = inside & free & free[target]
        if exits is not None:
            ok &= (exits.ravel() >> d) & 1 == 1
        nbr[ok, d] = target[ok]
        # the move source -> target in direction d is the in-edge of target from the opposite side
        pred[target[ok], (d + 2) % 4] = np.flatnonzero(ok)
    return nbr, pred


def grid_from_rows(rows: list[str], blocked_chars: str = "@TOW", name: str = "grid") -> Grid:
    """A grid from text rows ('.' free, any of `blocked_chars` blocked); handy for small floors."""
    if not rows:
        raise ValidationError("rows", "a grid needs at least one row")
    width = len(rows[0])
    for r, row in enumerate(rows):
        if len(row) != width:
            raise ValidationError(f"rows[{r}]", f"has {len(row)} characters, expected {width}")
    blocked = np.array([[ch in blocked_chars for ch in row] for row in rows], dtype=bool)
    return Grid(blocked=blocked, name=name)
