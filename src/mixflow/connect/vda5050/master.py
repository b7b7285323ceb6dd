"""The VDA 5050 master control: the factory port's fleet commands in, orders out; states in, events out.

It stands where the one "fleet" device stands on the mixflow topic tree, and speaks VDA 5050 2.1 to
every vehicle instead. Pure: no I/O, no clock of its own (`fleet_link` puts it on the broker).

- `submit(commands, at_s)`: `MoveAgvs` extends the base of every vehicle that moves by the cell the
  planner committed (an order update, or a new order where it stands, `orders`), followed by the
  horizon `ahead` gives (`horizon`: the way on to the vehicle's goal, which master control passes:
  its task's pickup, then its drop); `PostTask` and `AssignTask` tell it which part a vehicle
  fetches, so the pickup cell's node carries a `pick` and the drop cell's a `drop` action; `Charge`
  is a `startCharging` instant action (`stopCharging` goes before the next move, spec 6.8.1).
  Messages are made in their wire form (`orders`), one timestamp a batch.
- `receive(topic, payload, at_s)`: a state (schema-checked) gives position, battery, load, errors,
  operating mode and action states; a finished drop is `PartDelivered`; a FATAL error, a mode that
  takes the vehicle out of master control's hands or a broken or closed connection mark it down
  (`AgvDown`: the scheduler hands its task to another vehicle) and their end marks it up again; an
  order the vehicle rejects (a `validationError`, `orderError`, `orderUpdateError` or `noRouteError`
  naming our order) marks it down and, once it stands idle, a new one-node order where it stands is
  sent (6.6.3.1): once it holds that order it is up again. A factsheet gives the vehicle's type.
- `take_events(at_s)`: what the scheduler gets: one `AgvStates` of the vehicles that reported since the
  last call, then the discrete events in the order they happened.
- `vda_states(agv_ids)`: each vehicle's connection and what its last state said of it (driving, paused,
  errors, operating mode, battery), for the plant page; safe to call from another thread.
- `awaiting`: the vehicles sent a base that have not yet reported standing at its end with their pick
  or drop done; the runner holds the next planner step for them (`fleet_link.VdaLink.settled`).

Bad input changes nothing else: a message that fails its schema, one from a vehicle not in the fleet,
or one that is not JSON is refused, counted and logged with the reason.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from itertools import count

import numpy as np

from mixflow.connect.vda5050.horizon import Ahead
from mixflow.connect.vda5050.models import VERSION, Factsheet, timestamp
from mixflow.connect.vda5050.orders import (
    FloorMap,
    Graph,
    VehicleOrder,
    Wire,
    action,
    cell_of_node,
    encode,
    node_id,
)
from mixflow.connect.vda5050.topics import Subtopic, parse_topic, vehicle_topics
from mixflow.connect.vda5050.validation import SchemaValidator, package_validator
from mixflow.errors import ValidationError
from mixflow.model.plant import Cell
from mixflow.model.port import (
    AgvDown,
    AgvStates,
    AgvUp,
    AssignTask,
    Charge,
    Command,
    Event,
    MoveAgvs,
    PartDelivered,
    PostTask,
)
from mixflow.model.work import MaterialTask

_log = logging.getLogger("mixflow.connect.vda5050")

REJECTIONS = frozenset({"validationError", "orderError", "orderUpdateError", "noRouteError"})
"""Errors by which a vehicle refuses an order (spec 6.6.4; noRouteError from practice, 7.1)."""
IN_CONTROL = frozenset({"AUTOMATIC", "SEMIAUTOMATIC"})
"""Operating modes in which master control drives the vehicle (6.10.6, table 1)."""
ANCHOR_PENDING = "?"
"""`anchor` of a vehicle that rejected an order and is not yet idle to be sent one where it stands."""
FRESH_ORDER_AFTER = 32
"""Action states a vehicle keeps until its next new order: past this many, a vehicle found idle at its
decision point gets its next move as a new order, so its state message stays small."""


@dataclass(frozen=True)
class VehicleId:
    """A fleet AGV as VDA 5050 names it."""

    agv_id: str
    manufacturer: str
    serial_number: str


@dataclass(frozen=True)
class Publish:
    """One message for a vehicle: an order or instant actions, QoS 0 and not retained (6.2, 6.5),
    made in its wire form (`body`); `message` decodes it, for whoever looks (tests, logs)."""

    topic: str
    body: bytes
    agv_id: str
    subtopic: Subtopic

    def payload(self) -> bytes:
        return self.body

    @cached_property
    def message(self) -> Wire:
        decoded: Wire = json.loads(self.body)
        return decoded


@dataclass(frozen=True)
class VehicleKind:
    """What a factsheet says of a vehicle's type."""

    series: str
    speed_max_m_s: float
    payload_kg: float
    length_m: float
    width_m: float


