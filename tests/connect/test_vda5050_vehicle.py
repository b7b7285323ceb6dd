"""The VDA 5050 vehicle simulator on the real broker (127.0.0.1:1883).

A test plays master control with a plain wire client: it sends orders and instant actions and
watches `<interface>/v2/#` like any master would. Every message on the wire, the vehicles' and ours,
is checked against the official schemas (../shared when present, else the package copy); the only
invalid ones allowed are those a test sends on purpose. Each test has its own interface name, so
tests running at the same time on the shared broker never see each other, and clears its retained
messages afterwards.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import uuid
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from mixflow.connect.broker import Broker
from mixflow.connect.vda5050.factsheets import vehicle_types
from mixflow.connect.vda5050.models import MAP_ID, Load, timestamp
from mixflow.connect.vda5050.orders import node_id
from mixflow.connect.vda5050.simulator import VehicleSimulator
from mixflow.connect.vda5050.topics import vehicle_topics
from mixflow.connect.vda5050.validation import PACKAGE_SCHEMAS, SchemaValidator
from mixflow.connect.vda5050.vehicle import Vehicle, VehicleType
from mixflow.connect.wire import Received, WireClient
from mixflow.model.plant import AgvSpec

pytestmark = pytest.mark.services

SHARED = Path(__file__).resolve().parents[3] / "shared" / "standards" / "vda5050" / "schemas"
OFFICIAL = SchemaValidator(SHARED if SHARED.is_dir() else PACKAGE_SCHEMAS)
BROKER = Broker("127.0.0.1", 1883)
CELL_M = 1.5
SPEC = AgvSpec(1.5, 3000, 30.0, 60.0, 0.0015, 1.6, 0.25, id="tugger-3t")
TUGGER, CARRIER = vehicle_types(SPEC, pick_s=0.6, drop_s=0.6)


class Master:
    """The test's side of the wire: sends to vehicles and keeps everything it hears, validated."""

    def __init__(self, interface: str) -> None:
        self.interface = interface
        self.client = WireClient(BROKER.host, BROKER.port, f"test-master-{interface}", on_messages=self._hear)
        self.heard: list[tuple[str, str, dict[str, Any]]] = []  # (serial, subtopic, message)
        self.invalid: list[str] = []
        self.headers: dict[str, int] = {}
        self.changed = asyncio.Event()

    async def start(self) -> None:
        await self.client.connect()
        await self.client.subscribe([f"{self.interface}/v2/#"], qos=1)

    def _hear(self, batch: list[Received]) -> None:
        for message in batch:
            if not message.payload:
                continue  # our own clearing of retained messages
            _, _, _, serial, subtopic = message.topic.split("/")
            try:
                body = json.loads(message.payload)
            except ValueError:
                self.invalid.append(f"{message.topic}: not JSON")
                continue
            problems = OFFICIAL.errors(subtopic, body)
            if problems:
                self.invalid.append(f"{message.topic}: {problems[0]}")
            self.heard.append((serial, subtopic, body))
        self.changed.set()

    def send(self, vehicle: Vehicle, subtopic: str, body: dict[str, Any], *, valid: bool = True) -> None:
        """Publish with a fresh header; a message meant to be valid is checked before it goes."""
        header = self.headers.get(subtopic, -1) + 1
        self.headers[subtopic] = header
        message = {
            "headerId": header,
            "timestamp": timestamp(),
            "version": "2.1.0",
            "manufacturer": vehicle.manufacturer,
            "serialNumber": vehicle.serial_number,
            **body,
        }
        assert (OFFICIAL.errors(subtopic, message) == []) is valid, OFFICIAL.errors(subtopic, message)
        topic = vehicle_topics(vehicle.manufacturer, vehicle.serial_number, self.interface)(subtopic)  # type: ignore[arg-type]
        self.client.publish_nowait(topic, json.dumps(message).encode())

    def messages(self, serial: str, subtopic: str) -> list[dict[str, Any]]:
        return [m for s, t, m in self.heard if s == serial and t == subtopic]

    def last_state(self, serial: str) -> dict[str, Any]:
        return self.messages(serial, "state")[-1]

    async def until(self, check: Callable[[], Any], timeout_s: float = 8.0) -> Any:
        """Wait until `check()` is truthy (re-checked on every message); returns its value."""
        deadline = asyncio.get_running_loop().time() + timeout_s
        while True:
            value = check()
            if value:
                return value
            left = deadline - asyncio.get_running_loop().time()
            assert left > 0, "timed out waiting"
            self.changed.clear()
            try:
                await asyncio.wait_for(self.changed.wait(), left)
            except TimeoutError:
                continue

    def state_where(self, serial: str, predicate: Callable[[dict[str, Any]], bool]) -> Callable[[], Any]:
        return lambda: next((m for m in reversed(self.messages(serial, "state")) if predicate(m)), None)

    async def clear_retained(self, vehicles: list[Vehicle]) -> None:
        for vehicle in vehicles:
            topics = vehicle_topics(vehicle.manufacturer, vehicle.serial_number, self.interface)
            for subtopic in ("connection", "factsheet"):
                self.client.publish_nowait(topics(subtopic), b"", retain=True)  # type: ignore[arg-type]
        await asyncio.sleep(0.1)
        await self.client.disconnect()


