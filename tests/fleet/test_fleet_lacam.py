from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mixflow.errors import InfeasibleError, ValidationError
from mixflow.fleet.formats import read_map, read_scen
from mixflow.fleet.grid import Grid, grid_from_rows
from mixflow.fleet.lacam import solve_oneshot
from mixflow.fleet.planner import PLAIN_PIBT, PIBTPlanner, PlannerOptions
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


def test_corridor_where_pibt_livelocks_is_solved() -> None:
    # Two pairs must trade ends of a corridor that has one side pocket near each end.
    grid = grid_from_rows(["@@.@@@@.@@", ".........."])
    starts, goals = np.array([10, 11, 18, 19]), np.array([19, 18, 11, 10])
    for options in (PLAIN_PIBT, PlannerOptions(swap=True, flow_weight=0.0, lane_cost=0)):
        pibt = PIBTPlanner(grid, starts, goals, options, seed=0)
        assert not any(np.array_equal(pibt.step(), goals) for _ in range(200))  # PIBT alone livelocks
    first = solve_oneshot(grid, starts, goals, time_limit=10, refine=False)
    result = solve_oneshot(grid, starts, goals, time_limit=10)
    assert first.solved and result.solved
    assert validate_plan(grid, first.paths).ok and validate_plan(grid, result.paths).ok
    assert np.array_equal(result.paths[-1], goals)
    assert result.first_sum_of_costs == first.sum_of_costs
    assert result.sum_of_costs < first.sum_of_costs  # the refinement removes LaCAM's detours


def test_swap_alone_passes_a_tee_where_plain_pibt_livelocks() -> None:
    # Two robots trade ends of a corridor with a two-cell bay at one end.
    grid = grid_from_rows(["..@@@@@", "......."])
    starts, goals = np.array([7, 13]), np.array([13, 7])
    plain = PIBTPlanner(grid, starts, goals, PLAIN_PIBT, seed=0)
    assert not any(np.array_equal(plain.step(), goals) for _ in range(200))
    swap = PIBTPlanner(grid, starts, goals, PlannerOptions(swap=True, flow_weight=0.0, lane_cost=0), seed=0)
    trail = [starts, *(swap.step() for _ in range(30))]
    assert np.array_equal(trail[-1], goals) and validate_plan(grid, np.array(trail)).ok


def test_seven_hundred_robots_on_the_public_warehouse(shared_benchmarks: Path) -> None:
    folder = shared_benchmarks / "mapf" / "movingai"
    grid = read_map(folder / "warehouse-10-20-10-2-1.map")
    scen = read_scen(folder / "warehouse-10-20-10-2-1-random-1.scen", grid)
    starts, goals = scen.starts[:700], scen.goals[:700]
    result = solve_oneshot(grid, starts, goals, time_limit=120, refine=False)
    assert result.solved and validate_plan(grid, result.paths).ok
    assert np.array_equal(result.paths[0], starts) and np.array_equal(result.paths[-1], goals)
