"""OPC UA adapter: subscribes to a machine's nodes and speaks for it in the mixflow topic tree.

Many machines talk OPC UA, not MQTT. The adapter (asyncua) subscribes to data changes of the nodes
named in `MachineNodes` and turns them into the same uplink messages a native MQTT device sends:
power and temperature become `telemetry`, `State`/`Reason` become `state` (heartbeats, down/up),
and each increase of `PartsDone` becomes an `operation_done` event for the `OperationId` in work.
The messages go to a `send(channel, payload)` coroutine: a `DeviceLink.publish_raw` to go through the
broker like any device, or straight into a gateway's `Ingest`. The gateway therefore yields the same
factory events whichever protocol the machine speaks.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from typing import Any

from asyncua import Client

from mixflow.connect.opcua_machine import NAMESPACE, NODES, MachineNodes
from mixflow.connect.payloads import encode
from mixflow.connect.topics import check_name

Send = Callable[[str, bytes], Awaitable[None]]


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
    ) -> None:
        self.endpoint = endpoint
        self.machine_id = check_name("machine_id", machine_id)
        self.send = send
        self.nodes = nodes
        self.namespace = namespace
        self.publishing_interval_ms = publishing_interval_ms
        self.heartbeat_s = heartbeat_s
        self.seq = 0
        self.values: dict[str, Any] = {}
        self._changes: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        self._stop = asyncio.Event()
        self.ready = asyncio.Event()

    # asyncua calls this for every data change, on the event loop
    def datachange_notification(self, node: Any, value: Any, data: Any) -> None:
        self._changes.put_nowait((self._names[node.nodeid], value))

    def stop(self) -> None:
        self._stop.set()

    async def _emit(self, channel: str, fields: dict[str, Any]) -> None:
        self.seq += 1
        payload = {"v": 1, "t": time.time_ns() // 1_000_000, "seq": self.seq, **fields}
        await self.send(channel, encode(payload))

    async def _state(self) -> None:
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
            operation = str(self.values.get(nodes.operation_id) or "")
            if operation:
                await self._emit("event", {"type": "operation_done", "operation_id": operation})

    async def run(self) -> None:
        """Connect, subscribe and bridge until stopped; the machine is reported down if the link drops."""
        client = Client(self.endpoint)
        await client.connect()
        try:
            index = await client.get_namespace_index(self.namespace)
            machine = await client.nodes.objects.get_child([f"{index}:{self.machine_id}"])
            names = [
                self.nodes.state,
                self.nodes.reason,
                self.nodes.power_kw,
                self.nodes.temperature_c,
                self.nodes.operation_id,
                self.nodes.parts_done,
            ]
            variables = [await machine.get_child([f"{index}:{name}"]) for name in names]
            self._names = {variable.nodeid: name for variable, name in zip(variables, names, strict=True)}
            # read the starting values first, so the first change of PartsDone is a real one
            for variable, name in zip(variables, names, strict=True):
                self.values[name] = await variable.read_value()
            await self._state()
            subscription = await client.create_subscription(self.publishing_interval_ms, self)
            await subscription.subscribe_data_change(variables)
            self.ready.set()
            next_heartbeat = time.monotonic() + self.heartbeat_s
            while not self._stop.is_set():
                with contextlib.suppress(TimeoutError):
                    name, value = await asyncio.wait_for(self._changes.get(), 0.1)
                    if value != self.values.get(name) or name in (
                        self.nodes.power_kw,
                        self.nodes.temperature_c,
                    ):
                        await self._apply(name, value)
                if time.monotonic() >= next_heartbeat:
                    next_heartbeat = time.monotonic() + self.heartbeat_s
                    await self._heartbeat(client)
        finally:
            with contextlib.suppress(Exception):
                await client.disconnect()

    async def _heartbeat(self, client: Client) -> None:
        """Heartbeat: the OPC UA session answers (state as it is) or the machine is reported down."""
        try:
            await client.check_connection()
        except Exception:
            self.values[self.nodes.state] = "down"
            self.values[self.nodes.reason] = "opcua link lost"
            await self._state()
            raise
        await self._state()
