"""The gateway through the real broker: events, storage, commands with acks, dead letters, escalation."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from pathlib import Path

import aiomqtt
import pytest
from sqlalchemy import text

from mixflow.connect import topics
from mixflow.connect.broker import Broker
from mixflow.connect.commands import CommandTracker
from mixflow.connect.device import DeviceLink
from mixflow.connect.factory import MqttFactory
from mixflow.connect.gateway import GatewayConfig, now_ms
from mixflow.connect.registry import Registry
from mixflow.model.port import Factory, MachineDown, OperationDone, StartOperation
from mixflow.store.db import connect
from mixflow.store.telemetry import count_samples

pytestmark = pytest.mark.services


def _registry(plant: str) -> Registry:
    registry = Registry(plant, heartbeat_timeout_ms=60_000)
    registry.register("m1", "machine", "password-1", b"0123456789ab")
    registry.register("m2", "machine", "password-2", b"0123456789ab")
    return registry


def _poll_until(factory: MqttFactory, wanted: type, timeout_s: float = 10.0) -> list[object]:
    seen: list[object] = []
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        seen += factory.poll(factory.now_s + 1)
        if any(isinstance(e, wanted) for e in seen):
            return seen
    raise AssertionError(f"no {wanted.__name__} within {timeout_s} s; got {seen}")


def test_device_messages_reach_the_scheduler_and_storage(
    mqtt_broker: tuple[str, int], tmp_path: Path
) -> None:
    plant = f"t{uuid.uuid4().hex[:10]}"
    broker = Broker(*mqtt_broker)
    engine, _ = connect(f"sqlite:///{tmp_path / 'g.db'}")
    config = GatewayConfig(gateway_id="gw", session_expiry_s=5)
    with MqttFactory(broker, _registry(plant), config=config, engine=engine) as factory:
        assert isinstance(factory, Factory)

        async def device() -> list[str]:
            async with (
                DeviceLink(broker, plant, "machine", "m1") as link,
                aiomqtt.Client(*mqtt_broker, protocol=aiomqtt.ProtocolVersion.V5) as watcher,
            ):
                await watcher.subscribe(f"mixflow/{plant}/_dead/#", qos=1)
                await link.heartbeat()
                for k in range(20):
                    await link.telemetry({"kw": float(k), "temp_c": 40.0})
                await link.event("operation_done", operation_id="op-42")
                await link.publish_raw("telemetry", b"\x00not a payload")
                async with asyncio.timeout(10):
                    async for message in watcher.messages:
                        return [str(message.topic), json.loads(bytes(message.payload))["reason"]]  # type: ignore[arg-type]
            return []

        dead_topic, reason = asyncio.run(device())
        assert reason == "malformed" and dead_topic == topics.dead_letter_topic(plant, "malformed")
        events = _poll_until(factory, OperationDone)
        done = next(e for e in events if isinstance(e, OperationDone))
        assert (done.operation_id, done.machine_id) == ("op-42", "m1")
        stats = factory.stats()
        assert stats["telemetry"] == 20 and stats["rejected_malformed"] == 1
    assert count_samples(engine) == 40


def test_commands_are_acknowledged_or_resent_then_escalated(mqtt_broker: tuple[str, int]) -> None:
    plant = f"t{uuid.uuid4().hex[:10]}"
    broker = Broker(*mqtt_broker)
    tracker = CommandTracker(ack_timeout_ms=300, max_resends=1)
    config = GatewayConfig(gateway_id="gw", session_expiry_s=5, tick_interval_s=0.1)
    with MqttFactory(broker, _registry(plant), config=config, tracker=tracker) as factory:
        received: list[str] = []

        async def obedient_machine(ready: asyncio.Event) -> None:
            async with DeviceLink(broker, plant, "machine", "m1") as link:
                commands = link.commands()
                first = asyncio.ensure_future(anext(commands))
                await asyncio.sleep(0.3)  # the subscription is in place
                ready.set()
                command = await asyncio.wait_for(first, 10)
                received.append(command.type)
                await link.ack(command, "done")

        async def run() -> None:
            ready = asyncio.Event()
            machine = asyncio.create_task(obedient_machine(ready))
            await ready.wait()
            await asyncio.to_thread(factory.submit, [StartOperation("op-1", "m1", duration_s=60)])
            await asyncio.wait_for(machine, 15)

        asyncio.run(run())
        assert received == ["start_operation"]
        deadline = time.monotonic() + 5
        while tracker.pending and time.monotonic() < deadline:
            time.sleep(0.05)
        assert tracker.pending == {} and tracker.acknowledged == 1
        # m2 has no agent: the command is re-sent once, then escalated as the machine being down
        factory.submit([StartOperation("op-2", "m2")])
        events = _poll_until(factory, MachineDown)
        down = next(e for e in events if isinstance(e, MachineDown))
        assert down.machine_id == "m2" and down.reason == "no command ack"
        assert factory.stats()["resent"] >= 1 and factory.stats()["escalated"] == 1


def test_gateway_downsamples_old_telemetry(mqtt_broker: tuple[str, int], tmp_path: Path) -> None:
    plant = f"t{uuid.uuid4().hex[:10]}"
    broker = Broker(*mqtt_broker)
    engine, _ = connect(f"sqlite:///{tmp_path / 'd.db'}")
    config = GatewayConfig(
        gateway_id="gw",
        session_expiry_s=5,
        tick_interval_s=0.05,
        keep_raw_s=60,
        rollup_bucket_s=10,
        downsample_every_s=0.1,
    )
    with MqttFactory(broker, _registry(plant), config=config, engine=engine) as factory:

        async def device() -> None:
            async with DeviceLink(broker, plant, "machine", "m1") as link:
                hour_ago = now_ms() - 3_600_000
                for k in range(30):  # 30 s of samples an hour ago: three 10 s buckets
                    await link.telemetry({"kw": float(k)}, t_ms=hour_ago - hour_ago % 10_000 + 1000 * k)
                await link.telemetry({"kw": 99.0})  # fresh: stays raw

        asyncio.run(device())
        deadline = time.monotonic() + 10
        while factory.stats().get("downsampled", 0) < 30 and time.monotonic() < deadline:
            time.sleep(0.05)
    assert count_samples(engine) == 1
    with engine.connect() as connection:
        rollups = connection.execute(
            text(  # a bucket rolled up while samples still arrived has more than one row
                "SELECT SUM(count), MIN(min_value), MAX(max_value) FROM telemetry_rollup"
                " GROUP BY bucket_ms ORDER BY bucket_ms"
            )
        )
        assert [tuple(r) for r in rollups] == [(10, 0.0, 9.0), (10, 10.0, 19.0), (10, 20.0, 29.0)]
