"""Operations: the gateway's /metrics (Prometheus text) and /health over real HTTP, and a device
registered while the gateway runs is taken up without a restart."""

from __future__ import annotations

import asyncio
import json
import socket
import time
import uuid
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import text

from mixflow.connect import topics
from mixflow.connect.broker import Broker
from mixflow.connect.gateway import Gateway, GatewayConfig
from mixflow.connect.ingest import Ingest
from mixflow.connect.registry import Registry
from mixflow.connect.wire import WireClient
from mixflow.store.db import connect
from mixflow.store.telemetry import dead_letters
from tests.connect.outside import http_get

pytestmark = pytest.mark.services


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])




def _samples(body: bytes) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a scrape, keyed by name and sorted labels (the gateway label left out)."""
    out = {}
    for family in text_string_to_metric_families(body.decode()):
        for sample in family.samples:
            labels = tuple(sorted((k, v) for k, v in sample.labels.items() if k != "gateway"))
            out[(sample.name, labels)] = sample.value
    return out


async def _publish(port_host: tuple[str, int], plant: str, device_id: str, messages: list[bytes]) -> None:
    client = WireClient(*port_host, f"{plant}-{device_id}")
    await client.connect()
    topic = topics.device_topic(plant, "machine", device_id, "telemetry")
    for payload in messages:
        await (await client.publish(topic, payload))
    await client.disconnect()


def _telemetry(seq: int, boot: int = 0) -> bytes:
    payload = {"v": 1, "t": time.time_ns() // 1_000_000, "boot": boot, "seq": seq, "m": {"kw": 1.5}}
    return json.dumps(payload).encode()


async def _until(check: object, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.05)


def test_metrics_and_health_are_served_over_http(mqtt_broker: tuple[str, int], tmp_path: Path) -> None:
    plant = f"mx{uuid.uuid4().hex[:8]}"
    registry = Registry(plant, heartbeat_timeout_ms=3_600_000)
    registry.register("m1", "machine", "m1-password", b"0123456789ab")
    engine, _ = connect(f"sqlite:///{tmp_path / 'm.db'}")
    port = _free_port()
    config = GatewayConfig(gateway_id="mx", session_expiry_s=60, metrics_port=port, dead_letters_per_s=1)
    gateway = Gateway(Broker(*mqtt_broker), Ingest(registry), config, engine)
    other = Gateway(Broker(*mqtt_broker), Ingest(registry), config, engine)  # its own registry: no clash

    async def run() -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        await gateway.start()
        try:
            # seq 1-5, a gap (6, 7 missing), a duplicate, and three malformed messages
            messages = [_telemetry(seq) for seq in (1, 2, 3, 4, 5, 8, 8)] + [b"\xc1 not a payload"] * 3
            await _publish(mqtt_broker, plant, "m1", messages)
            await _until(lambda: gateway.stored_messages == 6 and gateway.counters["received"] == 10)
            await _until(lambda: len(dead_letters(engine, plant)) == 3)  # all stored, one published
            status, body = await asyncio.to_thread(http_get, f"http://127.0.0.1:{port}/health")
            assert status == 200 and json.loads(body)["healthy"] is True
            status, body = await asyncio.to_thread(http_get, f"http://127.0.0.1:{port}/metrics")
            assert status == 200
            assert (await asyncio.to_thread(http_get, f"http://127.0.0.1:{port}/nothing"))[0] == 404
            return _samples(body)
        finally:
            await gateway.stop()

    samples = asyncio.run(run())
    prefix = "mixflow_gateway"
    assert samples[(f"{prefix}_received_total", ())] == 10
    assert samples[(f"{prefix}_stored_messages_total", ())] == 6
    assert samples[(f"{prefix}_dead_lettered_total", (("reason", "malformed"),))] == 3
    assert gateway.counters["dead_letters_unpublished"] >= 1
    assert {(r.reason, r.device_id) for r in dead_letters(engine, plant)} == {("malformed", "m1")}
    for name in ("duplicates", "gaps", "missing", "reboots"):  # ingest's counters, read at scrape time
        assert samples[(f"{prefix}_{name}_total", ())] == gateway.counters[name]
    assert samples[(f"{prefix}_duplicates_total", ())] == 1
    assert samples[(f"{prefix}_missing_total", ())] == 2
    depths = {dict(key)["shard"]: value for (name, key), value in samples.items() if "queue_depth" in name}
    assert set(depths) == set(config.owned_shards()) and sum(depths.values()) == 0
    assert samples[(f"{prefix}_store_seconds_count", ())] >= 1
    assert 0 <= samples[(f"{prefix}_lag_seconds", ())] < 60
    assert samples[(f"{prefix}_healthy", ())] == 1
    assert other.metrics.render().count(b"\nmixflow_gateway_received_total{") == 1


def test_a_device_registered_while_the_gateway_runs_is_accepted(
    mqtt_broker: tuple[str, int], tmp_path: Path
) -> None:
    plant = f"nd{uuid.uuid4().hex[:8]}"
    engine, _ = connect(f"sqlite:///{tmp_path / 'n.db'}")
    registry = Registry(plant)
    registry.register("m1", "machine", "m1-password", b"0123456789ab")
    registry.save(engine)
    config = GatewayConfig(gateway_id="nd", session_expiry_s=60)
    gateway = Gateway(Broker(*mqtt_broker), Ingest(Registry.load(engine, plant)), config, engine)

    def stored(device_id: str) -> int:
        with engine.connect() as connection:
            query = text("SELECT COUNT(*) FROM telemetry_sample WHERE device_id = :d")
            return int(connection.execute(query, {"d": device_id}).scalar_one())

    async def run() -> None:
        await gateway.start()
        try:
            newcomer = Registry(plant)
            newcomer.register("m9", "machine", "m9-password", b"0123456789ab")
            await asyncio.to_thread(newcomer.save, engine)  # provisioned after the gateway started
            await _publish(mqtt_broker, plant, "m9", [_telemetry(1)])  # its very first message
            deadline = time.monotonic() + 5  # taken up at once, not at the periodic reload a minute later
            while stored("m9") == 0:
                assert time.monotonic() < deadline, "the new device was never taken up"
                await asyncio.sleep(0.05)
            assert "m9" in gateway.ingest.registry and "m1" in gateway.ingest.registry
            await _publish(mqtt_broker, plant, "ghost", [_telemetry(1)])  # never provisioned
            while gateway.counters["rejected_unknown_device"] == 0:
                assert time.monotonic() < deadline + 5, "an unknown device was never refused"
                await asyncio.sleep(0.05)
        finally:
            await gateway.stop()

    asyncio.run(run())
