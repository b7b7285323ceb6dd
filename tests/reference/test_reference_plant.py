"""The reference plant: its size at scale 1.0, determinism, reachability, and demand within capacity."""

from collections import deque

import pytest

from mixflow.model import Plant, Scope
from mixflow.model.plant import Cell
from mixflow.reference import (
    build_plant,
    buildable_models,
    feeder_loads,
    line_loads,
    order_stream,
    reference_catalogue,
)


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