def cell_position(cell: tuple[int, int], cell_m: float) -> tuple[float, float]:
    """Where master control puts a cell's node (`orders.FloorMap`)."""
    return cell[0] * cell_m, cell[1] * cell_m


def vehicle(kind: VehicleType, serial: str, cell: tuple[int, int]) -> Vehicle:
    x, y = cell_position(cell, CELL_M)
    return Vehicle(kind, serial, x, y, node_id(cell), validator=OFFICIAL)


def order(
    order_id: str,
    cells: list[tuple[int, int]],
    *,
    update: int = 0,
    released: int | None = None,
    first_sequence: int = 0,
    actions: dict[int, list[dict[str, Any]]] | None = None,
) -> dict[str, Any]:
    """The body of an order along `cells`: the first `released` nodes are the base."""
    released = len(cells) if released is None else released
    nodes, edges = [], []
    for k, cell in enumerate(cells):
        x, y = cell_position(cell, CELL_M)
        nodes.append(
            {
                "nodeId": node_id(cell),
                "sequenceId": first_sequence + 2 * k,
                "released": k < released,
                "nodePosition": {"x": x, "y": y, "mapId": MAP_ID},
                "actions": (actions or {}).get(k, []),
            }
        )
        if k:
            edges.append(
                {
                    "edgeId": f"{node_id(cells[k - 1])}-{node_id(cell)}",
                    "sequenceId": first_sequence + 2 * k - 1,
                    "released": k < released,
                    "startNodeId": node_id(cells[k - 1]),
                    "endNodeId": node_id(cell),
                    "actions": [],
                }
            )
    return {"orderId": order_id, "orderUpdateId": update, "nodes": nodes, "edges": edges}


def action(action_type: str, action_id: str, **parameters: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"actionId": action_id, "actionType": action_type, "blockingType": "HARD"}
    if parameters:
        body["actionParameters"] = [{"key": k, "value": v} for k, v in parameters.items()]
    return body


Scenario = Callable[[Master, VehicleSimulator], Awaitable[None]]


def play(vehicles: list[Vehicle], scenario: Scenario, *, time_scale: float = 1.0) -> Master:
    """Run the vehicles and the scenario against the broker; checks the wire stayed valid."""
    interface = f"t{uuid.uuid4().hex[:10]}"

    async def main() -> Master:
        master = Master(interface)
        await master.start()
        sim = VehicleSimulator(
            BROKER, vehicles, interface=interface, time_scale=time_scale, check_sent=OFFICIAL
        )
        try:
            async with sim:
                await scenario(master, sim)
            await master.until(
                lambda: all(
                    master.messages(v.serial_number, "connection")[-1]["connectionState"] != "ONLINE"
                    for v in vehicles
                ),
                3.0,
            )
        finally:
            await master.clear_retained(vehicles)
        return master

    return asyncio.run(main())


