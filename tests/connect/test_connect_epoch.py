"""(boot, seq) and liveness through the real broker and a running gateway: a rebooted device loses
nothing, gaps and duplicates are counted per device, a replay is dead-lettered, and a silent device
raises `offline` with no rule configured."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import aiomqtt
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from mixflow.connect.broker import Broker
from mixflow.connect.device import DeviceLink
from mixflow.connect.factory import MqttFactory
from mixflow.connect.gateway import GatewayConfig
from mixflow.connect.payloads import encode
from mixflow.connect.registry import Registry
from mixflow.model.port import Event, MachineDown, MachineUp
from mixflow.store.db import connect
from mixflow.store.telemetry import AlarmRecord, count_samples

pytestmark = pytest.mark.services


def _registry(plant: str, heartbeat_timeout_ms: int = 60_000) -> Registry:
    registry = Registry(plant, heartbeat_timeout_ms=heartbeat_timeout_ms)
    registry.register("m1", "machine", "password-1", b"0123456789ab")
    registry.register("m2", "machine", "password-2", b"0123456789ab")
    return registry


def _wait(condition: Callable[[], bool], timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.05)


def test_a_rebooted_device_loses_nothing_and_gaps_duplicates_replays_show(
    mqtt_broker: tuple[str, int], tmp_path: Path
) -> None:
    plant = f"t{uuid.uuid4().hex[:10]}"
    broker = Broker(*mqtt_broker)
    engine, _ = connect(f"sqlite:///{tmp_path / 'e.db'}")
    config = GatewayConfig(gateway_id="gw", session_expiry_s=5)
    with MqttFactory(broker, _registry(plant), config=config, engine=engine) as factory:

        async def devices() -> None:
            async with DeviceLink(broker, plant, "machine", "m1", boot=1_000, session_expiry_s=5) as first:
                for k in range(5):
                    await first.telemetry({"kw": float(k)})
            # the agent restarts: a later boot, seq from 1 again; all of it must be stored
            async with DeviceLink(broker, plant, "machine", "m1", boot=2_000, session_expiry_s=5) as second:
                for k in range(5):
                    await second.telemetry({"kw": 10.0 + k})
                second.seq -= 1
                await second.telemetry({"kw": -1.0})  # seq 5 again: a duplicate, dropped
                second.seq += 3
                await second.telemetry({"kw": 20.0})  # seq 9: 6, 7, 8 never arrived
                old = {"v": 1, "t": 1, "boot": 1_000, "seq": 6, "m": {"kw": -2.0}}
                await second.publish_raw("telemetry", encode(old))  # the first run replayed
                await second.telemetry({"kw": 21.0})  # seq 10: the device goes on unaffected
            async with DeviceLink(broker, plant, "machine", "m2", session_expiry_s=5) as other:
                for k in range(3):
                    await other.telemetry({"kw": 30.0 + k})

        asyncio.run(devices())
        ingest = factory.gateway.ingest
        _wait(lambda: factory.stats().get("telemetry", 0) == 15 and factory.gateway.stored_messages == 15)
        stats = factory.stats()
        assert (stats["reboots"], stats["gaps"], stats["missing"], stats["duplicates"]) == (1, 1, 3, 1)
        assert stats["rejected"] == stats["rejected_replay"] == 1
        assert ingest.device_stats() == {
            "m1": {"gaps": 1, "missing": 3, "duplicates": 1, "reboots": 1, "late": 0},
            "m2": {"gaps": 0, "missing": 0, "duplicates": 0, "reboots": 0, "late": 0},
        }
    assert count_samples(engine) == 15  # 5 + 5 + 2 of m1 (the duplicate and the replay not), 3 of m2


def test_a_silent_device_raises_offline_with_default_settings(
    mqtt_broker: tuple[str, int], tmp_path: Path
) -> None:
    """No alarm rule configured: the heartbeat timeout alone raises `offline` (published, stored,
    MachineDown to the scheduler) and the device's next message clears it (MachineUp)."""
    plant = f"t{uuid.uuid4().hex[:10]}"
    broker = Broker(*mqtt_broker)
    engine, _ = connect(f"sqlite:///{tmp_path / 'o.db'}")
    config = GatewayConfig(gateway_id="gw", session_expiry_s=5, tick_interval_s=0.1)
    registry = _registry(plant, heartbeat_timeout_ms=700)
    with MqttFactory(broker, registry, config=config, engine=engine) as factory:
        events: list[Event] = []

        def heard(kind: type) -> bool:
            events.extend(factory.poll(factory.now_s))
            return any(isinstance(e, kind) for e in events)

        async def run() -> list[tuple[str, bool]]:
            async with (
                aiomqtt.Client(*mqtt_broker, protocol=aiomqtt.ProtocolVersion.V5) as watcher,
                DeviceLink(broker, plant, "machine", "m1", session_expiry_s=5) as link,
            ):
                await watcher.subscribe(f"mixflow/{plant}/_alarm", qos=1)
                await link.heartbeat()
                await asyncio.to_thread(_wait, lambda: heard(MachineDown))
                await link.heartbeat()
                await asyncio.to_thread(_wait, lambda: heard(MachineUp))
                alarms: list[tuple[str, bool]] = []
                async with asyncio.timeout(10):
                    async for message in watcher.messages:
                        alarm = json.loads(bytes(message.payload))
                        alarms.append((alarm["device"], alarm["raised"]))
                        if len(alarms) == 2:
                            return alarms
            return []

        assert asyncio.run(run()) == [("m1", True), ("m1", False)]
        down = next(e for e in events if isinstance(e, MachineDown))
        assert (down.machine_id, down.reason) == ("m1", "offline")
    with Session(engine) as session:  # (m1 may have gone silent again since: only the first counts)
        stored = session.scalars(select(AlarmRecord).order_by(AlarmRecord.id)).first()
    assert stored is not None and (stored.device_id, stored.rule) == ("m1", "offline")
    assert stored.cleared_ms is not None
