"""Commands exactly-once on the device side, through the real broker and a running gateway: a command
sent again with its id is executed once and answered twice, and a device away while a command was sent
gets it when it reconnects (persistent session)."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Callable

import aiomqtt
import pytest

from mixflow.connect import topics
from mixflow.connect.broker import Broker
from mixflow.connect.commands import CommandTracker, Outgoing
from mixflow.connect.device import DeviceLink
from mixflow.connect.factory import MqttFactory
from mixflow.connect.gateway import GatewayConfig
from mixflow.connect.payloads import CommandMessage, encode
from mixflow.connect.registry import Registry
from mixflow.model.port import StartOperation

pytestmark = pytest.mark.services


def _factory(broker: Broker, plant: str) -> MqttFactory:
    registry = Registry(plant, heartbeat_timeout_ms=60_000)
    registry.register("m1", "machine", "password-1", b"0123456789ab")
    config = GatewayConfig(gateway_id="gw", session_expiry_s=5, tick_interval_s=0.1)
    return MqttFactory(broker, registry, config=config, tracker=CommandTracker(ack_timeout_ms=60_000))


def _settle(factory: MqttFactory, acks: int, late: int) -> None:
    deadline = time.monotonic() + 10
    stats = factory.stats()
    while (stats.get("acks", 0), stats.get("late_acks", 0)) != (acks, late):
        assert time.monotonic() < deadline, stats
        time.sleep(0.05)
        stats = factory.stats()


async def _until(condition: Callable[[], bool]) -> None:
    async with asyncio.timeout(10):
        while not condition():
            await asyncio.sleep(0.02)


def test_a_command_sent_again_is_executed_once_and_acked_twice(mqtt_broker: tuple[str, int]) -> None:
    plant = f"t{uuid.uuid4().hex[:10]}"
    broker = Broker(*mqtt_broker)
    with _factory(broker, plant) as factory:
        executed: list[CommandMessage] = []

        async def resend(outgoing: Outgoing) -> None:
            """What the gateway does when an ack is late: the same message, byte for byte."""
            topic = topics.device_topic(plant, outgoing.kind, outgoing.device_id, "cmd")
            async with aiomqtt.Client(*mqtt_broker, protocol=aiomqtt.ProtocolVersion.V5) as client:
                await client.publish(topic, encode(outgoing.message.to_map()), qos=1)

        async def run() -> tuple[int, str]:
            async with DeviceLink(broker, plant, "machine", "m1", session_expiry_s=5) as link:
                await link.subscribe()
                [outgoing] = await asyncio.to_thread(factory.send, [StartOperation("op-1", "m1")])
                commands = link.commands()
                command = await asyncio.wait_for(anext(commands), 10)
                executed.append(command)
                later = asyncio.ensure_future(anext(commands))  # the agent listens on while it works
                await resend(outgoing)  # arrives while the machine works on it: no second run, no ack yet
                await _until(lambda: link.repeats == 1)
                await link.ack(command, "done")
                await resend(outgoing)  # arrives after the ack: answered with that ack again
                await _until(lambda: link.repeats == 2)
                await asyncio.to_thread(_settle, factory, 1, 1)
                assert not later.done()  # nothing new was handed to the machine
                later.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await later
                return link.repeats, outgoing.message.command_id

        repeats, command_id = asyncio.run(run())
        assert repeats == 2
        assert [(c.command_id, c.type) for c in executed] == [(command_id, "start_operation")]
        stats = factory.stats()
        assert stats.get("rejected", 0) == 0 and factory.gateway.ingest.tracker.pending == {}


def test_a_device_away_gets_the_command_sent_meanwhile_on_reconnect(mqtt_broker: tuple[str, int]) -> None:
    plant = f"t{uuid.uuid4().hex[:10]}"
    broker = Broker(*mqtt_broker)
    with _factory(broker, plant) as factory:
        async def run() -> list[str]:
            link = DeviceLink(broker, plant, "machine", "m1", session_expiry_s=30)
            async with link:
                await link.subscribe()  # the broker keeps it in the session from now on
            # the machine is off the network while the scheduler sends it a command
            [outgoing] = await asyncio.to_thread(factory.send, [StartOperation("op-7", "m1")])
            await asyncio.sleep(0.3)
            async with link:
                command = await asyncio.wait_for(anext(link.commands()), 10)
                await link.ack(command, "done")
            return [outgoing.message.command_id, command.command_id, command.fields["operation_id"]]

        sent_id, got_id, operation = asyncio.run(run())
        assert sent_id == got_id and operation == "op-7"
        _settle(factory, 1, 0)