def xy(state: dict[str, Any]) -> tuple[float, float]:
    return state["agvPosition"]["x"], state["agvPosition"]["y"]


def statuses(state: dict[str, Any]) -> dict[str, str]:
    return {a["actionId"]: a["actionStatus"] for a in state["actionStates"]}


def errors(state: dict[str, Any]) -> list[str]:
    return [e["errorType"] for e in state["errors"]]


@pytest.fixture
def fleet() -> Iterator[list[Vehicle]]:
    yield [vehicle(TUGGER, "T-001", (2, 2)), vehicle(CARRIER, "C-001", (2, 6))]


def test_vehicles_of_two_makers_come_online_report_and_go_offline(fleet: list[Vehicle]) -> None:
    async def scenario(master: Master, sim: VehicleSimulator) -> None:
        await asyncio.sleep(2.1)
        for v in fleet:
            (online,) = master.messages(v.serial_number, "connection")
            assert online["connectionState"] == "ONLINE"
            assert online["manufacturer"] == v.manufacturer
            states = master.messages(v.serial_number, "state")
            pictures = master.messages(v.serial_number, "visualization")
            assert 2 <= len(states) <= 4, len(states)  # the first one, then 1 Hz
            assert 9 <= len(pictures) <= 12, len(pictures)  # 5 Hz
            assert [s["headerId"] for s in states] == list(range(len(states)))
            assert states[-1]["lastNodeId"] == v.last_node_id and states[-1]["driving"] is False
            assert states[-1]["batteryState"]["batteryCharge"] == 100.0
        sheets = {m["serialNumber"]: m for _, t, m in master.heard if t == "factsheet"}
        assert sheets["T-001"]["typeSpecification"]["agvClass"] == "TUGGER"
        assert sheets["C-001"]["typeSpecification"]["agvClass"] == "CARRIER"
        assert sheets["T-001"]["manufacturer"] != sheets["C-001"]["manufacturer"]

    master = play(fleet, scenario)
    for v in fleet:
        assert [m["connectionState"] for m in master.messages(v.serial_number, "connection")] == [
            "ONLINE",
            "OFFLINE",
        ]
    assert master.invalid == []


def test_a_vehicle_drives_its_base_stops_at_the_decision_point_and_follows_the_update(
    fleet: list[Vehicle],
) -> None:
    tugger = fleet[0]
    path = [(2, 2), (3, 2), (4, 2), (5, 2), (5, 3), (5, 4)]

    async def scenario(master: Master, sim: VehicleSimulator) -> None:
        pick = action("pick", "pick-1", loadId="kit-42", loadType="part", weight=180.0)
        master.send(tugger, "order", order("o-1", path, released=3, actions={2: [pick]}))
        accepted = await master.until(master.state_where("T-001", lambda s: s["orderId"] == "o-1"))
        assert accepted["lastNodeId"] == "n2_2" and statuses(accepted)["pick-1"] == "WAITING"
        assert [n["nodeId"] for n in accepted["nodeStates"]] == ["n3_2", "n4_2", "n5_2", "n5_3", "n5_4"]
        start = asyncio.get_running_loop().time()
        at_pick = await master.until(master.state_where("T-001", lambda s: s["lastNodeId"] == "n4_2"))
        took = asyncio.get_running_loop().time() - start
        assert 1.6 <= took <= 3.2, took  # two cells of 1.5 m at 1.5 m/s
        assert statuses(at_pick)["pick-1"] == "RUNNING" and at_pick["driving"] is False  # HARD: it stops
        loaded = await master.until(
            master.state_where("T-001", lambda s: statuses(s).get("pick-1") == "FINISHED")
        )
        assert loaded["loads"][0]["loadId"] == "kit-42"
        await asyncio.sleep(0.6)  # no base beyond c4_2: it waits there with its horizon
        waiting = master.last_state("T-001")
        assert waiting["driving"] is False and waiting["lastNodeId"] == "n4_2"
        assert xy(waiting) == cell_position((4, 2), CELL_M)
        assert all(not n["released"] for n in waiting["nodeStates"])
        assert waiting["newBaseRequest"] is True
        drop = action("drop", "drop-1", loadId="kit-42")
        update = order("o-1", path[2:], update=1, first_sequence=4, actions={3: [drop]})
        master.send(tugger, "order", update)
        master.send(tugger, "order", update)  # a repeat is ignored (6.6.4.3)
        done = await master.until(
            master.state_where("T-001", lambda s: statuses(s).get("drop-1") == "FINISHED")
        )
        assert done["orderUpdateId"] == 1 and done["lastNodeId"] == "n5_4" and done["nodeStates"] == []
        assert done["loads"] == [] and done["errors"] == []
        assert xy(done) == cell_position((5, 4), CELL_M)
        assert done["batteryState"]["batteryCharge"] < 100.0
        assert sim.counters.orders == {"accepted": 1, "updated": 1, "ignored": 1}

    master = play(fleet, scenario)
    assert master.invalid == []
    # the carrier was given nothing and stayed where it was
    assert {m["lastNodeId"] for m in master.messages("C-001", "state")} == {"n2_6"}


