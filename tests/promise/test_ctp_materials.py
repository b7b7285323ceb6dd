"""Promises that count on material: a bought part or a chain's raw material that is not there sets the
date and is named, quotes book nothing, and no promise relies on a part that cannot arrive in time."""

from __future__ import annotations

import random
from dataclasses import replace

import pytest

from mixflow.model import DAY_S, Catalogue, Materials, Order, Plant, RawMaterial, StockPolicy, Supplier
from mixflow.promise import MaterialLedger, Promiser
from mixflow.promise.ctp import TRANSPORT_MARGIN_S
from mixflow.reference import build_plant, order_stream, reference_catalogue

DOCK = (1, 1)
CELLS_PER_STEP = 2
Base = tuple[Plant, Catalogue, list[Order]]


@pytest.fixture(scope="module")
def base() -> Base:
    """The reference plant at a quarter scale, whose cab and frame chains cut steel and whose battery
    steps consume cells."""
    plant = build_plant(0.25, 0)
    routings = []
    for routing in plant.routings:
        steps = list(routing.steps)
        if routing.part in ("cab", "frame"):
            steps[0] = replace(steps[0], materials=(("steel", 3),))
        if routing.part == "battery_pack":
            steps = [replace(step, materials=(("cell", CELLS_PER_STEP),)) for step in steps]
        routings.append(replace(routing, steps=tuple(steps)))
    catalogue = reference_catalogue()
    plant = replace(plant, routings=tuple(routings))
    return plant, catalogue, order_stream(plant, catalogue, 2, 1)


def bought_items(plant: Plant, catalogue: Catalogue) -> list[str]:
    return [p.id for p in catalogue.parts if not plant.makes(p.id)] + ["steel", "cell"]


def supplied(
    plant: Plant,
    catalogue: Catalogue,
    lead_s: dict[str, int],
    on_hand: dict[str, int],
    capacity: int = 100_000,
    lot: int = 1,
    policy: dict[str, StockPolicy] | None = None,
) -> tuple[Plant, MaterialLedger]:
    """`plant` with one supplier per bought item (lead time `lead_s`, default a day) and its stock."""
    items = bought_items(plant, catalogue)
    suppliers = tuple(
        Supplier(f"sup-{item}", item, (item,), lead_s.get(item, DAY_S), capacity, lot) for item in items
    )
    stock = tuple(
        (policy or {}).get(item) or StockPolicy(item, on_hand=on_hand.get(item, 0)) for item in items
    )
    raw = (RawMaterial("steel", "sheet steel", 2.0), RawMaterial("cell", "LFP cell", 40.0))
    materials = Materials(raw=raw, suppliers=suppliers, stock=stock)
    plant = replace(plant, materials=materials)
    ledger = MaterialLedger(materials, {p.id: p.unit_cost for p in catalogue.parts}, default_dock=DOCK)
    return plant, ledger


def plenty(plant: Plant, catalogue: Catalogue) -> dict[str, int]:
    return {item: 100_000 for item in bought_items(plant, catalogue)}


def test_an_order_waits_for_a_bought_part_out_of_stock_and_names_it(base: Base) -> None:
    plant, catalogue, orders = base
    order = next(o for o in orders if "e_drive" in catalogue.bill_of_materials(o.configuration))
    stock = plenty(plant, catalogue) | {"e_drive": 0}
    plant, ledger = supplied(plant, catalogue, {"e_drive": 6 * DAY_S}, stock)
    promise = Promiser(plant, catalogue, ledger=ledger).promise(order, order.placed_s)
    assert promise.binding == "bought part e_drive"
    assert promise.parts_ready_s == order.placed_s + 6 * DAY_S + TRANSPORT_MARGIN_S
    (po,) = ledger.take_raised()
    assert (po.item, po.qty, po.due_s, po.dock) == ("e_drive", 1, order.placed_s + 6 * DAY_S, DOCK)
    assert ledger.reserved("e_drive") == 1
    tyres = catalogue.bill_of_materials(order.configuration)["tyre"]
    assert ledger.reserved("tyre") == tyres and ledger.on_hand("tyre") == 100_000


