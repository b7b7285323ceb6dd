"""The Sparkplug B host application: sessions of edge nodes and devices turned into mixflow telemetry.

Pure like `Ingest`, whose buffers it fills (rows, dead letters, up/down events, alarms), so the gateway
stores and acknowledges Sparkplug messages exactly as its own; the NCMD rebirth requests it wants sent
wait in `requests`. Per edge node it keeps the session the spec defines:

- NBIRTH opens it: `bdSeq`, seq (0..255, then per message +1 modulo 256 across the node and all its
  devices) and the node's metrics by name and alias. It also ends every device's birth: their DBIRTHs
  follow.
- DBIRTH gives a device its metrics by name and alias; NDATA/DDATA then carry values by alias (or name).
- NDEATH (the node's MQTT will) ends the session only when its `bdSeq` is the NBIRTH's: a will of an
  earlier connection arriving late is stale and changes nothing. DDEATH ends one device.

What the spec answers with a rebirth request (NCMD `Node Control/Rebirth` = true) is rejected as a dead
letter with its reason: `not_born` (data or a DBIRTH from a node or device without a birth), `alias` (a
metric never born), `sequence` (a seq jump: messages were lost, so the host's picture is stale). Until
the NBIRTH arrives the node's messages are rejected as `rebirth_pending` and a request is repeated at
most every `rebirth_retry_ms`. Other reasons: `topic`, `malformed`, `stale_death`, `unknown_device` and
`kind` (every message names a registered machine: a device by its Sparkplug device id, node metrics by
the edge node id; the session is kept all the same, so an edge node that is only a gateway box need
not be registered as long as its births carry no data of its own). A message without seq (against the
spec, as some libraries' DDEATH) cannot be ordered: it is taken as it comes and counted.

Mapping: numeric and boolean metrics become telemetry rows named as born (booleans 1.0/0.0), at the
metric's timestamp or else the payload's; `bdSeq`, controls (`Node Control/...`, also under a prefix
such as `CMD/`), properties and metrics born transient are not telemetry. A metric named `State` or
ending in `/State` (`Machine/State`) is the machine's state: boolean or number, false or 0 is down; a
string is down when it is one of `DOWN_WORDS` (any case), up otherwise. Down and up reach the scheduler
as MachineDown/MachineUp through `Ingest`, as do deaths (down, reason `sparkplug death`) and births (up
again). Liveness comes from births and deaths, not from the registry's heartbeat timeout: a Sparkplug
device reports by exception and may rightly stay silent for hours.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from mixflow.connect.ingest import Ingest
from mixflow.connect.sparkplug import codec
from mixflow.connect.sparkplug import sparkplug_b_pb2 as pb

DOWN_WORDS = frozenset(("down", "fault", "faulted", "error", "stopped", "off", "offline", "alarm", "false"))
DEATH = "sparkplug death"
MACHINE = "machine"
NAME_LIMIT = 64  # the telemetry table's metric column
REBIRTH_RETRY_MS = 2_000
CONTROL = ("Node Control/", "Device Control/")  # commands a node takes, not measurements


@dataclass(slots=True)
class Born:
    """One metric as a birth announced it."""

    name: str
    datatype: int
    stored: bool  # becomes a telemetry row
    state: bool  # is the machine's up/down


@dataclass
class Birth:
    """The metrics of one birth (node or device), by alias and by name."""

    by_alias: dict[int, Born] = field(default_factory=dict)
    by_name: dict[str, Born] = field(default_factory=dict)

    def resolve(self, metric: Any) -> Born | None:
        if metric.HasField("alias"):
            return self.by_alias.get(metric.alias)
        return self.by_name.get(metric.name)


@dataclass
class Session:
    """An edge node as the host sees it."""

    bd_seq: int | None = None
    seq: int = 0
    born: bool = False
    stale: bool = False  # a seq jump: waiting for the rebirth asked for
    node: Birth = field(default_factory=Birth)
    devices: dict[str, Birth] = field(default_factory=dict)
    asked_ms: int | None = None  # when a rebirth was last requested


class Rejected(Exception):
    """A Sparkplug message refused: `reason` for the dead letter, and whether to ask for a rebirth."""

    def __init__(self, reason: str, detail: str, rebirth: bool = False) -> None:
        super().__init__(detail)
        self.reason, self.detail, self.rebirth = reason, detail, rebirth


def _is_telemetry(name: str) -> bool:
    """Not the session's `bdSeq`, nor a control such as `Node Control/Rebirth` (also under a prefix,
    as in `CMD/Node Control/Rebirth`), nor a property."""
    return name != codec.BD_SEQ and not name.startswith("Properties/") and not any(c in name for c in CONTROL)


def _is_state(name: str) -> bool:
    return name == "State" or name.endswith("/State")


def _bd_seq(message: Any) -> int | None:
    """The `bdSeq` metric of an NBIRTH or NDEATH, whichever integer field carries it."""
    for metric in message.metrics:
        if metric.name == codec.BD_SEQ:
            field_name = metric.WhichOneof("value")
            return int(getattr(metric, field_name)) if field_name in ("long_value", "int_value") else None
    return None


def _birth(payload: Any) -> tuple[Birth, list[str]]:
    """The metrics a birth announces, and the names too long to store."""
    birth = Birth()
    too_long = []
    for metric in payload.metrics:
        name = metric.name
        datatype = metric.datatype
        telemetry = _is_telemetry(name) and not metric.is_transient  # transient: not to be stored
        if telemetry and len(name) > NAME_LIMIT:
            too_long.append(name)
            telemetry = False
        born = Born(name, datatype, telemetry and datatype in codec.NUMERIC, telemetry and _is_state(name))
        birth.by_name[name] = born
        if metric.HasField("alias"):
            birth.by_alias[metric.alias] = born
    return birth, too_long


class SparkplugHost:
    """The primary host application for one Sparkplug group, feeding one plant's `Ingest`."""

    def __init__(
        self, ingest: Ingest, group: str, host_id: str, rebirth_retry_ms: int = REBIRTH_RETRY_MS
    ) -> None:
        self.ingest = ingest
        self.group = group
        self.host_id = host_id
        self.state_topic = codec.state_topic(host_id)
        self.rebirth_retry_ms = rebirth_retry_ms
        self.sessions: dict[str, Session] = {}
        self.requests: list[tuple[str, bytes]] = []  # NCMD rebirth requests to publish (QoS 0)
        self.state_lost = False  # our own STATE said offline (a will of ours): announce online again
        self._now_ms = 0
        self._state_reasons: dict[str, str] = {}  # machine -> the down reason its State metric set
        self._handlers = {
            "NBIRTH": self._nbirth,
            "NDATA": self._ndata,
            "NDEATH": self._ndeath,
            "DBIRTH": self._dbirth,
            "DDATA": self._ddata,
            "DDEATH": self._ddeath,
        }

    def filters(self) -> list[str]:
        """The subscriptions: the group's uplink message types (not the commands) and our own STATE."""
        prefix = codec.PREFIX + self.group
        node = [f"{prefix}/{kind}/+" for kind in ("NBIRTH", "NDATA", "NDEATH")]
        device = [f"{prefix}/{kind}/+/+" for kind in ("DBIRTH", "DDATA", "DDEATH")]
        return [*node, *device, codec.state_topic(self.host_id)]

    def handle(self, topic: str, payload: bytes, now_ms: int) -> bool:
        """Accept or reject one message (True when accepted); never raises."""
        counters = self.ingest.counters
        counters["received"] += 1
        counters["sparkplug"] += 1
        self._now_ms = now_ms
        where = codec.parse_topic(topic)
        try:
            if where is not None and where.message_type == "STATE":
                self._state(where.edge_node, payload)
                return True
            handler = None
            if where is not None and where.group == self.group:
                handler = self._handlers.get(where.message_type)
            if handler is None or where is None:
                raise Rejected("topic", f"not a Sparkplug B uplink topic of group {self.group!r}")
            try:
                message = codec.decode(payload)
            except ValueError as error:
                raise Rejected("malformed", str(error)) from None
            handler(where, message)
        except Rejected as rejected:
            self.ingest.reject(rejected.reason, topic, rejected.detail, payload)
            if rejected.rebirth and where is not None:
                self._ask_rebirth(where.edge_node)
            return False
        return True

    # -- session ---------------------------------------------------------------------------------

    def _ask_rebirth(self, edge_node: str) -> None:
        session = self.sessions.setdefault(edge_node, Session())
        if session.asked_ms is None or self._now_ms - session.asked_ms >= self.rebirth_retry_ms:
            session.asked_ms = self._now_ms
            self.requests.append(codec.rebirth_request(self.group, edge_node, self._now_ms))
            self.ingest.counters["sparkplug_rebirths_requested"] += 1

    def _in_session(self, where: codec.SparkplugTopic, message: Any) -> Session:
        """The node's session when `message` follows in it; otherwise why not (and ask for a rebirth)."""
        session = self.sessions.get(where.edge_node)
        if session is None or not session.born:
            raise Rejected("not_born", f"edge node {where.edge_node!r} has no NBIRTH (or died since)", True)
        if session.stale:
            raise Rejected("rebirth_pending", f"edge node {where.edge_node!r} lost messages before", True)
        if not message.HasField("seq"):  # against the spec (a DDEATH of some libraries): cannot be ordered
            self.ingest.counters["sparkplug_without_seq"] += 1
            return session
        expected = (session.seq + 1) & 0xFF
        seq = session.seq = message.seq
        if seq != expected:
            session.stale = True
            self.ingest.counters["gaps"] += 1
            raise Rejected("sequence", f"edge node {where.edge_node!r}: seq {seq}, expected {expected}", True)
        return session

    def _nbirth(self, where: codec.SparkplugTopic, message: Any) -> None:
        birth, too_long = _birth(message)
        self.sessions[where.edge_node] = Session(
            bd_seq=_bd_seq(message),
            seq=message.seq,
            born=True,
            node=birth,
        )
        self.ingest.counters["sparkplug_births"] += 1
        self._up(where.edge_node, message, optional=True)
        self._rows(where.edge_node, where, birth, message)
        if too_long:
            raise Rejected("schema", f"not stored, names over {NAME_LIMIT} characters: {', '.join(too_long)}")

    def _ndata(self, where: codec.SparkplugTopic, message: Any) -> None:
        session = self._in_session(where, message)
        self._rows(where.edge_node, where, session.node, message)

    def _ndeath(self, where: codec.SparkplugTopic, message: Any) -> None:
        session = self.sessions.get(where.edge_node)
        bd_seq = _bd_seq(message)
        if session is None or not session.born:
            raise Rejected("not_born", f"NDEATH of edge node {where.edge_node!r}, which is not born")
        if session.bd_seq is not None and bd_seq != session.bd_seq:
            detail = f"NDEATH bdSeq {bd_seq} of {where.edge_node!r} is not its NBIRTH's {session.bd_seq}"
            raise Rejected("stale_death", detail)
        session.born = session.stale = False
        t_ms = self._t_ms(message)
        for device in session.devices:
            self._down(device, t_ms, optional=True)
        session.devices = {}
        self._down(where.edge_node, t_ms, optional=True)

    def _dbirth(self, where: codec.SparkplugTopic, message: Any) -> None:
        session = self._in_session(where, message)
        birth, too_long = _birth(message)
        session.devices[where.device] = birth
        self.ingest.counters["sparkplug_births"] += 1
        self._up(where.device, message)
        self._rows(where.device, where, birth, message)
        if too_long:
            raise Rejected("schema", f"not stored, names over {NAME_LIMIT} characters: {', '.join(too_long)}")

    def _ddata(self, where: codec.SparkplugTopic, message: Any) -> None:
        session = self._in_session(where, message)
        birth = session.devices.get(where.device)
        if birth is None:
            raise Rejected("not_born", f"device {where.device!r} of {where.edge_node!r} has no DBIRTH", True)
        self._rows(where.device, where, birth, message)

    def _ddeath(self, where: codec.SparkplugTopic, message: Any) -> None:
        known = self.sessions.get(where.edge_node)
        if known is None or not known.born:  # its node died first: nothing to ask for
            raise Rejected("not_born", f"DDEATH of a device of {where.edge_node!r}, which is not born")
        session = self._in_session(where, message)
        birth = session.devices.pop(where.device, None)
        if birth is None:
            raise Rejected("not_born", f"DDEATH of device {where.device!r}, which is not born")
        self._down(where.device, self._t_ms(message))

    def _state(self, host_id: str, payload: bytes) -> None:
        """Our own STATE topic: a retained or late `online: false` of ours is answered with online."""
        try:
            online, _ = codec.parse_state(payload)
        except ValueError as error:
            raise Rejected("malformed", str(error)) from None
        if host_id == self.host_id and not online:
            self.state_lost = True

    # -- mapping -----------------------------------------------------------------------------------

    def _machine(self, device_id: str, optional: bool = False) -> bool:
        """Whether `device_id` is a registered machine; when not and not `optional`, why."""
        kind = self.ingest.registry.kind_of(device_id)
        if kind == MACHINE:
            return True
        if optional:
            return False
        if kind is None:
            raise Rejected("unknown_device", f"device {device_id!r} is not registered")
        raise Rejected("kind", f"device {device_id!r} is a {kind}, not a {MACHINE}")

    def _t_ms(self, message: Any) -> int:
        return message.timestamp if message.HasField("timestamp") else self._now_ms

    def _rows(self, device_id: str, where: codec.SparkplugTopic, birth: Birth, message: Any) -> None:
        """Telemetry rows and up/down of one NBIRTH/NDATA/DBIRTH/DDATA (after its session checks); only
        a message with data needs a registered machine."""
        resolved = []
        for metric in message.metrics:
            born = birth.resolve(metric)
            if born is None:
                what = f"alias {metric.alias}" if metric.HasField("alias") else f"name {metric.name!r}"
                raise Rejected("alias", f"{what} was never born in {where.device or where.edge_node!r}", True)
            if born.stored or born.state:
                resolved.append((born, metric))
        if not resolved:
            return
        self._machine(device_id)
        default_ms = self._t_ms(message)
        values: dict[str, float] = {}
        rows = self.ingest.rows
        for born, metric in resolved:
            t_ms = metric.timestamp if metric.HasField("timestamp") else default_ms
            if born.state:
                self._machine_state(device_id, born, metric, t_ms)
            if born.stored:
                value = codec.numeric(born.datatype, metric)
                if value is not None:
                    rows.append((device_id, born.name, t_ms, value))
                    values[born.name] = value
        if values:
            ingest = self.ingest
            ingest.sample_t_ms.append(default_ms)
            ingest.counters["sparkplug_metrics"] += len(values)
            changes = ingest.alarms.observe(device_id, MACHINE, default_ms, values)
            if changes:
                ingest.alarm_changes += changes

    def _machine_state(self, device_id: str, born: Born, metric: Any, t_ms: int) -> None:
        if metric.is_null:
            return
        if born.datatype in codec.TEXT:
            word = metric.string_value
            down = word.strip().lower() in DOWN_WORDS
        elif born.datatype in codec.NUMERIC:
            value = codec.numeric(born.datatype, metric)
            down = not value
            word = str(not down).lower() if born.datatype == pb.Boolean else f"{value:g}"
        else:
            return
        reason = f"{born.name} = {word}"
        before = self._state_reasons.pop(device_id, "")
        if before and before != reason:
            self.ingest.set_down(device_id, MACHINE, before, False, t_ms)
        if down:
            self._state_reasons[device_id] = reason
            self.ingest.set_down(device_id, MACHINE, reason, True, t_ms)

    def _up(self, device_id: str, message: Any, optional: bool = False) -> None:
        """A birth: the machine is alive again (if a death had taken it down)."""
        if self._machine(device_id, optional):
            t_ms = self._t_ms(message)
            self.ingest.set_down(device_id, MACHINE, DEATH, False, t_ms)
            self.ingest.alarm_changes += self.ingest.alarms.liveness(device_id, MACHINE, True, t_ms)

    def _down(self, device_id: str, t_ms: int, optional: bool = False) -> None:
        """A death: the machine is down until its next birth."""
        if self._machine(device_id, optional):
            self.ingest.set_down(device_id, MACHINE, DEATH, True, t_ms)
            self.ingest.alarm_changes += self.ingest.alarms.liveness(device_id, MACHINE, False, t_ms)
