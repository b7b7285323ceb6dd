"""The free-flow bound of a lifelong stream: exact for a robot alone, never beaten by a fleet."""

from __future__ import annotations

import numpy as np
import pytest

from mixflow.errors import ValidationError
from mixflow.fleet.grid import Grid, grid_from_rows
from mixflow.fleet.guidance import run_guided
from mixflow.fleet.lifelong import RoundRobinStream, free_flow_throughput, run_lifelong
from mixflow.fleet.planner import PLAIN_PIBT


def test_free_flow_of_one_robot_on_a_corridor_is_its_walk() -> None:
    grid = grid_from_rows(["." * 10], name="corridor")
    stream = RoundRobinStream(np.array([9, 0], dtype=np.int32), team=1)
    starts = np.array([0], dtype=np.int32)
    # 9 moves a leg: goals at steps 9, 18, ..., 99
    assert free_flow_throughput(grid, starts, stream, 100) == pytest.approx(11 / 100)
    assert run_lifelong(grid, starts, stream, 100, PLAIN_PIBT).throughput == pytest.approx(11 / 100)


def test_a_goal_under_the_robot_takes_one_step() -> None:
    grid = grid_from_rows(["..."], name="short")
    stream = RoundRobinStream(np.array([0], dtype=np.int32), team=1)
    starts = np.array([0], dtype=np.int32)
    assert free_flow_throughput(grid, starts, stream, 10) == pytest.approx(1.0)
    assert run_lifelong(grid, starts, stream, 10, PLAIN_PIBT).throughput == pytest.approx(1.0)


def test_no_fleet_beats_the_free_flow_bound(warehouse: Grid) -> None:
    rng = np.random.default_rng(4)
    free = warehouse.free_cells
    for n in (5, 20, 40):
        starts = rng.choice(free, n, replace=False).astype(np.int32)
        stream = RoundRobinStream(rng.choice(free, 97).astype(np.int32), n)
        bound = free_flow_throughput(warehouse, starts, stream, 200)
        assert run_lifelong(warehouse, starts, stream, 200, PLAIN_PIBT).throughput <= bound
        assert run_guided(warehouse, starts, stream, 200).result.throughput <= bound


def test_free_flow_needs_steps() -> None:
    grid = grid_from_rows(["..."], name="short")
    stream = RoundRobinStream(np.array([2], dtype=np.int32), team=1)
    with pytest.raises(ValidationError, match="steps"):
        free_flow_throughput(grid, np.array([0], dtype=np.int32), stream, 0)
