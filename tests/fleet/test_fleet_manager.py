from __future__ import annotations

import numpy as np

from mixflow.fleet import manager
from mixflow.fleet.grid import Grid
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