def test_orders_the_vehicle_cannot_take_are_rejected_with_errors_in_its_state(fleet: list[Vehicle]) -> None:
    tugger = fleet[0]

    async def scenario(master: Master, sim: VehicleSimulator) -> None:
        def has(error: str) -> Callable[[], Any]:
            return master.state_where("T-001", lambda s: error in errors(s))

        broken = order("o-9", [(2, 2), (3, 2)])
        del broken["edges"]
        master.send(tugger, "order", broken, valid=False)
        state = await master.until(has("validationError"))
        assert state["orderId"] == "" and state["nodeStates"] == []
        (error,) = state["errors"]
        assert error["errorLevel"] == "WARNING" and "edges" in error["errorDescription"]
        refs = {r["referenceKey"]: r["referenceValue"] for r in error["errorReferences"]}
        assert refs["orderId"] == "o-9" and refs["topic"] == "order"

        topic = vehicle_topics(tugger.manufacturer, tugger.serial_number, master.interface)("order")
        master.client.publish_nowait(topic, b"{not json")
        state = await master.until(
            master.state_where("T-001", lambda s: "not JSON" in json.dumps(s["errors"]))
        )
        assert state["orderId"] == "" and errors(state) == ["validationError"]
        master.send(tugger, "order", order("o-10", [(7, 7), (7, 8)]))  # does not start where it stands
        state = await master.until(has("orderError"))
        assert "validationError" not in errors(state) and "m away" in state["errors"][0]["errorDescription"]
        heavy = action("pick", "pick-x", weight=9000.0)
        master.send(tugger, "order", order("o-11", [(2, 2), (3, 2)], actions={1: [heavy]}))
        state = await master.until(master.state_where("T-001", lambda s: "maxLoadMass" in json.dumps(s)))
        assert state["orderId"] == ""

        path = [(2, 2), (3, 2), (4, 2), (5, 2), (6, 2)]
        master.send(tugger, "order", order("o-12", path))
        state = await master.until(master.state_where("T-001", lambda s: s["orderId"] == "o-12"))
        assert state["errors"] == []  # accepting an order clears the order warnings
        master.send(tugger, "order", order("o-12", path[1:], update=1, first_sequence=2))  # not the base end
        state = await master.until(has("orderUpdateError"))
        assert state["orderUpdateId"] == 0
        master.send(tugger, "order", order("o-13", [(3, 2), (3, 3)]))  # a new order while busy
        await master.until(master.state_where("T-001", lambda s: "cancel it first" in json.dumps(s)))
        done = await master.until(master.state_where("T-001", lambda s: s["lastNodeId"] == "n6_2"))
        assert done["orderId"] == "o-12"  # it kept driving its order throughout
        assert sim.counters.orders["rejected"] == 6

    master = play(fleet, scenario, time_scale=2.0)
    invalid = master.invalid
    assert len(invalid) == 2
    assert invalid[0].endswith('/order: (message): "edges" is a required property')
    assert invalid[1].endswith("/order: not JSON")


