from __future__ import annotations

import numpy as np
import pytest

from mixflow.fleet import manager
from mixflow.fleet.grid import Grid, grid_from_rows
from mixflow.fleet.manager import EnergySpec, FleetManager, RobotState
from mixflow.fleet.tasks import FleetTask
from mixflow.fleet.validate import validate_plan


def _manager(grid: Grid, n: int = 8, battery: float = 10.0, drain: float = 0.05) -> FleetManager:
    homes = [grid.cell(x, 7) for x in range(n)]
    chargers = [grid.cell(19, 7), grid.cell(18, 7)]
    return FleetManager(grid, homes, chargers, EnergySpec(battery, drain, 1.0, reserve_moves=20))


def test_tasks_are_delivered_collision_free(warehouse: Grid) -> None:
    fleet = _manager(warehouse)
    rng = np.random.default_rng(0)
    trail = [fleet.positions.copy()]
    for t in range(300):
        if t % 6 == 0 and t < 240:
            a, b = rng.choice(warehouse.free_cells, 2, replace=False)
            fleet.post(FleetTask(f"T{t}", int(a), int(b), release=t, deadline=t + 120))
        trail.append(fleet.step())
    assert validate_plan(warehouse, np.array(trail)).ok
    assert fleet.delivered == len(fleet.deliveries) == 40 and not fleet.open
    assert fleet.delivered_late == 0 and not any(d.late for d in fleet.deliveries)
    assert fleet.flat_batteries == 0
    assert not fleet.tasks and not fleet.robot_of  # delivered tasks are forgotten


def test_the_manager_keeps_only_the_latest_deliveries(warehouse: Grid, monkeypatch) -> None:
    monkeypatch.setattr(manager, "DELIVERIES_KEPT", 5)
    fleet = _manager(warehouse)
    for k in range(12):
        fleet.post(FleetTask(f"T{k}", warehouse.cell(k, 0), warehouse.cell(k, 3), deadline=1))
    for _ in range(120):
        fleet.step()
    assert fleet.delivered == 12 and fleet.delivered_late == 12
    assert len(fleet.deliveries) == 5 and not fleet.tasks
    fleet.post(FleetTask("T0", warehouse.cell(0, 0), warehouse.cell(0, 3), deadline=500))  # id free again
    assert "T0" in fleet.open


def test_low_robots_charge_one_per_charger(warehouse: Grid) -> None:
    fleet = _manager(warehouse, n=6, battery=3.0, drain=0.01)
    fleet.soc_kwh[:] = [0.5, 0.6, 0.7, 3.0, 3.0, 3.0]
    charging_seen = False
    for _ in range(80):
        fleet.step()
        at = fleet.charger_owner[fleet.charger_owner >= 0]
        assert len(set(at.tolist())) == len(at)
        charging = np.flatnonzero(fleet.state == RobotState.CHARGING)
        charging_seen |= charging.size > 0
        assert charging.size <= len(fleet.chargers)
    assert charging_seen
    assert fleet.soc_kwh.min() > 0.3 and fleet.flat_batteries == 0


def test_breakdown_moves_the_task_to_another_robot(warehouse: Grid) -> None:
    fleet = _manager(warehouse, n=4)
    fleet.post(FleetTask("frame", warehouse.cell(10, 0), warehouse.cell(10, 6), deadline=400))
    fleet.step()
    first = fleet.robot_of["frame"]
    fleet.set_broken(first, True)
    cell = int(fleet.positions[first])
    trail = [fleet.positions.copy()]
    for _ in range(150):
        trail.append(fleet.step())
    assert [d.task_id for d in fleet.deliveries] == ["frame"]
    assert fleet.deliveries[0].robot != first
    assert (np.array(trail)[:, first] == cell).all()
    assert validate_plan(warehouse, np.array(trail)).ok


