"""Validation of uplink messages into storage rows, factory events, alarms and dead letters.

This is the gateway's pure core: it sees messages (topic, payload) in arrival order and never does
I/O, so tests drive it without a broker. Every message is either accepted or rejected with a reason
that is counted and kept as a dead letter; nothing raises. Reasons: `topic` (not a device topic of
this plant), `unknown_device`, `kind` (topic kind differs from the registry), `oversize`,
`malformed`, `version`, `schema`, `ack` (acknowledges no command sent to that device), `replay` (a
message of an earlier run of the device).

Each device's messages are ordered by (`boot`, `seq`): `boot` grows with every start of the device
agent and `seq` counts up within one run. A higher `boot` is a new run (`reboots`; seq starts again);
within a run a `seq` not above the last one is a duplicate (a QoS 1 re-delivery: counted and dropped,
never stored) and a jump is a gap (`gaps` += 1, `missing` += the sequence numbers skipped), so a loss
anywhere between device and gateway shows per device (`device_stats`) instead of passing silently.

A gap is not yet a loss: after a broker restart, messages the broker queued for a session can reach us
after newer ones (seen with Mosquitto 2.0 when a gateway link reconnects after the devices). Each
device's latest gaps are remembered (`HOLES_KEPT`), and a message that fills one is `late`: stored, and
taken off `missing`, instead of being dropped as a duplicate of what was never stored.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from mixflow.connect import topics
from mixflow.connect.alarms import AlarmChange, AlarmEngine
from mixflow.connect.commands import CommandTracker, Outgoing
from mixflow.connect.payloads import Ack, DeviceEvent, PayloadError, State, Telemetry, decode
from mixflow.connect.registry import Registry
from mixflow.errors import ValidationError
from mixflow.model import Order
from mixflow.model.port import (
    OUT_OF_SERVICE,
    AgvBatteryLow,
    AgvDown,
    AgvStates,
    AgvUp,
    DeliveryConfirmed,
    Event,
    GoodsReceived,
    LineStopped,
    MachineDown,
    MachineUp,
    OperationDone,
    OperationStarted,
    OrderPlaced,
    PartDelivered,
    StockOut,
    TruckDelivered,
    TruckOffLine,
)
from mixflow.store.telemetry import Row

DEAD_LETTER_EXCERPT = 256
HELD_LIMIT = 10_000
"""Messages of unknown devices held at most until the registry is re-read; beyond, refused at once."""
SEQUENCE_FIGURES = ("gaps", "missing", "duplicates", "reboots", "late")
HOLES_KEPT = 64
"""Gaps remembered per device (oldest forgotten first): a message later than that many gaps is a duplicate."""


@dataclass(frozen=True)
class DeadLetter:
    """A rejected message: why, where it came from, and the first bytes of what it said."""

    reason: str
    topic: str
    detail: str
    excerpt: bytes


def order_from_map(data: dict[str, Any]) -> Order:
    """An order as the line controller announces it (the fields of `mixflow.model.Order`)."""
    promised = data.get("promised_s")
    return Order(
        str(data["id"]),
        str(data["customer"]),
        {str(k): str(v) for k, v in dict(data["configuration"]).items()},
        int(data["placed_s"]),
        int(data["requested_s"]),
        None if promised is None else int(promised),
        int(data.get("priority", 0)),
    )


def agv_states_from_map(at_s: int, data: dict[str, Any]) -> AgvStates:
    """The fleet controller's report of every AGV (equal-length lists; `load`, the task each carries, and
    `down` are optional)."""
    ids, x, y, soc = data["agv_ids"], data["x"], data["y"], data["soc"]
    load, down = data.get("load", []), data.get("down", [])
    sizes = {len(ids), len(x), len(y), len(soc)} | {len(extra) for extra in (load, down) if extra}
    if len(sizes) > 1:
        raise PayloadError("schema", "agv_states needs equal-length agv_ids, x, y, soc, load and down")
    return AgvStates(
        at_s,
        tuple(map(str, ids)),
        np.asarray(x, dtype=np.int64),
        np.asarray(y, dtype=np.int64),
        np.asarray(soc, dtype=np.float64),
        tuple(map(str, load)),
        tuple(map(bool, down)),
    )


class Ingest:
    """Turns uplink messages into rows, events and alarms; keeps the counters."""

    def __init__(
        self,
        registry: Registry,
        alarms: AlarmEngine | None = None,
        tracker: CommandTracker | None = None,
        epoch_ms: int = 0,
    ) -> None:
        self.registry = registry
        self.plant = registry.plant
        self.alarms = AlarmEngine() if alarms is None else alarms
        self.tracker = tracker or CommandTracker()
        self.epoch_ms = epoch_ms
        self.counters: Counter[str] = Counter()
        self.rows: list[Row] = []
        self.sample_t_ms: list[int] = []  # send time of each accepted telemetry message (for latency)
        self.events: list[Event] = []
        self.alarm_changes: list[AlarmChange] = []
        self.dead: list[DeadLetter] = []
        self.escalated: list[Outgoing] = []
        self.last_seq: dict[str, tuple[int, int]] = {}  # (boot, seq) of each device's latest message
        # last_seq entries changed since the gateway took them: stored with the batch (see storing.py)
        self.marks: dict[str, tuple[int, int]] = {}
        self._sequence_stats: dict[str, Counter[str]] = {}
        self._holes: dict[str, list[list[int]]] = {}  # per device: [boot, first, last] of its latest gaps
        self.agv_state: dict[str, tuple[int, float, float, float]] = {}
        self.agv_load: dict[str, str] = {}  # the last load each AGV said it carries, if it says so
        self._down: dict[str, set[str]] = {}
        self._item_state: dict[str, str] = {}  # a down machine's MachineryItemState, as last heard
        self._topics: dict[str, tuple[str, str, str]] = {}
        # when a list: messages of devices we do not know yet, held for the gateway to look them up in
        # the store (a device provisioned while it runs) before they are refused
        self.held: list[tuple[str, bytes]] | None = None
        # the gateway's clock when the messages being handled arrived: liveness goes by when we hear a
        # device, not by its own clock (a backlog drained after an outage is not silence, a device
        # whose clock is wrong is not offline); None: by the messages' own times
        self.received_ms: int | None = None

    def at_s(self, t_ms: int) -> int:
        return max(0, (t_ms - self.epoch_ms) // 1000)

    def reject(self, reason: str, topic: str, detail: str, payload: bytes) -> None:
        self.counters["rejected"] += 1
        self.counters[f"rejected_{reason}"] += 1
        self.dead.append(DeadLetter(reason, topic, detail, payload[:DEAD_LETTER_EXCERPT]))

    def handle(self, topic: str, payload: bytes) -> bool:
        """Accept or reject one message; True when accepted (duplicates count as accepted)."""
        self.counters["received"] += 1
        known = self._topics.get(topic)
        if known is None:
            where = topics.parse(topic)
            if where is None or where.plant != self.plant or where.channel == "cmd":
                self.reject("topic", topic, "not an uplink device topic of this plant", payload)
                return False
            known_kind = self.registry.kind_of(where.device_id)
            if known_kind is None and self.held is not None and len(self.held) < HELD_LIMIT:
                self.held.append((topic, payload))  # the gateway re-reads the registry, then decides
                return False
            if known_kind is None:
                self.reject("unknown_device", topic, f"device {where.device_id!r} is not registered", payload)
                return False
            if known_kind != where.kind:
                detail = f"device {where.device_id!r} is a {known_kind}, not a {where.kind}"
                self.reject("kind", topic, detail, payload)
                return False
            known = (where.device_id, known_kind, where.channel)
            self._topics[topic] = known  # only topics of registered devices: bounded by the registry
        device_id, known_kind, channel = known
        try:
            data = decode(payload)
            if channel == "ack":
                ack = Ack.parse(data)
                self._seen(device_id, known_kind, ack.t_ms)
                outcome = self.tracker.acknowledge(device_id, ack)
                if outcome == "unknown":
                    detail = f"no command {ack.command_id!r} was sent to {device_id!r}"
                    self.reject("ack", topic, detail, payload)
                    return False
                self.counters["acks" if outcome == "settled" else "late_acks"] += 1
                return True
            message: Telemetry | State | DeviceEvent
            if channel == "telemetry":
                message = Telemetry.parse(data)
            elif channel == "state":
                message = State.parse(data)
            else:
                message = DeviceEvent.parse(data)
        except PayloadError as error:
            self.reject(error.reason, topic, error.message, payload)
            return False
        except (TypeError, ValueError, KeyError, AttributeError) as error:  # a shape no rule foresaw
            self.reject("schema", topic, f"{type(error).__name__}: {error}", payload)
            return False
        boot, seq = message.boot, message.seq
        last = self.last_seq.get(device_id)
        if last is not None and (seq != last[1] + 1 or boot != last[0]):  # in step: two comparisons
            step = self._out_of_step(device_id, boot, seq, last)
            if step == "duplicate":
                return True
            if step == "replay":
                detail = (
                    f"boot {boot} seq {seq} is from an earlier run of {device_id!r} "
                    f"(now boot {last[0]} seq {last[1]})"
                )
                self.reject("replay", topic, detail, payload)
                return False
            if step == "accept":
                self.last_seq[device_id] = self.marks[device_id] = (boot, seq)
        else:
            self.last_seq[device_id] = self.marks[device_id] = (boot, seq)
        self._seen(device_id, known_kind, message.t_ms)
        self.counters[channel] += 1
        if isinstance(message, Telemetry):
            self._telemetry(device_id, known_kind, message)
        elif isinstance(message, State):
            self._state(device_id, known_kind, message)
        else:
            try:
                self._event(device_id, message)
            except (ValidationError, PayloadError, KeyError, TypeError, ValueError) as error:
                self.reject("schema", topic, f"event {message.type!r}: {error}", payload)
                return False
        return True

    def _out_of_step(
        self, device_id: str, boot: int, seq: int, last: tuple[int, int]
    ) -> Literal["accept", "late", "duplicate", "replay"]:
        """Classify a message that does not follow the device's last one: `late` (it fills a gap: keep
        it, the last one stays the latest), `duplicate` (drop it), `replay` (reject it) or `accept`,
        after counting the gap or the new run it shows."""
        last_boot, last_seq = last
        if (boot, seq) <= (last_boot, last_seq):
            if self._fill(device_id, boot, seq):
                self._count(device_id, "late", 1)
                self._count(device_id, "missing", -1)
                return "late"
            if boot < last_boot:
                return "replay"
            self._count(device_id, "duplicates", 1)
            return "duplicate"
        if boot == last_boot:
            first = last_seq + 1
        else:
            self._count(device_id, "reboots", 1)
            first = 1  # a new run counts from 1
        if seq > first:
            self._count(device_id, "gaps", 1)
            self._count(device_id, "missing", seq - first)
            holes = self._holes.setdefault(device_id, [])
            holes.append([boot, first, seq - 1])
            del holes[:-HOLES_KEPT]
        return "accept"

    def _fill(self, device_id: str, boot: int, seq: int) -> bool:
        """Take (boot, seq) out of the device's remembered gaps; False if it lies in none."""
        holes = self._holes.get(device_id, [])
        for k, (hole_boot, first, last) in enumerate(holes):
            if hole_boot == boot and first <= seq <= last:
                rest = [[boot, a, b] for a, b in ((first, seq - 1), (seq + 1, last)) if a <= b]
                holes[k : k + 1] = rest
                return True
        return False

    def _count(self, device_id: str, figure: str, n: int) -> None:
        self.counters[figure] += n
        self._sequence_stats.setdefault(device_id, Counter())[figure] += n

    def device_stats(self) -> dict[str, dict[str, int]]:
        """Per device that has sent since this gateway started: its gaps, messages missing in them,
        duplicates dropped and reboots seen (`SEQUENCE_FIGURES`)."""
        empty: Counter[str] = Counter()
        stats = self._sequence_stats
        return {
            device_id: {figure: stats.get(device_id, empty)[figure] for figure in SEQUENCE_FIGURES}
            for device_id in sorted(self.last_seq)
        }

    def _seen(self, device_id: str, kind: str, t_ms: int) -> None:
        if self.registry.seen(device_id, t_ms if self.received_ms is None else self.received_ms):
            self.alarm_changes += self.alarms.liveness(device_id, kind, True, t_ms)
            self.set_down(device_id, kind, "offline", False, t_ms)

    def _telemetry(self, device_id: str, kind: str, message: Telemetry) -> None:
        t_ms = message.t_ms
        metrics = message.metrics
        self.rows.extend([(device_id, name, t_ms, float(value)) for name, value in metrics.items()])
        self.sample_t_ms.append(t_ms)
        if kind == "agv" and "x" in metrics and "y" in metrics and "soc" in metrics:
            self.agv_state[device_id] = (
                t_ms,
                float(metrics["x"]),
                float(metrics["y"]),
                float(metrics["soc"]),
            )
        changes = self.alarms.observe(device_id, kind, t_ms, metrics)
        if changes:
            self.alarm_changes += changes

    def _state(self, device_id: str, kind: str, message: State) -> None:
        if kind == "agv" and message.load is not None:
            self.agv_load[device_id] = message.load
        if message.status == "down":
            reason = message.reason or "reported down"
            self.set_down(device_id, kind, reason, True, message.t_ms, message.item_state)
            return
        for reason in list(self._down.get(device_id, ())):
            if reason != "offline":
                self.set_down(device_id, kind, reason, False, message.t_ms)

    def set_down(
        self, device_id: str, kind: str, reason: str, down: bool, t_ms: int, state: str | None = None
    ) -> None:
        """Keep the reasons a device is down; report Down on the first and Up when none is left (public:
        the Sparkplug host reports births, deaths and states through it too). A machine's own report
        names its down `state` (None: not said, as for silence: what it said before, else
        OutOfService); a machine already down that moves to the other down state (switched off, then
        broken) is reported down again in its new state, since the plan counts only one as a fault."""
        reasons = self._down.setdefault(device_id, set())
        was_down = bool(reasons)
        if down:
            reasons.add(reason)
        else:
            reasons.discard(reason)
        at = self.at_s(t_ms)
        if kind not in ("machine", "agv", "opcua"):
            return
        machine = kind != "agv"
        known = self._item_state.get(device_id)
        if machine and down:
            self._item_state[device_id] = state or known or OUT_OF_SERVICE
        if was_down == bool(reasons):
            now_in = self._item_state.get(device_id)
            if machine and down and known is not None and now_in != known:
                self.events.append(MachineDown(at, device_id, reason, state=now_in or OUT_OF_SERVICE))
            return
        if reasons:
            self.events.append(
                AgvDown(at, device_id)
                if kind == "agv"
                else MachineDown(at, device_id, reason, state=self._item_state[device_id])
            )
        else:
            self._item_state.pop(device_id, None)
            self.events.append(AgvUp(at, device_id) if kind == "agv" else MachineUp(at, device_id))

    def _event(self, device_id: str, message: DeviceEvent) -> None:
        at = self.at_s(message.t_ms)
        f = message.fields
        kind = message.type
        event: Event
        if kind == "operation_started":
            event = OperationStarted(at, f["operation_id"], device_id)
        elif kind == "operation_done":
            event = OperationDone(at, f["operation_id"], device_id)
        elif kind == "part_delivered":
            event = PartDelivered(at, f["task_id"], device_id)
        elif kind == "battery_low":
            event = AgvBatteryLow(at, device_id, message.soc)
        elif kind == "line_stopped":
            event = LineStopped(at, f["station_id"], f["order_id"], f["cause"], device_id)
        elif kind == "truck_off_line":
            event = TruckOffLine(at, f["order_id"], device_id)
        elif kind == "truck_delivered":
            event = TruckDelivered(at, f["order_id"])
        elif kind == "order_placed":
            event = OrderPlaced(at, order_from_map(message.data["order"]))
        elif kind == "delivery_confirmed":
            event = DeliveryConfirmed(at, f["po_id"], message.data["due_s"])
        elif kind == "goods_received":
            event = GoodsReceived(at, f["po_id"], f["item"], message.data["qty"], message.data["dock"])
        elif kind == "stock_out":
            event = StockOut(at, f["item"], f["task_id"])
        else:
            event = agv_states_from_map(at, message.data)
        self.events.append(event)

    # -- gateway clock -------------------------------------------------------------------------------

    def tick(self, now_ms: int, hearing: bool = True) -> list[Outgoing]:
        """Heartbeat sweep and command deadlines at `now_ms`; returns the commands to re-send.

        While the gateway cannot hear (`hearing` False: its broker links are down, or it stopped
        reading for the store), silence says nothing about a device and a missing ack nothing about a
        command: liveness clocks and ack deadlines restart instead of raising offline alarms and
        escalations for the whole plant."""
        if not hearing:
            self.registry.excuse(now_ms)
            self.tracker.postpone(now_ms)
            return []
        for device_id in self.registry.sweep(now_ms):
            kind = self.registry.kind_of(device_id) or ""
            self.alarm_changes += self.alarms.liveness(device_id, kind, False, now_ms)
            self.set_down(device_id, kind, "offline", True, now_ms)
        resend, escalate = self.tracker.due(now_ms)
        for outgoing in escalate:
            self.counters["escalated"] += 1
            self.escalated.append(outgoing)
            message = f"command {outgoing.message.command_id} ({outgoing.message.type}) not acknowledged"
            self.alarm_changes.append(
                AlarmChange(outgoing.device_id, "command_unacknowledged", True, now_ms, 0, message)
            )
            self.set_down(outgoing.device_id, outgoing.kind, "no command ack", True, now_ms)
        self.counters["resent"] += len(resend)
        return resend

    def take_events(self) -> list[Event]:
        """Events since the last call, AGV positions folded into one AgvStates, in time order."""
        events = self.events
        self.events = []
        if self.agv_state:
            ids = tuple(sorted(self.agv_state))
            states = [self.agv_state[i] for i in ids]
            at = self.at_s(max(s[0] for s in states))
            x = np.array([s[1] for s in states])
            y = np.array([s[2] for s in states])
            soc = np.array([s[3] for s in states])
            load = tuple(self.agv_load.get(i, "") for i in ids) if self.agv_load else ()
            events.append(AgvStates(at, ids, x, y, soc, load))
            self.agv_state = {}
        events.sort(key=lambda event: event.at_s)
        return events
