"""Small instances of our own making for the sequencing tests."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from mixflow.sequence import ProblemData, RatioRule


def random_instance(
    seed: int, n: int = 40, tail: int = 6, limit: int | None = 3, mode: str = "roadef"
) -> ProblemData:
    """A random instance with a D-1 tail, three rules of both priorities, four colours, a paint limit."""
    rng = np.random.default_rng(seed)
    rules = (RatioRule("A", 1, 2, "high"), RatioRule("B", 2, 5, "high"), RatioRule("C", 1, 3, "low"))
    return ProblemData(
        vehicle_ids=tuple(f"V{i:03d}" for i in range(n)),
        options=rng.random((n, 3)) < np.array([0.35, 0.3, 0.3]),
        colours=rng.integers(0, 4, n),
        rules=rules,
        paint_batch_limit=limit,
        tail_options=rng.random((tail, 3)) < 0.3,
        tail_colours=rng.integers(0, 4, tail),
        objective_order=("high", "colour_changes", "low"),
        window_rule=mode,  # type: ignore[arg-type]
        name=f"random{seed}",
    )


@pytest.fixture
def make_instance() -> Callable[..., ProblemData]:
    """The random instance builder, for tests that need several sizes and window rules."""
    return random_instance
