from __future__ import annotations

from collections import deque

import numpy as np

from mixflow.fleet.distances import INF, DistanceTable
from mixflow.fleet.grid import Grid


def _reference_bfs(grid: Grid, goal: int) -> np.ndarray:
    out = np.full(grid.n_cells, INF)
    out[goal] = 0
    queue = deque([goal])
    while queue:
        v = queue.popleft()
        for u in range(grid.n_cells):
            if out[u] == INF and v in grid.neighbors[u]:
                out[u] = out[v] + 1
                queue.append(u)
    return out


def test_bfs_matches_a_plain_bfs(warehouse: Grid) -> None:
    table = DistanceTable(warehouse)
    for goal in (0, 45, int(warehouse.free_cells[-1])):
        assert np.array_equal(table.field(goal), _reference_bfs(warehouse, goal))


def test_one_way_lane_distances_follow_the_arrows() -> None:
    blocked = np.zeros((2, 3), dtype=bool)
    exits = np.full((2, 3), 0b1111, dtype=np.uint8)
    exits[0, :] = 0b0110  # top row: only east or south
    table = DistanceTable(Grid(blocked=blocked, exits=exits))
    assert table.distance(2, 0) == 4  # (2,0) -> down, left, left, up
    assert table.distance(0, 2) == 2


def test_pool_stays_within_budget_and_reuses_rows(warehouse: Grid) -> None:
    row_bytes = 4 * warehouse.n_cells
    table = DistanceTable(warehouse, max_bytes=3 * row_bytes)
    for goal in warehouse.free_cells[:20]:
        table.distance(0, int(goal))
    assert table.bytes <= 3 * row_bytes
    assert table.bfs_runs == 20


def test_pinned_rows_survive_and_pool_grows_only_when_all_pinned(warehouse: Grid) -> None:
    row_bytes = 4 * warehouse.n_cells
    table = DistanceTable(warehouse, max_bytes=2 * row_bytes)
    rows = [table.acquire(int(g)) for g in warehouse.free_cells[:3]]
    assert len(set(rows)) == 3
    assert table.bytes >= 3 * row_bytes
    assert table.pool[rows[0], warehouse.free_cells[0]] == 0


def test_closed_cells_are_walls(warehouse: Grid) -> None:
    table = DistanceTable(warehouse)
    row = table.acquire(19)
    before = int(table.pool[row, 0])
    closed = np.zeros(warehouse.n_cells, dtype=bool)
    closed[[1, 20 + 1]] = True  # block the top-left corner's exits to the east
    table.set_closed(closed)
    assert int(table.pool[row, 0]) > before


def test_lane_costs_match_bfs_when_uniform_and_steer_when_not(warehouse: Grid) -> None:
    from mixflow.fleet.planner import LANE_UNIT, lane_move_cost

    plain = DistanceTable(warehouse)
    uniform = DistanceTable(warehouse, move_cost=lane_move_cost(warehouse, 0), unit=LANE_UNIT)
    laned = DistanceTable(warehouse, move_cost=lane_move_cost(warehouse, 8), unit=LANE_UNIT)
    for goal in (0, 45, 150):
        field = plain.field(goal)
        assert np.array_equal(uniform.field(goal), np.where(field < INF, LANE_UNIT * field, INF))
        steered = laned.field(goal)
        free = field < INF
        assert (steered[free] >= LANE_UNIT * field[free]).all()
        assert (steered[free] <= 3 * LANE_UNIT * field[free]).all()
    # row 0 runs east: going west along it costs more than going east
    assert laned.distance(5, 0) > laned.distance(0, 5) == 5 * LANE_UNIT


def test_a_pickled_table_keeps_the_pinned_fields_and_drops_the_cache(warehouse: Grid) -> None:
    import pickle
    import zlib

    from mixflow.api.twin_world import dump  # the pickler a plant's checkpoint is written with

    table = DistanceTable(warehouse)
    goals = [0, 45, int(warehouse.free_cells[-1])]
    pinned = table.acquire(goals[0])
    table.field(goals[1])  # cached, unpinned
    blob = zlib.decompress(dump(table))  # type: ignore[arg-type]
    assert len(blob) < table.pool.nbytes // 20  # not the pool (128 MB): one field and the bookkeeping
    back = pickle.loads(blob)
    assert np.array_equal(back.pool[pinned], table.pool[pinned])
    assert back.acquire(goals[0]) == pinned and back.bfs_runs == table.bfs_runs  # no refill
    assert np.array_equal(back.field(goals[1]), _reference_bfs(warehouse, goals[1]))  # refilled
    assert back.bfs_runs == table.bfs_runs + 1
    back.release(pinned)
    back.release(pinned)
