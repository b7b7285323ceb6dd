"""The material ledger: time-phased netting, purchase orders with lots, lead times, supplier capacity and
calendars, the reorder rule, stock-outs, receipts, suppliers' delays and the KPIs."""

from __future__ import annotations

import pytest

from mixflow.errors import ValidationError
from mixflow.model import DAY_S, Calendar, Materials, RawMaterial, StockPolicy, Supplier
from mixflow.promise import Endangered, MaterialLedger

H = 3600
DOCK = (3, 4)


def ledger_of(
    *stock: StockPolicy,
    lead_time_s: int = 2 * DAY_S,
    capacity: int = 100,
    lot: int = 1,
    calendar: Calendar | None = None,
    dock: tuple[int, int] | None = DOCK,
) -> MaterialLedger:
    """One supplier selling e_drive and tyre; the raw material cell is sold by a second one."""
    acme = Supplier("acme", "Acme", ("e_drive", "tyre"), lead_time_s, capacity, lot, calendar, dock)
    cells = Supplier("cellco", "Cellco", ("cell",), DAY_S, 1000)
    materials = Materials(
        raw=(RawMaterial("cell", "LFP cell", unit_cost=50.0),), suppliers=(acme, cells), stock=stock
    )
    return MaterialLedger(materials, {"e_drive": 1000.0, "tyre": 100.0}, default_dock=(9, 9))


def test_stock_on_hand_covers_a_reservation_now() -> None:
    ledger = ledger_of(StockPolicy("e_drive", on_hand=10))
    assert ledger.earliest("e_drive", 10, 500) == 500
    assert ledger.reserve("o1", "e_drive", 3, need_s=DAY_S, now_s=500) == 500
    assert ledger.take_raised() == []
    assert (ledger.on_hand("e_drive"), ledger.reserved("e_drive"), ledger.on_order("e_drive")) == (10, 3, 0)
    assert ledger.earliest("e_drive", 7, 600) == 600
    assert ledger.earliest("e_drive", 8, 600) == 600 + 2 * DAY_S  # one piece short: a new order


def test_a_shortfall_raises_a_purchase_order_due_after_the_lead_time() -> None:
    ledger = ledger_of(lot=5)
    assert ledger.earliest("e_drive", 3, 100) == 100 + 2 * DAY_S
    assert ledger.reserve("o1", "e_drive", 3, need_s=3 * DAY_S, now_s=100) == 100 + 2 * DAY_S
    (po,) = ledger.take_raised()
    assert (po.po_id, po.supplier, po.item, po.qty, po.due_s, po.raised_s) == (
        "PO-1",
        "acme",
        "e_drive",
        5,
        100 + 2 * DAY_S,
        100,
    )
    assert po.dock == DOCK
    assert ledger.take_raised() == []  # handed out once
    # the two pieces left free on that order cover the next reservation, without a new order
    assert ledger.earliest("e_drive", 2, 200) == 100 + 2 * DAY_S
    assert ledger.reserve("o2", "e_drive", 2, need_s=3 * DAY_S, now_s=200) == 100 + 2 * DAY_S
    assert ledger.take_raised() == []
    assert ledger.earliest("e_drive", 1, 300) == 300 + 2 * DAY_S
    assert ledger.purchase_orders == 1


def test_lot_sizes_and_the_order_up_to_level_set_the_quantity() -> None:
    ledger = ledger_of(StockPolicy("e_drive", max_stock=12), lot=5)
    ledger.reserve("o1", "e_drive", 7, need_s=3 * DAY_S, now_s=0)
    (po,) = ledger.take_raised()
    assert po.qty == 20  # 7 short and 12 to keep: 19, in lots of 5
    assert ledger.on_order("e_drive") == 20


