"""Repair after a breakdown: feasible, frozen and started work untouched, moves reported."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from mixflow.errors import ValidationError
from mixflow.schedule import ProblemData, check, solve
from mixflow.schedule.repair import Breakdown, repair, with_breakdown


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_repair_is_feasible_and_moves_the_hit_operations(
    seed: int, make_problem: Callable[..., ProblemData]
) -> None:
    data = make_problem(seed, jobs=8, machines=4, ops=5)
    before = solve(data, time_limit=0.5, seed=seed, method="dispatch")
    busiest = int(np.bincount(before.machine).argmax())
    now = int(np.median(before.start[before.machine == busiest]))
    breakdown = Breakdown(busiest, now, now + 15)
    after = repair(data, before, breakdown, frozen_s=5)
    broken = with_breakdown(data, breakdown)
    report = check(broken, after.machine, after.start, after.end)
    assert report.feasible, report.violations
    hit = np.flatnonzero((before.machine == busiest) & (before.end > now) & (before.start < now + 15))
    moved = {data.op_index(j, o) for j, o in after.moved}
    assert set(hit.tolist()) <= moved
    for i in range(data.num_operations):
        changed = after.start[i] != before.start[i] or after.machine[i] != before.machine[i]
        assert changed == (i in moved)
        if before.start[i] < now and i not in hit:
            assert not changed  # work already started stays
        if i in hit:
            assert after.start[i] >= now + 5  # nothing lands in the frozen window
        assert after.start[i] >= before.start[i] or i in hit  # the rest only moves later


def test_breakdown_must_name_a_machine(flexible: ProblemData) -> None:
    result = solve(flexible, time_limit=0.2, method="dispatch")
    with pytest.raises(ValidationError, match="does not exist"):
        repair(flexible, result, Breakdown(99, 0, 10))
    with pytest.raises(ValidationError, match="empty"):
        Breakdown(0, 10, 10)
