from __future__ import annotations

import numpy as np

from mixflow.fleet.grid import Grid, grid_from_rows
from mixflow.fleet.validate import validate_plan


def test_clean_plan_passes(warehouse: Grid) -> None:
    paths = np.array([[0, 2], [1, 3], [1, 4]])
    assert validate_plan(warehouse, paths).ok


def test_vertex_conflict_counted() -> None:
    grid = grid_from_rows(["...."])
    check = validate_plan(grid, np.array([[0, 2], [1, 1]]))
    assert check.vertex_conflicts == 1 and not check.ok
    assert "share a cell" in check.first_problem


def test_swap_counted_once() -> None:
    grid = grid_from_rows(["...."])
    check = validate_plan(grid, np.array([[1, 2], [2, 1]]))
    assert check.edge_conflicts == 1 and check.vertex_conflicts == 0
    assert "swap" in check.first_problem


def test_following_is_allowed_but_jumps_and_walls_are_not() -> None:
    grid = grid_from_rows([".....", "..@.."])
    assert validate_plan(grid, np.array([[1, 0], [2, 1]])).ok  # a train moving right
    assert validate_plan(grid, np.array([[0], [2]])).illegal_moves == 1
    assert validate_plan(grid, np.array([[2], [7]])).illegal_moves >= 1
