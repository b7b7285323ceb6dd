from __future__ import annotations

import numpy as np
import pytest

from mixflow.errors import UnknownNameError, ValidationError
from mixflow.sequence import ProblemData, RatioRule, evaluate, order_from_ids


def _hand_instance(mode: str) -> ProblemData:
    # line (tail | day D):  options A = 1 0 | 1 1 0 1, colours 1 2 | 2 2 3 3
    return ProblemData(
        vehicle_ids=("d1", "d2", "d3", "d4"),
        options=np.array([[1, 1], [1, 1], [0, 0], [1, 0]], bool),
        colours=np.array([2, 2, 3, 3]),
        rules=(RatioRule("A", 1, 3, "high"), RatioRule("B", 1, 2, "low")),
        paint_batch_limit=2,
        tail_options=np.array([[1, 0], [0, 1]], bool),
        tail_colours=np.array([1, 2]),
        window_rule=mode,  # type: ignore[arg-type]
    )


def test_roadef_windows_straddle_the_tail_and_shorten_at_the_end() -> None:
    result = evaluate(_hand_instance("roadef"), [0, 1, 2, 3])
    # A: windows from position 0 (holds d1) to 5; counts 2,2,2,2,1,1 -> excess 1,1,1,1,0,0
    # B: options 0 1 | 1 1 0 0, windows 1..5: counts 2,2,1,0,0 -> excess 1,1,0,0,0
    assert result.criteria == {"high": 4, "low": 2, "colour_changes": 1}
    assert result.objective == 4 * 1_000_000 + 2 * 1_000 + 1  # default ranking high > low > colour
    assert result.violated_windows == 4 + 2
    assert result.longest_paint_run == 2 and result.feasible


def test_csplib_counts_violated_full_windows_only() -> None:
    result = evaluate(_hand_instance("csplib"), [0, 1, 2, 3])
    assert result.criteria["high"] == 4  # full windows 0..3 of A all hold 2 > 1
    assert result.criteria["low"] == 2


def test_paint_runs_longer_than_the_limit_are_breaches() -> None:
    data = _hand_instance("roadef")
    result = evaluate(data, [2, 3, 0, 1])
    assert result.feasible
    wide = ProblemData(
        data.vehicle_ids,
        data.options,
        np.array([5, 5, 5, 1]),
        data.rules,
        paint_batch_limit=2,
        tail_options=data.tail_options,
        tail_colours=data.tail_colours,
    )
    assert evaluate(wide, [0, 1, 2, 3]).paint_breaches == 1


def test_ids_map_to_a_permutation_and_unknown_ids_fail() -> None:
    data = _hand_instance("roadef")
    assert order_from_ids(data, ["d3", "d1", "d2", "d4"]) == [2, 0, 1, 3]
    with pytest.raises(UnknownNameError, match="x9"):
        order_from_ids(data, ["d3", "x9", "d2", "d4"])
    with pytest.raises(ValidationError, match="too often"):
        order_from_ids(data, ["d3", "d3", "d2", "d4"])
