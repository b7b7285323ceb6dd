"""The plant day: jobs per order and part, due at line slots, and a schedule the checker accepts."""

from __future__ import annotations

import itertools

import pytest

from mixflow.model import DAY_S
from mixflow.reference import build_plant, order_stream, reference_catalogue
from mixflow.schedule import Objective, check, solve
from mixflow.schedule.plant import DELIVERY_MARGIN_S, KITTING_LEAD_S, line_slots, plant_day


@pytest.fixture(scope="module")
def day():  # type: ignore[no-untyped-def]
    plant = build_plant(0.05)
    catalogue = reference_catalogue()
    orders = order_stream(plant, catalogue, days=1, seed=3)[:6]
    slots = line_slots(plant, orders, 3 * DAY_S)
    return plant, slots, plant_day(plant, catalogue, slots)


def test_jobs_are_due_at_their_slots(day) -> None:  # type: ignore[no-untyped-def]
    plant, slots, problem = day
    assert problem.data.objective is Objective.WEIGHTED_TARDINESS
    assert len(problem.data.machines) == len(plant.machines)
    slot_of = {slot.order.id: slot.slot_s for slot in slots}
    assert {job.order_id for job in problem.jobs} == set(slot_of)
    for job, data_job in zip(problem.jobs, problem.data.jobs, strict=True):
        assert data_job.due == job.due_s <= slot_of[job.order_id] - DELIVERY_MARGIN_S
        assert data_job.release == job.release_s < job.due_s
        # material is kitted a shift ahead: released at least that long before due (plan starts at 0)
        assert job.due_s - job.release_s >= KITTING_LEAD_S
    # the cab is built before it is painted
    parts = {(job.order_id, job.part): j for j, job in enumerate(problem.jobs)}
    for (before, _), (after, _) in problem.data.precedences:
        assert problem.jobs[before].part == "cab" and problem.jobs[after].part == "paint_cab"
    assert any(part == "paint_cab" for _, part in parts)


def test_slots_follow_the_takt(day) -> None:  # type: ignore[no-untyped-def]
    plant, slots, _ = day
    gaps = {b.slot_s - a.slot_s for a, b in itertools.pairwise(slots)}
    assert gaps == {plant.lines[0].takt_s}


def test_plant_day_schedules_feasibly(day) -> None:  # type: ignore[no-untyped-def]
    _, _, problem = day
    result = solve(problem.data, time_limit=1.0, method="dispatch")
    report = check(problem.data, result.machine, result.start, result.end)
    assert report.feasible, report.violations
    assert result.lower_bound <= result.objective