def test_instant_actions_pause_cancel_request_and_reposition(fleet: list[Vehicle]) -> None:
    tugger = fleet[0]
    path = [(2, 2), (3, 2), (4, 2), (5, 2), (6, 2), (7, 2)]

    def instant(*actions: dict[str, Any]) -> dict[str, Any]:
        return {"actions": [{**a, "blockingType": "NONE"} for a in actions]}

    async def scenario(master: Master, sim: VehicleSimulator) -> None:
        master.send(tugger, "order", order("o-1", path))
        await master.until(master.state_where("T-001", lambda s: s["lastNodeId"] == "n3_2"))
        master.send(tugger, "instantActions", instant(action("startPause", "pause-1")))
        paused = await master.until(master.state_where("T-001", lambda s: s.get("paused") is True))
        assert statuses(paused)["pause-1"] == "FINISHED"
        await asyncio.sleep(0.5)
        still = master.last_state("T-001")
        assert still["driving"] is False
        await asyncio.sleep(0.6)
        assert xy(master.last_state("T-001")) == xy(still)
        master.send(tugger, "instantActions", instant(action("stopPause", "pause-2"), action("dance", "x-1")))
        resumed = await master.until(master.state_where("T-001", lambda s: "x-1" in statuses(s)))
        assert statuses(resumed)["x-1"] == "FAILED" and resumed["paused"] is False
        await master.until(
            master.state_where("T-001", lambda s: s["driving"] and 0 < s["distanceSinceLastNode"] < 0.8)
        )
        master.send(tugger, "instantActions", instant(action("cancelOrder", "cancel-1")))
        stopping = await master.until(master.state_where("T-001", lambda s: "cancel-1" in statuses(s)))
        assert statuses(stopping)["cancel-1"] == "RUNNING"  # it drives on to the next node
        assert len(stopping["nodeStates"]) == 1
        canceled = await master.until(
            master.state_where("T-001", lambda s: statuses(s).get("cancel-1") == "FINISHED")
        )
        assert canceled["nodeStates"] == [] and canceled["edgeStates"] == []
        assert canceled["orderId"] == "o-1" and canceled["driving"] is False
        node = canceled["lastNodeId"]
        assert node != "n7_2" and xy(canceled) == cell_position(tuple(map(int, node[1:].split("_"))), CELL_M)
        master.send(tugger, "instantActions", instant(action("cancelOrder", "cancel-2")))
        state = await master.until(master.state_where("T-001", lambda s: "cancel-2" in statuses(s)))
        assert statuses(state)["cancel-2"] == "FAILED"
        (warning,) = [e for e in state["errors"] if e["errorType"] == "noOrderToCancel"]
        assert warning["errorReferences"] == [{"referenceKey": "actionId", "referenceValue": "cancel-2"}]
        sheets = len(master.messages("T-001", "factsheet"))
        here = cell_position((9, 9), CELL_M)
        master.send(
            tugger,
            "instantActions",
            instant(
                action("factsheetRequest", "sheet-1"),
                action(
                    "initPosition", "init-1", x=here[0], y=here[1], theta=0.0, mapId=MAP_ID, lastNodeId="n9_9"
                ),
            ),
        )
        moved = await master.until(master.state_where("T-001", lambda s: s["lastNodeId"] == "n9_9"))
        assert xy(moved) == here and statuses(moved)["init-1"] == "FINISHED"
        await master.until(lambda: len(master.messages("T-001", "factsheet")) > sheets)
        master.send(tugger, "order", order("o-2", [(9, 9), (9, 10)]))  # accepted where it now stands
        await master.until(master.state_where("T-001", lambda s: s["lastNodeId"] == "n9_10"))

    master = play(fleet, scenario, time_scale=2.0)
    assert master.invalid == []