@dataclass(frozen=True)
class StateSummary:
    """What a vehicle's last `state` said of its condition, in VDA 5050 2.1 names: what displays show.
    `errors` are (errorLevel, errorType) pairs; `battery_charge` is `batteryState.batteryCharge` (%)."""

    driving: bool
    paused: bool
    charging: bool
    battery_charge: float
    operating_mode: str
    errors: tuple[tuple[str, str], ...]


@dataclass
class Errand:
    """The part a vehicle fetches: where it picks and drops, and which of the two were sent."""

    task: MaterialTask
    pick_id: str = ""
    drop_id: str = ""


@dataclass
class FleetVehicle:
    """Master control's view of one vehicle."""

    ident: VehicleId
    order: VehicleOrder
    signature: str = ""  # the header's last fields in wire form: version, manufacturer, serialNumber
    headers: dict[str, int] = field(default_factory=dict)
    down_because: set[str] = field(default_factory=set)
    told_down: bool = False
    online: bool = False
    errand: Errand | None = None
    charging: bool = False
    handling: dict[str, tuple[str, str]] = field(default_factory=dict)  # action id -> pick/drop, task
    holding: set[str] = field(default_factory=set)  # tasks whose pick finished, drop not yet
    rejected: str = ""  # the order (id/update) whose rejection was answered
    anchor: str = ""  # the order sent after a rejection (held by the vehicle: it is up again)
    anchor_cancel: bool = False  # cancelOrder sent to shed a horizon before that order
    factsheet: VehicleKind | None = None
    cell: Cell | None = None
    soc: float = 1.0
    load: str = ""
    idle_at: str = ""  # the node it reported standing on with nothing left to do ("" driving)
    last_node: str = ""
    heard: dict[str, list[int]] = field(default_factory=dict)  # topic -> first, last headerId, count
    action_states: int = 0
    summary: StateSummary | None = None  # of its last state; replaced whole, so other threads read it


