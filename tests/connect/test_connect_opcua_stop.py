"""StopOperation through the real broker and the OPC UA bridge calls the machine's StopOperation method
for the operation it names (and only that one); a machine switched off is heard as NotAvailable, one
that breaks as OutOfService."""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest

from mixflow.connect.broker import Broker
from mixflow.connect.commands import Outgoing
from mixflow.connect.gateway import Gateway
from mixflow.connect.opcua_bridge import OpcUaBridge, OpcUaServer
from mixflow.connect.opcua_machine import SimulatedMachine
from mixflow.connect.opcua_model import NOT_EXECUTING
from mixflow.model.port import (
    NOT_AVAILABLE,
    OUT_OF_SERVICE,
    MachineDown,
    MachineUp,
    OperationDone,
    OperationStarted,
    StartOperation,
    StopOperation,
)
from tests.connect.test_connect_opcua_bridge import FAST, Heard, _free_port, _gateway

pytestmark = pytest.mark.services


async def _answer(gateway: Gateway, outgoing: Outgoing) -> str:
    """The reason a command was rejected with, "" when it was accepted."""
    command_id = outgoing.message.command_id
    deadline = time.monotonic() + 5
    while command_id in gateway.ingest.tracker.pending:
        assert time.monotonic() < deadline, "no ack"
        await asyncio.sleep(0.02)
    return {o.message.command_id: reason for o, reason in gateway.ingest.tracker.rejected}.get(command_id, "")


def test_a_stop_stops_the_named_operation_and_the_down_states_stay_apart(
    mqtt_broker: tuple[str, int],
) -> None:
    plant = f"o{uuid.uuid4().hex[:10]}"
    broker = Broker(*mqtt_broker)
    port = _free_port()
    gateway = _gateway(broker, plant, ["press-1"])
    seen: dict[str, object] = {}

    async def run() -> None:
        await gateway.start()
        heard = Heard(gateway)
        bridge = OpcUaBridge(
            broker, plant, (OpcUaServer("press-1", f"opc.tcp://127.0.0.1:{port}/mixflow/"),), options=FAST
        )
        serving = None
        try:
            async with SimulatedMachine("press-1", port) as press:
                serving = asyncio.create_task(bridge.run())
                await asyncio.wait_for(bridge.adapters["press-1"].ready.wait(), 10)
                [start] = await gateway.submit([StartOperation("op-1", "press-1", duration_s=30)])
                assert await _answer(gateway, start) == ""
                await heard.until(lambda e: isinstance(e, OperationStarted) and e.operation_id == "op-1")
                [other] = await gateway.submit([StopOperation("op-9", "press-1", "stale")])
                seen["other"] = await _answer(gateway, other)
                assert press.state != NOT_EXECUTING, "a stop for another operation leaves op-1 running"
                [stop] = await gateway.submit([StopOperation("op-1", "press-1", "taken down by pat")])
                seen["stop"] = await _answer(gateway, stop)
                seen["state"], seen["parts"] = press.state, press.parts_done
                [again] = await gateway.submit([StopOperation("op-1", "press-1", "again")])
                seen["again"] = await _answer(gateway, again)
                await press.switch_off("night")
                seen["off"] = await heard.until(lambda e: isinstance(e, MachineDown))
                await press.fail("jam")
                seen["broke"] = await heard.until(lambda e: isinstance(e, MachineDown))
                await press.repair()
                await heard.until(lambda e: isinstance(e, MachineUp))
                seen["done"] = [e for e in heard.events if isinstance(e, OperationDone)]
                bridge.stop()
                await asyncio.wait_for(serving, 10)
        finally:
            bridge.stop()
            if serving is not None:
                await asyncio.wait_for(serving, 10)
            await gateway.stop()

    asyncio.run(run())
    assert seen["other"] == "press-1 is not running op-9 (it runs op-1)"
    assert seen["stop"] == "" and (seen["state"], seen["parts"]) == (NOT_EXECUTING, 0)
    assert seen["again"] == "press-1 is not running op-1 (idle)"
    off, broke = seen["off"], seen["broke"]
    assert isinstance(off, MachineDown) and (off.state, off.reason) == (NOT_AVAILABLE, "NotAvailable: night")
    assert isinstance(broke, MachineDown) and (broke.state, broke.reason) == (
        OUT_OF_SERVICE,
        "OutOfService: jam",
    )
    assert seen["done"] == []
