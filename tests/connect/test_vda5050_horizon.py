"""The order horizon: the planner's way on to each vehicle's goal, sent unreleased after the base.

The lifelong planner (`mixflow.fleet.PIBTPlanner`) plans, the master control sends, and our simulated
vehicle (`vehicle.Vehicle`, no broker: time passes by `advance`) drives; every message either side
makes is checked against the official JSON Schemas (../shared when present, else the package copy).
"""

from __future__ import annotations

import itertools
import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from mixflow.connect.vda5050.factsheets import vehicle_types
from mixflow.connect.vda5050.horizon import HORIZON_CELLS, UNREACHABLE, FloorWays, planner_ahead, way_on
from mixflow.connect.vda5050.master import MasterControl, Publish, VehicleId
from mixflow.connect.vda5050.models import MAP_ID
from mixflow.connect.vda5050.orders import FloorMap, node_id
from mixflow.connect.vda5050.validation import PACKAGE_SCHEMAS, SchemaValidator
from mixflow.connect.vda5050.vehicle import Vehicle
from mixflow.fleet._kernels import INF
from mixflow.fleet.grid import grid_from_rows
from mixflow.fleet.planner import PLAIN_PIBT, PIBTPlanner
from mixflow.model.plant import ALL_EXITS, WEST, AgvSpec, Cell, FloorGrid
from mixflow.model.port import AgvDown, AgvUp, AssignTask, MoveAgvs, PartDelivered, PostTask
from mixflow.model.work import MaterialTask

OFFICIAL = Path(__file__).resolve().parents[3] / "shared" / "standards" / "vda5050" / "schemas"
SCHEMAS = SchemaValidator(OFFICIAL if OFFICIAL.is_dir() else PACKAGE_SCHEMAS)
CELL_M = 1.5
SPEC = AgvSpec(1.5, 3000, 30.0, 60.0, 0.0015, 1.6, 0.25, id="tugger-3t")  # a cell a second
TUGGER, CARRIER = vehicle_types(SPEC, pick_s=0.4, drop_s=0.4)
FLEET = (VehicleId("agv-1", TUGGER.manufacturer, "T1"), VehicleId("agv-2", CARRIER.manufacturer, "C1"))
KINDS = {"agv-1": TUGGER, "agv-2": CARRIER}
FLOOR = (
    "........",
    ".@@@@@..",
    "........",
    "..@.....",
    "........",
)


class CheckedMaster(MasterControl):
    """The master control with every message it makes checked against the official schemas."""

    def _publish(self, *args: Any) -> Publish:
        message = super()._publish(*args)
        assert SCHEMAS.errors(message.subtopic, message.message) == [], message.message
        return message


def topic(ident: VehicleId, sub: str) -> str:
    return f"uagv/v2/{ident.manufacturer}/{ident.serial_number}/{sub}"


def vehicle(agv: str, cell: Cell) -> Vehicle:
    ident = next(i for i in FLEET if i.agv_id == agv)
    x, y = cell[0] * CELL_M, cell[1] * CELL_M
    return Vehicle(KINDS[agv], ident.serial_number, x, y, node_id(cell), validator=SCHEMAS)


def report(master: MasterControl, agv: str, v: Vehicle, at_s: int) -> list[Publish]:
    """The vehicle's state, checked, to the master; what the master answers."""
    body = v.state().to_json()
    ident = next(i for i in FLEET if i.agv_id == agv)
    assert SCHEMAS.errors("state", json.loads(body)) == []
    return master.receive(topic(ident, "state"), body, at_s)


def deliver(messages: list[Publish], vehicles: dict[str, Vehicle]) -> list[str]:
    """Hand each message to its vehicle; what each order came to (accepted, updated, ...)."""
    outcomes: list[str] = []
    for m in messages:
        if m.subtopic == "order":
            outcomes.append(vehicles[m.agv_id].receive_order(m.message))
        else:
            vehicles[m.agv_id].receive_instant_actions(m.message)
    return outcomes