class MasterControl:
    """VDA 5050 master control of one fleet; `floor` maps cells to node positions, `ahead` (if given)
    the cells each vehicle is planned to pass after its decision point: the orders' horizon."""

    def __init__(
        self,
        vehicles: Sequence[VehicleId],
        floor: FloorMap,
        interface: str = "uagv",
        validator: SchemaValidator | None = None,
        ahead: Ahead | None = None,
    ) -> None:
        self.floor = floor
        self.ahead = ahead
        self.interface = interface
        self.validator = validator or package_validator()
        self.vehicles: dict[str, FleetVehicle] = {}
        self.by_name: dict[tuple[str, str], FleetVehicle] = {}
        for ident in vehicles:
            if ident.agv_id in self.vehicles:
                raise ValidationError("VDA 5050 fleet", f"AGV {ident.agv_id} is listed twice")
            signature = encode(
                {"version": VERSION, "manufacturer": ident.manufacturer, "serialNumber": ident.serial_number}
            )[1:-1]
            vehicle = FleetVehicle(ident, VehicleOrder(ident.agv_id), signature)
            self.vehicles[ident.agv_id] = vehicle
            self.by_name[(ident.manufacturer, ident.serial_number)] = vehicle
        self._topics = {
            a: vehicle_topics(v.ident.manufacturer, v.ident.serial_number, interface)
            for a, v in self.vehicles.items()
        }
        self.tasks: dict[str, MaterialTask] = {}
        self.counters = dict.fromkeys(
            (
                "orders",
                "updates",
                "instant_actions",
                "states",
                "visualizations",
                "connections",
                "factsheets",
                "invalid",
                "unknown_vehicle",
                "rejected_orders",
                "skipped_moves",
                "horizons",
                "bad_horizons",
            ),
            0,
        )
        self._ids = count(1)
        self._unknown_seen: set[tuple[str, str]] = set()
        self._events: list[Event] = []
        self._reported: dict[str, FleetVehicle] = {}
        self._ids_cache: tuple[tuple[str, ...], list[FleetVehicle]] | None = None
        self.awaiting: set[str] = set()  # sent a base, not yet reported at its decision point
        self.reached: list[str] = []  # reported at the decision point since the runner last looked

    # -- commands: scheduler -> vehicles ---------------------------------------------------------------
    def submit(self, commands: Iterable[Command], at_s: int) -> list[Publish]:
        """The messages that carry a batch of port commands. Tasks and assignments are taken first, so
        a move onto a pickup cell in the same batch already carries its pick."""
        out: list[Publish] = []
        batch = list(commands)
        stamp = timestamp()  # one for the batch: its messages are made in the same few milliseconds
        for command in batch:
            if isinstance(command, PostTask):
                self.tasks[command.task.id] = command.task
            elif isinstance(command, AssignTask):
                self._assign(command)
        for command in batch:
            if isinstance(command, MoveAgvs):
                self._move(command, stamp, out)
        for command in batch:
            if isinstance(command, Charge):
                self._charge(command, stamp, out)
        return out

    def _assign(self, command: AssignTask) -> None:
        vehicle = self._vehicle(command.agv_id)
        if vehicle is None:
            return
        errand = vehicle.errand
        if errand is not None and errand.pick_id and not errand.drop_id and not command.task_id:
            return  # it holds the part: only a drop or a breakdown ends the errand (as the twin does)
        task = self.tasks.get(command.task_id)
        if command.task_id and task is None:
            _log.warning(
                "AGV %s assigned task %s that was never posted: no pick or drop for it",
                command.agv_id,
                command.task_id,
            )
        kind = vehicle.factsheet
        if task is not None and kind is not None and task.payload_kg > kind.payload_kg:
            _log.warning(
                "AGV %s (%s) carries at most %g kg, task %s weighs %g kg: it will refuse the pick",
                command.agv_id,
                kind.series,
                kind.payload_kg,
                task.id,
                task.payload_kg,
            )
        vehicle.errand = Errand(task) if task is not None else None

    def _move(self, command: MoveAgvs, stamp: str, out: list[Publish]) -> None:
        vehicles = self._in_order(command.agv_ids)
        xs, ys = command.x.tolist(), command.y.tolist()
        for vehicle, x, y in zip(vehicles, xs, ys, strict=True):
            if vehicle.order.end_cell != (x, y):
                self._step(vehicle, (x, y), stamp, out)

    def _step(self, vehicle: FleetVehicle, cell: Cell, stamp: str, out: list[Publish]) -> None:
        order = vehicle.order
        if vehicle.down_because:
            return  # the planner holds a vehicle that is down; what it still moves is its model catching up
        start = order.end_cell if order.open else vehicle.cell
        if start == cell:
            return  # no order held and the vehicle already stands there
        if vehicle.charging:
            vehicle.charging = False
            stop = action("stopCharging", self._action_id("stopCharging"))
            out.append(self._instant(vehicle, [stop], stamp))
        # a new order may start only where the vehicle stands idle (6.6.2): there, one that must pick on
        # the node it stands on gets the pick on the new order's first node, and one whose state grew
        # long sheds its old action states
        errand = vehicle.errand
        pick_here = errand is not None and not errand.pick_id and errand.task.pickup == start
        fresh = not order.open or (
            vehicle.idle_at == node_id(start or cell)
            and (pick_here or vehicle.action_states > FRESH_ORDER_AFTER)
        )
        if start is None or not _neighbours(start, cell):
            if vehicle.cell is None or not _neighbours(vehicle.cell, cell):
                self.counters["skipped_moves"] += 1
                _log.warning(
                    "AGV %s: planned move to %s is no neighbour of %s; not sent",
                    vehicle.ident.agv_id,
                    cell,
                    start,
                )
                return
            start, fresh = vehicle.cell, True  # the planner put it where it reported itself
        first = self._actions_at(vehicle, start) if fresh else []
        then = self._actions_at(vehicle, cell)
        ahead = self._ahead(vehicle, cell)  # after the actions: a pick sent turns the goal to the drop
        if fresh and order.open and order.horizon:
            # it waits at its decision point for an update and would refuse a new order: take its
            # horizon back first (same topic, so it arrives first)
            trim = order.drop_horizon()
            self.counters["updates"] += 1
            out.append(self._order(vehicle, trim, stamp))
        if fresh:
            graph = order.start(self.floor, start, first, cell, then, ahead)
            self.counters["orders"] += 1
        else:
            graph = order.extend(self.floor, cell, then, ahead)
            self.counters["updates"] += 1
        self.counters["horizons"] += bool(ahead)
        self.awaiting.add(vehicle.ident.agv_id)
        out.append(self._order(vehicle, graph, stamp))

    def _ahead(self, vehicle: FleetVehicle, cell: Cell) -> list[Cell]:
        """The horizon after decision point `cell`: `ahead`'s cells up to the first that is no
        neighbour of the one before (counted and logged: a horizon the vehicle could not drive)."""
        if self.ahead is None:
            return []
        way: list[Cell] = []
        previous = cell
        for raw in self.ahead(vehicle.ident.agv_id, cell, _goal(vehicle)):
            nxt = (int(raw[0]), int(raw[1]))
            if not _neighbours(previous, nxt):
                self.counters["bad_horizons"] += 1
                _log.warning(
                    "AGV %s: horizon cell %s is no neighbour of %s; horizon cut there",
                    vehicle.ident.agv_id,
                    nxt,
                    previous,
                )
                break
            way.append(nxt)
            previous = nxt
        return way

    def _actions_at(self, vehicle: FleetVehicle, cell: Cell) -> list[Wire]:
        """The pick on the pickup cell, then the drop on the drop cell, each sent once."""
        errand = vehicle.errand
        if errand is None:
            return []
        task = errand.task
        if not errand.pick_id and cell == task.pickup:
            errand.pick_id = self._action_id("pick")
            vehicle.handling[errand.pick_id] = ("pick", task.id)
            return [
                action(
                    "pick",
                    errand.pick_id,
                    "HARD",
                    stationType="floor",
                    loadType=task.part or "part",
                    loadId=task.id,
                    weight=task.payload_kg,
                )
            ]
        if errand.pick_id and not errand.drop_id and cell == task.dropoff:
            errand.drop_id = self._action_id("drop")
            vehicle.handling[errand.drop_id] = ("drop", task.id)
            return [
                action(
                    "drop",
                    errand.drop_id,
                    "HARD",
                    stationType="floor",
                    loadType=task.part or "part",
                    loadId=task.id,
                    stationName=task.station or node_id(cell),
                )
            ]
        return []

    def _charge(self, command: Charge, stamp: str, out: list[Publish]) -> None:
        vehicle = self._vehicle(command.agv_id)
        if vehicle is None or vehicle.down_because:
            return
        sent_to = vehicle.order.end_cell or vehicle.cell
        if sent_to != tuple(command.charger):
            _log.warning(
                "AGV %s told to charge at %s but sent to %s; not sent",
                command.agv_id,
                command.charger,
                sent_to,
            )
            return
        vehicle.charging = True
        out.append(self._instant(vehicle, [action("startCharging", self._action_id("startCharging"))], stamp))

    # -- instant actions (6.8, 6.9) ----------------------------------------------------------------------
    def cancel_order(self, agv_id: str) -> Publish:
        """cancelOrder: the vehicle stops and drops its order; its next move opens a new one."""
        vehicle = self._known(agv_id)
        vehicle.order.close()
        _forget_errand(vehicle)
        return self._instant(vehicle, [action("cancelOrder", self._action_id("cancelOrder"))])

    def pause(self, agv_id: str) -> Publish:
        return self._instant(self._known(agv_id), [action("startPause", self._action_id("startPause"))])

    def resume(self, agv_id: str) -> Publish:
        return self._instant(self._known(agv_id), [action("stopPause", self._action_id("stopPause"))])

    def init_position(self, agv_id: str, cell: Cell) -> Publish:
        """initPosition: the vehicle stands on `cell` (its node becomes its lastNodeId). A vehicle
        re-posed has an order no more: one still holding a horizon would refuse the new pose (it waits
        for an update, so it has an order, 6.6.2), so it is told to cancel that order first, in the same
        message (instant actions run in their order); one still driving its base refuses, as it should."""
        vehicle = self._known(agv_id)
        actions = []
        if vehicle.order.horizon:
            actions.append(action("cancelOrder", self._action_id("cancelOrder")))
            _forget_errand(vehicle)
        vehicle.order.close()
        vehicle.cell = cell
        x, y = self.floor.position(cell)
        actions.append(
            action(
                "initPosition",
                self._action_id("initPosition"),
                "HARD",
                x=x,
                y=y,
                theta=0.0,
                mapId=self.floor.map_id,
                lastNodeId=node_id(cell),
            )
        )
        return self._instant(vehicle, actions)

    def request_factsheet(self, agv_id: str) -> Publish:
        return self._instant(
            self._known(agv_id), [action("factsheetRequest", self._action_id("factsheetRequest"))]
        )

    # -- messages: vehicles -> master control --------------------------------------------------------
    def receive(self, topic: str, payload: bytes | str, at_s: int) -> list[Publish]:
        """Take one message; returns the answers it calls for (a new order after a rejection, ...)."""
        if not payload:
            return []  # a retained connection or factsheet being cleared: no message
        try:
            where = parse_topic(topic)
        except ValidationError as error:
            return self._refuse("topic", topic, str(error))
        vehicle = self.by_name.get((where.manufacturer, where.serial_number))
        if vehicle is None:
            self.counters["unknown_vehicle"] += 1
            name = (where.manufacturer, where.serial_number)
            if name not in self._unknown_seen:
                self._unknown_seen.add(name)
                _log.warning(
                    "VDA 5050 %s from unknown vehicle %s/%s ignored (not in the fleet)", where.subtopic, *name
                )
            return []
        if where.subtopic == "visualization":  # for displays only (6.13): counted, not checked or used
            self.counters["visualizations"] += 1
            with contextlib.suppress(ValueError, TypeError, AttributeError):
                self._heard(vehicle, "visualization", json.loads(payload).get("headerId"))
            return []
        try:
            message = self.validator.parse(where.subtopic, payload)
        except ValidationError as error:
            return self._refuse(where.subtopic, vehicle.ident.agv_id, str(error))
        if (
            message.get("manufacturer") != where.manufacturer
            or message.get("serialNumber") != where.serial_number
        ):
            return self._refuse(
                where.subtopic, vehicle.ident.agv_id, "header names another vehicle than its topic"
            )
        self._heard(vehicle, where.subtopic, message["headerId"])
        if where.subtopic == "state":
            return self._on_state(vehicle, message, at_s)
        if where.subtopic == "connection":
            return self._on_connection(vehicle, message["connectionState"], at_s)
        if where.subtopic == "factsheet":
            self._on_factsheet(vehicle, message)
        return []

    def _heard(self, vehicle: FleetVehicle, subtopic: str, header_id: object) -> None:
        """Keep the first and last headerId and the count of a vehicle's messages on a topic: the
        header counts up by one per message sent (6.4), so the gaps are messages lost on the way."""
        if type(header_id) is not int:
            return
        seen = vehicle.heard.setdefault(subtopic, [header_id, header_id, 0])
        seen[0], seen[1], seen[2] = min(seen[0], header_id), max(seen[1], header_id), seen[2] + 1

    def lost(self) -> dict[str, int]:
        """Messages per topic the vehicles sent (by their headerIds) between the first and the last
        we received, and we never received (a repeat counts as received)."""
        lost: dict[str, int] = {}
        for vehicle in self.vehicles.values():
            for subtopic, (first, last, heard) in vehicle.heard.items():
                lost[subtopic] = lost.get(subtopic, 0) + max(0, last - first + 1 - heard)
        return lost

    def _refuse(self, what: str, who: str, reason: str) -> list[Publish]:
        self.counters["invalid"] += 1
        _log.warning("VDA 5050 %s of %s refused: %s", what, who, reason)
        return []

    def _on_state(self, vehicle: FleetVehicle, state: Wire, at_s: int) -> list[Publish]:
        self.counters["states"] += 1
        out: list[Publish] = []
        agv = vehicle.ident.agv_id
        position = state.get("agvPosition")
        if position is not None and position["positionInitialized"]:
            vehicle.cell = self.floor.cell_at(position["x"], position["y"])
        elif (cell := cell_of_node(state["lastNodeId"])) is not None:
            vehicle.cell = cell
        battery = state["batteryState"]
        vehicle.soc = min(1.0, max(0.0, battery["batteryCharge"] / 100.0))
        vehicle.summary = StateSummary(
            state["driving"],
            state.get("paused", False),
            battery["charging"],
            battery["batteryCharge"],
            state["operatingMode"],
            tuple((e["errorLevel"], e["errorType"]) for e in state["errors"]),
        )
        loads = state.get("loads") or []
        vehicle.load = str(loads[0].get("loadId", "")) if loads else ""
        vehicle.action_states = len(state["actionStates"])
        # a vehicle left with its horizon only stands at its decision point: idle, as far as moving on
        busy = any(n["released"] for n in state["nodeStates"]) or any(
            a["actionStatus"] not in ("FINISHED", "FAILED") for a in state["actionStates"]
        )
        vehicle.idle_at = "" if busy else state["lastNodeId"]
        vehicle.last_node = state["lastNodeId"]
        self._actions_done(vehicle, state["actionStates"], at_s)
        end = vehicle.order.end_node
        if agv in self.awaiting and end and vehicle.last_node == end and not vehicle.handling:
            self.awaiting.discard(agv)  # there, and done picking or dropping: ready for the next step
            self.reached.append(agv)
        fatal = [e for e in state["errors"] if e["errorLevel"] == "FATAL"]
        self._mark(
            vehicle,
            "fatal",
            bool(fatal),
            at_s,
            "; ".join(f"{e['errorType']}: {e.get('errorDescription', '')}" for e in fatal),
        )
        self._mark(vehicle, "mode", state["operatingMode"] not in IN_CONTROL, at_s, state["operatingMode"])
        rejection = self._rejection(vehicle, state)
        if rejection is not None:
            self._rejected(vehicle, rejection, at_s)
        if vehicle.anchor == ANCHOR_PENDING and not busy:
            out.extend(self._anchor(vehicle, state))
        elif vehicle.anchor and rejection is None and state["orderId"] == vehicle.anchor:
            vehicle.anchor = ""
            self._mark(vehicle, "rejected", False, at_s, "")
        self._reported[agv] = vehicle
        return out

    def _actions_done(self, vehicle: FleetVehicle, states: list[Wire], at_s: int) -> None:
        """Picks and drops that ended: a drop of a part the vehicle picked is a delivery (once: the
        action leaves `handling`), a failed one is logged; the scheduler sees a part that never came
        as overdue and calls it again."""
        if not vehicle.handling:
            return
        for entry in states:
            status = entry["actionStatus"]
            if status not in ("FINISHED", "FAILED") or entry["actionId"] not in vehicle.handling:
                continue
            kind, task_id = vehicle.handling.pop(entry["actionId"])
            agv = vehicle.ident.agv_id
            if status == "FAILED":
                why = entry.get("resultDescription", "no reason given")
                _log.warning("AGV %s: %s of %s failed (%s)", agv, kind, task_id, why)
                vehicle.holding.discard(task_id)
            elif kind == "pick":
                vehicle.holding.add(task_id)
            elif task_id in vehicle.holding:
                vehicle.holding.discard(task_id)
                self._events.append(PartDelivered(at_s, task_id, agv))
            else:
                _log.warning("AGV %s finished the drop of %s without having picked it", agv, task_id)

    def _rejection(self, vehicle: FleetVehicle, state: Wire) -> Wire | None:
        """The error by which the vehicle refuses the order we last sent it (answered once)."""
        order = vehicle.order
        if not order.order_id:
            return None
        for error in state["errors"]:
            if error["errorType"] not in REJECTIONS:
                continue
            refs = {r["referenceKey"]: r["referenceValue"] for r in error.get("errorReferences") or ()}
            if refs.get("orderId", order.order_id) != order.order_id:
                continue  # about an order we no longer send
            key = f"{order.order_id}/{refs.get('orderUpdateId', order.update_id)}"
            if key != vehicle.rejected:
                vehicle.rejected = key
                return error
        return None

    def _rejected(self, vehicle: FleetVehicle, error: Wire, at_s: int) -> None:
        """Reject, re-assign: the vehicle is down (its task goes to another); once it stands idle it is
        sent a one-node order where it stands (6.6.3.1), and holding that, it is up again. A vehicle
        that rejects even that stays down until someone sees to it (its reason is in the log)."""
        self.counters["rejected_orders"] += 1
        agv = vehicle.ident.agv_id
        reason = f"{error['errorType']}: {error.get('errorDescription', 'no description')}"
        again = bool(vehicle.anchor) and vehicle.anchor != ANCHOR_PENDING
        _log.warning(
            "AGV %s rejected order %s update %d (%s): %s",
            agv,
            vehicle.order.order_id,
            vehicle.order.update_id,
            reason,
            "it stays down" if again else "marked down, its task re-assigned",
        )
        self._mark(vehicle, "rejected", True, at_s, reason)
        vehicle.order.close()
        vehicle.anchor = "" if again else ANCHOR_PENDING

    def _anchor(self, vehicle: FleetVehicle, state: Wire) -> list[Publish]:
        """The one-node order where a vehicle that rejected an order stands idle. One still holding a
        horizon of its old order waits for an update and would refuse it (6.6.2, figure 8 step 3):
        it is told to cancel that order first (once), and gets the new one when its state shows none."""
        if state["nodeStates"]:
            if vehicle.anchor_cancel:
                return []
            vehicle.anchor_cancel = True
            return [self.cancel_order(vehicle.ident.agv_id)]
        vehicle.anchor_cancel = False
        here = cell_of_node(state["lastNodeId"]) or vehicle.cell
        if here is None:
            return []
        graph = vehicle.order.start(self.floor, here)
        vehicle.anchor = vehicle.order.order_id
        self.counters["orders"] += 1
        return [self._order(vehicle, graph)]

    def _on_connection(self, vehicle: FleetVehicle, state: str, at_s: int) -> list[Publish]:
        self.counters["connections"] += 1
        agv = vehicle.ident.agv_id
        was_online = vehicle.online
        vehicle.online = state == "ONLINE"
        if not vehicle.online:
            if state == "CONNECTIONBROKEN":
                _log.warning(
                    "AGV %s connection broken (its last will): marked down, its task re-assigned", agv
                )
            self._mark(vehicle, "connection", True, at_s, state)
            vehicle.order.close()
            vehicle.charging = False
            return []
        out: list[Publish] = []
        if not was_online and vehicle.order.order_id:
            out.append(self.cancel_order(agv))  # what it still holds was handed to others
        if vehicle.factsheet is None:
            out.append(self.request_factsheet(agv))
        self._mark(vehicle, "connection", False, at_s, state)
        return out

    def _on_factsheet(self, vehicle: FleetVehicle, message: Wire) -> None:
        self.counters["factsheets"] += 1
        sheet = Factsheet.model_validate(message)
        physical = sheet.physical_parameters
        vehicle.factsheet = VehicleKind(
            sheet.type_specification.series_name,
            physical.speed_max,
            sheet.type_specification.max_load_mass,
            physical.length,
            physical.width,
        )
        step_m_s = self.floor.cell_m  # a planner step is one cell a second
        if physical.speed_max + 1e-9 < step_m_s:
            _log.warning(
                "AGV %s (%s) drives at most %.2f m/s, slower than a cell (%.2f m) a second: it will "
                "lag the plan",
                vehicle.ident.agv_id,
                vehicle.factsheet.series,
                physical.speed_max,
                step_m_s,
            )

    def _mark(self, vehicle: FleetVehicle, why: str, down: bool, at_s: int, detail: str) -> None:
        """Set or clear one reason for the vehicle to be down; the scheduler hears of the first set and
        of the last cleared."""
        if down:
            vehicle.down_because.add(why)
        else:
            vehicle.down_because.discard(why)
        agv = vehicle.ident.agv_id
        if vehicle.down_because and not vehicle.told_down:
            vehicle.told_down = True
            self.awaiting.discard(agv)
            _forget_errand(vehicle)  # the scheduler hands its task to another vehicle
            orderly = detail == "OFFLINE"  # it said goodbye: news, not trouble
            _log.log(logging.INFO if orderly else logging.WARNING, "AGV %s down (%s: %s)", agv, why, detail)
            self._events.append(AgvDown(at_s, agv))
        elif not vehicle.down_because and vehicle.told_down:
            vehicle.told_down = False
            _log.info("AGV %s up again", agv)
            self._events.append(AgvUp(at_s, agv))

    # -- events: vehicles -> scheduler ---------------------------------------------------------------
    def take_events(self, at_s: int) -> list[Event]:
        """The positions, batteries, loads and down marks of every vehicle that reported since the last
        call (one `AgvStates`), then the events that happened, oldest first."""
        events: list[Event] = []
        reported = [v for v in self._reported.values() if v.cell is not None]
        self._reported = {}
        if reported:
            events.append(
                AgvStates(
                    at_s,
                    tuple(v.ident.agv_id for v in reported),
                    np.array([v.cell[0] for v in reported if v.cell is not None], dtype=np.int64),
                    np.array([v.cell[1] for v in reported if v.cell is not None], dtype=np.int64),
                    np.array([v.soc for v in reported]),
                    tuple(v.load for v in reported),
                    tuple(bool(v.down_because) for v in reported),
                )
            )
        events.extend(self._events)
        self._events = []
        return events

    def vda_states(self, agv_ids: Sequence[str]) -> list[tuple[bool, StateSummary | None]]:
        """Per AGV of `agv_ids` (all in the fleet, as `MoveAgvs` needs them): whether its connection is
        ONLINE, and the summary of its last state (None before its first). Reads two attributes the
        link's thread replaces whole, so the plant's thread may call it while messages come in."""
        vehicles = self.vehicles
        return [(v.online, v.summary) for v in (vehicles[a] for a in agv_ids)]

    # -- helpers ---------------------------------------------------------------------------------------
    def _vehicle(self, agv_id: str) -> FleetVehicle | None:
        vehicle = self.vehicles.get(agv_id)
        if vehicle is None:
            _log.warning("command for AGV %s, which is not a VDA 5050 vehicle of this fleet: dropped", agv_id)
        return vehicle

    def _known(self, agv_id: str) -> FleetVehicle:
        vehicle = self.vehicles.get(agv_id)
        if vehicle is None:
            raise ValidationError("VDA 5050 master control", f"AGV {agv_id!r} is not in the fleet")
        return vehicle

    def _in_order(self, agv_ids: tuple[str, ...]) -> list[FleetVehicle]:
        """The vehicles of `agv_ids` (cached for the tuple the planner sends every step)."""
        cache = self._ids_cache
        if cache is not None and cache[0] is agv_ids:
            return cache[1]
        missing = [a for a in agv_ids if a not in self.vehicles]
        if missing:
            raise ValidationError(
                "VDA 5050 master control", f"MoveAgvs names AGVs not in the fleet: {missing[:5]}"
            )
        vehicles = [self.vehicles[a] for a in agv_ids]
        self._ids_cache = (agv_ids, vehicles)
        return vehicles

    def _action_id(self, kind: str) -> str:
        return f"{kind}-{next(self._ids)}"

    def _header(self, vehicle: FleetVehicle, subtopic: str, stamp: str | None = None) -> str:
        """The header's fields in wire form, without braces: the next headerId of the topic, then
        `stamp` (now if not given)."""
        n = vehicle.headers.get(subtopic, 0)
        vehicle.headers[subtopic] = n + 1
        return f'"headerId":{n},"timestamp":"{stamp or timestamp()}",{vehicle.signature}'

    def _instant(self, vehicle: FleetVehicle, actions: list[Wire], stamp: str | None = None) -> Publish:
        self.counters["instant_actions"] += 1
        body = f'{{{self._header(vehicle, "instantActions", stamp)},"actions":{encode(actions)}}}'
        return self._publish(vehicle, "instantActions", body.encode())

    def _order(self, vehicle: FleetVehicle, graph: Graph, stamp: str | None = None) -> Publish:
        """An order message of `graph`, the vehicle's order's id and update."""
        body = vehicle.order.message(self._header(vehicle, "order", stamp), graph)
        return self._publish(vehicle, "order", body)

    def _publish(self, vehicle: FleetVehicle, subtopic: Subtopic, body: bytes) -> Publish:
        """Every message for a vehicle passes here, in its wire form."""
        agv = vehicle.ident.agv_id
        return Publish(self._topics[agv](subtopic), body, agv, subtopic)


def _neighbours(a: Cell, b: Cell) -> bool:
    return abs(a[0] - b[0]) + abs(a[1] - b[1]) == 1


def _goal(vehicle: FleetVehicle) -> Cell | None:
    """Where the vehicle heads, as far as the fleet's commands tell: the pickup of its task until the
    pick is sent, then the drop until that is sent; None without a task or once the drop is sent."""
    errand = vehicle.errand
    if errand is None or errand.drop_id:
        return None
    return errand.task.dropoff if errand.pick_id else errand.task.pickup


def _forget_errand(vehicle: FleetVehicle) -> None:
    """The vehicle's part is no longer its business (down, or its order cancelled)."""
    vehicle.errand = None
    vehicle.handling.clear()
    vehicle.holding.clear()
