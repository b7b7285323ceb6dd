from __future__ import annotations

import numpy as np
import pytest

from mixflow.errors import ValidationError
from mixflow.fleet.tasks import FORBIDDEN, FleetTask, assign, assign_greedy, total_cost


@pytest.mark.parametrize("seed", range(20))
def test_optimal_assignment_never_worse_than_greedy(seed: int) -> None:
    rng = np.random.default_rng(seed)
    cost = rng.integers(0, 60, size=(rng.integers(1, 12), rng.integers(1, 12))).astype(float)
    cost[rng.random(cost.shape) < 0.1] = FORBIDDEN
    best, greedy = assign(cost), assign_greedy(cost)
    assert len(best) >= len(greedy)
    if len(best) == len(greedy):
        assert total_cost(cost, best) <= total_cost(cost, greedy)
    assert len({r for r, _ in best}) == len(best) and len({c for _, c in best}) == len(best)


def test_greedy_is_beaten_on_the_classic_case() -> None:
    cost = np.array([[1.0, 2.0], [10.0, 100.0]])  # greedy gives task 0 to robot 0, robot 1 pays 100
    assert total_cost(cost, assign(cost)) == 12.0
    assert total_cost(cost, assign_greedy(cost)) == 101.0


def test_task_validation() -> None:
    with pytest.raises(ValidationError, match="task t1: pickup and dropoff are the same cell"):
        FleetTask("t1", 3, 3)
    with pytest.raises(ValidationError, match="deadline lies before release"):
        FleetTask("t2", 3, 4, release=10, deadline=5)
