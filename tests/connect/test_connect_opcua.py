"""OPC UA: the adapter subscribes to the simulated machine's nodes and yields the same factory events."""

from __future__ import annotations

import asyncio
import socket

from mixflow.connect import topics
from mixflow.connect.ingest import Ingest
from mixflow.connect.opcua import OpcUaAdapter
from mixflow.connect.opcua_machine import SimulatedMachine
from mixflow.connect.registry import Registry
from mixflow.model.port import MachineDown, MachineUp, OperationDone


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_opcua_machine_events_reach_the_gateway_core() -> None:
    registry = Registry("p")
    registry.register("press-1", "opcua", "password-1", b"0123456789ab")
    ingest = Ingest(registry)

    async def into_ingest(channel: str, payload: bytes) -> None:
        assert ingest.handle(topics.device_topic("p", "opcua", "press-1", channel), payload)

    async def run() -> None:
        async with SimulatedMachine("press-1", _free_port(), seed=3) as machine:
            adapter = OpcUaAdapter(machine.endpoint, "press-1", into_ingest, publishing_interval_ms=20)
            bridge = asyncio.create_task(adapter.run())
            await asyncio.wait_for(adapter.ready.wait(), 20)
            await machine.run_cycle("op-1")
            await machine.fail("hydraulic pressure low")
            await asyncio.sleep(0.3)
            await machine.repair()
            await machine.run_cycle("op-2")
            await asyncio.sleep(0.3)
            adapter.stop()
            await asyncio.wait_for(bridge, 10)

    asyncio.run(run())
    events = ingest.take_events()
    kinds = [(type(e).__name__, getattr(e, "operation_id", getattr(e, "reason", ""))) for e in events]
    assert kinds == [
        ("OperationDone", "op-1"),
        ("MachineDown", "hydraulic pressure low"),
        ("MachineUp", ""),
        ("OperationDone", "op-2"),
    ]
    assert all(isinstance(e, OperationDone | MachineDown | MachineUp) for e in events)
    assert all(e.machine_id == "press-1" for e in events)  # type: ignore[union-attr]
    powers = [value for device, metric, _, value in ingest.rows if metric == "kw"]
    assert len(powers) >= 4 and max(powers) >= 20.0
    assert ingest.counters["rejected"] == 0
