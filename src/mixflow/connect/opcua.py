"""OPC UA adapter: speaks for one OPC UA machine in the mixflow topic tree, through its server's outages.

Many machines talk OPC UA, not MQTT. The adapter (asyncua) reads a machine of `MixflowMachineType`
(`opcua_model`) and turns it into the same uplink messages a native MQTT device sends:

- the OPC 40001-1 `MachineryItemState`: its `CurrentState/Id` names a state object, which the adapter
  maps by browse name (learnt from the state machine's type on connecting). OutOfService and
  NotAvailable become `state` down (with `Reason`, and the state as `item_state`, so the plan tells a
  machine switched off from a broken one), NotExecuting and Executing `state` up; entering
  Executing is an `operation_started` event (the machine is busy) for the `OperationId` in work, and
  each increase of `PartsDone` an `operation_done` event.
- the analog items `SpindlePower` and `Temperature` become `telemetry` (`kw`, `temp_c`), converted
  from whatever unit their `EngineeringUnits` name (kW or W, °C or K); a unit the adapter cannot
  convert refuses the link, rather than report watts as kilowatts.

The subscription is historian-friendly: every monitored item asks for a queue (`queue_size`, 64) and
sampling interval 0, so each change between two publishing intervals is delivered, not only the last
one (a cycle that starts and ends within one interval still reports both), and each message carries
the change's source timestamp from the machine, not the time it reached the bridge. A publish groups
its changes by item, so the adapter replays each publish in source-time order (the `Reason` written
before OutOfService is known when the machine is reported down). `DiscardOldest` stays true: should a
queue overflow all the same, the newest value (the machine's current state) survives, which matters
more to the plan than the oldest.

The messages go to a `send(channel, payload)` coroutine: a `DeviceLink.publish_raw` to go through the
broker like any device, or straight into a gateway's `Ingest`. Every payload carries the adapter's
`boot` (its start time in ms), so the gateway takes a restarted bridge's restarted `seq` as a new run.

A server that goes away (or is not up yet) is retried with backoff (0.5 s doubling to 10 s, with
jitter); meanwhile the machine is reported down ("opcua server unreachable", repeated every heartbeat)
and, once the server answers again, up with its subscriptions re-created. Loss shows within about a
second: asyncua's watchdog reads the server state every `watchdog_s` and a closed socket is noticed
at once. An operation finished while the link was down is still reported on reconnect, unless the
server itself restarted (its start time changed: its counters began again).

A server that refuses the link for good (no endpoint with our security, an untrusted certificate, a
wrong user, a machine without the MachineryItemState states or with units it cannot convert) ends
`run()` with `OpcUaRefused`, a one-line reason; retrying could not help.

Commands: `start_operation` calls the machine's `StartOperation` method on the current session and
`stop_operation` its `StopOperation` (the bridge first checks, by `running()`, that the machine
executes the operation the command names, since the method stops whatever runs); a refusal comes back
with its status (`BadInvalidState`). A
command arriving while the server is away is answered at once as rejected ("opcua server
unreachable"), not held: the plan already knows the machine is down and plans around it, and a
held command would start a machine minutes later than planned, when nobody expects it to move.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from asyncua import Client, Node, ua
from asyncua.common.ua_utils import get_node_supertype
from asyncua.crypto.security_policies import SecurityPolicyNone
from asyncua.crypto.uacrypto import CertProperties

from mixflow.connect.opcua_model import (
    DOWN_STATES,
    EXECUTING,
    MACHINERY_ITEM_STATES,
    NAMESPACE,
    NODES,
    START_METHOD,
    STOP_METHOD,
    MachineNodes,
    unece_code,
)
from mixflow.connect.opcua_security import OpcUaSecurity, certificate_uri, file_format
from mixflow.connect.payloads import encode
from mixflow.connect.topics import check_name
from mixflow.errors import MixflowError, ValidationError

Send = Callable[[str, bytes], Awaitable[None]]
log = logging.getLogger("mixflow.connect.opcua")
UNREACHABLE = "opcua server unreachable"
# UNECE code of an analog item's unit -> (scale, offset) into mixflow's kW and °C
CONVERSIONS = {
    "kw": {"KWT": (1.0, 0.0), "WTT": (0.001, 0.0)},
    "temp_c": {"CEL": (1.0, 0.0), "KEL": (1.0, -273.15)},
}
# what a dropped or silent server raises inside asyncua; all worth another try
LINK_ERRORS = (OSError, TimeoutError, ua.UaError)
# what a server answers when it will never take this link as configured
REFUSALS = frozenset(
    getattr(ua.StatusCodes, name)
    for name in (
        "BadSecurityPolicyRejected",
        "BadSecurityModeRejected",
        "BadSecurityChecksFailed",
        "BadCertificateUntrusted",
        "BadCertificateInvalid",
        "BadCertificateUriInvalid",
        "BadCertificateTimeInvalid",
        "BadCertificateRevoked",
        "BadCertificateUseNotAllowed",
        "BadUserAccessDenied",
        "BadIdentityTokenInvalid",
        "BadIdentityTokenRejected",
    )
)

HINTS = {
    "BadCertificateUntrusted": " (the server does not trust the bridge's certificate: add it to its list)",
    "BadUserAccessDenied": " (wrong OPC UA user name or password)",
    "BadIdentityTokenInvalid": " (the server takes no such user: check the OPC UA user name)",
}


class OpcUaRefused(MixflowError):
    """The server will not take this link as configured (security, certificate, identity, address space)."""


@dataclass(frozen=True)
class Backoff:
    """Delays between connection attempts: `first_s` doubling up to `max_s`, each scaled by a random
    factor in [1 - jitter, 1 + jitter] so many bridges do not knock on a restarted server at once."""

    first_s: float = 0.5
    max_s: float = 10.0
    jitter: float = 0.2

    def __post_init__(self) -> None:
        if not 0 < self.first_s <= self.max_s or not 0 <= self.jitter < 1:
            raise ValidationError("backoff", "needs 0 < first_s <= max_s and 0 <= jitter < 1")

    def delay_s(self, attempt: int, rng: random.Random) -> float:
        base = min(self.max_s, self.first_s * 2 ** min(attempt, 30))
        return min(self.max_s, base * rng.uniform(1 - self.jitter, 1 + self.jitter))


class OpcUaAdapter:
    """Bridges one OPC UA machine object to uplink messages until `stop()`."""

    def __init__(
        self,
        endpoint: str,
        machine_id: str,
        send: Send,
        *,
        nodes: MachineNodes = NODES,
        namespace: str = NAMESPACE,
        publishing_interval_ms: int = 50,
        queue_size: int = 64,
        heartbeat_s: float = 5.0,
        security: OpcUaSecurity | None = None,
        user: str | None = None,
        password: str | None = None,
        boot: int | None = None,
        backoff: Backoff = Backoff(),
        watchdog_s: float = 1.0,
        request_timeout_s: float = 2.0,
        session_timeout_s: float = 30.0,
    ) -> None:
        self.endpoint = endpoint
        self.machine_id = check_name("machine_id", machine_id)
        self.send = send
        self.nodes = nodes
        self.namespace = namespace
        self.publishing_interval_ms = publishing_interval_ms
        if queue_size < 1:
            raise ValidationError("queue_size", f"must be at least 1, got {queue_size}")
        self.queue_size = queue_size
        self.heartbeat_s = heartbeat_s
        self.security = security
        self.user, self.password = user, password
        self.boot = time.time_ns() // 1_000_000 if boot is None else boot
        if self.boot < 0:
            raise ValidationError("boot", f"must be a non-negative integer, got {self.boot}")
        self.backoff = backoff
        self.watchdog_s = watchdog_s
        self.request_timeout_s = request_timeout_s
        self.session_timeout_s = session_timeout_s
        self.seq = 0
        self.values: dict[str, Any] = {}
        self.reachable = False
        self.counters: Counter[str] = Counter()
        self.ready = asyncio.Event()  # set while connected and subscribed
        self._rng = random.Random()
        self._stop = asyncio.Event()
        self._changes: asyncio.Queue[tuple[str, Any, float]] = asyncio.Queue()
        self._names: dict[ua.NodeId, str] = {}
        self._states: dict[ua.NodeId, str] = {}  # state object -> its MachineryItemState name
        self._units: dict[str, tuple[float, float]] = {}  # metric -> (scale, offset)
        self._started = ""  # the operation last reported started
        self._machine: Node | None = None
        self._methods: dict[str, ua.NodeId] = {}
        self._server_started: Any = None
        self._next_heartbeat = 0.0

    # asyncua calls this for every data change (every queued one), on the event loop
    def datachange_notification(self, node: Node, value: Any, data: Any) -> None:
        name = self._names.get(node.nodeid)
        if name is not None:
            stamp = data.monitored_item.Value.SourceTimestamp
            t_s = stamp.timestamp() if stamp is not None else time.time()
            self._changes.put_nowait((name, self._decode(name, value), t_s))

    # asyncua calls this when the server ends the subscription (shutdown, timeout): the link is gone
    def status_change_notification(self, status: ua.StatusChangeNotification) -> None:
        self._changes.put_nowait(("", status.Status.name, 0.0))

    def _decode(self, name: str, value: Any) -> Any:
        """A state object's NodeId as its state name; anything else as read."""
        if name != self.nodes.state_machine:
            return value
        return self._states.get(value, f"unknown state {value.to_string() if value else None}")

    def stop(self) -> None:
        self._stop.set()

    # -- uplink ----------------------------------------------------------------------------------------

    async def _emit(self, channel: str, fields: dict[str, Any], t_ms: int | None = None) -> None:
        self.seq += 1
        t = time.time_ns() // 1_000_000 if t_ms is None else t_ms
        payload = {"v": 1, "t": t, "seq": self.seq, "boot": self.boot, **fields}
        await self.send(channel, encode(payload))

    async def _state(self, unreachable: str = UNREACHABLE, t_ms: int | None = None) -> None:
        """The heartbeat: the machine's own state, or down while its server cannot be reached."""
        self._next_heartbeat = time.monotonic() + self.heartbeat_s
        if not self.reachable:
            await self._emit("state", {"status": "down", "reason": unreachable})
            return
        state = str(self.values.get(self.nodes.state_machine))
        if _up(state):
            await self._emit("state", {"status": "up"}, t_ms)
            return
        reason = str(self.values.get(self.nodes.reason) or "")
        fields = {"status": "down", "reason": f"{state}: {reason}" if reason else state}
        if state in DOWN_STATES:  # NotAvailable (switched off) is no fault, OutOfService is
            fields["item_state"] = state
        await self._emit("state", fields, t_ms)

    async def _apply(self, name: str, value: Any, t_ms: int) -> None:
        nodes = self.nodes
        previous = self.values.get(name)
        self.values[name] = value
        if name in (nodes.power_kw, nodes.temperature_c):
            metrics = {
                key: float(self.values[node]) * scale + offset
                for key, node in (("kw", nodes.power_kw), ("temp_c", nodes.temperature_c))
                if node in self.values
                for scale, offset in (self._units[key],)
            }
            await self._emit("telemetry", {"m": metrics}, t_ms)
        elif name == nodes.state_machine and value != previous:
            if value != EXECUTING:
                self._started = ""
            if _up(value) != _up(previous) or not _up(value):  # up and down, not each cycle's busy and idle
                await self._state(t_ms=t_ms)
            await self._operation_started(t_ms)
        elif name == nodes.operation_id:
            await self._operation_started(t_ms)
        elif name == nodes.parts_done and previous is not None and value > previous:
            await self._operation_done(t_ms)

    async def _operation_started(self, t_ms: int | None = None) -> None:
        """Executing with an operation not yet reported: the machine is busy with it (the order in which
        `OperationId` and `CurrentState/Id` arrive does not matter)."""
        operation = str(self.values.get(self.nodes.operation_id) or "")
        if (
            self.values.get(self.nodes.state_machine) == EXECUTING
            and operation
            and operation != self._started
        ):
            self._started = operation
            await self._emit("event", {"type": "operation_started", "operation_id": operation}, t_ms)

    async def _operation_done(self, t_ms: int | None = None) -> None:
        operation = str(self.values.get(self.nodes.operation_id) or "")
        if operation:
            await self._emit("event", {"type": "operation_done", "operation_id": operation}, t_ms)

    # -- the link ------------------------------------------------------------------------------------

    async def run(self) -> None:
        """Bridge until `stop()`, reconnecting with backoff; raises `OpcUaRefused` when the server will
        never take the link (the machine is reported down with that reason first)."""
        attempt = 0
        while not self._stop.is_set():
            connects = self.counters["connects"]
            try:
                await self._session()
                return
            except OpcUaRefused as refused:
                self.reachable = False
                await self._state(f"opcua link refused: {refused}"[:256])
                raise
            except LINK_ERRORS as error:
                if self.counters["connects"] > connects:  # it worked until now: start the backoff over
                    attempt = 0
                delay = self.backoff.delay_s(attempt, self._rng)
                attempt += 1
                log.log(
                    logging.WARNING if attempt == 1 else logging.INFO,  # one warning per outage
                    "%s: %s at %s (%s); retrying in %.1f s",
                    self.machine_id,
                    UNREACHABLE,
                    self.endpoint,
                    _brief(error),
                    delay,
                )
                await self._away(delay)

    async def _away(self, delay_s: float) -> None:
        """Wait `delay_s` (or until stopped), saying every heartbeat that the machine is unreachable."""
        deadline = time.monotonic() + delay_s
        while not self._stop.is_set():
            now = time.monotonic()
            if now >= self._next_heartbeat:
                await self._state()
            if now >= deadline:
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), min(deadline, self._next_heartbeat) - now)

    async def _connect(self) -> Client:
        client = Client(self.endpoint, timeout=self.request_timeout_s, watchdog_intervall=self.watchdog_s)
        client.session_timeout = int(self.session_timeout_s * 1000)
        client.name = client.description = f"mixflow opcua bridge for {self.machine_id}"
        self._check_endpoints(await client.connect_and_get_server_endpoints())
        security = self.security
        if security is not None:
            try:
                security.check()  # files can change under a running bridge
            except ValidationError as error:
                raise OpcUaRefused(str(error)) from None
            client.application_uri = certificate_uri(security.certificate) or client.application_uri
            pinned = security.server_certificate
            await client.set_security(
                security.policy_class,
                _asyncua_file(security.certificate),
                _asyncua_file(security.private_key),
                server_certificate=None if pinned is None else _asyncua_file(pinned),
                mode=security.message_mode,
            )
        if self.user is not None:
            client.set_user(self.user)
            client.set_password(self.password or "")
        try:
            await client.connect()
        except ua.UaStatusCodeError as error:
            if error.code in REFUSALS:
                name = ua.StatusCode(error.code).name
                hint = HINTS.get(name, "")
                raise OpcUaRefused(f"{self.endpoint}: {name}{hint}") from None
            raise
        return client

    def _check_endpoints(self, endpoints: list[ua.EndpointDescription]) -> None:
        """Refuse at once, saying what the server offers, when it has no endpoint with our security."""
        security = self.security
        uri = SecurityPolicyNone.URI if security is None else security.policy_class.URI
        mode = ua.MessageSecurityMode.None_ if security is None else security.message_mode
        if any(e.SecurityPolicyUri == uri and e.SecurityMode == mode for e in endpoints):
            return
        offered = sorted(
            {f"{e.SecurityPolicyUri.rpartition('#')[2]},{e.SecurityMode.name}" for e in endpoints}
        )
        asked = "None" if security is None else security.label
        hint = " (give the bridge a security policy with a certificate and key)" if security is None else ""
        raise OpcUaRefused(f"{self.endpoint} offers {'; '.join(offered)}, the bridge asks {asked}{hint}")

    async def _browse(self, client: Client) -> list[Node]:
        """The machine's variables to watch (its state as `CurrentState/Id`), its state vocabulary, the
        units of its analog items and its methods; a server without them refuses the link."""
        nodes = self.nodes
        names = [
            nodes.state_machine,
            nodes.reason,
            nodes.power_kw,
            nodes.temperature_c,
            nodes.operation_id,
            nodes.parts_done,
        ]
        try:
            index = await client.get_namespace_index(self.namespace)
            machine = await client.nodes.objects.get_child([f"{index}:{self.machine_id}"])
            state_machine = await machine.get_child([f"{index}:{nodes.state_machine}"])
            variables = [
                await state_machine.get_child(["0:CurrentState", "0:Id"]),
                *[await machine.get_child([f"{index}:{name}"]) for name in names[1:]],
            ]
        except ValueError:
            raise OpcUaRefused(f"{self.endpoint} has no namespace {self.namespace}") from None
        except ua.UaStatusCodeError as error:
            if error.code != ua.StatusCodes.BadNoMatch:
                raise
            raise OpcUaRefused(f"{self.endpoint} has no machine {self.machine_id} with {names}") from None
        self._states = await _state_names(state_machine)
        missing = set(MACHINERY_ITEM_STATES) - set(self._states.values())
        if missing:
            raise OpcUaRefused(f"{self.endpoint}: {self.machine_id}'s state machine lacks {sorted(missing)}")
        self._units = {
            "kw": await self._conversion(machine, index, nodes.power_kw, "kw"),
            "temp_c": await self._conversion(machine, index, nodes.temperature_c, "temp_c"),
        }
        self._names = {variable.nodeid: name for variable, name in zip(variables, names, strict=True)}
        self._methods = {}
        for method in (START_METHOD, STOP_METHOD):
            with contextlib.suppress(ua.UaStatusCodeError):  # a machine without it takes no such command
                self._methods[method] = (await machine.get_child([f"{index}:{method}"])).nodeid
        self._machine = machine
        return variables

    async def _conversion(self, machine: Node, index: int, name: str, metric: str) -> tuple[float, float]:
        """(scale, offset) from an analog item's EngineeringUnits into the metric's unit."""
        where = f"{self.endpoint}: {self.machine_id}/{name}"
        try:
            units = await (await machine.get_child([f"{index}:{name}", "0:EngineeringUnits"])).read_value()
        except ua.UaStatusCodeError as error:
            if error.code != ua.StatusCodes.BadNoMatch:
                raise
            raise OpcUaRefused(f"{where} has no EngineeringUnits") from None
        code = unece_code(units)
        if code not in CONVERSIONS[metric]:
            known = ", ".join(sorted(CONVERSIONS[metric]))
            shown = units.DisplayName.Text if units.DisplayName else "?"
            raise OpcUaRefused(
                f"{where} is in {shown!r} (UNECE {code or 'none'}); the bridge converts {known}"
            )
        return CONVERSIONS[metric][code]

    async def _session(self) -> None:
        """One session: browse, read the current values, report, subscribe, pump until stopped or lost."""
        client = await self._connect()
        try:
            variables = await self._browse(client)
            started = await client.get_node(
                ua.NodeId(ua.ObjectIds.Server_ServerStatus_StartTime)
            ).read_value()
            read = await client.read_values(variables)
            values = {
                name: self._decode(name, value)
                for name, value in zip(self._names.values(), read, strict=True)
            }
            self._changes = asyncio.Queue()
            await self._resume(values, started)
            await self._subscribe(client, variables)
            self.counters["connects"] += 1
            self.ready.set()
            log.info("%s: connected to %s", self.machine_id, self.endpoint)
            await self._pump(client)
        except LINK_ERRORS:
            if self.reachable:  # say so at once, before closing what is left of the session
                self.counters["lost"] += 1
                self.reachable = False
                self.ready.clear()
                await self._state()
            raise
        finally:
            self.ready.clear()
            self._machine = None
            with contextlib.suppress(Exception):
                await asyncio.wait_for(client.disconnect(), self.request_timeout_s)

    async def _subscribe(self, client: Client, variables: list[Node]) -> None:
        """One subscription, each variable a monitored item with a queue and sampling interval 0 (see the
        module docstring: historian-friendly)."""
        subscription = await client.create_subscription(self.publishing_interval_ms, self)
        requests = [
            ua.MonitoredItemCreateRequest(
                ItemToMonitor=ua.ReadValueId(NodeId_=variable.nodeid, AttributeId=ua.AttributeIds.Value),
                MonitoringMode_=ua.MonitoringMode.Reporting,
                RequestedParameters=ua.MonitoringParameters(
                    ClientHandle=handle, SamplingInterval=0.0, QueueSize=self.queue_size, DiscardOldest=True
                ),
            )
            for handle, variable in enumerate(variables, start=1)
        ]
        for result in await subscription.create_monitored_items(requests):
            if isinstance(result, ua.StatusCode):
                result.check()

    async def _resume(self, values: dict[str, Any], started: Any) -> None:
        """Take the values read on (re)connecting; report the state, and an operation finished while the
        link was down (same server run: its part counter went up)."""
        parts = self.nodes.parts_done
        missed = (
            started == self._server_started
            and self.values.get(parts) is not None
            and values[parts] > self.values[parts]
        )
        self.values, self._server_started = values, started
        self.reachable = True
        await self._state()
        if missed:
            await self._operation_done()
        await self._operation_started()

    async def _pump(self, client: Client) -> None:
        while not self._stop.is_set():
            await client.check_connection()  # raises what ended the watchdog or the publish loop
            with contextlib.suppress(TimeoutError):
                batch = [await asyncio.wait_for(self._changes.get(), 0.1)]
                while not self._changes.empty():
                    batch.append(self._changes.get_nowait())
                # a publish groups its changes by monitored item: replay them in the machine's order (a
                # Reason written before OutOfService is known when the machine is reported down)
                for name, value, t_s in sorted(batch, key=lambda change: change[2]):
                    if not name:
                        raise ConnectionError(f"subscription ended: {value}")
                    if value != self.values.get(name) or name in (
                        self.nodes.power_kw,
                        self.nodes.temperature_c,
                    ):
                        await self._apply(name, value, int(t_s * 1000))
            if time.monotonic() >= self._next_heartbeat:
                await self._state()

    # -- commands --------------------------------------------------------------------------------------

    async def start_operation(self, operation_id: str, duration_s: float) -> str:
        """Start an operation on the machine now; "" when it took it, else why not (for a rejection)."""
        arguments = (
            ua.Variant(operation_id, ua.VariantType.String),
            ua.Variant(float(duration_s), ua.VariantType.Double),
        )
        return await self._call(START_METHOD, arguments, operation_id)

    def running(self) -> str:
        """The operation the machine is executing, as last heard ("" when it executes none)."""
        if self.values.get(self.nodes.state_machine) != EXECUTING:
            return ""
        return str(self.values.get(self.nodes.operation_id) or "")

    async def stop_operation(self) -> str:
        """Stop the operation in work (its part is not done); "" when the machine did, else why not."""
        return await self._call(STOP_METHOD, (), "the operation in work")

    async def _call(self, method: str, arguments: tuple[ua.Variant, ...], what: str) -> str:
        machine, method_id = self._machine, self._methods.get(method)
        if machine is None or not self.ready.is_set():
            return UNREACHABLE
        if method_id is None:
            return f"machine {self.machine_id} has no {method} method"
        try:
            await machine.call_method(method_id, *arguments)
        except ua.UaStatusCodeError as error:
            return f"machine refused {what}: {ua.StatusCode(error.code).name}"
        except LINK_ERRORS as error:
            return f"{UNREACHABLE} ({_brief(error)})"
        return ""


