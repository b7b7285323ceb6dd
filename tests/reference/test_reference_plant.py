"""The reference plant: its size at scale 1.0, determinism, reachability, demand within capacity, and
materials (suppliers, stock, charging bay) sized for its own order stream at every scale."""

from collections import deque

import pytest

from mixflow.model import DAY_S, Order, Plant, Scope
from mixflow.model.plant import Cell
from mixflow.model.plant_file import check_fit
from mixflow.model.supply import average_capacity, check_supply, daily_demand
from mixflow.reference import (
    build_plant,
    buildable_models,
    feeder_loads,
    line_loads,
    order_stream,
    orders_per_day,
    reference_catalogue,
)
from mixflow.reference.plant import charge_h_per_kwh, reference_mix


@pytest.fixture(scope="module")
def full_plant() -> Plant:
    return build_plant(1.0, seed=0)


def test_full_scale_counts(full_plant: Plant) -> None:
    assert len(full_plant.machines) >= 2000
    assert len(full_plant.fleet.agv_ids) >= 700
    assert len(full_plant.lines[0].stations) == 60
    assert len(buildable_models(reference_catalogue())) >= 500


def test_same_seed_same_plant() -> None:
    a, b = build_plant(0.25, seed=3), build_plant(0.25, seed=3)
    assert [m.cell for m in a.machines] == [m.cell for m in b.machines]
    assert (a.floor.blocked == b.floor.blocked).all()
    assert [m.cell for m in build_plant(0.25, seed=4).machines] != [m.cell for m in a.machines]


def _reachable(plant: Plant, start: Cell) -> set[Cell]:
    seen = {start}
    todo = deque([start])
    while todo:
        x, y = todo.popleft()
        for nxt in ((x + 1, y), (x - 1, y), (x, y + 1), (x, y - 1)):
            if nxt not in seen and plant.floor.is_free(nxt):
                seen.add(nxt)
                todo.append(nxt)
    return seen


@pytest.mark.parametrize("scale", [0.05, 0.5, 1.0])
def test_every_special_cell_is_reachable(scale: float) -> None:
    plant = build_plant(scale)
    reach = _reachable(plant, plant.fleet.homes[0])
    special = (
        list(plant.floor.chargers)
        + list(plant.floor.warehouse_cells)
        + list(plant.fleet.homes)
        + [s.drop_cell for s in plant.lines[0].stations]
        + [shop.outbound_cell for shop in plant.shops]
        + list(plant.floor.docks)
    )
    unreachable = [c for c in special if c not in reach]
    assert not unreachable
    for machine in plant.machines:  # every machine can be served from a neighbouring aisle
        x, y = machine.cell
        assert any(n in reach for n in ((x + 1, y), (x - 1, y), (x, y + 1), (x, y - 1)))


def test_generated_orders_satisfy_the_catalogue_and_fit_capacity() -> None:
    catalogue = reference_catalogue()
    plant = build_plant(0.5, seed=1)
    orders = order_stream(plant, catalogue, days=3, seed=1)
    assert orders, "an order stream of three days is never empty"
    for order in orders:
        assert catalogue.violations(order.configuration) == []
        model = tuple(order.configuration[v.name] for v in catalogue.variables_of(Scope.MODEL))
        assert model in set(buildable_models(catalogue))
    for load in [*feeder_loads(plant, catalogue, orders, 3), *line_loads(plant, catalogue, orders, 3)]:
        assert load.utilisation < 1.0, load
    assert len(orders) / 3 < plant.lines[0].units_per_day


def test_scale_is_checked() -> None:
    with pytest.raises(ValueError, match="scale"):
        build_plant(0)


BOUGHT_PARTS = (
    "e_drive",
    "fuel_cell",
    "engine",
    "mcs_inlet",
    "ccs_inlet",
    "pto_unit",
    "tyre",
    "adas_kit",
    "body",
    "kit",
)


