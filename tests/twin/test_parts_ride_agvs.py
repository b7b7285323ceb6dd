"""Cab trim, frame and axle assembly and pack assembly and test work on parts standing on their AGV
(`on_agv` in a plant file): the AGV drives into the station's dock, stays (busy) while the part is
worked on, and carries it on."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from mixflow.fleet.manager import RobotState
from mixflow.model.plant_file import write_plant
from mixflow.plan import Scheduler
from mixflow.reference import build_plant
from mixflow.twin import Scenario, Twin
from mixflow.twin.experiment import run

ON_AGV = {"cab_trim", "frame_assembly", "axle_assembly", "axle_test", "pack_assembly", "pack_test"}


def _plant_file(folder: Path) -> str:
    """The reference plant at scale 0.05 with its assembly and test stations worked on AGVs."""
    plant = build_plant(0.05, 0)
    routings = tuple(
        replace(r, steps=tuple(replace(step, on_agv=step.operation in ON_AGV) for step in r.steps))
        for r in plant.routings
    )
    path = folder / "plant.json"
    write_plant(replace(plant, routings=routings), path)
    return str(path)


def test_parts_ride_their_agvs_through_the_assembly_stations(tmp_path: Path) -> None:
    seen = {"held": 0, "worked_on": 0, "checks": 0}

    def check(now: int, scheduler: Scheduler, twin: Twin) -> bool:
        docks = set(scheduler.plant.agv_docks().values())
        fleet = scheduler.fleet
        for agv, leg in twin._holding.items():
            if scheduler._told_task[agv] != fleet.task_of[agv]:
                continue  # the plant hears of the change with the next fleet step
            seen["held"] += 1
            assert twin._busy_since[agv] >= 0  # a part on it: busy, not free for other errands
            assert twin.agvs.loaded[agv]
            assert fleet.state[agv] in (RobotState.HELD, RobotState.TO_PICKUP, RobotState.TO_DROPOFF)
            if fleet.working[agv]:  # the part is being worked on: it stands in its station's dock
                seen["worked_on"] += 1
                assert twin.agvs.at(agv) in docks and fleet.held_by[leg] == agv
        seen["checks"] += 1
        return True

    result = run(Scenario(scale=0.05, days=1, plant_file=_plant_file(tmp_path)), 0, on_progress=check)
    k = result.kpis
    assert k["delivered"] == k["orders"] == 5 and k["promises_kept"] == 1.0
    assert k["agv_collisions"] == 0 and k["line_stops"] == 0
    assert seen["worked_on"] > 100 and seen["held"] >= seen["worked_on"]
    assert k["agv_utilisation"] > 0.03  # 0.0035 with the same plant's parts not worked on AGVs