def floor_grid(rows: tuple[str, ...] = FLOOR, no_west_row: int | None = None) -> FloorGrid:
    """The plant floor of `rows` ('@' blocked), every exit open but west on `no_west_row` (a lane)."""
    blocked = np.array([[ch == "@" for ch in row] for row in rows], dtype=bool)
    exits = np.full(blocked.shape, ALL_EXITS, dtype=np.uint8)
    if no_west_row is not None:
        exits[no_west_row] = ALL_EXITS & ~WEST
    height, width = blocked.shape
    return FloorGrid(width, height, blocked, exits, CELL_M, (), (), ())


def split(order: dict[str, Any]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    base = [n for n in order["nodes"] if n["released"]]
    return base, [n for n in order["nodes"] if not n["released"]]


def cells_of(nodes: list[dict[str, Any]]) -> list[Cell]:
    return [(round(n["nodePosition"]["x"] / CELL_M), round(n["nodePosition"]["y"] / CELL_M)) for n in nodes]


def neighbours(a: Cell, b: Cell) -> bool:
    return abs(a[0] - b[0]) + abs(a[1] - b[1]) == 1


# -- the way on ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("lanes", [False, True])
def test_the_way_on_is_a_shortest_path_down_the_planners_distance_field(lanes: bool) -> None:
    grid = grid_from_rows(list(FLOOR))
    start, goal = grid.cell(0, 2), grid.cell(7, 0)
    planner = PIBTPlanner(grid, np.array([start]), np.array([goal]), None if lanes else PLAIN_PIBT)
    field = planner.distances.pool[planner.slots[0]]
    cost = planner.distances.move_cost
    way = way_on(grid.neighbors, field, cost, start, 100)
    assert way[-1] == goal and all(grid.adjacent(a, b) for a, b in itertools.pairwise([start, *way]))
    if not lanes:
        assert len(way) == field[start] == 9  # as many moves as the distance: a shortest path
    else:  # each move costs exactly what it brings closer: a least-cost path under the lanes
        assert cost is not None
        for a, b in itertools.pairwise([start, *way]):
            d = int(np.flatnonzero(grid.neighbors[a] == b)[0])
            assert field[a] - field[b] == cost[a, d]
    assert way_on(grid.neighbors, field, cost, start, 3) == way[:3]
    assert way_on(grid.neighbors, field, cost, goal, 5) == []  # there: nothing ahead
    cut_off = np.full_like(field, INF)
    assert INF == UNREACHABLE and way_on(grid.neighbors, cut_off, cost, start, 5) == []


def test_the_planners_horizon_follows_its_goals_and_is_empty_without_one() -> None:
    grid = grid_from_rows(list(FLOOR))
    planner = PIBTPlanner(grid, np.array([grid.cell(0, 0), grid.cell(7, 4)]), np.array([0, grid.cell(7, 4)]))
    ahead = planner_ahead(planner, ("agv-1", "agv-2"))
    assert ahead("agv-2", (7, 4)) == [] and ahead("nobody", (0, 0)) == []  # at its goal; not ours
    assert ahead("agv-1", (0, 0)) == []
    planner.set_goal(0, grid.cell(7, 2))
    way = ahead("agv-1", (0, 0))
    assert len(way) == HORIZON_CELLS and neighbours((0, 0), way[0])
    planner.set_goal(0, grid.cell(0, 4))
    assert ahead("agv-1", (0, 0)) == [(0, 1), (0, 2), (0, 3), (0, 4)]  # the goal is four cells off


# -- orders with a horizon ----------------------------------------------------------------------------------


def straight_on(_agv: str, cell: Cell, _goal: Cell | None) -> list[Cell]:
    return [(cell[0] + k, cell[1]) for k in range(1, 4)]


def test_each_message_carries_an_unreleased_horizon_replaced_by_the_next(
    caplog: pytest.LogCaptureFixture,
) -> None:
    master = CheckedMaster(FLEET, FloorMap(MAP_ID, CELL_M), ahead=straight_on)
    v = vehicle("agv-1", (0, 0))
    report(master, "agv-1", v, 0)
    first = master.submit([MoveAgvs(0, ("agv-1",), np.array([1]), np.array([0]))], 0)
    order = first[0].message
    assert [(n["nodeId"], n["sequenceId"], n["released"]) for n in order["nodes"]] == [
        ("n0_0", 0, True),
        ("n1_0", 2, True),
        ("n2_0", 4, False),
        ("n3_0", 6, False),
        ("n4_0", 8, False),
    ]
    assert [(e["sequenceId"], e["released"]) for e in order["edges"]] == [
        (1, True),
        (3, False),
        (5, False),
        (7, False),
    ]
    assert all(n["actions"] == [] for n in order["nodes"][2:])
    assert deliver(first, {"agv-1": v}) == ["accepted"]
    v.advance(3.0)
    report(master, "agv-1", v, 1)
    update = master.submit([MoveAgvs(1, ("agv-1",), np.array([1]), np.array([1]))], 1)[0].message
    base, horizon = split(update)
    assert update["orderUpdateId"] == 1 and update["nodes"][0] == order["nodes"][1]  # stitched, unchanged
    assert [n["nodeId"] for n in base] == ["n1_0", "n1_1"]
    assert [(n["nodeId"], n["sequenceId"]) for n in horizon] == [("n2_1", 6), ("n3_1", 8), ("n4_1", 10)]
    assert v.receive_order(update) == "updated"  # the old horizon replaced, not kept beside the new one
    assert [(n.node_id, n.released) for n in v.nodes] == [
        ("n1_1", True),
        ("n2_1", False),
        ("n3_1", False),
        ("n4_1", False),
    ]

    master.ahead = lambda _agv, cell, _goal: [(cell[0] + 2, cell[1])]  # a jump no vehicle can drive
    with caplog.at_level(logging.WARNING, "mixflow.connect.vda5050"):
        cut = master.submit([MoveAgvs(2, ("agv-1",), np.array([1]), np.array([2]))], 2)[0].message
    assert split(cut)[1] == [] and master.counters["bad_horizons"] == 1
    assert "horizon cell (3, 2) is no neighbour of (1, 2)" in caplog.text


def test_planned_steps_with_a_horizon_are_driven_up_to_the_decision_point_and_never_onto_the_horizon() -> (
    None
):
    grid = grid_from_rows(list(FLOOR))
    homes = [(0, 0), (7, 4)]
    starts = np.array([grid.cell(*c) for c in homes])
    planner = PIBTPlanner(grid, starts, starts, seed=1)
    ids = tuple(i.agv_id for i in FLEET)
    master = CheckedMaster(FLEET, FloorMap(MAP_ID, CELL_M), ahead=planner_ahead(planner, ids))
    vehicles = {agv: vehicle(agv, cell) for agv, cell in zip(ids, homes, strict=True)}
    for agv, v in vehicles.items():
        report(master, agv, v, 0)
    planner.set_goal(0, grid.cell(7, 2))
    planner.set_goal(1, grid.cell(0, 2))
    released: dict[str, set[str]] = {agv: set() for agv in ids}
    horizons = 0
    for now in range(1, 25):
        if now == 6:
            planner.set_goal(0, grid.cell(2, 4))  # a new goal: the next horizon turns towards it
        nxt = planner.step()
        sent = master.submit([MoveAgvs(now, ids, nxt % grid.width, nxt // grid.width)], now)
        assert set(deliver(sent, vehicles)) <= {"accepted", "updated"}
        for m in sent:
            base, horizon = split(m.message)
            released[m.agv_id] |= {n["nodeId"] for n in base}
            way = cells_of(base[-1:] + horizon)
            assert all(neighbours(a, b) for a, b in itertools.pairwise(way))
            horizons += bool(horizon)
            if now == 6 and m.agv_id == "agv-1" and horizon:
                goal = (2, 4)
                dist = [abs(c[0] - goal[0]) + abs(c[1] - goal[1]) for c in way]
                assert dist[1] < dist[0]
        for _ in range(30):  # three seconds, three times what a cell takes
            for agv, v in vehicles.items():
                v.advance(0.1)
                assert v.last_node_id in released[agv] | {node_id(homes[ids.index(agv)])}
        for k, (agv, v) in enumerate(vehicles.items()):
            here = (int(nxt[k] % grid.width), int(nxt[k] // grid.width))
            assert v.last_node_id == node_id(here) and not v.driving  # stopped at the decision point
            assert (v.x, v.y) == pytest.approx((here[0] * CELL_M, here[1] * CELL_M))
            assert all(not n.released for n in v.nodes)  # what is left is the horizon only
            report(master, agv, v, now)
    assert horizons > 10 and master.counters["invalid"] == 0
    assert vehicles["agv-1"].last_node_id == "n2_4" and vehicles["agv-2"].last_node_id == "n0_2"
    assert vehicles["agv-1"].nodes == [] and vehicles["agv-2"].nodes == []  # at the goal: no horizon


def test_a_vehicle_holding_a_horizon_gets_it_taken_back_before_a_new_order_with_a_pick_where_it_stands() -> (
    None
):
    master = CheckedMaster(FLEET, FloorMap(MAP_ID, CELL_M), ahead=straight_on)
    v = vehicle("agv-1", (0, 0))
    report(master, "agv-1", v, 0)
    first = master.submit([MoveAgvs(0, ("agv-1",), np.array([1]), np.array([0]))], 0)
    deliver(first, {"agv-1": v})
    v.advance(3.0)
    assert v.nodes and v.busy  # its horizon: by the spec it waits for an update (figure 8, step 3)
    report(master, "agv-1", v, 1)
    here = MaterialTask("o2/cab", "cab", (1, 0), (3, 0), 0, 600, 50.0)
    sent = master.submit(
        [PostTask(here), AssignTask("agv-1", here.id), MoveAgvs(1, ("agv-1",), np.array([2]), np.array([0]))],
        1,
    )
    trim, fresh = sent[0].message, sent[1].message
    assert trim["orderId"] == first[0].message["orderId"] and trim["orderUpdateId"] == 1
    assert [n["nodeId"] for n in trim["nodes"]] == ["n1_0"] and trim["edges"] == []
    assert fresh["orderId"] != trim["orderId"] and fresh["nodes"][0]["actions"][0]["actionType"] == "pick"
    assert deliver(sent, {"agv-1": v}) == ["updated", "accepted"]
    for _ in range(30):
        v.advance(0.1)
    assert v.last_node_id == "n2_0" and [a.action_status for a in v.action_states.values()] == ["FINISHED"]


def test_a_vehicle_that_rejects_an_update_while_holding_a_horizon_is_cancelled_then_anchored() -> None:
    master = CheckedMaster(FLEET, FloorMap(MAP_ID, CELL_M), ahead=straight_on)
    v = vehicle("agv-1", (0, 0))
    report(master, "agv-1", v, 0)
    deliver(master.submit([MoveAgvs(0, ("agv-1",), np.array([1]), np.array([0]))], 0), {"agv-1": v})
    v.advance(3.0)
    report(master, "agv-1", v, 1)
    heavy = MaterialTask("o3/frame", "frame", (2, 0), (3, 0), 0, 600, 10_000.0)
    sent = master.submit(
        [
            PostTask(heavy),
            AssignTask("agv-1", heavy.id),
            MoveAgvs(2, ("agv-1",), np.array([2]), np.array([0])),
        ],
        2,
    )
    assert deliver(sent, {"agv-1": v}) == ["rejected"]  # the pick on n2_0 weighs more than it carries
    cancel = report(master, "agv-1", v, 3)
    assert [a["actionType"] for m in cancel for a in m.message["actions"]] == ["cancelOrder"]
    assert AgvDown(3, "agv-1") in master.take_events(3)
    assert report(master, "agv-1", v, 3) == []  # the cancel is sent once
    deliver(cancel, {"agv-1": v})
    anchor = report(master, "agv-1", v, 4)
    assert [n["nodeId"] for n in anchor[0].message["nodes"]] == ["n1_0"]
    assert deliver(anchor, {"agv-1": v}) == ["accepted"]
    report(master, "agv-1", v, 5)
    assert master.take_events(5)[1:] == [AgvUp(5, "agv-1")]


# -- master control on its own: the floor's ways to the goals the fleet's commands give ---------------------


def test_the_floors_way_is_a_shortest_path_that_keeps_to_one_way_lanes_and_walls() -> None:
    ways = FloorWays(floor_grid(), cells=100)
    way = ways("agv-1", (0, 2), (7, 0))
    assert way[-1] == (7, 0) and len(way) == 9  # around the wall on row 1: as many moves as needed
    assert all(neighbours(a, b) for a, b in itertools.pairwise([(0, 2), *way]))
    assert all(FLOOR[y][x] == "." for x, y in way)
    assert ways("agv-1", (7, 0), (7, 0)) == [] and ways("agv-1", (0, 2), None) == []
    assert ways("agv-1", (0, 2), (99, 0)) == []  # a goal off the floor: none
    lane = FloorWays(floor_grid(no_west_row=0), cells=100)
    back = lane("agv-1", (7, 0), (0, 0))  # row 0 is a lane east: back west by row 2
    assert len(back) == 11 and back[0] == (7, 1) and (3, 0) not in back
    walled = FloorWays(floor_grid(("..@..",)), cells=5)
    assert walled("agv-1", (0, 0), (4, 0)) == []  # cut off: no way, no horizon


def test_the_floors_fields_are_kept_up_to_their_budget_but_always_one_per_vehicle_and_64_more() -> None:
    hall = floor_grid(("." * 20,) * 20)
    goals = [(x, y) for y in range(1, 20) for x in range(20)]  # 380 goals, none on row 0
    ways = FloorWays(hall, max_bytes=2 * 4 * 400)  # a budget of two fields
    for goal in goals[:70]:
        ways("agv-1", (0, 0), goal)
    assert ways.fills == 70  # one vehicle: 65 fields kept, the least recently used dropped
    ways("agv-1", (0, 0), goals[69])
    assert ways.fills == 70  # kept
    ways("agv-1", (0, 0), goals[0])
    assert ways.fills == 71  # dropped, computed again
    crowd = FloorWays(hall, max_bytes=2 * 4 * 400)
    for _ in range(2):  # 200 vehicles, each its own goal: all kept, computed once
        for k, goal in enumerate(goals[:200]):
            assert crowd(f"agv-{k}", (0, 0), goal)
    assert crowd.fills == 200


def test_master_control_on_its_own_heads_the_horizon_to_the_pickup_then_the_drop() -> None:
    """The production path (no planner through the port): the goal is the task's pickup until the
    pick is sent, then its drop; planned steps follow a planner the test holds, the vehicles drive."""
    grid = grid_from_rows(list(FLOOR))
    homes = [(0, 0), (7, 4)]
    tasks = [
        MaterialTask("o1/cab", "cab", (7, 2), (0, 4), 0, 600, 50.0),
        MaterialTask("o2/axle", "axle", (0, 2), (7, 0), 0, 600, 50.0),
    ]
    starts = np.array([grid.cell(*c) for c in homes])
    planner = PIBTPlanner(grid, starts, np.array([grid.cell(*t.pickup) for t in tasks]), seed=1)
    ids = tuple(i.agv_id for i in FLEET)
    ways = FloorWays(floor_grid())
    master = CheckedMaster(FLEET, FloorMap(MAP_ID, CELL_M), ahead=ways)
    vehicles = {agv: vehicle(agv, cell) for agv, cell in zip(ids, homes, strict=True)}
    for agv, v in vehicles.items():
        report(master, agv, v, 0)
    assigned = [AssignTask(agv, task.id) for agv, task in zip(ids, tasks, strict=True)]
    assert master.submit([PostTask(t) for t in tasks] + assigned, 0) == []
    released: dict[str, set[str]] = {agv: {node_id(home)} for agv, home in zip(ids, homes, strict=True)}
    toward: dict[str, list[Cell]] = {agv: [] for agv in ids}  # the goal each horizon led down to
    delivered = []
    for now in range(1, 40):
        for k, task in enumerate(tasks):  # the fleet's goal: the drop once the part is on board
            if vehicles[ids[k]].loads:
                planner.set_goal(k, grid.cell(*task.dropoff))
        nxt = planner.step()
        sent = master.submit([MoveAgvs(now, ids, nxt % grid.width, nxt // grid.width)], now)
        assert set(deliver(sent, vehicles)) <= {"accepted", "updated"}
        for m in sent:
            base, horizon = split(m.message)
            released[m.agv_id] |= {n["nodeId"] for n in base}
            way = cells_of(base[-1:] + horizon)
            assert all(neighbours(a, b) for a, b in itertools.pairwise(way))
            if horizon:
                task, errand = tasks[ids.index(m.agv_id)], master.vehicles[m.agv_id].errand
                goal = task.dropoff if errand is not None and errand.pick_id else task.pickup
                left = [int(ways.field(goal)[y * 8 + x]) for x, y in way]  # moves to the goal
                assert left == list(range(left[0], left[0] - len(way), -1))  # one closer each cell
                toward[m.agv_id].append(goal)
        for _ in range(30):
            for agv, v in vehicles.items():
                v.advance(0.1)
                assert v.last_node_id in released[agv]  # never on a node not released to it
        for agv, v in vehicles.items():
            report(master, agv, v, now)
        delivered += [e.task_id for e in master.take_events(now) if isinstance(e, PartDelivered)]
    assert sorted(delivered) == sorted(t.id for t in tasks)
    for agv, task in zip(ids, tasks, strict=True):
        heads = [g for g, _ in itertools.groupby(toward[agv])]
        assert heads == [task.pickup, task.dropoff], (agv, toward[agv])  # first the pickup, then the drop
        assert vehicles[agv].nodes == []  # delivered and standing: no horizon left


def test_init_position_on_a_vehicle_holding_a_horizon_cancels_that_order_first() -> None:
    master = CheckedMaster(FLEET, FloorMap(MAP_ID, CELL_M), ahead=straight_on)
    v = vehicle("agv-1", (0, 0))
    report(master, "agv-1", v, 0)
    deliver(master.submit([MoveAgvs(0, ("agv-1",), np.array([1]), np.array([0]))], 0), {"agv-1": v})
    v.advance(3.0)
    assert v.nodes and v.busy  # standing at its decision point with the horizon: it has an order
    report(master, "agv-1", v, 1)
    moved = master.init_position("agv-1", (1, 2))  # put down by hand two cells on
    assert [a["actionType"] for a in moved.message["actions"]] == ["cancelOrder", "initPosition"]
    deliver([moved], {"agv-1": v})
    assert [s.action_status for s in v.action_states.values()] == ["FINISHED", "FINISHED"]
    assert v.last_node_id == "n1_2" and (v.x, v.y) == (1 * CELL_M, 2 * CELL_M) and v.errors == []
    report(master, "agv-1", v, 2)
    fresh = master.submit([MoveAgvs(2, ("agv-1",), np.array([2]), np.array([2]))], 2)
    assert [n["nodeId"] for n in split(fresh[0].message)[0]] == ["n1_2", "n2_2"]
    assert deliver(fresh, {"agv-1": v}) == ["accepted"]

    again = master.init_position("agv-2", (3, 4))  # one without an order: the pose alone
    assert [a["actionType"] for a in again.message["actions"]] == ["initPosition"]
