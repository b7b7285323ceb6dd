"""A failing store never loses or acknowledges a batch: the gateway keeps it and retries; what the
gateway keeps for its latency figures stays bounded."""

from __future__ import annotations

import asyncio
from pathlib import Path

from sqlalchemy import text

from mixflow.connect import gateway as gateway_module
from mixflow.connect import topics
from mixflow.connect.broker import Broker
from mixflow.connect.gateway import Gateway, GatewayConfig
from mixflow.connect.ingest import Ingest
from mixflow.connect.payloads import encode
from mixflow.connect.registry import Registry
from mixflow.connect.wire import Received
from mixflow.store.db import connect
from mixflow.store.telemetry import count_samples


def test_store_failure_keeps_the_batch_unacknowledged_until_it_is_stored(tmp_path: Path) -> None:
    engine, _ = connect(f"sqlite:///{tmp_path / 'f.db'}")
    registry = Registry("p")
    registry.register("m1", "machine", "password-1", b"0123456789ab")
    gateway = Gateway(Broker("127.0.0.1", 1), Ingest(registry), GatewayConfig(), engine)  # never started
    topic = topics.device_topic("p", "machine", "m1", "telemetry")
    batch = [Received(topic, encode({"v": 1, "t": k, "seq": k, "m": {"kw": 1.0}}), 1, k) for k in range(1, 6)]
    gateway._acks.append([])  # the one link's pending acknowledgements (no broker: nothing is sent)
    gateway._on_messages(0, batch)
    with engine.begin() as connection:
        connection.execute(text("ALTER TABLE telemetry_sample RENAME TO telemetry_away"))
    asyncio.run(gateway.flush())
    assert gateway.stored_messages == 0 and gateway.ingest.counters["store_retries"] == 1
    assert gateway._acks == [[1, 2, 3, 4, 5]] and len(gateway.ingest.rows) == 5
    with engine.begin() as connection:
        connection.execute(text("ALTER TABLE telemetry_away RENAME TO telemetry_sample"))
    asyncio.run(gateway.flush())
    assert gateway.stored_messages == 5 and gateway._acks == [[]] and count_samples(engine) == 5


def test_latencies_are_kept_for_the_latest_messages_only(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """A gateway that runs for months keeps the latencies of about the latest `LATENCY_WINDOW` stored
    messages for its percentiles, not of every message it ever stored."""
    monkeypatch.setattr(gateway_module, "LATENCY_WINDOW", 12)
    engine, _ = connect(f"sqlite:///{tmp_path / 'l.db'}")
    registry = Registry("p")
    registry.register("m1", "machine", "password-1", b"0123456789ab")
    gateway = Gateway(Broker("127.0.0.1", 1), Ingest(registry), GatewayConfig(), engine)  # never started
    gateway._acks.append([])
    topic = topics.device_topic("p", "machine", "m1", "telemetry")
    seq = 0
    for _ in range(10):
        batch = []
        for _ in range(5):
            seq += 1
            batch.append(Received(topic, encode({"v": 1, "t": seq, "seq": seq, "m": {"kw": 1.0}}), 1, seq))
        gateway._on_messages(0, batch)
        asyncio.run(gateway.flush())
    kept = sum(len(a) for a in gateway.latencies_ms)
    assert gateway.stored_messages == 50 and count_samples(engine) == 50
    assert 12 <= kept < 12 + 5
    p50, p99 = gateway.latency_percentiles()
    assert 0 <= p50 <= p99
