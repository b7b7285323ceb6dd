"""Supply against demand: what a plant's orders need of every bought item a day, counted by hand on a
tiny plant, and the refusal naming the supplier, its items and the shortfall when it cannot ship it."""

from __future__ import annotations

from dataclasses import replace

import pytest

from mixflow.configure.catalogue_file import parse_catalogue
from mixflow.errors import InfeasibleError, ValidationError
from mixflow.model import Catalogue, Order, Plant
from mixflow.model.plant_file import parse_plant
from mixflow.model.supply import average_capacity, bought_items, check_supply, daily_demand, shipping_days

PLANT = """
format: mixflow-plant-v1
name: Tiny cart plant
calendars:
  day: {shifts: [["06:00", "22:00"]]}
  weekdays: {shifts: [["06:00", "22:00"]], days_off: [5, 6]}
shops:
- id: frames
  outbound: [4, 4]
  groups:
  - {id: cut, calendar: day, cells: [[3, 2]]}
  - {id: weld, calendar: day, cells: [[5, 2]]}
routings:
- part: frame
  shop: frames
  steps:
  - {operation: cut, groups: [cut], work_s: 600, materials: {tube: 2}, repeat: 2}
  - {operation: weld, groups: [weld], work_s: 900, when: {size: long}, materials: {wire: 1, tube: 1}}
lines:
- id: main
  calendar: day
  takt_s: 1800
  stations: [{id: S1, positions: [1], drop: [8, 4]}]
  default_position: 1
floor:
  cell_m: 2.0
  layout: {width: 12, height: 8}
  warehouse: [[1, 1]]
  docks: [[1, 6]]
  chargers: [{cell: [10, 1]}]
  parking: [[9, 6], [10, 6]]
fleet:
  types:
  - {id: tugger, count: 2, speed_m_s: 1.5, payload_kg: 500, battery_kwh: 20, charge_kw: 40,
     drain_kwh_per_m: 0.001}
materials:
  raw:
  - {id: tube, kg: 10}
  - {id: wire, kg: 5}
  suppliers:
  - {id: sup-wheels, items: [wheel], lead_time: 24h, capacity_per_day: 20, calendar: weekdays}
  - {id: sup-steel, items: [tube, wire], lead_time: 2d, capacity_per_day: 10}
"""

CATALOGUE = """
format: mixflow-catalogue-v1
name: Tiny carts
product: {singular: cart, plural: carts}
base_price: 1000
variables:
- name: size
  scope: model
  values: [{code: short, label: Short}, {code: long, label: Long}]
parts:
- {id: frame, name: Frame}
- {id: wheel, name: Wheel, lead_time_s: 86400}
- {id: lamp, name: Lamp, lead_time_s: 86400}
bom:
- {part: frame}
- {part: wheel, qty: 4}
- {part: wheel, qty: 2, when: {size: long}}
"""


@pytest.fixture
def plant() -> Plant:
    return parse_plant(PLANT, "tiny.yaml")


@pytest.fixture
def catalogue() -> Catalogue:
    return parse_catalogue(CATALOGUE, "tiny-catalogue.yaml")


def _orders(*sizes: str) -> list[Order]:
    return [Order(f"O{k}", "C1", {"size": size}, 0, 86_400) for k, size in enumerate(sizes)]


def test_one_unit_takes_its_bought_parts_and_the_raw_material_of_its_steps(
    plant: Plant, catalogue: Catalogue
) -> None:
    assert bought_items(plant, catalogue, {"size": "short"}) == {"wheel": 4, "tube": 4}
    assert bought_items(plant, catalogue, {"size": "long"}) == {"wheel": 6, "tube": 5, "wire": 1}


def test_daily_demand_counts_bought_parts_and_raw_material_by_hand(
    plant: Plant, catalogue: Catalogue
) -> None:
    demand = daily_demand(plant, catalogue, _orders("short", "long", "long"), days=2)
    # wheels 4 + 6 + 6, tube 4 + 5 + 5, wire 0 + 1 + 1; the frame is made, not bought
    assert demand == {"tube": 7.0, "wheel": 8.0, "wire": 1.0}
    assert daily_demand(plant, catalogue, [], days=3) == {}
    with pytest.raises(ValidationError, match="positive number of days"):
        daily_demand(plant, catalogue, _orders("short"), days=0)


