"""Cab trim, frame and axle assembly and pack assembly and test work on parts standing on their AGV:
the AGV drives into the station's dock, stays (busy) while the part is worked on, and carries it on."""

from __future__ import annotations

from mixflow.fleet.manager import RobotState
from mixflow.plan import Scheduler
from mixflow.twin import Scenario, Twin
from mixflow.twin.experiment import run


def test_parts_ride_their_agvs_through_the_assembly_stations() -> None:
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

    result = run(Scenario(scale=0.05, days=1), 0, on_progress=check)
    k = result.kpis
    assert k["delivered"] == k["orders"] == 5 and k["promises_kept"] == 1.0
    assert k["agv_collisions"] == 0 and k["line_stops"] == 0
    assert seen["worked_on"] > 100 and seen["held"] >= seen["worked_on"]