@pytest.mark.parametrize("scale", [0.1, 1.0])
def test_every_bought_item_has_a_supplier_that_keeps_up_with_the_orders(scale: float) -> None:
    plant, catalogue = build_plant(scale), reference_catalogue()
    materials = plant.materials
    bought = {b.part for b in catalogue.bom if not plant.makes(b.part)}
    used = {item for r in plant.routings for step in r.steps for item, _ in step.materials}
    assert sorted(bought) == sorted(BOUGHT_PARTS)
    assert used == {r.id for r in materials.raw} and 10 <= len(used) <= 15
    for item in bought | used:
        supplier = materials.supplier_of(item)
        assert supplier is not None, item
        if item in bought:
            assert supplier.lead_time_s == catalogue.part(item).lead_time_s
        else:
            assert DAY_S <= supplier.lead_time_s <= 3 * DAY_S
        assert supplier.dock in plant.floor.docks and (supplier.p_late, supplier.mean_late_s) == (0.05, 7200)
    assert check_fit(plant, catalogue) == []
    orders = order_stream(plant, catalogue, 5, seed=1)
    demand = daily_demand(plant, catalogue, orders, 5)
    assert set(demand) == bought | used
    check_supply(plant, catalogue, demand)
    if scale == 1.0:  # plenty of orders: capacity is 1.5 to 2 times what they need, bar the rare fuel cell
        ratios = {s.items[0]: average_capacity(s) / demand[s.items[0]] for s in materials.suppliers}
        assert all(1.5 <= r <= 2.0 for item, r in ratios.items() if item != "fuel_cell"), ratios


@pytest.mark.parametrize("scale", [0.1, 1.0])
def test_stock_starts_full_and_reorders_before_a_lead_time_runs_it_dry(scale: float) -> None:
    plant, catalogue, mix = build_plant(scale), reference_catalogue(), reference_mix()
    trucks = [Order(f"M{k}", "C", config, 0, 0) for k, config in enumerate(mix)]
    per_truck = daily_demand(plant, catalogue, trucks, days=len(trucks))
    for supplier in plant.materials.suppliers:
        (item,) = supplier.items
        policy = plant.materials.policy(item)
        lead_days = supplier.lead_time_s / DAY_S
        assert policy.reorder_point >= per_truck[item] * orders_per_day(plant) * (lead_days + 1), item
        assert policy.max_stock == policy.reorder_point + 3 * supplier.lot_size == policy.on_hand


def test_an_agv_carries_what_any_step_consumes() -> None:
    plant = build_plant(0.1)
    kg = {r.id: r.kg for r in plant.materials.raw}
    heaviest = max(sum(kg[i] * q for i, q in step.materials) for r in plant.routings for step in r.steps)
    assert 200 < heaviest <= min(t.payload_kg for t in plant.fleet.types)


@pytest.mark.parametrize("scale", [0.05, 0.5, 1.0])
def test_the_charging_bay_keeps_up_with_the_battery_trucks_and_the_docks_line_the_warehouse(
    scale: float,
) -> None:
    plant, catalogue = build_plant(scale), reference_catalogue()
    bay = plant.charging
    assert bay is not None and bay.power_kw == 1200 and bay.battery_attribute == "pack_kwh"
    packs = [catalogue.attributes(c).get("pack_kwh", 0.0) for c in reference_mix()]
    assert max(packs) == 705 and 282 in packs
    charger_h = plant.units_per_day * sum(packs) / len(packs) * charge_h_per_kwh(bay)
    line_h = plant.lines[0].calendar.working_s_per_day / 3600
    assert charger_h <= bay.chargers * line_h / 2  # busy half the line's day at most: no queue for hours
    assert bay.chargers == 1 or charger_h > (bay.chargers - 1) * line_h / 2  # and no idle chargers
    assert 0.4 < 705 * charge_h_per_kwh(bay) < 0.5  # the biggest pack, 10 to 80 %, tapering: 27 minutes
    docks = plant.floor.docks
    assert 2 <= len(docks) <= 4 and all(x == 1 and plant.floor.blocked[y, 0] for x, y in docks)
    warehouse = plant.floor.zones["warehouse"]
    assert all(warehouse[0] <= x <= warehouse[2] and warehouse[1] <= y <= warehouse[3] for x, y in docks)
