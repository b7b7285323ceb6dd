from __future__ import annotations

import numpy as np
import pytest

from mixflow.errors import ValidationError
from mixflow.sequence import ProblemData, RatioRule


def test_ratio_with_q_below_p_is_refused() -> None:
    with pytest.raises(ValidationError, match="q must be >= p"):
        RatioRule("sleeper_cab", 3, 2)


def test_options_must_match_vehicles_and_rules() -> None:
    with pytest.raises(ValidationError, match="options"):
        ProblemData(("a", "b"), np.zeros((2, 2), bool), np.zeros(2), (RatioRule("x", 1, 2),))


def test_weights_follow_the_ranking() -> None:
    data = ProblemData(
        ("a",),
        np.zeros((1, 1), bool),
        np.zeros(1),
        (RatioRule("x", 1, 2),),
        objective_order=("colour_changes", "high", "low"),
    )
    assert data.weights() == {"colour_changes": 1_000_000, "high": 1_000, "low": 1}


def test_latest_slots_that_cannot_all_be_met_are_refused() -> None:
    with pytest.raises(ValidationError, match="latest_slot"):
        ProblemData(
            ("a", "b", "c"),
            np.zeros((3, 1), bool),
            np.zeros(3),
            (RatioRule("x", 1, 2),),
            latest_slot=np.array([0, 0, 2]),
        )
