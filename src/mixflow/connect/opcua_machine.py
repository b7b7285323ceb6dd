"""A small OPC UA server exposing one simulated machine, for tests and demos.

Address space (namespace `NAMESPACE`): `Objects/{machine_id}/` with
`State` (String: "up" or "down"), `Reason` (String), `SpindlePowerKw` (Double),
`TemperatureC` (Double), `OperationId` (String: the operation in work) and `PartsDone` (UInt32,
counts finished operations), and the method `StartOperation(OperationId: String, DurationS: Double)`,
which starts one cycle and refuses with `BadInvalidState` while the machine is down or busy.
`run_cycle` works one operation: power up, heat, count the part, cool down; `fail`/`repair` flip the
state. Values are deterministic for a seed.

With `security`, the server offers that one policy (e.g. Basic256Sha256 Sign&Encrypt) and no
unsecured endpoint; it trusts the client certificates in `trusted`, or any client certificate when
`trusted` is empty (the channel is still signed and encrypted, but anyone with a certificate gets in:
fine for a simulator, not for a plant). With `users`, a session needs one of those user names and
its password.
"""

from __future__ import annotations

import asyncio
import hmac
import itertools
import logging
import random
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from asyncua import Server, ua
from asyncua.common.utils import ServiceError
from asyncua.crypto.permission_rules import User, UserRole
from cryptography import x509
from cryptography.hazmat.primitives import hashes

from mixflow.connect.opcua_security import OpcUaSecurity, certificate_uri, file_format, load_certificate
from mixflow.connect.topics import check_name

NAMESPACE = "urn:mixflow:machine"
START_METHOD = "StartOperation"
logging.getLogger("asyncua").setLevel(logging.ERROR)


@dataclass(frozen=True)
class MachineNodes:
    """Browse names of the machine's variables, as the adapter looks them up."""

    state: str = "State"
    reason: str = "Reason"
    power_kw: str = "SpindlePowerKw"
    temperature_c: str = "TemperatureC"
    operation_id: str = "OperationId"
    parts_done: str = "PartsDone"


NODES = MachineNodes()


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
    ) -> None:
        self.machine_id = check_name("machine_id", machine_id)
        self.endpoint = f"opc.tcp://{host}:{port}/mixflow/"
        self.security = security
        self._trusted = {load_certificate(path).fingerprint(hashes.SHA256()) for path in trusted}
        self._random = random.Random(seed)
        self._server = Server(user_manager=_Users(users) if users else None)
        self._vars: dict[str, Any] = {}
        self._cycle: asyncio.Task[None] | None = None
        self.parts_done = 0
        self.down = False

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
        index = await server.register_namespace(NAMESPACE)
        machine = await server.nodes.objects.add_object(index, self.machine_id)
        initial = {
            NODES.state: ua.Variant("up", ua.VariantType.String),
            NODES.reason: ua.Variant("", ua.VariantType.String),
            NODES.power_kw: ua.Variant(0.0, ua.VariantType.Double),
            NODES.temperature_c: ua.Variant(25.0, ua.VariantType.Double),
            NODES.operation_id: ua.Variant("", ua.VariantType.String),
            NODES.parts_done: ua.Variant(0, ua.VariantType.UInt32),
        }
        for name, value in initial.items():
            self._vars[name] = await machine.add_variable(index, name, value)
        await machine.add_method(
            index,
            START_METHOD,
            self._start_operation,
            [ua.VariantType.String, ua.VariantType.Double],
            [],
        )
        await server.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._cycle is not None:
            self._cycle.cancel()
        await self._server.stop()

    async def _validate(self, certificate: x509.Certificate, application: ua.ApplicationDescription) -> None:
        if self._trusted and certificate.fingerprint(hashes.SHA256()) not in self._trusted:
            raise ServiceError(ua.StatusCodes.BadCertificateUntrusted)

    async def _start_operation(self, parent: ua.NodeId, operation: ua.Variant, duration: ua.Variant) -> Any:
        """The method behind `StartOperation`: one cycle in the background, or a refusal."""
        if self.down or (self._cycle is not None and not self._cycle.done()):
            return ua.StatusCode(ua.StatusCodes.BadInvalidState)
        steps = 3
        step_s = max(0.0, float(duration.Value)) / steps
        self._cycle = asyncio.create_task(self.run_cycle(str(operation.Value), steps, step_s))
        return []

    async def _write(self, name: str, value: object, kind: ua.VariantType) -> None:
        await self._vars[name].write_value(ua.Variant(value, kind))

    async def run_cycle(self, operation_id: str, steps: int = 3, step_s: float = 0.05) -> None:
        """Work one operation: power and temperature rise, the part is counted, the machine idles."""
        await self._write(NODES.operation_id, operation_id, ua.VariantType.String)
        for step in range(steps):
            power = 20.0 + self._random.uniform(0, 10)
            await self._write(NODES.power_kw, power, ua.VariantType.Double)
            await self._write(
                NODES.temperature_c, 30.0 + 5.0 * step + self._random.uniform(0, 1), ua.VariantType.Double
            )
            await asyncio.sleep(step_s)
        self.parts_done += 1
        await self._write(NODES.parts_done, self.parts_done, ua.VariantType.UInt32)
        await self._write(NODES.power_kw, 0.5, ua.VariantType.Double)

    async def fail(self, reason: str) -> None:
        self.down = True
        await self._write(NODES.reason, reason, ua.VariantType.String)
        await self._write(NODES.state, "down", ua.VariantType.String)

    async def repair(self) -> None:
        self.down = False
        await self._write(NODES.reason, "", ua.VariantType.String)
        await self._write(NODES.state, "up", ua.VariantType.String)


async def work(machine: SimulatedMachine, cycle_s: float, fault_every: int = 10) -> None:
    """Work operations back to back, forever: one per `cycle_s`, a fault (as long as a cycle) every
    `fault_every`-th."""
    for n in itertools.count(1):
        await machine.run_cycle(f"{machine.machine_id}-op{n}", steps=5, step_s=cycle_s / 5)
        if n % fault_every == 0:
            await machine.fail("simulated fault")
            await asyncio.sleep(cycle_s)
            await machine.repair()
