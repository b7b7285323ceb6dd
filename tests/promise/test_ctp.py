"""Capable-to-promise: slots are never double-booked, bought parts bound the date, margins hold."""

from __future__ import annotations

from dataclasses import replace

import pytest

from mixflow.model import DAY_S
from mixflow.promise import Promiser, PromiseRules, SlotBook
from mixflow.reference import build_plant, order_stream, reference_catalogue


@pytest.fixture(scope="module")
def setup():  # type: ignore[no-untyped-def]
    plant = build_plant(0.25, 0)
    catalogue = reference_catalogue()
    return plant, catalogue, order_stream(plant, catalogue, 3, 1)


def test_slots_are_takt_steps_inside_the_shifts(setup) -> None:  # type: ignore[no-untyped-def]
    plant, _, _ = setup
    book = SlotBook(plant.lines[0])
    takt = plant.lines[0].takt_s
    assert book.per_day == plant.lines[0].calendar.working_s_per_day // takt
    assert book.time_of(0) == 6 * 3600 and book.time_of(1) == 6 * 3600 + takt
    assert book.time_of(book.per_day) == DAY_S + 6 * 3600
    assert book.first_at_or_after(23 * 3600) == book.per_day


def test_days_off_have_no_slots(setup) -> None:  # type: ignore[no-untyped-def]
    plant, _, _ = setup
    line = plant.lines[0]
    weekend = replace(line, calendar=replace(line.calendar, days_off=frozenset({5, 6})))
    book = SlotBook(weekend)
    friday_last = 5 * book.per_day - 1  # the last slot of day 4 (the 5th worked day)
    assert book.time_of(friday_last) // DAY_S == 4
    assert book.time_of(friday_last + 1) == 7 * DAY_S + 6 * 3600  # Monday, not Saturday
    assert book.first_at_or_after(5 * DAY_S + 3600) == 5 * book.per_day  # Saturday -> Monday's first
    assert book.first_at_or_after(4 * DAY_S + 23 * 3600) == 5 * book.per_day
    for slot in range(0, 30 * book.per_day, 7):
        t = book.time_of(slot)
        assert weekend.calendar.is_working(t) and book.first_at_or_after(t) == slot


def test_every_order_gets_its_own_slot_after_its_parts(setup) -> None:  # type: ignore[no-untyped-def]
    plant, catalogue, orders = setup
    promiser = Promiser(plant, catalogue)
    promises = [promiser.promise(o, o.placed_s) for o in orders]
    assert len({p.slot for p in promises}) == len(promises)
    for order, p in zip(orders, promises, strict=True):
        assert p.slot_s >= p.parts_ready_s >= order.placed_s
        assert p.promised_s >= max(p.earliest_delivery_s, order.requested_s)
        for part in catalogue.bill_of_materials(order.configuration):
            lead = catalogue.part(part).lead_time_s
            assert p.parts_ready_s >= order.placed_s + lead


def test_a_full_line_pushes_the_slot_out(setup) -> None:  # type: ignore[no-untyped-def]
    plant, catalogue, orders = setup
    promiser = Promiser(plant, catalogue)
    order = orders[0]
    ready, _ = promiser.parts_ready(order, order.placed_s)
    ready_slot = promiser.book_of("").first_at_or_after(ready)
    for k in range(ready_slot, ready_slot + 50):  # other orders hold the next 50 slots
        promiser.book_of("").take(k, f"other-{k}")
    promise = promiser.promise(order, order.placed_s)
    assert promise.slot == ready_slot + 50
    assert promise.binding == "line capacity"


def test_a_safety_margin_moves_the_promise_not_the_slot(setup) -> None:  # type: ignore[no-untyped-def]
    plant, catalogue, orders = setup
    tight = Promiser(plant, catalogue, PromiseRules(safety_s=0)).promise(orders[0], orders[0].placed_s)
    loose = Promiser(plant, catalogue, PromiseRules(safety_s=DAY_S)).promise(orders[0], orders[0].placed_s)
    assert tight.slot == loose.slot
    assert loose.earliest_delivery_s == tight.earliest_delivery_s


def test_bad_rules_are_refused() -> None:
    with pytest.raises(ValueError, match="shop_utilisation"):
        PromiseRules(shop_utilisation=0)
