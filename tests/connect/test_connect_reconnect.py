"""A broker restart loses nothing acknowledged: the gateway reconnects by itself and resumes its sessions.

The test runs its own Mosquitto (persistence on, so queued messages and sessions survive), stops it
with SIGTERM mid-stream and starts it again on the same port and data directory. Devices publish at
QoS 1 throughout; everything the broker acknowledged to a device must be stored exactly once.
Commands and alarms submitted while the broker is away go out when it is back, and `serve --mqtt`'s
factory goes on working.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from mixflow.connect import topics
from mixflow.connect.broker import Broker
from mixflow.connect.factory import MqttFactory
from mixflow.connect.gateway import Gateway, GatewayConfig
from mixflow.connect.ingest import Ingest
from mixflow.connect.wire import MqttError, Received, WireClient
from mixflow.model.port import MachineDown, StartOperation
from mixflow.store.db import connect
from tests.connect.outside import http_get, machine_registry, stored_seqs
from tests.faults.harness import Mosquitto, free_port

pytestmark = pytest.mark.services
DEVICES = tuple(f"m{k}" for k in range(8))


@pytest.fixture
def broker(tmp_path: Path, mosquitto_installed: None) -> Iterator[Mosquitto]:
    """A private persistent Mosquitto the test can restart (the fault suite's)."""
    mosquitto = Mosquitto(tmp_path, max_queued_messages=100_000)
    mosquitto.start()
    try:
        yield mosquitto
    finally:
        mosquitto.stop()






class Devices:
    """The plant's devices on one connection: QoS 1, reconnecting when the broker goes; `acked` holds
    what the broker acknowledged (a publish cut off by the restart is simply not counted)."""

    def __init__(self, port: int, plant: str) -> None:
        self.plant = plant
        self.client = WireClient("127.0.0.1", port, f"{plant}-devices")
        self.seq = dict.fromkeys(DEVICES, 0)
        self.acked: dict[str, set[int]] = {d: set() for d in DEVICES}
        self.running = True

    async def run(self) -> None:
        while self.running:
            if not self.client.connected:
                with contextlib.suppress(MqttError):
                    await self.client.connect(1.0)
                await asyncio.sleep(0.05)
                continue
            for device_id in DEVICES:
                self.seq[device_id] += 1
                seq = self.seq[device_id]
                payload = {"v": 1, "t": time.time_ns() // 1_000_000, "seq": seq, "m": {"seq": seq}}
                topic = topics.device_topic(self.plant, "machine", device_id, "telemetry")
                try:
                    done = await self.client.publish(topic, json.dumps(payload).encode())
                except MqttError:
                    break
                done.add_done_callback(
                    lambda f, d=device_id, s=seq: f.exception() is None and self.acked[d].add(s)  # type: ignore[func-returns-value]
                )
            await asyncio.sleep(0.01)
        await self.client.disconnect()




async def _until(check: object, timeout_s: float = 15.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.05)


def test_a_broker_restart_loses_nothing_acknowledged(
    broker: Mosquitto, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, "mixflow.connect")
    plant = f"rc{uuid.uuid4().hex[:8]}"
    engine, _ = connect(f"sqlite:///{tmp_path / 'r.db'}")
    metrics_port = free_port()
    config = GatewayConfig(gateway_id="rc", session_expiry_s=300, metrics_port=metrics_port, line_id="L1")
    registry = machine_registry(plant, DEVICES)
    gateway = Gateway(Broker("127.0.0.1", broker.port), Ingest(registry), config, engine)
    health = f"http://127.0.0.1:{metrics_port}/health"
    heard: list[Received] = []

    async def run() -> None:
        await gateway.start()
        # a machine controller and an operator screen, on a persistent session that outlives the restart
        listener = WireClient(
            "127.0.0.1", broker.port, f"{plant}-m0", on_messages=heard.extend, clean_start=False,
            session_expiry_s=300,
        )
        await listener.connect()
        await listener.subscribe(
            [topics.device_topic(plant, "machine", "m0", "cmd"), f"{topics.dead_letter_topic(plant, '')}#"]
        )
        devices = Devices(broker.port, plant)
        publishing = asyncio.create_task(devices.run())
        await asyncio.sleep(1.0)
        assert (await asyncio.to_thread(http_get, health))[0] == 200

        await asyncio.to_thread(broker.stop)
        await _until(lambda: not any(link.connected for link in gateway._links), 5)
        assert (await asyncio.to_thread(http_get, health))[0] == 503
        sent = await gateway.submit([StartOperation("op-1", "m0", 0, 60, "s")])  # queued
        await asyncio.sleep(0.5)
        await asyncio.to_thread(broker.start)

        await _until(lambda: all(link.connected for link in gateway._links), 10)
        with contextlib.suppress(MqttError):
            await listener.connect()
        await _until(lambda: sum(map(len, devices.acked.values())) > 0 and devices.client.connected)
        await asyncio.sleep(1.0)
        devices.running = False
        await publishing
        await _until(lambda: any(m.topic.endswith("/cmd") for m in heard))
        acked = sum(map(len, devices.acked.values()))
        await _until(lambda: sum(map(len, stored_seqs(engine).values())) >= acked)
        await asyncio.sleep(0.3)  # a re-delivery still on its way would show up as a duplicate
        assert (await asyncio.to_thread(http_get, health))[0] == 200
        await listener.disconnect()
        await gateway.stop()

        command = json.loads(next(m.payload for m in heard if m.topic.endswith("/cmd")))
        assert command["id"] == sent[0].message.command_id == "rc.1-1"  # first start counted in the store
        stored = stored_seqs(engine)
        for device_id in DEVICES:
            assert len(stored[device_id]) == len(set(stored[device_id])), f"{device_id} stored twice"
            assert devices.acked[device_id] <= set(stored[device_id]), f"{device_id} lost acknowledged"
        assert max(devices.seq.values()) > 100  # it ran on both sides of the restart

    asyncio.run(run())
    assert gateway.counters["reconnects"] == len(gateway._links) == 16
    said = [r.getMessage() for r in caplog.records if "the broker" in r.getMessage()]
    assert len(said) == 3, said  # lost, cannot reconnect yet, reconnected: once each, not per link
    assert said[0].startswith(f"lost the broker 127.0.0.1:{broker.port}") and "reconnected" in said[2]


def test_the_factory_keeps_working_across_a_broker_restart(broker: Mosquitto) -> None:
    plant = f"rf{uuid.uuid4().hex[:8]}"
    config = GatewayConfig(gateway_id="rf", session_expiry_s=300)
    registry = machine_registry(plant, DEVICES)
    with MqttFactory(Broker("127.0.0.1", broker.port), registry, config=config) as factory:
        broker.stop()
        broker.start()
        links = factory.gateway._links
        deadline = time.monotonic() + 10
        while not all(link.connected for link in links):
            assert time.monotonic() < deadline, "the factory's gateway did not reconnect"
            time.sleep(0.05)

        async def machine_down() -> None:
            client = WireClient("127.0.0.1", broker.port, f"{plant}-m3")
            await client.connect()
            payload = {"v": 1, "t": time.time_ns() // 1_000_000, "seq": 1, "status": "down", "reason": "jam"}
            topic = topics.device_topic(plant, "machine", "m3", "state")
            await (await client.publish(topic, json.dumps(payload).encode()))
            await client.disconnect()

        asyncio.run(machine_down())
        events: list[object] = []
        deadline = time.monotonic() + 10
        while not any(isinstance(e, MachineDown) for e in events):
            assert time.monotonic() < deadline, f"no MachineDown after the restart: {events}"
            events += factory.poll(factory.now_s + 1)
        assert factory.gateway.counters["reconnects"] == 16


def test_a_paused_link_still_reconnects_and_gets_all_once_resumed(mqtt_broker: tuple[str, int]) -> None:
    """Back-pressure and a lost connection at once: connecting and subscribing read their answers
    even while the owner has paused reading; the queued messages come once it resumes."""
    name = f"pz{uuid.uuid4().hex[:8]}"
    got: list[Received] = []

    async def run() -> None:
        link = WireClient(
            *mqtt_broker, name, on_messages=got.extend, clean_start=False, session_expiry_s=60
        )
        await link.connect()
        await link.subscribe([f"{name}/#"])
        link.pause_reading()
        link.abort()
        sender = WireClient(*mqtt_broker, f"{name}-sender")
        await sender.connect()
        for k in range(50):
            await (await sender.publish(f"{name}/t", str(k).encode()))
        await sender.disconnect()
        await asyncio.wait_for(link.connect(), 5)
        await asyncio.wait_for(link.subscribe([f"{name}/#"]), 5)
        assert link.session_present and link.paused
        link.resume_reading()
        await _until(lambda: len(got) >= 50, 5)
        await link.disconnect()

    asyncio.run(run())
    assert [int(m.payload) for m in got] == list(range(50))
