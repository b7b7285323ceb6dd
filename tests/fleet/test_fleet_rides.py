"""Parts worked on their AGV: a task that holds keeps its robot, the task that follows goes to that
robot alone, a chain may hold only part of the fleet, and a dock (a dead end) is entered by one robot
at a time."""

from __future__ import annotations

import numpy as np
import pytest

from mixflow.fleet import manager
from mixflow.fleet.grid import Grid, grid_from_rows
from mixflow.fleet.manager import EnergySpec, FleetManager, RobotState
from mixflow.fleet.tasks import FleetTask
from mixflow.fleet.validate import validate_plan


def _fleet(grid: Grid, n: int = 4) -> FleetManager:
    homes = [grid.cell(x, grid.height - 1) for x in range(n)]
    charger = grid.cell(grid.width - 1, grid.height - 1)
    return FleetManager(grid, homes, [charger], EnergySpec(30.0, 0.01, 1.0))


def _run(fleet: FleetManager, steps: int, trail: list[np.ndarray] | None = None) -> None:
    for _ in range(steps):
        nxt = fleet.step()
        if trail is not None:
            trail.append(nxt)


def test_a_part_that_rides_keeps_its_robot_to_the_next_station(warehouse: Grid) -> None:
    fleet = _fleet(warehouse)
    a, b, c = warehouse.cell(0, 0), warehouse.cell(10, 3), warehouse.cell(19, 0)
    fleet.post(FleetTask("leg1", a, b, holds=True))
    _run(fleet, 60)
    robot = fleet.held_by["leg1"]
    assert fleet.state[robot] == RobotState.HELD and fleet.positions[robot] == b
    _run(fleet, 30)  # held: it takes no other errand and stays with the part
    fleet.post(FleetTask("other", warehouse.cell(0, 3), warehouse.cell(5, 3)))
    _run(fleet, 5)
    assert fleet.task_of[robot] == "leg1" and fleet.robot_of["other"] != robot
    fleet.post(FleetTask("leg2", b, c, follows="leg1"))
    assert fleet.robot_of["leg2"] == robot and fleet.state[robot] == RobotState.TO_PICKUP
    _run(fleet, 60)
    assert fleet.state[robot] == RobotState.IDLE and fleet.task_of[robot] is None
    assert not fleet.held_by and not fleet.chain_robots and fleet.delivered == 3


def test_a_follower_posted_while_its_part_is_on_the_way_waits_for_that_robot(warehouse: Grid) -> None:
    fleet = _fleet(warehouse)
    fleet.post(FleetTask("leg1", warehouse.cell(0, 0), warehouse.cell(15, 3), holds=True))
    _run(fleet, 3)
    robot = fleet.robot_of["leg1"]
    fleet.post(FleetTask("leg2", warehouse.cell(15, 3), warehouse.cell(2, 3), follows="leg1"))
    assert "leg2" not in fleet.open  # no other robot may take it
    _run(fleet, 120)
    assert [d.robot for d in fleet.deliveries] == [robot, robot]


def test_a_released_part_frees_its_robot_and_a_broken_holder_hands_the_chain_on(warehouse: Grid) -> None:
    fleet = _fleet(warehouse)
    fleet.post(FleetTask("leg1", warehouse.cell(0, 0), warehouse.cell(6, 3), holds=True))
    fleet.post(FleetTask("legA", warehouse.cell(1, 0), warehouse.cell(12, 3), holds=True))
    _run(fleet, 60)
    first, second = fleet.held_by["leg1"], fleet.held_by["legA"]
    fleet.release("leg1")  # the next step is served from the same cell: the AGV leaves the part there
    assert fleet.state[first] == RobotState.IDLE and "leg1" not in fleet.held_by
    fleet.set_broken(second, True)
    fleet.post(FleetTask("legB", warehouse.cell(12, 3), warehouse.cell(19, 3), follows="legA"))
    assert "legB" in fleet.open  # its robot is lost: any robot carries the part on once it is repaired
    fleet.set_broken(second, False)
    _run(fleet, 80)
    assert fleet.delivered == 3 and not fleet.tasks


def test_rides_hold_at_most_their_share_of_the_fleet(
    warehouse: Grid, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(manager, "CHAIN_SHARE", 0.5)
    fleet = _fleet(warehouse, n=4)
    for k in range(4):
        fleet.post(FleetTask(f"ride{k}", warehouse.cell(k, 0), warehouse.cell(10 + k, 3), holds=True))
    fleet.post(FleetTask("material", warehouse.cell(5, 0), warehouse.cell(5, 3)))
    _run(fleet, 80)
    assert len(fleet.held_by) == 2 and len(fleet.chain_robots) == 2  # two robots stay for material
    assert fleet.delivered == 3 and "material" not in fleet.tasks


def test_a_ride_starts_only_on_a_robot_charged_for_it(warehouse: Grid) -> None:
    fleet = _fleet(warehouse, n=2)
    fleet.soc_kwh[:] = [0.4 * 30.0, 0.9 * 30.0]  # above the low mark, below CHAIN_MIN_SOC for robot 0
    fleet.post(FleetTask("ride", warehouse.cell(0, 0), warehouse.cell(10, 3), holds=True))
    _run(fleet, 2)
    assert fleet.robot_of["ride"] == 1


DOCKS = [
    "..........",
    "..........",
    "##DDD#####",
    "..........",
]


def _docked() -> tuple[Grid, list[int]]:
    """Three docks in a wall, each entered only from the aisle cell above it."""
    plain = grid_from_rows([r.replace("D", "#") for r in DOCKS])
    blocked = plain.blocked.copy()
    exits = np.full(blocked.shape, 15, dtype=np.uint8)
    docks = []
    for x in (2, 3, 4):
        blocked[2, x] = False
        exits[2, x] = 0b0001  # up only
        exits[3, x] = 0b1110  # no way in from below (nor from the next dock: a dock's only exit is up)
        docks.append(2 * 10 + x)
    grid = Grid(blocked=blocked, exits=exits, zones={"docks": np.array(docks)})
    return grid, docks


def test_a_dock_is_entered_by_one_robot_at_a_time_and_two_parts_swap_stations() -> None:
    grid, (d1, d2, _) = _docked()
    fleet = FleetManager(grid, [grid.cell(0, 0), grid.cell(9, 0), grid.cell(0, 3), grid.cell(9, 3)],
                         [grid.cell(9, 1)], EnergySpec(30.0, 0.01, 1.0))
    fleet.post(FleetTask("p1", grid.cell(0, 1), d1, holds=True))
    fleet.post(FleetTask("p2", grid.cell(9, 1), d2, holds=True))
    trail = [fleet.positions.copy()]
    _run(fleet, 40, trail)
    assert set(fleet.held_by) == {"p1", "p2"}
    # each part's next station is the other's dock: both wait out of the docks until one is free
    fleet.post(FleetTask("p1b", d1, d2, follows="p1"))
    fleet.post(FleetTask("p2b", d2, d1, follows="p2", holds=True))
    _run(fleet, 200, trail)
    assert fleet.delivered == 4 and not fleet.tasks
    assert validate_plan(grid, np.array(trail)).ok
    assert fleet.positions[fleet.held_by["p2b"]] == d1
