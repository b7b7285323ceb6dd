"""Guidance chosen per floor at load: never worse than plain PIBT, conflict-free, costs from traffic."""

from __future__ import annotations

import numpy as np

from mixflow.fleet.distances import DistanceTable
from mixflow.fleet.grid import Grid, grid_from_rows
from mixflow.fleet.guidance import PLAIN, choose_guidance, run_guided, stream_trips, traffic_move_cost
from mixflow.fleet.lifelong import RoundRobinStream, run_lifelong
from mixflow.fleet.planner import LANE_UNIT, PLAIN_PIBT
from mixflow.fleet.validate import validate_plan


def _racks(width: int = 30, height: int = 15) -> Grid:
    """Rows of racks, 8 cells long, between one-cell aisles: a small warehouse of our own."""
    rows = []
    for y in range(height):
        if y % 3 == 2 and 0 < y < height - 2:
            rows.append("".join("@" if 2 <= x % 10 <= 9 and x < width - 2 else "." for x in range(width)))
        else:
            rows.append("." * width)
    return grid_from_rows(rows, name="racks")


def _instance(grid: Grid, n: int, seed: int = 0) -> tuple[np.ndarray, RoundRobinStream]:
    rng = np.random.default_rng(seed)
    free = grid.free_cells
    starts = rng.choice(free, size=n, replace=False).astype(np.int32)
    goals = rng.choice(free, size=300).astype(np.int32)
    return starts, RoundRobinStream(goals, n)


def test_traffic_costs_penalise_moves_against_the_flow() -> None:
    grid = grid_from_rows(["." * 12, "." * 12], name="two-lanes")
    east = [grid.cell(0, 0), grid.cell(0, 1)] * 5
    west = [grid.cell(11, 0), grid.cell(11, 1)] * 5
    origins = np.array(east + west, dtype=np.int32)
    destinations = np.array(west + east, dtype=np.int32)
    cost = traffic_move_cost(grid, origins, destinations, rounds=3)
    free = grid.neighbors >= 0
    assert cost.shape == (grid.n_cells, 4) and cost.min() >= LANE_UNIT
    assert (cost[free] > LANE_UNIT).any()  # opposing streams make some moves dearer
    assert cost[free].max() <= LANE_UNIT + 8


def test_stream_trips_follow_each_robots_next_goal() -> None:
    stream = RoundRobinStream(np.array([5, 6, 7, 8], dtype=np.int32), team=2)
    origins, destinations = stream_trips(np.array([0, 1], dtype=np.int32), stream, count=100)
    trips = set(zip(origins.tolist(), destinations.tolist(), strict=True))
    assert trips == {(0, 5), (1, 6), (5, 7), (6, 8), (7, 5), (8, 6)}


def test_guided_never_worse_than_plain_and_conflict_free() -> None:
    grid = _racks()
    for n, seed in [(20, 0), (60, 1), (120, 2)]:
        starts, stream = _instance(grid, n, seed)
        plain = run_lifelong(grid, starts, stream, 300, PLAIN_PIBT, seed=seed)
        guided = run_guided(grid, starts, stream, 300, seed=seed)
        assert guided.result.throughput >= plain.throughput, (n, guided.guidance)
        check = validate_plan(grid, guided.result.paths)
        assert check.ok, check.first_problem
        assert guided.warmup_s >= guided.result.warmup_s >= 0.0
        tried = set(guided.trial_throughput) - {"plain", "free_flow"}
        assert tried in (set(), {"plain_unstick", "traffic", "lanes"})


def test_choice_falls_back_to_plain_when_guidance_does_not_pay() -> None:
    grid = grid_from_rows(["." * 10] * 10, name="open")
    starts = np.array([0], dtype=np.int32)
    stream = RoundRobinStream(np.array([99, 0], dtype=np.int32), team=1)
    guide, table, trial = choose_guidance(grid, starts, stream, trial_steps=40)
    assert guide is PLAIN  # one robot alone: nothing to gain over shortest paths
    assert trial["plain"] > 0 and table.distance(0, 99) == 18


def test_distance_pool_is_allocated_once() -> None:
    grid = _racks()
    starts, stream = _instance(grid, 60)
    table = DistanceTable(grid, max_bytes=64 * grid.n_cells * 4, min_rows=60)
    rows = len(table.pool)
    run_lifelong(grid, starts, stream, 200, PLAIN_PIBT, distances=table)
    assert len(table.pool) == rows  # no copy of the pool inside a step


def _maze(seed: int) -> tuple[Grid, np.ndarray]:
    """A 24 x 24 floor with a fifth of its cells blocked at random: dead ends everywhere; returns it
    with the free cells of the part connected to its first free cell."""
    from mixflow.fleet.distances import INF

    rng = np.random.default_rng(seed)
    grid = Grid(blocked=rng.random((24, 24)) < 0.2, name=f"maze-{seed}")
    field = DistanceTable(grid).field(int(grid.free_cells[0]))
    return grid, np.flatnonzero(field < INF).astype(np.int32)


def test_guided_does_not_lock_up_where_plain_pibt_does() -> None:
    grid, cells = _maze(3)
    assert len(cells) > 400
    rng = np.random.default_rng(3)
    starts = rng.choice(cells, size=100, replace=False).astype(np.int32)
    stream = RoundRobinStream(rng.choice(cells, size=301).astype(np.int32), 100)
    plain = run_lifelong(grid, starts, stream, 600, PLAIN_PIBT, seed=0)
    guided = run_guided(grid, starts, stream, 600, seed=0)
    plain_late = sum(1 for _, _, t in plain.reached if t > 500)
    guided_late = sum(1 for _, _, t in guided.result.reached if t > 500)
    assert plain_late < 20  # textbook PIBT: locked at a dead end, the fleet piled up behind
    assert guided.guidance != "plain"
    assert guided_late >= 150  # still moving goods in the last 100 steps
    assert guided.result.throughput >= 1.5 * plain.throughput
    assert validate_plan(grid, guided.result.paths).ok
