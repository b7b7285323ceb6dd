"""The VDA 5050 master control: the pure core driven directly, then the whole link over the real broker.

Every message the master sends and every message the tests feed it is checked against the official
JSON Schemas in ../shared/standards/vda5050/schemas (the package copy where that folder is absent).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from mixflow.connect.vda5050 import models
from mixflow.connect.vda5050.master import MasterControl, Publish, VehicleId
from mixflow.connect.vda5050.models import VERSION, timestamp
from mixflow.connect.vda5050.orders import FloorMap, node_id
from mixflow.connect.vda5050.validation import PACKAGE_SCHEMAS, SchemaValidator
from mixflow.model.port import (
    AgvDown,
    AgvStates,
    AgvUp,
    AssignTask,
    Charge,
    MoveAgvs,
    PartDelivered,
    PostTask,
)
from mixflow.model.work import MaterialTask

OFFICIAL = Path(__file__).resolve().parents[3] / "shared" / "standards" / "vda5050" / "schemas"
SCHEMAS = SchemaValidator(OFFICIAL if OFFICIAL.is_dir() else PACKAGE_SCHEMAS)
FLOOR = FloorMap("hall-1", 1.5)
FLEET = (VehicleId("agv-1", "acme", "A1"), VehicleId("agv-2", "forkco", "F-7"))
TASK = MaterialTask("o1/axle", "axle", (2, 0), (2, 2), 0, 600, 80.0, "o1", "3", "L1")


def checked(messages: list[Publish]) -> list[Publish]:
    """Every outgoing message valid against the official schema of its topic."""
    for message in messages:
        assert SCHEMAS.errors(message.subtopic, message.message) == [], message.message
    return messages


class CheckedMaster(MasterControl):
    """The master control with every message it makes checked against the official schemas."""

    def _publish(self, *args: Any) -> Publish:
        return checked([super()._publish(*args)])[0]


def move(at_s: int, cells: dict[str, tuple[int, int]]) -> MoveAgvs:
    ids = tuple(cells)
    return MoveAgvs(at_s, ids, np.array([cells[a][0] for a in ids]), np.array([cells[a][1] for a in ids]))


def header(vehicle: VehicleId, n: int = 0) -> dict[str, Any]:
    return {
        "headerId": n,
        "timestamp": timestamp(),
        "version": VERSION,
        "manufacturer": vehicle.manufacturer,
        "serialNumber": vehicle.serial_number,
    }


def state(
    vehicle: VehicleId, cell: tuple[int, int], order_id: str = "", update: int = 0, **fields: Any
) -> bytes:
    """A schema-valid state of a vehicle standing on `cell` (fields override)."""
    body = {
        **header(vehicle),
        "orderId": order_id,
        "orderUpdateId": update,
        "lastNodeId": node_id(cell),
        "lastNodeSequenceId": 0,
        "nodeStates": [],
        "edgeStates": [],
        "driving": False,
        "actionStates": [],
        "batteryState": {"batteryCharge": 80.0, "charging": False},
        "operatingMode": "AUTOMATIC",
        "errors": [],
        "safetyState": {"eStop": "NONE", "fieldViolation": False},
        "agvPosition": {
            "x": cell[0] * 1.5,
            "y": cell[1] * 1.5,
            "theta": 0.0,
            "mapId": "hall-1",
            "positionInitialized": True,
        },
        "loads": [],
        **fields,
    }
    assert SCHEMAS.errors("state", body) == [], body
    return json.dumps(body).encode()


def topic(vehicle: VehicleId, sub: str) -> str:
    return f"uagv/v2/{vehicle.manufacturer}/{vehicle.serial_number}/{sub}"


def online(master: MasterControl, vehicle: VehicleId, cell: tuple[int, int]) -> None:
    body = {**header(vehicle), "connectionState": "ONLINE"}
    assert SCHEMAS.errors("connection", body) == []
    checked(master.receive(topic(vehicle, "connection"), json.dumps(body), 0))
    checked(master.receive(topic(vehicle, "state"), state(vehicle, cell), 0))


@pytest.fixture
def master() -> MasterControl:
    m = CheckedMaster(FLEET, FLOOR)
    online(m, FLEET[0], (0, 0))
    online(m, FLEET[1], (5, 5))
    m.take_events(0)
    return m


def orders(messages: list[Publish]) -> dict[str, dict[str, Any]]:
    return {m.agv_id: m.message for m in messages if m.subtopic == "order"}


# -- the pure core ---------------------------------------------------------------------------------------


def test_committed_steps_become_an_order_then_updates_stitched_on_the_decision_point(
    master: MasterControl,
) -> None:
    first = orders(checked(master.submit([move(0, {"agv-1": (1, 0), "agv-2": (5, 5)})], 0)))
    assert set(first) == {"agv-1"}  # a vehicle that stays gets nothing
    order = first["agv-1"]
    assert order["orderUpdateId"] == 0
    assert [(n["nodeId"], n["sequenceId"], n["released"]) for n in order["nodes"]] == [
        ("n0_0", 0, True),
        ("n1_0", 2, True),
    ]
    assert [(e["startNodeId"], e["endNodeId"], e["sequenceId"]) for e in order["edges"]] == [
        ("n0_0", "n1_0", 1)
    ]
    assert order["nodes"][1]["nodePosition"] == {
        "x": 1.5,
        "y": 0.0,
        "mapId": "hall-1",
        "allowedDeviationXY": 0.75,
    }
    second = orders(checked(master.submit([move(1, {"agv-1": (1, 1), "agv-2": (5, 4)})], 1)))
    update = second["agv-1"]
    assert update["orderId"] == order["orderId"] and update["orderUpdateId"] == 1
    assert update["nodes"][0] == order["nodes"][1]  # the stitching node resent unchanged
    assert [n["sequenceId"] for n in update["nodes"]] == [2, 4] and update["edges"][0]["sequenceId"] == 3
    assert second["agv-2"]["orderUpdateId"] == 0 and second["agv-2"]["manufacturer"] == "forkco"
    assert master.awaiting == {"agv-1", "agv-2"}


def test_pick_and_drop_ride_on_the_pickup_and_drop_nodes_and_a_finished_drop_is_a_delivery(
    master: MasterControl,
) -> None:
    path = [(1, 0), (2, 0), (2, 1), (2, 2)]
    sent = checked(
        master.submit([PostTask(TASK), AssignTask("agv-1", TASK.id), move(0, {"agv-1": path[0]})], 0)
    )
    for k, cell in enumerate(path[1:], start=1):
        sent += checked(master.submit([move(k, {"agv-1": cell})], k))
    actions = {n["nodeId"]: n["actions"] for m in sent for n in m.message["nodes"][1:]}
    pick, drop = actions["n2_0"][0], actions["n2_2"][0]
    assert pick["actionType"] == "pick" and {"key": "loadId", "value": "o1/axle"} in pick["actionParameters"]
    assert drop["actionType"] == "drop" and actions["n2_1"] == []
    order = orders(sent[-1:])["agv-1"]
    dropping = [
        {"actionId": pick["actionId"], "actionStatus": "FINISHED"},
        {"actionId": drop["actionId"], "actionStatus": "RUNNING"},
    ]
    at = state(FLEET[0], (2, 2), order["orderId"], order["orderUpdateId"], actionStates=dropping)
    master.receive(topic(FLEET[0], "state"), at, 4)
    assert master.awaiting == {"agv-1"}  # there, but the next step waits for the drop
    done = [
        {"actionId": pick["actionId"], "actionStatus": "FINISHED"},
        {"actionId": drop["actionId"], "actionStatus": "FINISHED", "actionType": "drop"},
    ]
    for at_s in (5, 6):  # a repeated report delivers nothing twice
        master.receive(
            topic(FLEET[0], "state"),
            state(FLEET[0], (2, 2), order["orderId"], order["orderUpdateId"], actionStates=done),
            at_s,
        )
    events = master.take_events(6)
    assert [e for e in events if isinstance(e, PartDelivered)] == [PartDelivered(5, "o1/axle", "agv-1")]
    assert master.awaiting == set()


def test_a_pick_on_the_node_a_vehicle_stands_idle_on_opens_a_new_order_there(master: MasterControl) -> None:
    first = orders(master.submit([move(0, {"agv-1": (1, 0)})], 0))["agv-1"]
    here = MaterialTask("o2/cab", "cab", (1, 0), (3, 0), 0, 600, 50.0)
    master.receive(topic(FLEET[0], "state"), state(FLEET[0], (1, 0), first["orderId"]), 1)  # idle there
    sent = orders(
        checked(master.submit([PostTask(here), AssignTask("agv-1", here.id), move(1, {"agv-1": (2, 0)})], 1))
    )
    order = sent["agv-1"]
    assert order["orderId"] != first["orderId"] and order["orderUpdateId"] == 0
    assert order["nodes"][0]["nodeId"] == "n1_0" and order["nodes"][0]["actions"][0]["actionType"] == "pick"


def test_states_become_one_agv_states_with_position_battery_load_and_down(master: MasterControl) -> None:
    master.receive(
        topic(FLEET[0], "state"),
        state(
            FLEET[0],
            (3, 4),
            loads=[{"loadId": "o1/axle"}],
            batteryState={"batteryCharge": 42.0, "charging": False},
        ),
        7,
    )
    master.receive(topic(FLEET[1], "state"), state(FLEET[1], (5, 5), operatingMode="MANUAL"), 7)
    events = master.take_events(7)
    states = events[0]
    assert isinstance(states, AgvStates) and states.agv_ids == ("agv-1", "agv-2")
    assert states.x.tolist() == [3, 5] and states.y.tolist() == [4, 5]
    assert states.soc.tolist() == pytest.approx([0.42, 0.8])
    assert states.load == ("o1/axle", "") and states.down == (False, True)
    assert events[1:] == [AgvDown(7, "agv-2")]  # MANUAL: out of master control's hands
    master.receive(topic(FLEET[1], "state"), state(FLEET[1], (5, 5)), 9)
    assert master.take_events(9)[1:] == [AgvUp(9, "agv-2")]


def test_a_state_failing_the_schema_and_an_unknown_vehicle_are_refused_logged_and_change_nothing(
    master: MasterControl, caplog: pytest.LogCaptureFixture
) -> None:
    master.submit([move(0, {"agv-1": (1, 0)})], 0)
    before = master.vehicles["agv-1"].cell
    bad = json.loads(state(FLEET[0], (9, 9)))
    bad["batteryState"]["batteryCharge"] = "full"
    with caplog.at_level(logging.WARNING, "mixflow.connect.vda5050"):
        assert master.receive(topic(FLEET[0], "state"), json.dumps(bad), 1) == []
        assert master.receive(topic(FLEET[0], "state"), b"{not json", 1) == []
        stranger = VehicleId("x", "nobody", "N1")
        for _ in range(3):
            master.receive(topic(stranger, "state"), state(stranger, (0, 0)), 1)
    assert master.counters["invalid"] == 2 and master.counters["unknown_vehicle"] == 3
    assert master.vehicles["agv-1"].cell == before and master.take_events(1) == []
    text = caplog.text
    assert "state of agv-1 refused" in text and "batteryCharge" in text and "not JSON" in text
    assert text.count("unknown vehicle nobody/N1") == 1  # logged once, counted every time
    assert master.awaiting == {"agv-1"}  # the order in flight is untouched


def test_a_rejected_order_marks_the_vehicle_down_and_a_one_node_order_where_it_stands_brings_it_back(
    master: MasterControl, caplog: pytest.LogCaptureFixture
) -> None:
    master.submit([PostTask(TASK), AssignTask("agv-1", TASK.id)], 0)
    order = orders(master.submit([move(0, {"agv-1": (1, 0)})], 0))["agv-1"]
    error = {
        "errorType": "orderError",
        "errorLevel": "WARNING",
        "errorDescription": "cannot pick here",
        "errorReferences": [{"referenceKey": "orderId", "referenceValue": order["orderId"]}],
    }
    with caplog.at_level(logging.WARNING, "mixflow.connect.vda5050"):
        replies = checked(
            master.receive(topic(FLEET[0], "state"), state(FLEET[0], (0, 0), errors=[error]), 3)
        )
        again = master.receive(topic(FLEET[0], "state"), state(FLEET[0], (0, 0), errors=[error]), 4)
    assert again == []  # answered once, however often the vehicle repeats the warning
    anchor = orders(replies)["agv-1"]
    assert anchor["orderId"] != order["orderId"] and [n["nodeId"] for n in anchor["nodes"]] == ["n0_0"]
    assert anchor["edges"] == [] and anchor["nodes"][0]["actions"] == []
    assert AgvDown(3, "agv-1") in master.take_events(4)
    assert "agv-1 rejected order" in caplog.text and "cannot pick here" in caplog.text
    assert master.vehicles["agv-1"].errand is None
    assert orders(master.submit([move(5, {"agv-1": (1, 0)})], 5)) == {}  # down: no orders
    master.receive(topic(FLEET[0], "state"), state(FLEET[0], (0, 0), anchor["orderId"]), 6)
    assert master.take_events(6)[1:] == [AgvUp(6, "agv-1")]
    resumed = orders(checked(master.submit([move(7, {"agv-1": (1, 0)})], 7)))["agv-1"]
    assert resumed["orderId"] == anchor["orderId"] and resumed["orderUpdateId"] == 1


def test_a_vehicle_that_rejects_even_the_order_where_it_stands_stays_down(master: MasterControl) -> None:
    order = orders(master.submit([move(0, {"agv-1": (1, 0)})], 0))["agv-1"]

    def rejecting(order_id: str, driving: bool = False) -> bytes:
        error = {
            "errorType": "orderUpdateError",
            "errorLevel": "WARNING",
            "errorReferences": [{"referenceKey": "orderId", "referenceValue": order_id}],
        }
        left = [{"nodeId": "n1_0", "sequenceId": 2, "released": True}] if driving else []
        return state(FLEET[0], (0, 0), errors=[error], nodeStates=left)

    assert master.receive(topic(FLEET[0], "state"), rejecting(order["orderId"], driving=True), 1) == []
    assert master.take_events(1)[1:] == [AgvDown(1, "agv-1")]  # down at once, the order where it stands
    anchor = orders(master.receive(topic(FLEET[0], "state"), rejecting(order["orderId"]), 2))["agv-1"]
    assert [n["nodeId"] for n in anchor["nodes"]] == ["n0_0"]  # only once it stands idle
    assert master.receive(topic(FLEET[0], "state"), rejecting(anchor["orderId"]), 3) == []
    assert master.receive(topic(FLEET[0], "state"), rejecting(anchor["orderId"]), 4) == []
    assert master.take_events(4)[1:] == [] and master.vehicles["agv-1"].down_because == {"rejected"}


def test_connection_broken_marks_down_and_online_again_cancels_what_it_held(master: MasterControl) -> None:
    master.submit([move(0, {"agv-1": (1, 0)})], 0)
    broken = {**header(FLEET[0], 1), "connectionState": "CONNECTIONBROKEN"}
    assert master.receive(topic(FLEET[0], "connection"), json.dumps(broken), 2) == []
    assert master.take_events(2) == [AgvDown(2, "agv-1")]
    assert orders(master.submit([move(3, {"agv-1": (2, 0)})], 3)) == {}
    back = {**header(FLEET[0], 2), "connectionState": "ONLINE"}
    replies = checked(master.receive(topic(FLEET[0], "connection"), json.dumps(back), 4))
    kinds = [a["actionType"] for r in replies for a in r.message["actions"]]
    assert kinds == ["cancelOrder", "factsheetRequest"]
    assert master.take_events(4) == [AgvUp(4, "agv-1")]
    master.receive(topic(FLEET[0], "state"), state(FLEET[0], (1, 0)), 5)
    fresh = orders(checked(master.submit([move(5, {"agv-1": (2, 0)})], 5)))["agv-1"]
    assert fresh["orderUpdateId"] == 0 and fresh["nodes"][0]["nodeId"] == "n1_0"  # a new order where it is


def test_charge_and_instant_actions_and_the_factsheet(master: MasterControl) -> None:
    master.submit([move(0, {"agv-1": (1, 0)})], 0)
    charge = checked(master.submit([Charge("agv-1", (1, 0))], 1))
    assert [a["actionType"] for a in charge[0].message["actions"]] == ["startCharging"]
    leave = checked(master.submit([move(2, {"agv-1": (2, 0)})], 2))
    assert [m.subtopic for m in leave] == ["instantActions", "order"]
    assert leave[0].message["actions"][0]["actionType"] == "stopCharging"
    instant = checked(
        [
            master.pause("agv-2"),
            master.resume("agv-2"),
            master.init_position("agv-2", (4, 5)),
            master.request_factsheet("agv-2"),
            master.cancel_order("agv-1"),
        ]
    )
    assert [m.message["actions"][0]["actionType"] for m in instant] == [
        "startPause",
        "stopPause",
        "initPosition",
        "factsheetRequest",
        "cancelOrder",
    ]
    # per vehicle and topic; 0 was the factsheetRequest sent when it came online
    assert [m.message["headerId"] for m in instant[:4]] == [1, 2, 3, 4]
    sheet = factsheet(FLEET[1], speed_max=1.2, payload_kg=1500.0)
    assert master.receive(topic(FLEET[1], "factsheet"), sheet, 3) == []
    kind = master.vehicles["agv-2"].factsheet
    assert kind is not None and (kind.series, kind.speed_max_m_s, kind.payload_kg) == (
        "F-series",
        1.2,
        1500.0,
    )
    assert (kind.length_m, kind.width_m) == (2.0, 1.0)


def factsheet(vehicle: VehicleId, speed_max: float, payload_kg: float) -> bytes:
    """A schema-valid factsheet of a carrier type."""
    sheet = models.Factsheet(
        manufacturer=vehicle.manufacturer,
        serial_number=vehicle.serial_number,
        type_specification=models.TypeSpecification(
            series_name="F-series",
            agv_kinematic="DIFF",
            agv_class="CARRIER",
            max_load_mass=payload_kg,
            localization_types=["NATURAL"],
            navigation_types=["AUTONOMOUS"],
        ),
        physical_parameters=models.PhysicalParameters(
            speed_min=0.1,
            speed_max=speed_max,
            acceleration_max=0.5,
            deceleration_max=0.5,
            height_max=0.4,
            width=1.0,
            length=2.0,
        ),
        protocol_limits=models.ProtocolLimits(
            max_string_lens=models.MaxStringLens(),
            max_array_lens=models.MaxArrayLens(),
            timing=models.Timing(min_order_interval=0.1, min_state_interval=0.1),
        ),
        protocol_features=models.ProtocolFeatures(optional_parameters=[], agv_actions=[]),
        agv_geometry=models.AgvGeometry(),
        load_specification=models.LoadSpecification(),
    ).to_dict()
    assert SCHEMAS.errors("factsheet", sheet) == [], sheet
    return json.dumps(sheet).encode()


async def clear_retained(broker: tuple[str, int], interface: str, idents: list[VehicleId]) -> None:
    """Leave no retained connection or factsheet of a test's vehicles on the shared broker."""
    from mixflow.connect.wire import WireClient

    client = WireClient(*broker, f"{interface}-cleaner")
    await client.connect()
    for ident in idents:
        for sub in ("connection", "factsheet"):
            client.publish_nowait(
                f"{interface}/v2/{ident.manufacturer}/{ident.serial_number}/{sub}", b"", True
            )
    await client.disconnect()


