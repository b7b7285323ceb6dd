from __future__ import annotations

import numpy as np
import pytest

from mixflow.errors import InfeasibleError, ValidationError
from mixflow.fleet.grid import Grid, grid_from_rows
from mixflow.fleet.lacam import solve_oneshot
from mixflow.fleet.validate import validate_plan


def test_solves_a_crowded_warehouse(warehouse: Grid) -> None:
    rng = np.random.default_rng(5)
    cells = rng.permutation(warehouse.free_cells)
    starts, goals = cells[:40], cells[40:80]
    result = solve_oneshot(warehouse, starts, goals, time_limit=20, seed=1)
    assert result.solved
    assert validate_plan(warehouse, result.paths).ok
    assert np.array_equal(result.paths[-1], goals) and np.array_equal(result.paths[0], starts)
    assert result.makespan <= len(result.paths) - 1
    assert result.sum_of_costs >= result.makespan


def test_corridor_swap_uses_the_pocket() -> None:
    grid = grid_from_rows(["@@.@@", "....."])  # a corridor with one side pocket
    result = solve_oneshot(grid, np.array([5, 9]), np.array([9, 5]), time_limit=10)
    assert result.solved and validate_plan(grid, result.paths).ok


def test_costs_count_arrival_once_staying() -> None:
    grid = grid_from_rows(["...."])
    result = solve_oneshot(grid, np.array([0]), np.array([3]), time_limit=5)
    assert (result.sum_of_costs, result.makespan) == (3, 3)


def test_impossible_swap_is_infeasible() -> None:
    grid = grid_from_rows(["..."])
    with pytest.raises(InfeasibleError):
        solve_oneshot(grid, np.array([0, 2]), np.array([2, 0]), time_limit=10)


def test_duplicate_goals_name_the_agent() -> None:
    grid = grid_from_rows(["...."])
    with pytest.raises(ValidationError, match="agent 1: has goal"):
        solve_oneshot(grid, np.array([0, 1]), np.array([3, 3]), time_limit=5)