def test_a_broken_connection_leaves_the_last_will_and_the_vehicle_drives_on(fleet: list[Vehicle]) -> None:
    tugger, carrier = fleet
    path = [(2, 2), (3, 2), (4, 2), (5, 2)]

    async def scenario(master: Master, sim: VehicleSimulator) -> None:
        master.send(tugger, "order", order("o-1", path))
        master.send(carrier, "order", order("o-2", [(2, 6), (3, 6), (4, 6), (5, 6)]))
        await master.until(master.state_where("T-001", lambda s: s["lastNodeId"] == "n3_2"))
        sim.break_connection("T-001")
        sim.break_connection("C-001", reconnect=True)
        for serial in ("T-001", "C-001"):
            broken = await master.until(
                lambda s=serial: [
                    m for m in master.messages(s, "connection") if m["connectionState"] == "CONNECTIONBROKEN"
                ]
            )
            assert broken[0]["serialNumber"] == serial
        await asyncio.sleep(3.0)
        assert tugger.last_node_id == "n5_2"  # no broker, but it finished its base (6.2)
        back = await master.until(
            lambda: master.messages("C-001", "connection")[-1]["connectionState"] == "ONLINE", 4.0
        )
        assert back
        arrived = await master.until(master.state_where("C-001", lambda s: s["lastNodeId"] == "n5_6"))
        assert arrived["orderId"] == "o-2"
        assert sim.counters.reconnects == 1

    master = play(fleet, scenario)
    assert master.invalid == []
    # the tugger never came back, so its last word stays the will; the carrier went OFFLINE in order
    assert master.messages("T-001", "connection")[-1]["connectionState"] == "CONNECTIONBROKEN"
    assert master.messages("C-001", "connection")[-1]["connectionState"] == "OFFLINE"


# --- the vehicle alone, on a clock of our own (no broker) ------------------------------------------


def full_order(order_id: str, cells: list[tuple[int, int]], **kw: Any) -> dict[str, Any]:
    header = {"headerId": 0, "timestamp": timestamp(), "version": "2.1.0"}
    return {
        **header,
        "manufacturer": TUGGER.manufacturer,
        "serialNumber": "T-9",
        **order(order_id, cells, **kw),
    }


def drive(v: Vehicle, seconds: float, dt_s: float = 0.2) -> None:
    for _ in range(round(seconds / dt_s)):
        v.advance(dt_s)


@pytest.mark.parametrize(
    ("spoil", "why"),
    [
        (lambda o: o["edges"].pop(), "3 nodes need 2 edges, got 1"),
        (lambda o: o["edges"][0].update(endNodeId="n9_9"), "does not join"),
        (lambda o: o["edges"][1].update(sequenceId=7), "sequenceIds do not rise"),
        (lambda o: o["nodes"][1].update(released=False), "released but one of its nodes is not"),
        (lambda o: o["nodes"][0].update(released=False), "first node 'n2_2' is not released"),
    ],
)
def test_graph_rules_of_an_order_are_checked(spoil: Callable[[dict[str, Any]], Any], why: str) -> None:
    v = vehicle(TUGGER, "T-9", (2, 2))
    message = full_order("o-1", [(2, 2), (3, 2), (4, 2)])
    spoil(message)
    assert v.receive_order(message) == "rejected"
    (error,) = v.errors
    assert error.error_type == "validationError" and why in (error.error_description or "")
    assert v.order_id == "" and v.nodes == []


def test_blocking_types_and_edge_actions() -> None:
    v = vehicle(TUGGER, "T-9", (2, 2))
    on_edge = full_order("o-1", [(2, 2), (3, 2)])
    on_edge["edges"][0]["actions"] = [action("pick", "p-0")]
    assert v.receive_order(on_edge) == "rejected" and "not a EDGE action" in str(
        v.errors[0].error_description
    )
    soft_charge = {**action("startCharging", "c-1"), "blockingType": "NONE"}
    assert (
        v.receive_order(full_order("o-2", [(2, 2), (3, 2), (4, 2)], actions={1: [soft_charge]})) == "accepted"
    )
    drive(v, 1.2)  # NONE: charging switched on at n3_2 without stopping there
    assert v.charging and v.last_node_id == "n3_2" and v.driving
    drive(v, 1.0)
    assert v.last_node_id == "n4_2" and not v.busy


