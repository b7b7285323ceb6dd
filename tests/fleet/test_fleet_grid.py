from __future__ import annotations

import numpy as np
import pytest

from mixflow.errors import ValidationError
from mixflow.fleet.grid import Grid, grid_from_rows


def test_neighbours_skip_walls_and_edges() -> None:
    grid = grid_from_rows(["..", ".@"])
    assert sorted(int(c) for c in grid.neighbors[0] if c >= 0) == [1, 2]
    assert (grid.neighbors[3] == -1).all()  # a wall has no moves
    assert grid.adjacent(0, 1) and not grid.adjacent(1, 2)
    assert grid.xy(grid.cell(1, 0)) == (1, 0)


def test_one_way_lane_allows_one_direction_only() -> None:
    blocked = np.zeros((1, 3), dtype=bool)
    exits = np.full((1, 3), 0b1111, dtype=np.uint8)
    exits[0, :] &= ~np.uint8(0b1000)  # no robot may leave any cell to the left (west)
    grid = Grid(blocked=blocked, exits=exits)
    assert grid.adjacent(0, 1) and not grid.adjacent(1, 0)
    assert 0 in grid.predecessors[1]


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"blocked": np.zeros(3, dtype=bool)}, "Grid.blocked"),
        ({"blocked": np.zeros((2, 2), dtype=int)}, "Grid.blocked"),
        ({"blocked": np.zeros((2, 2), dtype=bool), "exits": np.zeros((3, 3))}, "Grid.exits"),
        ({"blocked": np.eye(2, dtype=bool), "zones": {"charging": [0]}}, "Grid.zones['charging']"),
    ],
)
def test_bad_grids_name_the_field(kwargs: dict, field: str) -> None:
    with pytest.raises(ValidationError, match=field.replace("[", r"\[")):
        Grid(**kwargs)