def test_a_chain_starts_only_once_its_raw_material_is_there(base: Base) -> None:
    plant, catalogue, orders = base
    order = next(o for o in orders if "battery_pack" in catalogue.bill_of_materials(o.configuration))
    stocked_plant, stocked = supplied(plant, catalogue, {}, plenty(plant, catalogue))
    unhindered = Promiser(stocked_plant, catalogue, ledger=stocked).promise(order, order.placed_s)
    short_plant, short = supplied(
        plant, catalogue, {"cell": 5 * DAY_S}, plenty(plant, catalogue) | {"cell": 0}
    )
    promise = Promiser(short_plant, catalogue, ledger=short).promise(order, order.placed_s)
    assert promise.binding == "material cell for battery_pack"
    assert promise.parts_ready_s > max(unhindered.parts_ready_s, order.placed_s + 5 * DAY_S)
    steps = [
        op
        for op in short_plant.feeder_operations(
            order.configuration, catalogue.attributes(order.configuration)
        )
        if op.part == "battery_pack"
    ]
    assert short.reserved("cell") == CELLS_PER_STEP * len(steps) > 0
    # two chains cut steel: the order reserves their steel once, as one quantity
    assert short.reserved("steel") == 6


def test_a_quote_books_nothing(base: Base) -> None:
    plant, catalogue, orders = base
    plant, ledger = supplied(plant, catalogue, {"e_drive": 4 * DAY_S}, {})
    promiser = Promiser(plant, catalogue, ledger=ledger)
    order = orders[0]
    quoted, binding = promiser.parts_ready(order, order.placed_s)
    assert ledger.take_raised() == []
    assert all(ledger.reserved(item) == 0 for item in bought_items(plant, catalogue))
    promise = promiser.promise(order, order.placed_s)
    assert (promise.parts_ready_s, promise.binding) == (quoted, binding)
    assert ledger.take_raised() != []


def test_without_modelled_materials_a_ledger_changes_nothing(base: Base) -> None:
    plant, catalogue, orders = base
    ledger = MaterialLedger(Materials(), {}, default_dock=None)
    with_ledger = Promiser(plant, catalogue, ledger=ledger)
    without = Promiser(plant, catalogue)
    for order in orders[:30]:
        assert with_ledger.promise(order, order.placed_s) == without.promise(order, order.placed_s)


@pytest.mark.parametrize("seed", range(4))
def test_no_promise_relies_on_a_part_that_cannot_arrive_in_time(base: Base, seed: int) -> None:
    """Random stocks, lots, lead times and a small supplier capacity; deliveries come on their dates.
    Every reservation a promise makes is needed no later than its parts-ready date and is ready by its
    need, and after every promise no reservation of an earlier one is endangered either."""
    plant, catalogue, orders = base
    rng = random.Random(seed)
    items = bought_items(plant, catalogue)
    lead_s = {item: rng.randrange(0, 5 * DAY_S, 3600) for item in items}
    policy = {}
    for item in items:
        reorder = rng.choice([0, 0, 5, 20])
        policy[item] = StockPolicy(item, rng.randrange(0, 60), reorder, reorder + rng.choice([0, 10, 40]))
    plant, ledger = supplied(
        plant, catalogue, lead_s, {}, capacity=60, lot=rng.choice([1, 4, 10]), policy=policy
    )
    promiser = Promiser(plant, catalogue, ledger=ledger)
    booked: list[tuple[str, str, int, int]] = []
    reserve = ledger.reserve

    def recording(order_id: str, item: str, qty: int, need_s: int, now_s: int) -> int:
        ready_s = reserve(order_id, item, qty, need_s, now_s)
        booked.append((order_id, item, need_s, ready_s))
        return ready_s

    ledger.reserve = recording  # type: ignore[method-assign]
    pending: list[tuple[int, str, int]] = []
    for order in orders:
        for due_s, po_id, qty in sorted(p for p in pending if p[0] <= order.placed_s):
            ledger.received(po_id, qty, due_s)
        pending = [p for p in pending if p[0] > order.placed_s]
        booked.clear()
        promise = promiser.promise(order, order.placed_s)
        pending += [(p.due_s, p.po_id, p.qty) for p in ledger.take_raised()]
        assert booked, "every order reserves something"
        for _, _, need_s, ready_s in booked:
            assert ready_s <= need_s <= promise.parts_ready_s
        assert ledger.endangered(order.placed_s) == []
    assert ledger.on_time == 1.0
    assert ledger.purchase_orders > 0