def test_battery_drains_with_distance_more_when_loaded_and_an_empty_one_stops() -> None:
    v = vehicle(TUGGER, "T-9", (2, 2))
    assert v.receive_order(full_order("o-1", [(2, 2), (3, 2), (4, 2)])) == "accepted"
    drive(v, 2.2)
    empty_kwh = TUGGER.battery_kwh - v.kwh
    assert empty_kwh == pytest.approx(2 * CELL_M * TUGGER.drain_kwh_per_m)
    v.loads.append(Load(load_id="kit-1"))
    kwh = v.kwh
    assert v.receive_order(full_order("o-1", [(4, 2), (5, 2)], update=1, first_sequence=4)) == "updated"
    drive(v, 1.2)
    assert kwh - v.kwh == pytest.approx(CELL_M * TUGGER.drain_kwh_per_m * TUGGER.loaded_drain_factor)
    v.kwh = 1e-6
    assert v.receive_order(full_order("o-1", [(5, 2), (6, 2)], update=2, first_sequence=6)) == "updated"
    drive(v, 1.2)
    assert v.last_node_id == "n5_2" and v.kwh == 0.0 and not v.driving
    assert [e.error_type for e in v.errors] == ["batteryEmpty"] and v.errors[0].error_level == "FATAL"
    header = {k: full_order("x", [(5, 2)])[k] for k in ("headerId", "timestamp", "version", "manufacturer")}
    v.receive_instant_actions({**header, "serialNumber": "T-9", "actions": [action("startCharging", "c-1")]})
    drive(v, 1.6)
    assert v.errors == [] and v.last_node_id == "n6_2" and v.charging


def test_the_command_runs_the_plants_agvs_as_vehicles_of_two_makers() -> None:
    interface = f"t{uuid.uuid4().hex[:10]}"
    command = [sys.executable, "-m", "mixflow", "connect", "vda-vehicles", "--scale", "0.05"]
    done = subprocess.run(
        [*command, "--count", "4", "--seconds", "1.5", "--interface", interface],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    counters = json.loads(done.stdout)
    assert counters["vehicles"] == 4 and counters["dropped"] == 0
    assert counters["sent"]["connection"] == 8 and counters["sent"]["factsheet"] == 4
    assert 28 <= counters["sent"]["visualization"] <= 36  # 4 vehicles, 5 Hz, 1.5 s

    async def retained() -> list[tuple[str, str, dict[str, Any]]]:
        master = Master(interface)
        await master.start()  # what is retained arrives at once: connections and factsheets
        await asyncio.sleep(0.5)
        vehicles: list[Vehicle] = []
        makers = {(m["manufacturer"], m["serialNumber"]) for _, _, m in master.heard}
        for maker, serial in makers:
            kind = TUGGER if maker == TUGGER.manufacturer else CARRIER
            vehicles.append(Vehicle(kind, serial, 0.0, 0.0, ""))
        assert master.invalid == []
        await master.clear_retained(vehicles)
        return master.heard

    heard = asyncio.run(retained())
    last_words = {m["serialNumber"]: m["connectionState"] for _, t, m in heard if t == "connection"}
    assert last_words == {f"AGV-{k:03d}": "OFFLINE" for k in range(1, 5)}
    makers = {m["serialNumber"]: m["manufacturer"] for _, t, m in heard if t == "factsheet"}
    assert sorted(set(makers.values())) == ["CarryBot", "TugWerk"] and len(makers) == 4

    refused = subprocess.run([*command, "--count", "999"], capture_output=True, text=True, timeout=60)
    assert refused.returncode == 2
    assert refused.stderr.strip().splitlines() == [
        "mixflow: error: --count: the plant has 36 AGVs; 999 were asked for"
    ]