def test_task_moves_to_a_robot_that_becomes_free_closer(warehouse: Grid) -> None:
    homes = [warehouse.cell(0, 7), warehouse.cell(19, 6)]
    energy = EnergySpec(10.0, 0.01, 1.0, reserve_moves=20)
    fleet = FleetManager(warehouse, homes, [warehouse.cell(10, 7)], energy)
    fleet.set_broken(1, True)
    fleet.post(FleetTask("axle", warehouse.cell(19, 3), warehouse.cell(0, 0), deadline=500))
    fleet.step()
    assert fleet.robot_of["axle"] == 0
    fleet.set_broken(1, False)  # repaired right next to the pickup
    fleet.step()
    assert fleet.robot_of["axle"] == 1 and fleet.state[0] == RobotState.IDLE


# -- a fleet of two types ------------------------------------------------------------------------------
HEAVY = EnergySpec(10.0, 0.01, 1.0, loaded_factor=1.5, reserve_moves=20, payload_kg=1000.0)
LIGHT = EnergySpec(4.0, 0.02, 0.5, loaded_factor=1.2, low_soc=0.3, reserve_moves=20, payload_kg=100.0)


def _mixed(grid: Grid, homes: list[int], type_of: list[int], **kwargs) -> FleetManager:  # type: ignore[no-untyped-def]
    chargers = [grid.cell(19, 7), grid.cell(18, 7)]
    return FleetManager(grid, homes, chargers, (HEAVY, LIGHT), type_of=type_of, **kwargs)


def test_each_robot_gets_its_types_battery_drain_and_payload(warehouse: Grid) -> None:
    fleet = _mixed(warehouse, [warehouse.cell(x, 7) for x in range(4)], [0, 1, 0, 1])
    assert fleet.battery_kwh.tolist() == [10.0, 4.0, 10.0, 4.0]
    assert fleet.soc_kwh.tolist() == [10.0, 4.0, 10.0, 4.0]  # every battery starts full
    assert fleet.payload_kg.tolist() == [1000.0, 100.0, 1000.0, 100.0]
    assert fleet.max_payload_kg == 1000.0
    # robots 0 and 1 drive empty one cell each: each drains at its own rate
    fleet.post(FleetTask("far", warehouse.cell(0, 0), warehouse.cell(5, 0), payload_kg=50.0))
    before = fleet.soc_kwh.copy()
    moved = fleet.step() != fleet.homes
    used = before - fleet.soc_kwh
    assert moved.any()
    for robot in np.flatnonzero(moved):
        assert used[robot] == pytest.approx([0.01, 0.02][robot % 2])


def test_loaded_drain_follows_each_type(warehouse: Grid) -> None:
    fleet = _mixed(warehouse, [warehouse.cell(0, 7), warehouse.cell(1, 7)], [0, 1])
    fleet.state[:] = RobotState.TO_DROPOFF
    fleet.task_of = ["a", "b"]
    fleet.planner.set_goal(0, warehouse.cell(0, 0))
    fleet.planner.set_goal(1, warehouse.cell(1, 0))
    before = fleet.soc_kwh.copy()
    fleet.planner.time = 1  # off the reassignment beat
    fleet.step()
    assert (before - fleet.soc_kwh).tolist() == pytest.approx([0.01 * 1.5, 0.02 * 1.2])


def test_a_heavy_task_goes_to_a_robot_that_can_carry_it(warehouse: Grid) -> None:
    # the light robot stands right at the pickup, the heavy one across the floor
    homes = [warehouse.cell(19, 6), warehouse.cell(1, 1)]
    fleet = _mixed(warehouse, homes, [0, 1])
    fleet.post(FleetTask("tyres", warehouse.cell(1, 0), warehouse.cell(5, 0), deadline=500, payload_kg=600.0))
    fleet.post(FleetTask("bolts", warehouse.cell(2, 0), warehouse.cell(6, 0), deadline=900, payload_kg=50.0))
    fleet.step()
    assert fleet.robot_of["tyres"] == 0 and fleet.robot_of["bolts"] == 1
    for _ in range(200):
        fleet.step()
    assert {d.task_id: d.robot for d in fleet.deliveries} == {"tyres": 0, "bolts": 1}