def _up(state: object) -> bool:
    """Whether a MachineryItemState lets the machine work (NotExecuting or Executing)."""
    return state in MACHINERY_ITEM_STATES and state not in DOWN_STATES


async def _state_names(state_machine: Node) -> dict[ua.NodeId, str]:
    """State object -> MachineryItemState name, from the state machine's type and its supertypes up to
    0:FiniteStateMachineType (a companion spec's subtype may leave the states to its parent)."""
    names: dict[ua.NodeId, str] = {}
    finite = ua.NodeId(ua.ObjectIds.FiniteStateMachineType)
    kind: Node | None = Node(state_machine.session, await state_machine.read_type_definition())
    while kind is not None and kind.nodeid != finite:
        for child in await kind.get_children(
            refs=ua.ObjectIds.HasComponent, nodeclassmask=ua.NodeClass.Object
        ):
            name = (await child.read_browse_name()).Name
            if name in MACHINERY_ITEM_STATES:
                names.setdefault(child.nodeid, name)
        kind = await get_node_supertype(kind)
    return names


def _asyncua_file(path: Path) -> CertProperties:
    return CertProperties(str(path), extension=file_format(path))


def _brief(error: BaseException) -> str:
    """An exception as a short phrase for a log line (some asyncua errors have no message)."""
    return f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
