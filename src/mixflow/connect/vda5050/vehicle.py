"""One VDA 5050 vehicle without I/O: the part of the simulator that the spec governs.

It accepts, extends or rejects orders as the spec's figure 8 says (6.6.2, 6.6.4), drives its released
base node by node at its speed and stops at the decision point, runs node actions (pick, drop,
charging) with their blocking types and action states, answers instant actions (cancelOrder,
startPause/stopPause, initPosition, factsheetRequest, stateRequest, charging), drains its battery
with distance and says all of it in its state. Time comes in as `advance(dt_s)`, so the vehicle is
deterministic; `simulator` puts many of them on MQTT with wall-clock timers.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass
from typing import Any, Literal

from mixflow.connect.vda5050.models import (
    MAP_ID,
    VERSION,
    Action,
    ActionState,
    ActionStatus,
    AgvPosition,
    BatteryState,
    Connection,
    ConnectionState,
    Edge,
    EdgeState,
    Error,
    ErrorReference,
    Factsheet,
    Load,
    Node,
    NodeState,
    Order,
    SafetyState,
    State,
    Velocity,
    Visualization,
    VisualizationPosition,
    timestamp,
)
from mixflow.connect.vda5050.validation import SchemaValidator, package_validator

log = logging.getLogger(__name__)

DONE = ("FINISHED", "FAILED")
ORDER_ERRORS = frozenset({"validationError", "orderError", "orderUpdateError", "noOrderToCancel"})
STAND_TOLERANCE_M = 0.1
"""How close to a node counts as standing on it when the order allows no deviation (6.6.1)."""

Outcome = Literal["accepted", "updated", "ignored", "rejected"]
Reply = Literal["state", "factsheet"]


@dataclass(frozen=True)
class VehicleType:
    """A vehicle series: its factsheet (what master control is told) and what the simulation needs
    beyond it (battery, drain per metre, charging power, pick and drop times)."""

    manufacturer: str
    factsheet: Factsheet
    battery_kwh: float
    drain_kwh_per_m: float
    loaded_drain_factor: float
    charge_kw: float
    pick_s: float
    drop_s: float

    @property
    def speed_m_s(self) -> float:
        return self.factsheet.physical_parameters.speed_max

    @property
    def max_load_kg(self) -> float:
        return self.factsheet.type_specification.max_load_mass

    def supports(self, action_type: str, scope: str) -> bool:
        """Whether the factsheet lists the action for that scope (INSTANT, NODE or EDGE)."""
        return any(
            a.action_type == action_type and scope in a.action_scopes
            for a in self.factsheet.protocol_features.agv_actions
        )


class Vehicle:
    """A vehicle on the plant floor map, at `(x, y)` metres, standing on node `last_node_id`."""

    def __init__(
        self,
        kind: VehicleType,
        serial_number: str,
        x: float,
        y: float,
        node_id: str,
        *,
        map_id: str = MAP_ID,
        theta: float = 0.0,
        validator: SchemaValidator | None = None,
    ) -> None:
        self.kind = kind
        self.manufacturer = kind.manufacturer
        self.serial_number = serial_number
        self.validator = validator or package_validator()
        self.x, self.y, self.theta, self.map_id = x, y, theta, map_id
        self.order_id = ""
        self.order_update_id = 0
        self.last_node_id = node_id
        self.last_node_sequence_id = 0
        self.nodes: list[Node] = []  # not yet traversed, base then horizon
        self.edges: list[Edge] = []  # edges[0] leads to nodes[0]
        self.action_states: dict[str, ActionState] = {}
        self._actions: dict[str, Action] = {}
        self._queue: list[Action] = []  # node actions triggered, not started
        self._running: dict[str, float] = {}  # actionId -> seconds left
        self._instant_ids: set[str] = set()
        self._cancel_id: str | None = None  # cancelOrder running until the vehicle stands on a node
        self._canceled = False
        self._accepted: tuple[Any, Any] = ([], [])  # nodes and edges of the last accepted update, as sent
        self.loads: list[Load] = []
        self.errors: list[Error] = []
        self.kwh = kind.battery_kwh
        self.charging = False
        self.paused = False
        self.driving = False
        self.speed = 0.0
        self.distance_since_last_node = 0.0
        self.odometer_m = 0.0
        self.header_ids: dict[str, int] = {}

    # --- orders (6.6.2, 6.6.4) --------------------------------------------------------------

    def receive_order(self, message: Any) -> Outcome:
        """Take an order message (a payload or its dict): accept, stitch, ignore a repeat or reject
        with an error in the state, as figure 8 of the spec says."""
        message, problems = self._check("order", message)
        refs = _refs(message, "order")
        if problems:
            return self._reject("validationError", problems[0], refs)
        order = Order.model_validate(message)
        problem = _graph_problem(order)
        if problem:
            return self._reject("validationError", problem, refs)
        problem = self._cannot_do(order)
        if problem:
            return self._reject("orderError", problem, refs)
        first = order.nodes[0]
        if order.order_id != self.order_id:
            if self.busy:
                why = f"still executing order {self.order_id!r}; cancel it first"
                return self._reject("orderError", why, refs)
            away = self._distance_to(first)
            if away is not None:
                return self._reject("orderError", f"first node {first.node_id!r} is {away:.2f} m away", refs)
            self._start(order)
            self._accepted = (message["nodes"], message["edges"])
            return "accepted"
        if self._canceled:
            return self._reject("orderUpdateError", f"order {order.order_id!r} was canceled", refs)
        if order.order_update_id < self.order_update_id:
            why = f"orderUpdateId {order.order_update_id} is older than {self.order_update_id}"
            return self._reject("orderUpdateError", why, refs)
        if order.order_update_id == self.order_update_id:
            if (message["nodes"], message["edges"]) == self._accepted:  # a repeat (compared as sent)
                return "ignored"
            why = f"orderUpdateId {order.order_update_id} received again with other content"
            return self._reject("orderUpdateError", why, refs)
        stitch = self._decision_point() if self.busy else (self.last_node_id, self.last_node_sequence_id)
        if (first.node_id, first.sequence_id) != stitch:
            why = (
                f"update starts at node {first.node_id!r}/{first.sequence_id}, "
                f"not at the end of the base {stitch[0]!r}/{stitch[1]}"
            )
            return self._reject("orderUpdateError", why, refs)
        self._extend(order)
        self._accepted = (message["nodes"], message["edges"])
        return "updated"

    def _check(self, subtopic: str, message: Any) -> tuple[Any, list[str]]:
        """The message decoded (when it came as a payload) and what breaks its schema."""
        if isinstance(message, bytes | str):
            try:
                message = json.loads(message)
            except ValueError as error:
                return None, [f"not JSON ({error})"]
        return message, self.validator.errors(subtopic, message)

    @property
    def busy(self) -> bool:
        """Executing an order or waiting for its update (nodes left or actions not done)."""
        return bool(self.nodes) or any(s.action_status not in DONE for s in self.action_states.values())

    def _reject(self, error_type: str, why: str, refs: list[ErrorReference]) -> Outcome:
        self.errors = [e for e in self.errors if e.error_type not in ORDER_ERRORS]
        self.errors.append(
            Error(error_type=error_type, error_level="WARNING", error_references=refs, error_description=why)
        )
        log.warning(
            "%s/%s rejects %s: %s: %s",
            self.manufacturer,
            self.serial_number,
            " ".join(f"{r.reference_key}={r.reference_value}" for r in refs),
            error_type,
            why,
        )
        return "rejected"

    def _cannot_do(self, order: Order) -> str | None:
        """Why this vehicle cannot drive the order (6.6.4.2), or None."""
        for node in order.nodes:
            if node.node_position is None:
                return f"node {node.node_id!r} has no nodePosition (this vehicle navigates by position)"
            if node.node_position.map_id != self.map_id:
                return f"node {node.node_id!r} lies on map {node.node_position.map_id!r}, not {self.map_id!r}"
        for scope, items in (("NODE", order.nodes), ("EDGE", order.edges)):
            for item in items:
                for action in item.actions:
                    if not self.kind.supports(action.action_type, scope):
                        what = f"{action.action_type!r} is not a {scope} action here"
                        return f"action {action.action_id!r}: {what}"
                    weight = action.parameter("weight")
                    if isinstance(weight, int | float) and weight > self.kind.max_load_kg:
                        return f"action {action.action_id!r}: {weight:g} kg exceeds maxLoadMass"
        return None

    def _distance_to(self, node: Node) -> float | None:
        """None if the vehicle stands on the node (within its deviation range), else how far it is."""
        position = node.node_position
        assert position is not None
        away = math.hypot(position.x - self.x, position.y - self.y)
        return None if away <= max(position.allowed_deviation_x_y or 0.0, STAND_TOLERANCE_M) else away

    def _decision_point(self) -> tuple[str, int]:
        released = [n for n in self.nodes if n.released]
        if released:
            return released[-1].node_id, released[-1].sequence_id
        return self.last_node_id, self.last_node_sequence_id

    def _start(self, order: Order) -> None:
        keep = {i for i in self._instant_ids if self.action_states[i].action_status not in DONE}
        self.action_states = {i: s for i, s in self.action_states.items() if i in keep}
        self._actions = {i: a for i, a in self._actions.items() if i in keep}
        self._instant_ids = keep
        self._queue.clear()
        self._canceled = False
        self.errors = [e for e in self.errors if e.error_type not in ORDER_ERRORS]
        self.order_id, self.order_update_id = order.order_id, order.order_update_id
        self.nodes, self.edges = list(order.nodes), list(order.edges)
        self._register(self.nodes, self.edges)
        self._traverse()  # the first node is where the vehicle stands

    def _extend(self, order: Order) -> None:
        dropped = [n for n in self.nodes if not n.released] + [e for e in self.edges if not e.released]
        for item in dropped:
            for action in item.actions:
                self.action_states.pop(action.action_id, None)
                self._actions.pop(action.action_id, None)
        self.nodes = [n for n in self.nodes if n.released] + list(order.nodes[1:])
        self.edges = [e for e in self.edges if e.released] + list(order.edges)
        self._register(order.nodes[1:], order.edges)
        self.order_update_id = order.order_update_id
        self.errors = [e for e in self.errors if e.error_type not in ORDER_ERRORS]

    def _register(self, nodes: list[Node], edges: list[Edge]) -> None:
        items: list[Node | Edge] = [*nodes, *edges]
        for item in items:
            for action in item.actions:
                self._actions[action.action_id] = action
                self.action_states[action.action_id] = ActionState(
                    action_id=action.action_id, action_type=action.action_type, action_status="WAITING"
                )

    def _traverse(self) -> None:
        """Pass nodes[0] (and the edge leading to it): report it and trigger its actions (6.10.2)."""
        node = self.nodes.pop(0)
        if self.edges and self.edges[0].end_node_id == node.node_id and len(self.edges) > len(self.nodes):
            self.edges.pop(0)
        self.last_node_id, self.last_node_sequence_id = node.node_id, node.sequence_id
        self.distance_since_last_node = 0.0
        if node.node_position is not None and node.node_position.theta is not None:
            self.theta = node.node_position.theta
        self._queue.extend(a for a in node.actions if a.action_id in self.action_states)

    # --- instant actions (6.8, 6.9) ----------------------------------------------------------

    def receive_instant_actions(self, message: Any) -> set[Reply]:
        """Run instant actions; returns what to publish now (always the state, maybe the factsheet)."""
        replies: set[Reply] = {"state"}
        message, problems = self._check("instantActions", message)
        if problems:
            self._reject("validationError", problems[0], _refs(message, "instantActions"))
            return replies
        for raw in message["actions"]:
            action = Action.model_validate(raw)
            self._actions[action.action_id] = action
            self._instant_ids.add(action.action_id)
            status, result = self._instant(action, replies)
            self.action_states[action.action_id] = ActionState(
                action_id=action.action_id,
                action_type=action.action_type,
                action_status=status,
                result_description=result,
            )
        return replies

    def _instant(self, action: Action, replies: set[Reply]) -> tuple[ActionStatus, str | None]:
        kind = action.action_type
        if not self.kind.supports(kind, "INSTANT"):
            log.warning("%s: instant action %r is not supported", self.serial_number, kind)
            return "FAILED", f"{kind} is not supported"
        if kind == "cancelOrder":
            return self._cancel(action)
        if kind in ("startPause", "stopPause"):
            self.paused = kind == "startPause"
            return "FINISHED", None
        if kind in ("startCharging", "stopCharging"):
            self.charging = kind == "startCharging"
            return "FINISHED", None
        if kind == "initPosition":
            return self._init_position(action)
        if kind == "factsheetRequest":
            replies.add("factsheet")
        return "FINISHED", None  # factsheetRequest, stateRequest: answered by the replies

    def _cancel(self, action: Action) -> tuple[ActionStatus, str | None]:
        """6.6.3: fail what waits or runs, stop on the next node, keep orderId and orderUpdateId."""
        if self._canceled or not self.busy:
            ref = ErrorReference(reference_key="actionId", reference_value=action.action_id)
            self.errors.append(
                Error(
                    error_type="noOrderToCancel",
                    error_level="WARNING",
                    error_references=[ref],
                    error_description="cancelOrder without an order to cancel",
                )
            )
            log.warning("%s: cancelOrder %s without an order", self.serial_number, action.action_id)
            return "FAILED", "no order to cancel"
        for action_id, state in self.action_states.items():
            if state.action_status not in DONE and action_id not in self._instant_ids:
                state.action_status = "FAILED"
        self._queue.clear()
        self._running = {i: t for i, t in self._running.items() if i in self._instant_ids}
        self._canceled = True
        if self.distance_since_last_node > 0 and self.nodes and self.edges:
            self.nodes, self.edges = self.nodes[:1], self.edges[:1]  # drive on to the next node
            self.nodes[0] = self.nodes[0].model_copy(update={"actions": []})
            self._cancel_id = action.action_id
            return "RUNNING", None
        self.nodes, self.edges = [], []
        return "FINISHED", None

    def _init_position(self, action: Action) -> tuple[ActionStatus, str | None]:
        if self.busy:
            return "FAILED", "the vehicle has an order"
        values = {k: action.parameter(k) for k in ("x", "y", "theta", "mapId", "lastNodeId")}
        if not all(isinstance(values[k], int | float) for k in ("x", "y")):
            return "FAILED", "initPosition needs x and y"
        self.x, self.y = float(values["x"]), float(values["y"])
        if isinstance(values["theta"], int | float):
            self.theta = float(values["theta"])
        if isinstance(values["mapId"], str):
            self.map_id = values["mapId"]
        if isinstance(values["lastNodeId"], str):
            self.last_node_id, self.last_node_sequence_id = values["lastNodeId"], 0
        self.distance_since_last_node = 0.0
        return "FINISHED", None

    # --- time ----------------------------------------------------------------------------

    def advance(self, dt_s: float) -> bool:
        """Let `dt_s` seconds pass: run actions, drive, charge. True when something the state
        reports as an event changed (node passed, action state, driving, load, charging)."""
        before = (self.driving, self.charging)
        changed = self._run_actions(dt_s)
        changed |= self._drive(dt_s)
        if self.charging:
            self.kwh = min(self.kind.battery_kwh, self.kwh + self.kind.charge_kw * dt_s / 3600.0)
        empty = any(e.error_type == "batteryEmpty" for e in self.errors)
        if empty != (self.kwh <= 0.0):
            changed = True
            if empty:
                self.errors = [e for e in self.errors if e.error_type != "batteryEmpty"]
            else:
                log.warning("%s/%s: battery empty", self.manufacturer, self.serial_number)
                self.errors.append(
                    Error(
                        error_type="batteryEmpty",
                        error_level="FATAL",
                        error_description="battery empty: charge the vehicle (startCharging)",
                    )
                )
        if self._cancel_id is not None and not self.nodes:
            self.action_states[self._cancel_id].action_status = "FINISHED"
            self._cancel_id = None
            changed = True
        return changed or before != (self.driving, self.charging)

    def _blocked(self) -> bool:
        if self.paused or self.kwh <= 0.0:
            return True
        waiting = (*self._queue, *(self._actions[i] for i in self._running))
        return any(a.blocking_type != "NONE" for a in waiting)

    def _drive(self, dt_s: float) -> bool:
        changed = False
        budget = dt_s
        self.driving = False
        while (
            budget > 1e-9 and self.nodes and self.edges and self.nodes[0].released and self.edges[0].released
        ):
            if self._blocked():
                break
            edge, node = self.edges[0], self.nodes[0]
            position = node.node_position
            assert position is not None
            speed = min(self.kind.speed_m_s, edge.max_speed or math.inf)
            dx, dy = position.x - self.x, position.y - self.y
            gap = math.hypot(dx, dy)
            step = speed * budget
            if gap > 1e-9:
                self.theta = math.atan2(dy, dx)
            moved = min(gap, step)
            if gap > 0:
                self.x += dx * moved / gap
                self.y += dy * moved / gap
            self._drain(moved)
            self.driving, self.speed = True, speed
            budget -= moved / speed
            self.distance_since_last_node += moved
            if step < gap:
                break
            self._traverse()
            changed = True
            changed |= self._run_actions(0.0)
        if self.distance_since_last_node == 0.0 and budget > 1e-9:
            self.driving = False  # arrived with time to spare and nowhere to go: it stands
        if not self.driving:
            self.speed = 0.0
        return changed

    def _drain(self, metres: float) -> None:
        factor = self.kind.loaded_drain_factor if self.loads else 1.0
        self.kwh = max(0.0, self.kwh - self.kind.drain_kwh_per_m * metres * factor)
        self.odometer_m += metres

    def _run_actions(self, dt_s: float) -> bool:
        """Finish what is done, then start queued node actions in order: a HARD one alone, others
        side by side (6.12)."""
        changed = False
        for action_id, left in list(self._running.items()):
            if left - dt_s > 1e-9:
                self._running[action_id] = left - dt_s
            else:
                del self._running[action_id]
                self._finish(action_id)
                changed = True
        while self._queue:
            action = self._queue[0]
            hard_running = any(self._actions[i].blocking_type == "HARD" for i in self._running)
            if hard_running or (action.blocking_type == "HARD" and self._running):
                break
            self._queue.pop(0)
            self.action_states[action.action_id].action_status = "RUNNING"
            changed = True
            seconds = {"pick": self.kind.pick_s, "drop": self.kind.drop_s}.get(action.action_type, 0.0)
            if seconds > 0:
                self._running[action.action_id] = seconds
            else:
                self._finish(action.action_id)
        return changed

    def _finish(self, action_id: str) -> None:
        action = self._actions[action_id]
        if action.action_type == "pick":
            load_id = action.parameter("loadId")
            weight = action.parameter("weight")
            self.loads.append(
                Load(
                    load_id=str(load_id) if load_id is not None else None,
                    load_type=str(action.parameter("loadType") or "part"),
                    weight=float(weight) if isinstance(weight, int | float) else None,
                )
            )
        elif action.action_type == "drop" and self.loads:
            load_id = action.parameter("loadId")
            same = [k for k, load in enumerate(self.loads) if load_id is not None and load.load_id == load_id]
            self.loads.pop(same[0] if same else 0)
        elif action.action_type in ("startCharging", "stopCharging"):
            self.charging = action.action_type == "startCharging"
        self.action_states[action_id].action_status = "FINISHED"

    # --- messages ----------------------------------------------------------------------------

    def next_header(self, subtopic: str) -> int:
        """headerId of the next message on a topic: per topic, +1 per message sent (6.4)."""
        value = self.header_ids.get(subtopic, -1) + 1
        self.header_ids[subtopic] = value
        return value

    @property
    def battery_charge(self) -> float:
        return 100.0 * self.kwh / self.kind.battery_kwh

    def state(self, now: str | None = None) -> State:
        return State(
            header_id=self.next_header("state"),
            timestamp=now or timestamp(),
            manufacturer=self.manufacturer,
            serial_number=self.serial_number,
            order_id=self.order_id,
            order_update_id=self.order_update_id,
            last_node_id=self.last_node_id,
            last_node_sequence_id=self.last_node_sequence_id,
            node_states=[
                NodeState(node_id=n.node_id, sequence_id=n.sequence_id, released=n.released)
                for n in self.nodes
            ],
            edge_states=[
                EdgeState(edge_id=e.edge_id, sequence_id=e.sequence_id, released=e.released)
                for e in self.edges
            ],
            driving=self.driving,
            paused=self.paused,
            new_base_request=bool(self.nodes) and not any(n.released for n in self.nodes[1:]),
            distance_since_last_node=round(self.distance_since_last_node, 3),
            action_states=list(self.action_states.values()),
            battery_state=BatteryState(
                battery_charge=round(self.battery_charge, 2),
                charging=self.charging,
                reach=round(self.kwh / self.kind.drain_kwh_per_m, 1),
            ),
            operating_mode="AUTOMATIC",
            errors=self.errors,
            safety_state=SafetyState(e_stop="NONE", field_violation=False),
            agv_position=self._position(),
            velocity=Velocity(vx=self.speed if self.driving else 0.0, vy=0.0, omega=0.0),
            loads=self.loads,
        )

    def _position(self) -> AgvPosition:
        return AgvPosition(
            x=round(self.x, 3),
            y=round(self.y, 3),
            theta=round(self.theta, 4),
            map_id=self.map_id,
            position_initialized=True,
        )

    def visualization(self, now: str | None = None) -> Visualization:
        return Visualization(
            header_id=self.next_header("visualization"),
            timestamp=now or timestamp(),
            version=VERSION,
            manufacturer=self.manufacturer,
            serial_number=self.serial_number,
            agv_position=VisualizationPosition(
                x=round(self.x, 3),
                y=round(self.y, 3),
                theta=round(self.theta, 4),
                map_id=self.map_id,
                position_initialized=True,
            ),
            velocity=Velocity(vx=self.speed if self.driving else 0.0, vy=0.0, omega=0.0),
        )

    def connection(self, connection_state: ConnectionState, now: str | None = None) -> Connection:
        return Connection(
            header_id=self.next_header("connection"),
            timestamp=now or timestamp(),
            manufacturer=self.manufacturer,
            serial_number=self.serial_number,
            connection_state=connection_state,
        )

    def factsheet(self, now: str | None = None) -> Factsheet:
        return self.kind.factsheet.model_copy(
            update={
                "header_id": self.next_header("factsheet"),
                "timestamp": now or timestamp(),
                "manufacturer": self.manufacturer,
                "serial_number": self.serial_number,
            }
        )


def _refs(message: Any, topic: str) -> list[ErrorReference]:
    """The error references of 7.1: topic, headerId, orderId and orderUpdateId where present."""
    refs = [ErrorReference(reference_key="topic", reference_value=topic)]
    if isinstance(message, dict):
        for key in ("headerId", "orderId", "orderUpdateId"):
            if key in message:
                refs.append(ErrorReference(reference_key=key, reference_value=str(message[key])))
    return refs


def _graph_problem(order: Order) -> str | None:
    """What breaks the order's graph rules (6.6.1), or None: one edge fewer than nodes, edges that
    join their neighbours, sequenceIds rising node-edge-node, nothing released after the horizon."""
    nodes, edges = order.nodes, order.edges
    if not nodes:
        return "an order needs at least one node"
    if len(edges) != len(nodes) - 1:
        return f"{len(nodes)} nodes need {len(nodes) - 1} edges, got {len(edges)}"
    if not nodes[0].released:
        return f"first node {nodes[0].node_id!r} is not released"
    horizon = False
    for k, node in enumerate(nodes):
        if k:
            edge = edges[k - 1]
            if (edge.start_node_id, edge.end_node_id) != (nodes[k - 1].node_id, node.node_id):
                return f"edge {edge.edge_id!r} does not join {nodes[k - 1].node_id!r} to {node.node_id!r}"
            if not nodes[k - 1].sequence_id < edge.sequence_id < node.sequence_id:
                return f"edge {edge.edge_id!r}: sequenceIds do not rise node, edge, node"
            if edge.released and not (nodes[k - 1].released and node.released):
                return f"edge {edge.edge_id!r} is released but one of its nodes is not"
            horizon = horizon or not edge.released
            if horizon and edge.released:
                return f"edge {edge.edge_id!r} is released after the horizon began"
        horizon = horizon or not node.released
        if horizon and node.released:
            return f"node {node.node_id!r} is released after the horizon began"
    return None
