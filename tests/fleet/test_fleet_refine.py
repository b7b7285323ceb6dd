from __future__ import annotations

import numpy as np
import pytest

from mixflow.errors import ValidationError
from mixflow.fleet import refine
from mixflow.fleet._kernels import INF, bfs_to_goal, space_time_path
from mixflow.fleet.grid import Grid, grid_from_rows
from mixflow.fleet.lacam import solve_oneshot
from mixflow.fleet.refine import arrivals, refine_plan
from mixflow.fleet.validate import validate_plan


def _search(grid: Grid, start: int, goal: int, occ: np.ndarray, free_from: int = 0) -> list[int]:
    h = np.empty(grid.n_cells, dtype=np.int32)
    bfs_to_goal(grid.predecessors, goal, np.zeros(grid.n_cells, dtype=np.bool_), h)
    size = occ.size
    out = np.full(occ.shape[0], -1, dtype=np.int32)
    t = space_time_path(
        grid.neighbors, h, start, goal, occ, free_from, np.zeros(size, dtype=np.int32), 1,
        np.empty(size, dtype=np.int64), np.empty(4096, dtype=np.int64), np.empty(4096, dtype=np.int64),
        out, 100_000,
    )  # fmt: skip
    return [] if t < 0 else out[: t + 1].tolist()


def test_space_time_search_waits_for_a_crossing_robot() -> None:
    grid = grid_from_rows([".@.", "...", ".@."])  # a plus-shaped crossing at cell 4
    occ = np.full((8, grid.n_cells), -1, dtype=np.int32)
    for t, cell in enumerate([1, 4, 7, 7, 7, 7, 7, 7]):  # robot 9 comes down through the centre
        occ[t, cell] = 9
    path = _search(grid, 3, 5, occ)  # west to east through the centre
    assert path[0] == 3 and path[-1] == 5
    assert all(occ[t, c] == -1 for t, c in enumerate(path))
    assert len(path) - 1 == 3  # one wait: the centre is taken at t=1


def test_space_time_search_refuses_a_head_on_swap() -> None:
    grid = grid_from_rows(["...."])
    occ = np.full((6, grid.n_cells), -1, dtype=np.int32)
    occ[0, 2], occ[1, 1], occ[2:, 0] = 9, 9, 9  # robot 9 walks west from cell 2 to the end cell 0
    assert _search(grid, 1, 3, occ) == []  # it would have to pass robot 9 in a one-lane corridor


def test_space_time_search_respects_when_the_goal_is_free() -> None:
    grid = grid_from_rows(["...."])
    occ = np.full((8, grid.n_cells), -1, dtype=np.int32)
    path = _search(grid, 0, 1, occ, free_from=4)
    assert len(path) - 1 == 4 and path[-1] == 1
    assert _search(grid, 0, 1, occ, free_from=8) == []  # beyond the horizon


def test_refinement_removes_needless_waits() -> None:
    grid = grid_from_rows(["....", "....", "...."])
    lazy = np.array([[0, 11]] * 4 + [[1, 10], [2, 9], [3, 8]], dtype=np.int32)  # both wait 3 steps
    assert validate_plan(grid, lazy).ok
    better = refine_plan(grid, lazy, lazy[-1], time_limit=5, seed=0)
    assert better.sum_of_costs_before == 12 and better.sum_of_costs == 6  # the sum of distances
    assert validate_plan(grid, better.paths).ok
    assert np.array_equal(better.paths[0], lazy[0]) and np.array_equal(better.paths[-1], lazy[-1])


def test_refinement_never_worsens_a_crowded_plan(warehouse: Grid) -> None:
    rng = np.random.default_rng(3)
    cells = rng.permutation(warehouse.free_cells)
    starts, goals = cells[:45], cells[45:90]
    first = solve_oneshot(warehouse, starts, goals, time_limit=20, seed=2, refine=False)
    assert first.solved
    better = refine_plan(warehouse, first.paths, goals, time_limit=20, seed=2, max_rounds=300)
    assert better.sum_of_costs_before == first.sum_of_costs
    assert better.sum_of_costs < first.sum_of_costs
    assert better.sum_of_costs == int(arrivals(better.paths, goals).sum())
    assert validate_plan(warehouse, better.paths).ok
    assert np.array_equal(better.paths[0], starts) and np.array_equal(better.paths[-1], goals)


def test_refinement_wants_a_solved_plan() -> None:
    grid = grid_from_rows(["...."])
    with pytest.raises(ValidationError, match="paths: must be a solved plan"):
        refine_plan(grid, np.array([[0], [1]]), np.array([3]), time_limit=1)
    with pytest.raises(ValidationError, match="time_limit"):
        refine_plan(grid, np.array([[0], [1]]), np.array([1]), time_limit=0)


def test_unreachable_cells_stay_unreachable() -> None:
    grid = grid_from_rows([".@."])
    h = np.empty(grid.n_cells, dtype=np.int32)
    bfs_to_goal(grid.predecessors, 2, np.zeros(grid.n_cells, dtype=np.bool_), h)
    assert h[0] == INF


def test_a_plan_too_big_for_the_memory_cap_comes_back_unchanged(monkeypatch: pytest.MonkeyPatch) -> None:
    grid = grid_from_rows(["...."])
    lazy = np.array([[0], [0], [1]], dtype=np.int32)
    monkeypatch.setattr(refine, "MAX_BYTES", 64)
    same = refine.refine_plan(grid, lazy, np.array([1]), time_limit=5)
    assert same.rounds == 0 and same.sum_of_costs == 2 and np.array_equal(same.paths, lazy)