def test_a_supplier_ships_on_the_days_its_calendar_works(plant: Plant) -> None:
    wheels, steel = plant.materials.suppliers
    assert shipping_days(wheels) == 5 and shipping_days(steel) == 7
    assert average_capacity(wheels) == pytest.approx(20 * 5 / 7) and average_capacity(steel) == 10


def test_enough_supply_passes(plant: Plant, catalogue: Catalogue) -> None:
    check_supply(plant, catalogue, {"wheel": 14.0, "tube": 7.0, "wire": 3.0})


def test_a_short_supplier_is_named_with_its_items_and_the_shortfall(
    plant: Plant, catalogue: Catalogue
) -> None:
    with pytest.raises(InfeasibleError) as caught:
        check_supply(plant, catalogue, {"wheel": 1.0, "tube": 9.0, "wire": 3.0})
    assert str(caught.value) == (
        "supplier sup-steel ships at most 10 pieces a day; the orders need 12 a day (tube 9, wire 3): "
        "short by 2 a day"
    )


def test_a_supplier_shipping_on_weekdays_only_is_measured_on_an_average_day(
    plant: Plant, catalogue: Catalogue
) -> None:
    with pytest.raises(InfeasibleError) as caught:
        check_supply(plant, catalogue, {"wheel": 16.0})
    assert str(caught.value) == (
        "supplier sup-wheels ships at most 20 pieces a day on 5 of 7 days (14.3 a day on average); "
        "the orders need 16 a day (wheel 16): short by 1.7 a day"
    )


def test_every_short_supplier_is_counted(plant: Plant, catalogue: Catalogue) -> None:
    with pytest.raises(InfeasibleError, match=r"^supplier sup-wheels .* \(and 1 more suppliers short\)$"):
        check_supply(plant, catalogue, {"wheel": 30.0, "tube": 30.0})


def test_a_bought_item_no_supplier_sells_is_named(plant: Plant, catalogue: Catalogue) -> None:
    with pytest.raises(
        InfeasibleError, match=r"^part lamp: no supplier sells it and no shop makes it \(2 a day"
    ):
        check_supply(plant, catalogue, {"wheel": 1.0, "lamp": 2.0})
    rivets = replace(plant, materials=replace(plant.materials, suppliers=plant.materials.suppliers[:1]))
    with pytest.raises(
        InfeasibleError, match=r"^raw material tube: no supplier sells it \(0\.5 a day needed\)"
    ):
        check_supply(rivets, catalogue, {"tube": 0.5})
    with pytest.raises(
        InfeasibleError, match=r"^item bolt: neither a part nor a raw material, and no supplier"
    ):
        check_supply(plant, catalogue, {"bolt": 1.0})
    check_supply(plant, catalogue, {"lamp": 0.0})  # not needed: nothing to sell


def test_a_run_is_refused_before_it_starts_when_a_supplier_is_short() -> None:
    from mixflow.reference import build_plant, order_stream, reference_catalogue
    from mixflow.twin import check_feasible

    plant = build_plant(0.05, 0)
    catalogue = reference_catalogue()
    orders = order_stream(plant, catalogue, 2, 0)
    check_feasible(plant, catalogue, orders, 2)
    drives = plant.materials.supplier_of("e_drive")
    assert drives is not None
    others = tuple(s for s in plant.materials.suppliers if s is not drives)
    starved = replace(
        plant,
        materials=replace(plant.materials, suppliers=(replace(drives, capacity_per_day=1), *others)),
    )
    with pytest.raises(
        InfeasibleError, match=r"^supplier sup-e-drive ships at most 1 piece a day; .*\(e_drive "
    ):
        check_feasible(starved, catalogue, orders, 2)
