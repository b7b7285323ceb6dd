from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from mixflow.sequence import ProblemData, RatioRule, _kernels, evaluate, greedy_order, solve
from mixflow.sequence.local_search import _Arrays


@pytest.mark.parametrize(("seed", "mode", "limit"), [(1, "roadef", 3), (2, "csplib", 2), (3, "roadef", None)])
def test_incremental_totals_match_the_evaluator_after_every_chunk(
    make_instance: Callable[..., ProblemData], seed: int, mode: str, limit: int | None
) -> None:
    data = make_instance(seed, mode=mode, limit=limit)
    arrays = _Arrays(data)
    rng = np.random.default_rng(seed)
    line = np.concatenate([arrays.tail_line, rng.permutation(data.num_vehicles)]).astype(np.int64)
    if limit is not None:
        line = np.concatenate([arrays.tail_line, greedy_order(data)]).astype(np.int64)
    cnt = _kernels.full_counts(line, arrays.opt, arrays.q, arrays.ws, arrays.we)
    totals = _kernels.totals_of(
        line, cnt, arrays.col, arrays.p, arrays.prio, arrays.ws, arrays.we, arrays.mode, arrays.t
    )
    best, best_totals = line.copy(), totals.copy()
    state = np.array([np.uint64(seed + 7)], dtype=np.uint64)
    start_breaches = evaluate(data, [int(v) for v in line[arrays.t :]]).paint_breaches
    for _ in range(15):
        _kernels.local_search(
            line,
            arrays.opt,
            arrays.col,
            arrays.cls,
            cnt,
            arrays.p,
            arrays.q,
            arrays.prio,
            arrays.ws,
            arrays.we,
            arrays.mode,
            arrays.t,
            arrays.limit,
            arrays.weights,
            totals,
            best,
            best_totals,
            state,
            300,
            12,
            400,
            300,
            -1,
            arrays.deadline,
            False,
            1.0,  # also take some worse moves, so the bookkeeping is checked both ways
            4,
        )
        result = evaluate(data, [int(v) for v in line[arrays.t :]])
        assert list(totals) == [
            result.criteria["high"],
            result.criteria["low"],
            result.criteria["colour_changes"],
        ]
        assert (cnt == _kernels.full_counts(line, arrays.opt, arrays.q, arrays.ws, arrays.we)).all()
        assert result.paint_breaches <= start_breaches


def test_search_never_worsens_the_greedy_start_and_keeps_the_paint_limit(
    make_instance: Callable[..., ProblemData],
) -> None:
    data = make_instance(4, n=60)
    start = evaluate(data, greedy_order(data))
    result = solve(data, time_limit_s=5, max_iterations=20_000, seed=3)
    assert result.feasible and start.feasible
    assert result.objective <= start.objective
    assert result.objective == evaluate(data, result.order).objective


def test_same_seed_same_sequence(make_instance: Callable[..., ProblemData]) -> None:
    data = make_instance(5)
    first = solve(data, time_limit_s=30, max_iterations=5_000, seed=11)
    second = solve(data, time_limit_s=30, max_iterations=5_000, seed=11)
    assert first.order == second.order


def test_satisfiable_csplib_style_instance_reaches_zero(make_instance: Callable[..., ProblemData]) -> None:
    # 3 of every 10 carry A (1/2 fits) and B (2/5 fits): a zero-violation line exists
    options = np.array([[i % 10 in (0, 4, 8), i % 10 in (1, 6)] for i in range(50)], bool)
    data = ProblemData(
        tuple(str(i) for i in range(50)),
        options,
        np.zeros(50),
        (RatioRule("A", 1, 2), RatioRule("B", 2, 5)),
        objective_order=("high",),
        window_rule="csplib",
    )
    result = solve(data, time_limit_s=10, max_iterations=200_000, seed=0)
    assert result.violations == 0 and result.objective == 0


def test_vehicles_stay_within_their_latest_slot(make_instance: Callable[..., ProblemData]) -> None:
    base = make_instance(6, n=30, limit=None)
    latest = np.full(30, 29)
    latest[[3, 17, 25]] = [0, 1, 4]
    data = ProblemData(
        base.vehicle_ids,
        base.options,
        base.colours,
        base.rules,
        None,
        base.tail_options,
        base.tail_colours,
        latest_slot=latest,
    )
    result = solve(data, time_limit_s=10, max_iterations=20_000, seed=1)
    position = {v: k for k, v in enumerate(result.order)}
    assert position[3] == 0 and position[17] == 1 and position[25] <= 4
    assert evaluate(data, result.order).late_vehicles == 0
