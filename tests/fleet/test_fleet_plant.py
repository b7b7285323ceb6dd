from __future__ import annotations

import numpy as np
import pytest

from mixflow.fleet.plant import energy_from_spec, fleet_for_plant, fleet_task, grid_from_floor, step_seconds
from mixflow.fleet.validate import validate_plan
from mixflow.model import MaterialTask


@pytest.fixture(scope="module")
def small_plant():  # type: ignore[no-untyped-def]
    from mixflow.reference import build_plant

    return build_plant(0.1, 0)


def test_floor_becomes_grid_with_zones(small_plant) -> None:  # type: ignore[no-untyped-def]
    floor = small_plant.floor
    grid = grid_from_floor(floor)
    assert (grid.width, grid.height) == (floor.width, floor.height)
    assert np.array_equal(grid.blocked, floor.blocked)
    assert len(grid.zones["chargers"]) == len(floor.chargers)
    assert all(grid.is_free(int(c)) for c in grid.zones["warehouse"])


def test_energy_per_step_follows_the_spec(small_plant) -> None:  # type: ignore[no-untyped-def]
    spec, floor = small_plant.fleet.spec, small_plant.floor
    step = step_seconds(small_plant)
    energy = energy_from_spec(spec, floor.cell_m, step)
    assert energy.drain_kwh_per_move == pytest.approx(spec.drain_kwh_per_m * floor.cell_m)
    assert energy.charge_kwh_per_step == pytest.approx(spec.charge_kw * step / 3600)


def test_plant_fleet_delivers_line_side_tasks(small_plant) -> None:  # type: ignore[no-untyped-def]
    fleet = fleet_for_plant(small_plant, seed=0)
    racks = small_plant.floor.warehouse_cells
    trail = [fleet.positions.copy()]
    posted = 0
    for step in range(400):
        if step % 20 == 0 and step < 200:
            station = small_plant.lines[0].stations[posted % len(small_plant.lines[0].stations)]
            task = MaterialTask(
                id=f"t{posted}",
                part="kit",
                pickup=racks[posted * 7 % len(racks)],
                dropoff=station.drop_cell,
                release_s=step,
                deadline_s=step + 300,
                payload_kg=200.0,
            )
            fleet.post(fleet_task(task, fleet.grid, step_seconds(small_plant)))
            posted += 1
        trail.append(fleet.step())
    assert validate_plan(fleet.grid, np.array(trail)).ok
    assert fleet.delivered == posted and fleet.delivered_late == 0


def test_a_plant_fleet_of_two_types_keeps_each_agvs_type(small_plant) -> None:  # type: ignore[no-untyped-def]
    from dataclasses import replace

    from mixflow.model import Fleet

    heavy = small_plant.fleet.spec
    light = replace(heavy, id="light", payload_kg=100.0, battery_kwh=5.0, charge_kw=20.0)
    ids, homes = small_plant.fleet.agv_ids, small_plant.fleet.homes
    type_of = tuple(k % 2 for k in range(len(ids)))
    kw = tuple(30.0 if k == 0 else 0.0 for k in range(len(small_plant.floor.chargers)))
    plant = replace(
        small_plant,
        fleet=Fleet(heavy, ids, homes, (heavy, light), type_of),
        floor=replace(small_plant.floor, charger_kw=kw),
    )
    fleet = fleet_for_plant(plant, seed=0)
    step = step_seconds(plant)
    assert fleet.battery_kwh[:2].tolist() == [heavy.battery_kwh, 5.0]
    assert fleet.payload_kg[:2].tolist() == [heavy.payload_kg, 100.0]
    assert fleet.charge_kwh_per_step[:2] == pytest.approx([heavy.charge_kw * step / 3600, 20.0 * step / 3600])
    assert fleet.charger_kwh_per_step[0] == pytest.approx(30.0 * step / 3600)
    assert (fleet.charger_kwh_per_step[1:] == 0).all()
    assert fleet.max_payload_kg == heavy.payload_kg