def test_a_full_day_at_the_supplier_spills_the_order_to_the_next_day() -> None:
    ledger = ledger_of(capacity=10, lot=5)
    first = ledger.reserve("o1", "e_drive", 8, need_s=5 * DAY_S, now_s=0)
    assert first == 2 * DAY_S
    # the supplier's capacity is shared by its items: a tyre ordered now finds day 2 full
    assert ledger.earliest("tyre", 4, 0) == 3 * DAY_S
    assert ledger.reserve("o2", "tyre", 4, need_s=5 * DAY_S, now_s=0) == 3 * DAY_S
    # 25 more cannot ship on one day: 5 more on day 3, 10 on day 4, 10 on day 5
    assert ledger.reserve("o3", "e_drive", 25, need_s=6 * DAY_S, now_s=0) == 5 * DAY_S
    raised = ledger.take_raised()
    assert [(p.item, p.qty, p.due_s // DAY_S) for p in raised] == [
        ("e_drive", 10, 2),
        ("tyre", 5, 3),
        ("e_drive", 5, 3),
        ("e_drive", 10, 4),
        ("e_drive", 10, 5),
    ]
    assert [p.po_id for p in raised] == [f"PO-{k}" for k in range(1, 6)]


def test_the_supplier_calendar_skips_days_off() -> None:
    weekdays = Calendar(((6 * H, 18 * H),), days_off=frozenset({5, 6}))
    ledger = ledger_of(calendar=weekdays)
    thursday_noon = 3 * DAY_S + 12 * H
    # two days later is Saturday noon: the delivery comes on Monday's first working second
    assert ledger.earliest("e_drive", 1, thursday_noon) == 7 * DAY_S + 6 * H
    # after the last window of a working day it comes the next morning
    assert ledger.earliest("e_drive", 1, 20 * H) == 3 * DAY_S + 6 * H
    assert ledger.reserve("o1", "e_drive", 1, need_s=8 * DAY_S, now_s=thursday_noon) == 7 * DAY_S + 6 * H


def test_the_reorder_point_brings_the_position_back_up_to_max_stock() -> None:
    ledger = ledger_of(StockPolicy("e_drive", on_hand=10, reorder_point=4, max_stock=20), lot=5)
    assert ledger.reserve("o1", "e_drive", 6, need_s=DAY_S, now_s=0) == 0  # position 4: not below
    assert ledger.take_raised() == []
    assert ledger.reserve("o2", "e_drive", 1, need_s=DAY_S, now_s=0) == 0  # position 3: order 17 -> 20
    (po,) = ledger.take_raised()
    assert (po.qty, po.due_s) == (20, 2 * DAY_S)
    assert ledger.consume("o1", "e_drive", 6, now_s=H)
    assert ledger.take_raised() == []  # a planned pick leaves the position where it was
    assert ledger.consume("o9", "e_drive", 4, now_s=H)  # an unplanned one lowers it, to 19: not below 4
    assert ledger.take_raised() == []
    assert ledger.consume("o2", "e_drive", 1, now_s=H) is False  # o2's piece is on order, not on hand


def test_consume_picks_from_stock_and_shrinks_the_reservation() -> None:
    ledger = ledger_of(StockPolicy("e_drive", on_hand=5))
    ledger.reserve("o1", "e_drive", 3, need_s=DAY_S, now_s=0)
    assert ledger.consume("o1", "e_drive", 2, now_s=H)
    assert (ledger.on_hand("e_drive"), ledger.reserved("e_drive")) == (3, 1)
    assert ledger.consume("o1", "e_drive", 1, now_s=H)
    assert (ledger.on_hand("e_drive"), ledger.reserved("e_drive")) == (2, 0)
    assert ledger.stockouts == 0


def test_a_pick_with_too_little_on_hand_is_a_stock_out_and_takes_nothing() -> None:
    ledger = ledger_of(StockPolicy("e_drive", on_hand=2))
    ledger.reserve("o1", "e_drive", 3, need_s=3 * DAY_S, now_s=0)  # 1 more on order
    ledger.take_raised()
    assert ledger.consume("o1", "e_drive", 3, now_s=DAY_S) is False
    assert ledger.stockouts == 1
    assert (ledger.on_hand("e_drive"), ledger.reserved("e_drive")) == (2, 3)


def test_an_unplanned_pick_runs_the_reorder_rule() -> None:
    ledger = ledger_of(StockPolicy("e_drive", on_hand=5, reorder_point=3, max_stock=6))
    assert ledger.consume("scrap", "e_drive", 3, now_s=H)
    (po,) = ledger.take_raised()
    assert (po.qty, po.raised_s, po.due_s) == (4, H, H + 2 * DAY_S)


def test_received_closes_the_order_and_counts_it_on_time_or_late() -> None:
    ledger = ledger_of()
    ledger.reserve("o1", "e_drive", 2, need_s=3 * DAY_S, now_s=0)
    ledger.reserve("o2", "tyre", 4, need_s=3 * DAY_S, now_s=0)
    early, late = ledger.take_raised()
    assert ledger.on_time == 1.0  # nothing received, nothing late
    ledger.received(early.po_id, early.qty, at_s=early.due_s)
    assert (ledger.on_hand("e_drive"), ledger.on_order("e_drive")) == (2, 0)
    ledger.confirmed(late.po_id, late.due_s - H, now_s=H)  # an earlier date does not move the bar
    ledger.received(late.po_id, late.qty, at_s=late.due_s + 1)
    assert ledger.on_time == 0.5
    with pytest.raises(ValidationError, match=f"purchase order {early.po_id}: is not open"):
        ledger.received(early.po_id, 1, at_s=3 * DAY_S)
    with pytest.raises(ValidationError, match="purchase order PO-99"):
        ledger.received("PO-99", 1, at_s=3 * DAY_S)


def test_a_short_delivery_is_made_up_by_a_new_order() -> None:
    ledger = ledger_of()
    ledger.reserve("o1", "e_drive", 4, need_s=3 * DAY_S, now_s=0)
    (po,) = ledger.take_raised()
    ledger.received(po.po_id, 3, at_s=2 * DAY_S)
    (again,) = ledger.take_raised()
    assert (again.qty, again.due_s) == (1, 4 * DAY_S)
    assert ledger.endangered(2 * DAY_S) == [Endangered("o1", "e_drive", 3 * DAY_S, 4 * DAY_S)]


def test_a_supplier_two_days_late_flags_exactly_the_orders_it_leaves_uncovered() -> None:
    ledger = ledger_of(StockPolicy("e_drive", on_hand=5), lot=5)
    ledger.reserve("stocked", "e_drive", 5, need_s=DAY_S, now_s=0)
    ledger.reserve("soon", "e_drive", 5, need_s=3 * DAY_S, now_s=0)
    ledger.reserve("later", "e_drive", 5, need_s=4 * DAY_S + 12 * H, now_s=0)
    first, second = ledger.take_raised()
    assert first.due_s == second.due_s == 2 * DAY_S
    ledger.reserve("tyres", "tyre", 1, need_s=3 * DAY_S, now_s=0)
    # one of the two deliveries slips by two days: netting in need order gives the other one to
    # "soon", so only "later" (needed before day 4 noon) is uncovered
    flagged = ledger.confirmed(first.po_id, 4 * DAY_S + 18 * H, now_s=DAY_S)
    assert flagged == [Endangered("later", "e_drive", 4 * DAY_S + 12 * H, 4 * DAY_S + 18 * H)]
    assert ledger.endangered(DAY_S) == flagged
    ledger.release("later")
    assert ledger.endangered(DAY_S) == []
    assert ledger.reserved("e_drive") == 10


def test_a_reservation_after_a_delay_sees_the_later_date() -> None:
    ledger = ledger_of(lot=10)
    ledger.reserve("o1", "e_drive", 4, need_s=5 * DAY_S, now_s=0)
    (po,) = ledger.take_raised()
    assert ledger.earliest("e_drive", 6, 0) == 2 * DAY_S
    assert ledger.confirmed(po.po_id, 4 * DAY_S, now_s=H) == []  # o1 still covered in time
    assert ledger.earliest("e_drive", 6, H) == 4 * DAY_S
    assert ledger.reserve("o2", "e_drive", 6, need_s=5 * DAY_S, now_s=H) == 4 * DAY_S


def test_an_overdue_delivery_endangers_what_is_needed_now() -> None:
    ledger = ledger_of()
    ledger.reserve("o1", "e_drive", 1, need_s=2 * DAY_S + H, now_s=0)
    ledger.reserve("o2", "tyre", 1, need_s=6 * DAY_S, now_s=0)
    # nothing arrived by day 3: o1's part is at best there now; o2 still has time
    assert ledger.endangered(3 * DAY_S) == [Endangered("o1", "e_drive", 2 * DAY_S + H, 3 * DAY_S)]


def test_release_forgets_an_orders_reservations() -> None:
    ledger = ledger_of(StockPolicy("e_drive", on_hand=4), StockPolicy("cell", on_hand=100))
    ledger.reserve("o1", "e_drive", 3, need_s=DAY_S, now_s=0)
    ledger.reserve("o1", "cell", 40, need_s=DAY_S, now_s=0)
    ledger.reserve("o2", "e_drive", 1, need_s=DAY_S, now_s=0)
    ledger.release("o1")
    assert (ledger.reserved("e_drive"), ledger.reserved("cell")) == (1, 0)
    assert ledger.earliest("e_drive", 3, 0) == 0
    ledger.release("o1")  # twice is harmless


def test_kpis_value_the_stock_and_count_orders_and_stock_outs() -> None:
    ledger = ledger_of(StockPolicy("e_drive", on_hand=3), StockPolicy("cell", on_hand=100))
    assert ledger.inventory_value() == 3 * 1000.0 + 100 * 50.0
    assert ledger.days_of_supply({"e_drive": 1, "cell": 20}) == pytest.approx(8000 / 2000)
    ledger.consume("o1", "e_drive", 4, now_s=0)
    ledger.reserve("o2", "tyre", 1, need_s=DAY_S, now_s=0)
    assert (ledger.stockouts, ledger.purchase_orders) == (1, 1)
    with pytest.raises(ValidationError, match="a day's demand is worth nothing"):
        ledger.days_of_supply({"tyre": 0})
    with pytest.raises(ValidationError, match="demand of cab"):
        ledger.days_of_supply({"cab": 1})


def test_bad_input_is_refused_with_its_name() -> None:
    ledger = ledger_of()
    assert not ledger.handles("cab") and ledger.handles("cell")
    with pytest.raises(ValidationError, match="item cab: no supplier sells it"):
        ledger.reserve("o1", "cab", 1, need_s=0, now_s=0)
    with pytest.raises(ValidationError, match="item tyre: quantity 0"):
        ledger.earliest("tyre", 0, 0)
    with pytest.raises(ValidationError, match="purchase order PO-7"):
        ledger.confirmed("PO-7", DAY_S, now_s=0)
    acme = Supplier("acme", "Acme", ("tyre",), DAY_S, 10)
    with pytest.raises(ValidationError, match="supplier acme: names no dock and the plant has none"):
        MaterialLedger(Materials(suppliers=(acme,)), {"tyre": 1.0}, default_dock=None)
    with pytest.raises(ValidationError, match="item tyre: sold by acme has no unit cost"):
        MaterialLedger(Materials(suppliers=(acme,)), {}, default_dock=DOCK)


def test_a_supplier_without_a_dock_delivers_to_the_plants_dock() -> None:
    ledger = ledger_of(dock=None)
    ledger.reserve("o1", "tyre", 1, need_s=DAY_S, now_s=0)
    assert ledger.take_raised()[0].dock == (9, 9)
