"""A small OPC UA server exposing one simulated machine, for tests and demos.

The machine object `Objects/{machine_id}` is an instance of `MixflowMachineType` (see `opcua_model`):
analog items with engineering units, and the OPC 40001-1 `MachineryItemState` state machine, which
moves NotExecuting -> Executing -> NotExecuting through a cycle, to OutOfService on `fail` (and
NotAvailable on `switch_off`) and back to NotExecuting on `repair`. `StartOperation(OperationId,
DurationS)` starts one cycle and is refused with `BadInvalidState` unless the machine is
NotExecuting; `StopOperation()` ends the cycle in work without counting its part, refused with
`BadInvalidState` unless the machine is Executing. `run_cycle` works one operation: power up, heat,
count the part in `PartsDone`, idle. Values are deterministic for a seed. With `power_in_watts` the
machine reports `SpindlePower` in W (its EngineeringUnits say so), as some machines do.

With `security`, the server offers that one policy (e.g. Basic256Sha256 Sign&Encrypt) and no
unsecured endpoint; it trusts the client certificates in `trusted`, or any client certificate when
`trusted` is empty (the channel is still signed and encrypted, but anyone with a certificate gets in:
fine for a simulator, not for a plant). With `users`, a session needs one of those user names and
its password.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import itertools
import logging
import random
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from asyncua import Node, Server, ua
from asyncua.common.utils import ServiceError
from asyncua.crypto.permission_rules import User, UserRole
from cryptography import x509
from cryptography.hazmat.primitives import hashes

from mixflow.connect.opcua_model import (
    DOWN_STATES,
    EXECUTING,
    NAMESPACE,
    NODES,
    NOT_AVAILABLE,
    NOT_EXECUTING,
    OUT_OF_SERVICE,
    START_METHOD,
    STOP_METHOD,
    MachineTypes,
    add_machine_types,
    eu_information,
)
from mixflow.connect.opcua_security import OpcUaSecurity, certificate_uri, file_format, load_certificate
from mixflow.connect.topics import check_name

IDLE_KW = 0.5
logging.getLogger("asyncua").setLevel(logging.ERROR)


class _Users:
    """asyncua user manager: a user name and its password, compared in constant time."""

    def __init__(self, users: Mapping[str, str]) -> None:
        self.users = dict(users)

    def get_user(
        self, iserver: Any, username: str | None = None, password: str | None = None, certificate: Any = None
    ) -> User | None:
        expected = self.users.get(username or "")
        if expected is None or not hmac.compare_digest(expected.encode(), (password or "").encode()):
            return None
        return User(role=UserRole.User, name=username)


class SimulatedMachine:
    """An OPC UA server with one machine object (use `async with`)."""

    def __init__(
        self,
        machine_id: str,
        port: int,
        seed: int = 0,
        host: str = "127.0.0.1",
        *,
        security: OpcUaSecurity | None = None,
        trusted: tuple[Path, ...] = (),
        users: Mapping[str, str] | None = None,
        power_in_watts: bool = False,
    ) -> None:
        self.machine_id = check_name("machine_id", machine_id)
        self.endpoint = f"opc.tcp://{host}:{port}/mixflow/"
        self.security = security
        self._trusted = {load_certificate(path).fingerprint(hashes.SHA256()) for path in trusted}
        self._random = random.Random(seed)
        # some machines report power in W: the bridge must read the unit, not assume it
        self.power_unit = "WTT" if power_in_watts else "KWT"
        self._server = Server(user_manager=_Users(users) if users else None)
        self._vars: dict[str, Node] = {}
        self._state_vars: dict[str, Node] = {}
        self._types: MachineTypes | None = None
        self._cycle: asyncio.Task[None] | None = None
        self.parts_done = 0
        self.state = NOT_EXECUTING

    @property
    def down(self) -> bool:
        """Whether the machine cannot work: OutOfService or NotAvailable."""
        return self.state in DOWN_STATES

    async def __aenter__(self) -> SimulatedMachine:
        server = self._server
        await server.init()
        # the clock task ticks once a second and a stop would wait for its tick: the machine has no use
        # for the server's CurrentTime
        server.disable_clock()
        server.set_endpoint(self.endpoint)
        server.set_server_name(f"mixflow simulated machine {self.machine_id}")
        if self.security is None:
            server.set_security_policy([ua.SecurityPolicyType.NoSecurity])
        else:
            server.set_security_policy([self.security.server_policy])
            certificate, key = self.security.certificate, self.security.private_key
            await server.load_certificate(str(certificate), format=file_format(certificate))
            await server.load_private_key(str(key), format=file_format(key))
            uri = certificate_uri(self.security.certificate)
            if uri:
                await server.set_application_uri(uri)
            server.set_certificate_validator(self._validate)
        await self._add_machine(await server.register_namespace(NAMESPACE))
        await self._enter(NOT_EXECUTING, transition=False)
        await self._write(NODES.temperature_c, 25.0, ua.VariantType.Double)
        await server.start()
        return self

    async def _add_machine(self, index: int) -> None:
        """The types, then the machine object made from them, its methods linked, its state machine's
        available states and transitions filled in, its power unit set."""
        self._types = types = await add_machine_types(self._server, index)
        machine = await self._server.nodes.objects.add_object(
            index, self.machine_id, objecttype=types.machine_type
        )
        for child in await machine.get_children():
            self._vars[(await child.read_browse_name()).Name] = child
        self._server.link_method(self._vars[START_METHOD], self._start_operation)
        self._server.link_method(self._vars[STOP_METHOD], self._stop_operation)
        state_machine = self._vars[NODES.state_machine]
        for path in ("CurrentState", "CurrentState/Id", "LastTransition", "LastTransition/Id"):
            node = await state_machine.get_child([f"0:{name}" for name in path.split("/")])
            self._state_vars[path] = node
        available = await state_machine.get_child(["0:AvailableStates"])
        await available.write_value(
            ua.Variant([state.nodeid for state in types.states.values()], ua.VariantType.NodeId)
        )
        available = await state_machine.get_child(["0:AvailableTransitions"])
        await available.write_value(
            ua.Variant([t.nodeid for t in types.transitions.values()], ua.VariantType.NodeId)
        )
        if self.power_unit != "KWT":
            power = self._vars[NODES.power_kw]
            await (await power.get_child(["0:EngineeringUnits"])).write_value(
                ua.Variant(eu_information(self.power_unit))
            )
            eu_range = await (await power.get_child(["0:EURange"])).read_value()
            await (await power.get_child(["0:EURange"])).write_value(
                ua.Variant(ua.Range(eu_range.Low * 1000, eu_range.High * 1000))
            )

    async def __aexit__(self, *exc: object) -> None:
        if self._cycle is not None:
            self._cycle.cancel()
        await self._server.stop()

    async def _validate(self, certificate: x509.Certificate, application: ua.ApplicationDescription) -> None:
        if self._trusted and certificate.fingerprint(hashes.SHA256()) not in self._trusted:
            raise ServiceError(ua.StatusCodes.BadCertificateUntrusted)

    # -- the methods ---------------------------------------------------------------------------------

    async def _start_operation(self, parent: ua.NodeId, operation: ua.Variant, duration: ua.Variant) -> Any:
        """`StartOperation`: one cycle in the background, or a refusal unless NotExecuting."""
        if self.state != NOT_EXECUTING:
            return ua.StatusCode(ua.StatusCodes.BadInvalidState)
        steps = 3
        self._begin(str(operation.Value), steps, max(0.0, float(duration.Value)) / steps)
        return []

    async def _stop_operation(self, parent: ua.NodeId) -> Any:
        """`StopOperation`: end the cycle in work (its part not counted), or a refusal unless Executing."""
        if self.state != EXECUTING:
            return ua.StatusCode(ua.StatusCodes.BadInvalidState)
        await self._interrupt()
        await self._power(IDLE_KW)
        await self._enter(NOT_EXECUTING)
        return []

    # -- the simulation ------------------------------------------------------------------------------

    async def _write(self, name: str, value: object, kind: ua.VariantType) -> None:
        await self._vars[name].write_value(ua.Variant(value, kind))

    async def _power(self, kw: float) -> None:
        await self._write(
            NODES.power_kw, kw * 1000 if self.power_unit == "WTT" else kw, ua.VariantType.Double
        )

    async def _enter(self, state: str, *, transition: bool = True) -> None:
        """Move the state machine: LastTransition with its Id (unless coming up), then CurrentState with
        its Id, last, since that is what clients watch."""
        assert self._types is not None
        writes: list[tuple[str, object, ua.VariantType]] = []
        if transition:
            name = ua.LocalizedText(f"From{self.state}To{state}", "en")
            writes.append(("LastTransition", name, ua.VariantType.LocalizedText))
            writes.append(
                (
                    "LastTransition/Id",
                    self._types.transitions[self.state, state].nodeid,
                    ua.VariantType.NodeId,
                )
            )
        writes.append(("CurrentState", ua.LocalizedText(state, "en"), ua.VariantType.LocalizedText))
        writes.append(("CurrentState/Id", self._types.states[state].nodeid, ua.VariantType.NodeId))
        self.state = state
        for path, value, kind in writes:
            await self._state_vars[path].write_value(ua.Variant(value, kind))

    def _begin(self, operation_id: str, steps: int, step_s: float) -> asyncio.Task[None]:
        self._cycle = asyncio.create_task(self._work(operation_id, steps, step_s))
        return self._cycle

    async def _work(self, operation_id: str, steps: int, step_s: float) -> None:
        # the operation id first: a client seeing Executing can name what runs
        await self._write(NODES.operation_id, operation_id, ua.VariantType.String)
        await self._enter(EXECUTING)
        for step in range(steps):
            power = 20.0 + self._random.uniform(0, 10)
            await self._power(power)
            await self._write(
                NODES.temperature_c, 30.0 + 5.0 * step + self._random.uniform(0, 1), ua.VariantType.Double
            )
            await asyncio.sleep(step_s)
        self.parts_done += 1
        await self._write(NODES.parts_done, self.parts_done, ua.VariantType.UInt32)
        await self._power(IDLE_KW)
        await self._enter(NOT_EXECUTING)

    async def _interrupt(self) -> None:
        """Stop the cycle in work, if any, without finishing its part."""
        cycle, self._cycle = self._cycle, None
        if cycle is not None and not cycle.done():
            cycle.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await cycle

    async def run_cycle(self, operation_id: str, steps: int = 3, step_s: float = 0.05) -> bool:
        """Work one operation: power and temperature rise, the part is counted, the machine idles.
        False when the machine was not NotExecuting, or the cycle was stopped or failed midway."""
        if self.state != NOT_EXECUTING:
            return False
        cycle = self._begin(operation_id, steps, step_s)
        try:
            await asyncio.wait({cycle})  # a stopped cycle ends this wait, it does not cancel the caller
        finally:
            cycle.cancel()
        if cycle.cancelled():
            return False
        cycle.result()  # a failed write surfaces here
        return True

    async def fail(self, reason: str) -> None:
        """A breakdown: the cycle in work (if any) is lost, the machine is OutOfService for `reason`."""
        await self._go_down(OUT_OF_SERVICE, reason)

    async def switch_off(self, reason: str = "switched off") -> None:
        """The machine is NotAvailable (switched off, energy saving): no activity, the cycle lost."""
        await self._go_down(NOT_AVAILABLE, reason)

    async def _go_down(self, state: str, reason: str) -> None:
        await self._interrupt()
        await self._power(0.0)
        await self._write(NODES.reason, reason, ua.VariantType.String)
        await self._enter(state)

    async def repair(self) -> None:
        """Back in service: NotExecuting, ready for the next operation."""
        await self._write(NODES.reason, "", ua.VariantType.String)
        await self._power(IDLE_KW)
        await self._enter(NOT_EXECUTING)


async def work(machine: SimulatedMachine, cycle_s: float, fault_every: int = 10) -> None:
    """Work operations back to back, forever: one per `cycle_s`, a fault (as long as a cycle) every
    `fault_every`-th. A cycle a client stopped (or one refused while a commanded one runs) is skipped."""
    for n in itertools.count(1):
        if not await machine.run_cycle(f"{machine.machine_id}-op{n}", steps=5, step_s=cycle_s / 5):
            await asyncio.sleep(cycle_s / 5)
        if n % fault_every == 0:
            await machine.fail("simulated fault")
            await asyncio.sleep(cycle_s)
            await machine.repair()
