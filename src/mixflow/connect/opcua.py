"""OPC UA adapter: speaks for one OPC UA machine in the mixflow topic tree, through its server's outages.

Many machines talk OPC UA, not MQTT. The adapter (asyncua) subscribes to data changes of the nodes
named in `MachineNodes` and turns them into the same uplink messages a native MQTT device sends:
power and temperature become `telemetry`, `State`/`Reason` become `state` (heartbeats, down/up),
and each increase of `PartsDone` becomes an `operation_done` event for the `OperationId` in work.
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
wrong user) ends `run()` with `OpcUaRefused`, a one-line reason; retrying could not help.

Commands: `start_operation` calls the machine's `StartOperation` method on the current session. A
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
from asyncua.crypto.security_policies import SecurityPolicyNone
from asyncua.crypto.uacrypto import CertProperties

from mixflow.connect.opcua_machine import NAMESPACE, NODES, START_METHOD, MachineNodes
from mixflow.connect.opcua_security import OpcUaSecurity, certificate_uri, file_format
from mixflow.connect.payloads import encode
from mixflow.connect.topics import check_name
from mixflow.errors import MixflowError, ValidationError

Send = Callable[[str, bytes], Awaitable[None]]
log = logging.getLogger("mixflow.connect.opcua")
UNREACHABLE = "opcua server unreachable"
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
        self._changes: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        self._names: dict[ua.NodeId, str] = {}
        self._machine: Node | None = None
        self._start_method: ua.NodeId | None = None
        self._server_started: Any = None
        self._next_heartbeat = 0.0

    # asyncua calls this for every data change, on the event loop
    def datachange_notification(self, node: Node, value: Any, data: Any) -> None:
        name = self._names.get(node.nodeid)
        if name is not None:
            self._changes.put_nowait((name, value))

    # asyncua calls this when the server ends the subscription (shutdown, timeout): the link is gone
    def status_change_notification(self, status: ua.StatusChangeNotification) -> None:
        self._changes.put_nowait(("", status.Status.name))

    def stop(self) -> None:
        self._stop.set()

    # -- uplink ----------------------------------------------------------------------------------------

    async def _emit(self, channel: str, fields: dict[str, Any]) -> None:
        self.seq += 1
        payload = {"v": 1, "t": time.time_ns() // 1_000_000, "seq": self.seq, "boot": self.boot, **fields}
        await self.send(channel, encode(payload))

    async def _state(self, unreachable: str = UNREACHABLE) -> None:
        """The heartbeat: the machine's own state, or down while its server cannot be reached."""
        self._next_heartbeat = time.monotonic() + self.heartbeat_s
        if not self.reachable:
            await self._emit("state", {"status": "down", "reason": unreachable})
            return
        status = "down" if self.values.get(self.nodes.state) == "down" else "up"
        fields: dict[str, Any] = {"status": status}
        if status == "down" and self.values.get(self.nodes.reason):
            fields["reason"] = str(self.values[self.nodes.reason])
        await self._emit("state", fields)

    async def _apply(self, name: str, value: Any) -> None:
        nodes = self.nodes
        previous = self.values.get(name)
        self.values[name] = value
        if name in (nodes.power_kw, nodes.temperature_c):
            metrics = {
                key: float(self.values[node])
                for key, node in (("kw", nodes.power_kw), ("temp_c", nodes.temperature_c))
                if node in self.values
            }
            await self._emit("telemetry", {"m": metrics})
        elif name == nodes.state and value != previous:
            await self._state()
        elif name == nodes.parts_done and previous is not None and value > previous:
            await self._operation_done()

    async def _operation_done(self) -> None:
        operation = str(self.values.get(self.nodes.operation_id) or "")
        if operation:
            await self._emit("event", {"type": "operation_done", "operation_id": operation})

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
        names = [
            self.nodes.state,
            self.nodes.reason,
            self.nodes.power_kw,
            self.nodes.temperature_c,
            self.nodes.operation_id,
            self.nodes.parts_done,
        ]
        try:
            index = await client.get_namespace_index(self.namespace)
            machine = await client.nodes.objects.get_child([f"{index}:{self.machine_id}"])
            variables = [await machine.get_child([f"{index}:{name}"]) for name in names]
        except ValueError:
            raise OpcUaRefused(f"{self.endpoint} has no namespace {self.namespace}") from None
        except ua.UaStatusCodeError as error:
            if error.code != ua.StatusCodes.BadNoMatch:
                raise
            raise OpcUaRefused(f"{self.endpoint} has no machine {self.machine_id} with {names}") from None
        self._names = {variable.nodeid: name for variable, name in zip(variables, names, strict=True)}
        with contextlib.suppress(ua.UaStatusCodeError):  # a machine without the method takes no commands
            self._start_method = (await machine.get_child([f"{index}:{START_METHOD}"])).nodeid
        self._machine = machine
        return variables

    async def _session(self) -> None:
        """One session: browse, read the current values, report, subscribe, pump until stopped or lost."""
        client = await self._connect()
        try:
            variables = await self._browse(client)
            started = await client.get_node(
                ua.NodeId(ua.ObjectIds.Server_ServerStatus_StartTime)
            ).read_value()
            values = dict(zip(self._names.values(), await client.read_values(variables), strict=True))
            self._changes = asyncio.Queue()
            await self._resume(values, started)
            subscription = await client.create_subscription(self.publishing_interval_ms, self)
            await subscription.subscribe_data_change(variables)
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

    async def _pump(self, client: Client) -> None:
        while not self._stop.is_set():
            await client.check_connection()  # raises what ended the watchdog or the publish loop
            with contextlib.suppress(TimeoutError):
                name, value = await asyncio.wait_for(self._changes.get(), 0.1)
                if not name:
                    raise ConnectionError(f"subscription ended: {value}")
                if value != self.values.get(name) or name in (self.nodes.power_kw, self.nodes.temperature_c):
                    await self._apply(name, value)
            if time.monotonic() >= self._next_heartbeat:
                await self._state()

    # -- commands --------------------------------------------------------------------------------------

    async def start_operation(self, operation_id: str, duration_s: float) -> str:
        """Start an operation on the machine now; "" when it took it, else why not (for a rejection)."""
        machine, method = self._machine, self._start_method
        if machine is None or not self.ready.is_set():
            return UNREACHABLE
        if method is None:
            return f"machine {self.machine_id} has no {START_METHOD} method"
        try:
            await machine.call_method(
                method,
                ua.Variant(operation_id, ua.VariantType.String),
                ua.Variant(float(duration_s), ua.VariantType.Double),
            )
        except ua.UaStatusCodeError as error:
            return f"machine refused {operation_id}: {ua.StatusCode(error.code).name}"
        except LINK_ERRORS as error:
            return f"{UNREACHABLE} ({_brief(error)})"
        return ""


def _asyncua_file(path: Path) -> CertProperties:
    return CertProperties(str(path), extension=file_format(path))


def _brief(error: BaseException) -> str:
    """An exception as a short phrase for a log line (some asyncua errors have no message)."""
    return f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
