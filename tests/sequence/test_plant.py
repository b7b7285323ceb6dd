from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from mixflow.model import DAY_S
from mixflow.reference import build_plant, order_stream, reference_catalogue
from mixflow.sequence import evaluate
from mixflow.sequence.plant import (
    PAINT_BATCH_LIMIT,
    RUSH_WITHIN_S,
    day_order_book,
    resequence,
    sequence_day,
    station_rules,
    station_work,
)


@pytest.fixture(scope="module")
def plant_day():  # type: ignore[no-untyped-def]
    plant = build_plant(1.0, 3)
    catalogue = reference_catalogue()
    orders = order_stream(plant, catalogue, days=3, seed=3)
    line = sequence_day(plant, catalogue, orders, 2 * DAY_S, time_limit_s=60, seed=0, max_iterations=300_000)
    return plant, catalogue, orders, line


def test_rules_come_from_stations_over_takt(plant_day) -> None:  # type: ignore[no-untyped-def]
    plant, catalogue, orders, line = plant_day
    book = day_order_book(plant, orders, 2 * DAY_S)
    work = station_work(plant, catalogue, book)
    rules, stations = station_rules(plant, work)
    assert rules and all(rule.p < rule.q for rule in rules)
    heavy = work[:, stations] > plant.lines[0].takt_s
    assert (heavy == line.data.options).all()
    assert {rule.name for rule in rules} == {rule.name for rule in line.data.rules}


def test_day_sequence_keeps_the_paint_limit_and_beats_first_in_first_out(plant_day) -> None:  # type: ignore[no-untyped-def]
    plant, _, _, line = plant_day
    assert len(line.orders) == int(plant.lines[0].units_per_day)
    result = evaluate(line.data, line.result.order)
    assert result.feasible and result.longest_paint_run <= PAINT_BATCH_LIMIT
    assert line.overload_s <= line.fifo_overload_s
    assert np.all(np.diff(line.slot_start_s) >= plant.lines[0].takt_s)


def test_rush_orders_leave_the_frozen_hours_alone(plant_day) -> None:  # type: ignore[no-untyped-def]
    plant, catalogue, _, line = plant_day
    later = order_stream(plant, catalogue, days=1, seed=42, start_s=2 * DAY_S)[:2]
    rush = [replace(o, id=f"RUSH{k}", priority=2) for k, o in enumerate(later)]
    now = 2 * DAY_S + 9 * 3600
    new = resequence(
        plant,
        catalogue,
        line,
        rush,
        now_s=now,
        frozen_s=2 * 3600,
        time_limit_s=60,
        seed=0,
        max_iterations=50_000,
    )
    cut = len(new.frozen)
    assert [o.id for o in new.frozen] == [o.id for o in line.orders[:cut]]
    assert new.slot_start_s[0] >= now + 2 * 3600
    within = RUSH_WITHIN_S // plant.lines[0].takt_s
    position = {o.id: k for k, o in enumerate(new.orders)}
    assert all(position[o.id] < within for o in rush)
    assert len(new.bumped) == len(rush)
    before = {o.id for o in line.orders}
    after = {o.id for o in new.frozen} | {o.id for o in new.orders} | {o.id for o in new.bumped}
    assert after == before | {o.id for o in rush}
    assert new.result.feasible
