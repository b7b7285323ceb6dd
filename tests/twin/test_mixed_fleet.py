"""A fleet of two AGV types: the twin drains and charges each AGV by its own type (and its charger's
power), only AGVs that can carry a part take it, and a whole small run still delivers every order."""

from __future__ import annotations

import time
from dataclasses import replace

import numpy as np
import pytest

from mixflow.model import AgvSpec, Fleet, FloorGrid, Materials, Plant
from mixflow.model.port import (
    AgvBatteryLow,
    AgvStates,
    AssignTask,
    Charge,
    Event,
    MoveAgvs,
    PartDelivered,
    PostTask,
)
from mixflow.model.work import MaterialTask
from mixflow.plan import Scheduler
from mixflow.reference import build_plant, order_stream, reference_catalogue
from mixflow.twin import Scenario, Twin
from mixflow.twin.agvs import AgvFloor
from mixflow.twin.experiment import collect

LIGHT_KG = 100.0


def _light(heavy: AgvSpec) -> AgvSpec:
    """A small, quick-charging AGV that carries single parts (50 kg) but no tyre set or kit."""
    return replace(
        heavy,
        id="light-100",
        payload_kg=LIGHT_KG,
        battery_kwh=4.0,
        charge_kw=24.0,
        drain_kwh_per_m=0.002,
        loaded_drain_factor=1.2,
        low_soc=0.3,
    )


def mixed_plant(scale: float = 0.1) -> Plant:
    """The reference plant with every second AGV a light one and every second charger held to 30 kW."""
    plant = build_plant(scale)
    heavy = plant.fleet.spec
    fleet = plant.fleet
    type_of = tuple(k % 2 for k in range(len(fleet.agv_ids)))
    mixed = Fleet(heavy, fleet.agv_ids, fleet.homes, (heavy, _light(heavy)), type_of)
    floor = replace(
        plant.floor, charger_kw=tuple(30.0 if k % 2 == 0 else 0.0 for k in range(len(plant.floor.chargers)))
    )
    return replace(plant, name="mixed fleet", fleet=mixed, floor=floor)


@pytest.fixture(scope="module")
def plant() -> Plant:
    return mixed_plant()


def test_the_floor_drains_each_agv_by_its_type() -> None:
    blocked = np.zeros((4, 6), dtype=bool)
    floor = FloorGrid(
        6, 4, blocked, np.full((4, 6), 15, dtype=np.uint8), 1.5, (), ((5, 3),), ((0, 0), (0, 2))
    )
    heavy = AgvSpec(1.0, 1000, 10.0, 10.0, 0.01, loaded_drain_factor=1.5)
    light = AgvSpec(1.0, 100, 2.0, 5.0, 0.004, loaded_drain_factor=1.25, id="light")
    agvs = AgvFloor(floor, Fleet(heavy, ("H", "L"), ((0, 0), (0, 2)), (heavy, light), (0, 1)))
    assert agvs.battery_kwh.tolist() == [10.0, 2.0] and agvs.payload_kg.tolist() == [1000.0, 100.0]
    agvs.move(agvs.ids, np.array([1, 1]), np.array([0, 2]))  # empty
    assert agvs.soc.tolist() == pytest.approx([1 - 0.01 * 1.5 / 10.0, 1 - 0.004 * 1.5 / 2.0])
    agvs.loaded[:] = True
    agvs.move(agvs.ids, np.array([2, 2]), np.array([0, 2]))  # loaded: each type's own factor
    assert agvs.soc.tolist() == pytest.approx([1 - 0.01 * 1.5 * 2.5 / 10.0, 1 - 0.004 * 1.5 * 2.25 / 2.0])
    assert agvs.counters.drive_kwh == pytest.approx(0.015 * 2.5 + 0.006 * 2.25)
    assert agvs.charge_power_kw(0, 0.0) == 10.0 and agvs.charge_power_kw(0, 4.0) == 4.0
    assert agvs.charge_power_kw(1, 30.0) == 5.0


def _on_chargers(plant: Plant, type_of: tuple[int, ...]) -> Twin:
    """A twin of `plant` with one AGV of each `type_of` parked on each of the first chargers."""
    fleet = plant.fleet
    n = len(type_of)
    parked = Fleet(fleet.spec, fleet.agv_ids[:n], plant.floor.chargers[:n], fleet.types, type_of)
    scenario = Scenario(scale=0.1, days=1, mtbf_factor=0, agv_mtbf_h=0)
    return Twin(replace(plant, fleet=parked), reference_catalogue(), [], scenario, 0)


def _until(twin: Twin, end_s: int) -> list[Event]:
    events: list[Event] = []
    while twin.now_s < end_s:
        events += twin.poll(end_s)
    return events


