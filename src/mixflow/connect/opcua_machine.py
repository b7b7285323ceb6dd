"""A small OPC UA server exposing one simulated machine, for tests and demos.

Address space (namespace `NAMESPACE`): `Objects/{machine_id}/` with
`State` (String: "up" or "down"), `Reason` (String), `SpindlePowerKw` (Double),
`TemperatureC` (Double), `OperationId` (String: the operation in work) and `PartsDone` (UInt32,
counts finished operations). `run_cycle` works one operation: power up, heat, count the part, cool
down; `fail`/`repair` flip the state. Values are deterministic for a seed.
"""

from __future__ import annotations

import asyncio
import logging
import random
from dataclasses import dataclass

from asyncua import Server, ua

from mixflow.connect.topics import check_name

NAMESPACE = "urn:mixflow:machine"
logging.getLogger("asyncua").setLevel(logging.WARNING)


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


class SimulatedMachine:
    """An OPC UA server with one machine object (use `async with`)."""

    def __init__(self, machine_id: str, port: int, seed: int = 0, host: str = "127.0.0.1") -> None:
        self.machine_id = check_name("machine_id", machine_id)
        self.endpoint = f"opc.tcp://{host}:{port}/mixflow/"
        self._random = random.Random(seed)
        self._server = Server()
        self._vars: dict[str, object] = {}
        self.parts_done = 0

    async def __aenter__(self) -> SimulatedMachine:
        server = self._server
        await server.init()
        server.set_endpoint(self.endpoint)
        server.set_server_name(f"mixflow simulated machine {self.machine_id}")
        server.set_security_policy([ua.SecurityPolicyType.NoSecurity])
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
        await server.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._server.stop()

    async def _write(self, name: str, value: object, kind: ua.VariantType) -> None:
        await self._vars[name].write_value(ua.Variant(value, kind))  # type: ignore[attr-defined]

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
        await self._write(NODES.reason, reason, ua.VariantType.String)
        await self._write(NODES.state, "down", ua.VariantType.String)

    async def repair(self) -> None:
        await self._write(NODES.reason, "", ua.VariantType.String)
        await self._write(NODES.state, "up", ua.VariantType.String)