# -- end to end: the link, the vehicle simulator and the fleet planner on the real broker ---------------

FLOOR_ROWS = [
    "..........",
    ".@@@..@@@.",
    "..........",
    ".@@@..@@@.",
    "..........",
]
HOMES = ((0, 0), (9, 0), (0, 4), (9, 4))
VDA_FROM_S, VDA_UNTIL_S = (
    187_000,
    188_300,
)  # the window of the plant day the twin's fleet runs through VDA 5050
JOBS = (("job-1", (2, 0), (7, 2)), ("job-2", (4, 4), (2, 2)), ("job-3", (7, 0), (5, 4)))


class FleetDriver:
    """The scheduler's fleet step in small: the planner's committed cells, task and charge changes as
    port commands (as `Scheduler._fleet_step` sends them), and the master's events back into the model."""

    def __init__(self, fleet: Any, agv_ids: tuple[str, ...]) -> None:
        self.fleet = fleet
        self.agv_ids = agv_ids
        self.index = {a: i for i, a in enumerate(agv_ids)}
        self.told: list[str | None] = [None] * len(agv_ids)
        self.delivered: list[PartDelivered] = []
        self.assigned: list[tuple[str, str]] = []
        self.downs: list[str] = []

    def consume(self, events: list[Any]) -> None:
        for event in events:
            if isinstance(event, AgvStates):
                robots = [self.index[a] for a in event.agv_ids]
                self.fleet.soc_kwh[robots] = event.soc * self.fleet.battery_kwh[robots]
            elif isinstance(event, AgvDown):
                self.downs.append(event.agv_id)
                self.fleet.set_broken(self.index[event.agv_id], True)
            elif isinstance(event, AgvUp):
                self.fleet.set_broken(self.index[event.agv_id], False)
            elif isinstance(event, PartDelivered):
                self.delivered.append(event)

    def step(self, now: int) -> list[Any]:
        nxt = self.fleet.step()
        commands: list[Any] = []
        for robot, task in enumerate(self.fleet.task_of):
            if task != self.told[robot]:
                self.told[robot] = task
                commands.append(AssignTask(self.agv_ids[robot], task or ""))
                if task:
                    self.assigned.append((self.agv_ids[robot], task))
        w = self.fleet.grid.width
        return [MoveAgvs(now, self.agv_ids, nxt % w, nxt // w), *commands]


@pytest.mark.parametrize("horizon", [False, True], ids=["base", "horizon"])
def test_vehicles_of_two_makers_follow_orders_through_the_broker_and_a_broken_one_hands_its_task_on(
    mqtt_broker: tuple[str, int], caplog: pytest.LogCaptureFixture, horizon: bool
) -> None:
    import asyncio
    import uuid

    from mixflow.connect.broker import Broker
    from mixflow.connect.vda5050.factsheets import vehicle_types
    from mixflow.connect.vda5050.fleet_link import VdaLink
    from mixflow.connect.vda5050.horizon import planner_ahead
    from mixflow.connect.vda5050.models import MAP_ID
    from mixflow.connect.vda5050.simulator import VehicleSimulator
    from mixflow.connect.vda5050.vehicle import Vehicle
    from mixflow.connect.wire import Received, WireClient
    from mixflow.fleet import EnergySpec, FleetManager, FleetTask, grid_from_rows
    from mixflow.model.plant import AgvSpec

    host, port = mqtt_broker
    broker = Broker(host, port)
    interface = f"t{uuid.uuid4().hex[:10]}"  # a topic tree of its own: nothing retained from other runs
    spec = AgvSpec(speed_m_s=1.5, payload_kg=800.0, battery_kwh=20.0, charge_kw=10.0, drain_kwh_per_m=0.01)
    tug, carrier = vehicle_types(spec, pick_s=0.5, drop_s=0.5)
    kinds = (tug, tug, carrier, carrier)
    serials = ("T-1", "T-2", "C-1", "C-2")
    agv_ids = tuple(f"agv-{k}" for k in range(4))
    idents = [VehicleId(a, kind.manufacturer, s) for a, kind, s in zip(agv_ids, kinds, serials, strict=True)]
    floor = FloorMap(MAP_ID, 1.5)
    master = CheckedMaster(idents, floor, interface=interface, validator=SCHEMAS)
    vehicles = [
        Vehicle(kind, s, x * 1.5, y * 1.5, node_id((x, y)), validator=SCHEMAS)
        for kind, s, (x, y) in zip(kinds, serials, HOMES, strict=True)
    ]
    grid = grid_from_rows(FLOOR_ROWS)
    fleet = FleetManager(
        grid,
        np.array([grid.cell(*h) for h in HOMES]),
        np.array([grid.cell(4, 2)]),
        EnergySpec(battery_kwh=20.0, drain_kwh_per_move=0.015, charge_kwh_per_step=0.01),
    )
    if horizon:
        master.ahead = planner_ahead(fleet.planner, agv_ids)
    driver = FleetDriver(fleet, agv_ids)
    step = [0]
    seen: list[Received] = []

    async def scenario() -> None:
        spy = WireClient(host, port, f"{interface}-spy", on_messages=seen.extend)
        await spy.connect()
        await spy.subscribe([f"{interface}/v2/#"], qos=1)
        link = VdaLink(master, broker, lambda: step[0], client_id=f"{interface}-master")
        await link.start()
        sim = VehicleSimulator(
            broker,
            vehicles,
            interface=interface,
            time_scale=5.0,
            visualization_interval_s=0.05,
            check_sent=SCHEMAS,
        )
        async with sim:
            await asyncio.sleep(0.5)  # ONLINE, factsheets and first states in
            assert {v.factsheet.series for v in master.vehicles.values() if v.factsheet} == {
                "TW-T30",
                "CB-Omni-3",
            }
            # bad input: a state that fails its schema, a vehicle nobody registered
            bad = json.loads(state(idents[0], HOMES[0]))
            bad["batteryState"]["batteryCharge"] = "full"
            spy.publish_nowait(f"{interface}/v2/{idents[0].manufacturer}/T-1/state", json.dumps(bad).encode())
            spy.publish_nowait(
                f"{interface}/v2/Nobody/X-9/state", state(VehicleId("x", "Nobody", "X-9"), (0, 0))
            )
            link.submit([PostTask(MaterialTask(j, "kit", p, d, 0, 600, 100.0)) for j, p, d in JOBS], 0)
            for job, pickup, dropoff in JOBS:
                fleet.post(FleetTask(job, grid.cell(*pickup), grid.cell(*dropoff), 0, 600, 100.0))
            victim = ""
            for now in range(1, 120):
                step[0] = now
                driver.consume(link.take_events())
                if len(driver.delivered) == len(JOBS):
                    break
                if not victim and driver.assigned and now >= 3:
                    victim, victim_task = driver.assigned[0]  # mid-order, on its way to the pickup
                    sim.break_connection(serials[agv_ids.index(victim)])
                link.submit(driver.step(now), now)
                await link.settled(3.0)
            paused = next(k for k, a in enumerate(agv_ids) if a != victim)
            link.send([master.pause(agv_ids[paused])])  # an instant action by hand, over the wire
            await asyncio.sleep(0.3)
            assert [v.paused for v in vehicles] == [k == paused for k in range(len(vehicles))]
        await link.stop()
        await clear_retained(mqtt_broker, interface, idents)
        await asyncio.sleep(0.2)
        await spy.disconnect()
        # the victim went down on its last will, its task went to another vehicle and was delivered
        assert driver.downs == [victim]
        takers = [a for a, t in driver.assigned if t == victim_task]
        assert takers[0] == victim and takers[-1] != victim
        assert sorted(d.task_id for d in driver.delivered) == [j for j, _, _ in JOBS]
        assert {d.agv_id for d in driver.delivered if d.task_id == victim_task} == {takers[-1]}
        # every vehicle accepted every order; none was rejected
        assert sim.counters.orders["rejected"] == 0 and sim.counters.orders["updated"] > 20
        for vehicle, agv in zip(vehicles, agv_ids, strict=True):
            if agv != victim:  # each stands where the planner put it
                assert node_id(grid.xy(int(fleet.positions[agv_ids.index(agv)]))) == vehicle.last_node_id

    with caplog.at_level(logging.WARNING):
        asyncio.run(scenario())
    assert master.counters["invalid"] == 1 and master.counters["unknown_vehicle"] >= 1
    assert "state of agv-0 refused" in caplog.text and "unknown vehicle Nobody/X-9" in caplog.text
    assert "connection broken" in caplog.text
    subtopics = {m.topic.rsplit("/", 1)[1] for m in seen}
    assert subtopics == {"order", "instantActions", "state", "visualization", "connection", "factsheet"}
    for message in seen:  # everything on the wire, both ways, against the official schemas
        if b'"full"' in message.payload or not message.payload:
            continue
        assert SCHEMAS.errors(message.topic.rsplit("/", 1)[1], json.loads(message.payload)) == [], message
    # the vehicles stood only on nodes released to them, horizons or not
    sent = [json.loads(m.payload) for m in seen if m.topic.endswith("/order")]
    released = {(o["serialNumber"], n["nodeId"]) for o in sent for n in o["nodes"] if n["released"]}
    released |= {(s, node_id(h)) for s, h in zip(serials, HOMES, strict=True)}
    states = [json.loads(m.payload) for m in seen if m.topic.endswith("/state") and b"full" not in m.payload]
    stood = {(st["serialNumber"], st["lastNodeId"]) for st in states if st["serialNumber"] in serials}
    assert stood <= released
    held = sum(not n["released"] for st in states for n in st["nodeStates"])
    assert (held > 0) == horizon and (sum(not n["released"] for o in sent for n in o["nodes"]) > 0) == horizon


def test_the_twin_with_its_fleet_through_vda5050_vehicles_keeps_the_in_process_kpis(
    mqtt_broker: tuple[str, int],
) -> None:
    import asyncio
    import threading
    import uuid
    from dataclasses import replace

    from mixflow.cli.connect import plant_kpis
    from mixflow.connect.broker import Broker
    from mixflow.connect.vda5050.factsheets import vehicle_types
    from mixflow.connect.vda5050.fleet_factory import VdaFleetFactory
    from mixflow.connect.vda5050.models import MAP_ID
    from mixflow.connect.vda5050.simulator import VehicleSimulator
    from mixflow.connect.vda5050.vehicle import Vehicle
    from mixflow.model import Materials
    from mixflow.plan import PlanOptions, Scheduler
    from mixflow.twin import Scenario, Twin, prepare

    scenario = Scenario(scale=0.05, agvs=4, mtbf_factor=0, agv_mtbf_h=0, process_noise=0, days=1)
    plant, catalogue, orders = prepare(scenario, 0)
    # the window below is the fleet's first errands with line calls only (no supply modelled), so each
    # step carries a few AGVs
    plant = replace(plant, materials=Materials(), charging=None)
    local, local_twin = (
        Scheduler(plant, catalogue, None, PlanOptions(), seed=0),
        Twin(plant, catalogue, orders, scenario, 0),
    )
    local.run(local_twin, VDA_UNTIL_S)
    remote, twin = (
        Scheduler(plant, catalogue, None, PlanOptions(), seed=0),
        Twin(plant, catalogue, orders, scenario, 0),
    )
    remote.run(twin, VDA_FROM_S)  # in-process up to just before the fleet's first errand
    interface = f"t{uuid.uuid4().hex[:10]}"
    makers = vehicle_types(plant.fleet.spec, pick_s=0.0, drop_s=0.0)
    cell_m = plant.floor.cell_m
    vehicles, idents = [], []
    for k, agv in enumerate(plant.fleet.agv_ids):
        x, y = twin.agvs.at(k)
        kind = makers[k % 2]
        vehicles.append(Vehicle(kind, f"V{k}", x * cell_m, y * cell_m, node_id((x, y)), validator=SCHEMAS))
        idents.append(VehicleId(agv, kind.manufacturer, f"V{k}"))
    broker = Broker(*mqtt_broker)
    started, loop_of, stop_of = threading.Event(), [], []

    async def host() -> None:
        # each plant step waits for the vehicles' next tick: a 20 ms tick and 60x driving run the window
        # in a third of the time 50 ms and 20x took, with the same result
        sim = VehicleSimulator(
            broker, vehicles, interface=interface, time_scale=60.0, visualization_interval_s=0.02
        )
        stop = asyncio.Event()
        loop_of.append(asyncio.get_running_loop())
        stop_of.append(stop)
        async with sim:
            started.set()
            await stop.wait()

    thread = threading.Thread(target=asyncio.run, args=(host(),), daemon=True)
    thread.start()
    assert started.wait(20)
    master = CheckedMaster(idents, FloorMap(MAP_ID, cell_m), interface=interface, validator=SCHEMAS)
    try:
        with VdaFleetFactory(twin, master, broker, settle_s=5.0) as factory:
            remote.run(factory, VDA_UNTIL_S)
            unsettled = factory.unsettled_steps
    finally:
        loop_of[0].call_soon_threadsafe(stop_of[0].set)
        thread.join(20)
        asyncio.run(clear_retained(mqtt_broker, interface, idents))
    assert master.counters["updates"] > 100 and master.counters["invalid"] == 0 and unsettled == 0
    assert twin.agvs.counters.refused_moves == 0 and twin.agvs.counters.collisions == 0
    fleet_counts = ("moves_empty", "moves_loaded", "refused_moves", "collisions")
    assert [getattr(twin.agvs.counters, c) for c in fleet_counts] == [
        getattr(local_twin.agvs.counters, c) for c in fleet_counts
    ]
    assert (
        twin.agvs.x.tolist() == local_twin.agvs.x.tolist()
        and twin.agvs.y.tolist() == local_twin.agvs.y.tolist()
    )
    delivered = [
        sorted(t for line in w.lines.values() for t in line.delivered_tasks) for w in (twin, local_twin)
    ]
    assert delivered[0] == delivered[1] and delivered[0]
    assert plant_kpis(remote, plant, scenario, twin.now_s) == plant_kpis(
        local, plant, scenario, local_twin.now_s
    )