def test_a_task_no_robot_can_carry_waits_and_does_not_block_others(warehouse: Grid) -> None:
    fleet = _mixed(warehouse, [warehouse.cell(x, 7) for x in range(4)], [0, 1, 0, 1])
    crate = FleetTask("crate", warehouse.cell(1, 0), warehouse.cell(5, 0), deadline=1, payload_kg=5000.0)
    assert not fleet.can_carry(crate)
    fleet.post(crate)
    for k in range(6):  # more urgent than all of these, yet they are not starved by it
        fleet.post(FleetTask(f"kit{k}", warehouse.cell(k, 0), warehouse.cell(k, 3), deadline=400 + k))
    for _ in range(150):
        fleet.step()
    assert fleet.delivered == 6 and "crate" in fleet.open and "crate" not in fleet.robot_of


def test_light_tasks_reach_light_robots_when_heavy_ones_are_more_urgent(warehouse: Grid) -> None:
    """Robots short: the most urgent tasks are heavy, yet the light robots still get the light ones."""
    fleet = _mixed(warehouse, [warehouse.cell(x, 7) for x in range(4)], [0, 0, 1, 1])
    for k in range(6):
        fleet.post(
            FleetTask(
                f"heavy{k}", warehouse.cell(k, 0), warehouse.cell(k, 3), deadline=10 + k, payload_kg=500.0
            )
        )
    fleet.post(FleetTask("light", warehouse.cell(9, 0), warehouse.cell(9, 3), deadline=900, payload_kg=20.0))
    fleet.step()
    assert fleet.robot_of["light"] in (2, 3)
    assert {fleet.robot_of[t] for t in fleet.robot_of if t.startswith("heavy")} == {0, 1}


def test_a_charger_gives_no_more_than_its_power(warehouse: Grid) -> None:
    chargers = [warehouse.cell(19, 7), warehouse.cell(18, 7)]
    homes = [warehouse.cell(19, 7), warehouse.cell(18, 7), warehouse.cell(0, 7)]
    fleet = FleetManager(
        warehouse, homes, chargers, (HEAVY, LIGHT), type_of=[0, 1, 0], charger_kwh_per_step=[0.25, 0.0]
    )
    fleet.soc_kwh[:] = [1.0, 1.0, 10.0]  # both low, each standing on a charger
    for _ in range(2):
        fleet.step()
    assert (fleet.state[:2] == RobotState.CHARGING).all()
    before = fleet.soc_kwh.copy()
    fleet.step()
    # the heavy robot (1 kWh a step of its own) is held to the charger's 0.25; the light one
    # charges at its own 0.5 on the charger without a limit
    assert (fleet.soc_kwh - before)[:2].tolist() == pytest.approx([0.25, 0.5])


def test_a_robot_pushed_off_its_charger_goes_back_and_charges_again() -> None:
    # the charger stands where two aisles cross: a robot passing through pushes the charging one aside
    crossing = grid_from_rows(["@.@", "...", "@.@"], name="charger-crossing")
    charger, top, bottom = crossing.cell(1, 1), crossing.cell(1, 0), crossing.cell(1, 2)
    fleet = FleetManager(crossing, [charger, top], [charger], EnergySpec(10.0, 0.01, 0.01))
    fleet.soc_kwh[0] = 1.0  # low: it charges where it stands
    fleet.post(FleetTask("through", bottom, top))
    pushed = 0
    for _ in range(15):
        fleet.step()
        on = fleet.positions[0] == charger
        pushed += not on
        # the plant stops a charge when the AGV leaves its charger: only a robot on it is charging
        assert (fleet.state[0] == RobotState.CHARGING) == on
    assert pushed and fleet.delivered == 1
    assert fleet.state[0] == RobotState.CHARGING and fleet.charger_owner[0] == 0