def test_charging_follows_the_type_and_the_chargers_power(plant: Plant) -> None:
    # chargers 0 and 2 give at most 30 kW, 1 and 3 the AGV's own power (heavy 60 kW, light 24 kW)
    twin = _on_chargers(plant, (0, 1, 1, 0))
    agvs = twin.agvs
    agvs.soc[:] = 0.5
    twin.submit([Charge(a, plant.floor.chargers[k]) for k, a in enumerate(agvs.ids)])
    events = _until(twin, 2000)
    full_at = {e.agv_ids[0]: e.at_s for e in events if isinstance(e, AgvStates) and len(e.agv_ids) == 1}
    expected = {
        0: 0.5 * 30.0 / 30.0,  # heavy on a 30 kW charger: held to 30 kW
        1: 0.5 * 4.0 / 24.0,  # light on an unlimited charger: its own 24 kW
        2: 0.5 * 4.0 / 24.0,  # light on a 30 kW charger: still its own 24 kW
        3: 0.5 * 30.0 / 60.0,  # heavy on an unlimited charger: its own 60 kW
    }
    assert full_at == {agvs.ids[k]: int(np.ceil(h * 3600)) + 1 for k, h in expected.items()}
    assert agvs.soc.tolist() == [1.0] * 4
    assert agvs.counters.charge_kwh == pytest.approx(2 * 15.0 + 2 * 2.0)


def test_a_charge_cut_short_gains_at_the_chargers_power(plant: Plant) -> None:
    twin = _on_chargers(plant, (0, 1))
    agvs = twin.agvs
    agvs.soc[:] = 0.5
    twin.submit([Charge(a, plant.floor.chargers[k]) for k, a in enumerate(agvs.ids)])
    _until(twin, 60)
    x, y = agvs.x.copy(), agvs.y + 1  # both drive off after a minute
    twin.submit([MoveAgvs(60, agvs.ids, x, y)])
    gained = np.array([30.0 * 60 / 3600 / 30.0, 24.0 * 60 / 3600 / 4.0])
    drive = np.array([0.0015 * 1.5 / 30.0, 0.002 * 1.5 / 4.0])
    assert agvs.soc.tolist() == pytest.approx((0.5 + gained - drive).tolist())


def test_low_battery_is_reported_at_each_types_mark(plant: Plant) -> None:
    twin = _on_chargers(plant, (0, 1))  # heavy reports under 25 %, light under 30 %
    agvs = twin.agvs
    agvs.soc[:] = 0.28
    twin.submit([MoveAgvs(0, agvs.ids, agvs.x.copy(), agvs.y + 1)])
    low = [e for e in twin.poll(10) if isinstance(e, AgvBatteryLow)]
    assert [e.agv_id for e in low] == [agvs.ids[1]]


def test_the_twin_refuses_a_part_too_heavy_for_the_agv(plant: Plant) -> None:
    """A light AGV told to lift a tyre set at its pickup cannot: the twin counts it and leaves it empty."""
    twin = _on_chargers(plant, (1, 0))
    pickup = twin.agvs.at(0)
    for k, a in enumerate(twin.agvs.ids):
        task = MaterialTask(
            f"o/tyre{k}", "tyre", twin.agvs.at(k), (pickup[0], pickup[1] + 2), 0, 900, 600.0, "o"
        )
        twin._ready_s[("o", "tyre")] = 0
        twin.submit([PostTask(task), AssignTask(a, task.id)])
    assert twin.agvs.loaded.tolist() == [False, True] and twin.agvs.counters.overloads == 1


class _Deliveries(Twin):
    def __init__(self, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
        super().__init__(*args, **kwargs)
        self.deliveries: list[PartDelivered] = []

    def poll(self, until_s: int) -> list[Event]:
        events = super().poll(until_s)
        self.deliveries += [e for e in events if isinstance(e, PartDelivered)]
        return events


def test_a_mixed_fleet_delivers_every_order_with_parts_on_agvs_that_carry_them(plant: Plant) -> None:
    catalogue = reference_catalogue()
    scenario = Scenario(scale=0.1, days=1, drain_days=4)
    plant = replace(plant, materials=Materials())  # line parts by weight class are the point
    orders = order_stream(plant, catalogue, scenario.days, 0)
    twin = _Deliveries(plant, catalogue, orders, scenario, 0)
    scheduler = Scheduler(plant, catalogue)
    assert scheduler.fleet.payload_kg.tolist() == [3000.0, LIGHT_KG] * (len(plant.fleet.agv_ids) // 2)
    day = scenario.days * 86_400
    began = time.perf_counter()
    scheduler.run(twin, scenario.end_s, lambda now: not (now >= day and len(twin.delivered) >= len(orders)))
    kpis = collect(scenario, 0, plant, scheduler, twin, time.perf_counter() - began, False).kpis
    assert kpis["delivered"] == len(orders) and kpis["agv_collisions"] == 0
    assert twin.agvs.counters.overloads == 0
    light = {a for k, a in enumerate(plant.fleet.agv_ids) if plant.fleet.type_of[k] == 1}
    by_light = [d for d in twin.deliveries if d.agv_id in light]
    heavy_parts = [d for d in twin.deliveries if twin._tasks[d.task_id].payload_kg > LIGHT_KG]
    assert by_light and heavy_parts  # both kinds of AGV and of part were busy
    assert all(twin._tasks[d.task_id].payload_kg <= LIGHT_KG for d in by_light)
    assert all(d.agv_id not in light for d in heavy_parts)
