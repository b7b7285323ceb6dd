"""End-to-end ingestion benchmark: virtual devices -> broker -> gateway(s) -> validation -> storage.

Publisher processes play `devices` machines that each send telemetry at `rate_hz` at QoS 1 (each
message stamped with its send time); gateway processes ingest, validate and store them and
acknowledge after the store commits. Counts are exact: `sent` is what the broker acknowledged to
the devices, `received` what the gateways accepted, `stored` what was committed, `lost` = sent -
received. Latency runs from a message's send time to its storage commit.
"""

from __future__ import annotations

import asyncio
import math
import multiprocessing as mp
import os
import queue
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import aiomqtt
import numpy as np

from mixflow.connect import topics
from mixflow.connect.broker import Broker
from mixflow.connect.gateway import Gateway, GatewayConfig, now_ms
from mixflow.connect.ingest import Ingest
from mixflow.connect.payloads import encode
from mixflow.connect.registry import Registry
from mixflow.errors import MixflowError, ValidationError
from mixflow.store.db import connect as connect_db

TICK_S = 0.01
DRAIN_S = 15.0


@dataclass(frozen=True)
class BenchSpec:
    """One benchmark run."""

    devices: int
    rate_hz: float
    seconds: float
    agvs: int = 0
    agv_rate_hz: float = 5.0
    gateways: int = 1
    publishers: int = 1
    connections_per_publisher: int = 4
    binary: bool = True
    db_url: str | None = None
    plant: str = ""
    baseline: bool = False

    def __post_init__(self) -> None:
        if self.devices < 1 or self.agvs < 0:
            raise ValidationError("--devices", f"must be at least 1 (and --agvs >= 0), got {self.devices}")
        if not 0 < self.agv_rate_hz <= 1000:
            raise ValidationError("--agv-rate", f"must lie in (0, 1000] Hz, got {self.agv_rate_hz:g}")
        if not 0 < self.rate_hz <= 1000:
            raise ValidationError("--rate", f"must lie in (0, 1000] Hz, got {self.rate_hz:g}")
        if not 0 < self.seconds <= 3600:
            raise ValidationError("--seconds", f"must lie in (0, 3600], got {self.seconds:g}")
        if not 1 <= self.gateways <= topics.SHARDS:
            raise ValidationError("--gateways", f"must lie in 1..{topics.SHARDS}, got {self.gateways}")
        if self.publishers < 1 or self.connections_per_publisher < 1:
            raise ValidationError("--publishers", "publishers and connections must be at least 1")

    @property
    def offered_per_s(self) -> float:
        return self.devices * self.rate_hz + self.agvs * self.agv_rate_hz


def device_ids(count: int) -> list[str]:
    return [f"m{i:05d}" for i in range(count)]


def agv_ids(count: int) -> list[str]:
    return [f"a{i:05d}" for i in range(count)]


def bench_registry(plant: str, machines: int, agvs: int = 0) -> Registry:
    registry = Registry(plant, heartbeat_timeout_ms=3_600_000)
    salt = b"mixflow-bench"[:12]
    for device_id in device_ids(machines):
        registry.register(device_id, "machine", f"pw-{device_id}", salt)
    for device_id in agv_ids(agvs):
        registry.register(device_id, "agv", f"pw-{device_id}", salt)
    return registry


# -- gateway process --------------------------------------------------------------------------------


def _gateway_main(
    broker: Broker, spec: BenchSpec, index: int, db_url: str, ready: Any, stop: Any, out: Any, progress: Any
) -> None:
    async def run() -> dict[str, Any]:
        engine, _ = connect_db(db_url)
        ingest = Ingest(bench_registry(spec.plant, spec.devices, spec.agvs))
        gateway = Gateway(
            broker,
            ingest,
            GatewayConfig(gateway_id=f"gw{index}", index=index, count=spec.gateways, session_expiry_s=60),
            engine,
        )
        if spec.baseline:
            await _baseline_ingest(gateway, index, ready, stop, progress)
        else:
            await gateway.start()
            cpu_start = time.process_time()
            ready.put(index)
            while not stop.is_set():
                await asyncio.sleep(0.05)
                progress.value = gateway.stored_messages
            await gateway.stop()
        latencies = np.concatenate(gateway.latencies_ms) if gateway.latencies_ms else np.zeros(0, np.int64)
        return {
            "stats": gateway.stats(),
            "latencies": latencies,
            "last_store_ms": gateway.last_store_ms,
            "cpu_s": time.process_time() - (0.0 if spec.baseline else cpu_start),
        }

    try:
        out.put(asyncio.run(run()))
    except (MixflowError, aiomqtt.MqttError) as error:  # a refused login, too: one line, not a trace
        out.put({"error": str(error)})


async def _baseline_ingest(gateway: Gateway, index: int, ready: Any, stop: Any, progress: Any) -> None:
    """The plain way, for comparison: aiomqtt's message iterator (paho's reader, which acknowledges
    each QoS 1 message on receipt, before it is stored), then the same validation and storage."""
    broker = gateway.broker
    filters = [
        f for shard in gateway.config.owned_shards() for f in topics.shard_filters(gateway.plant, shard)
    ]
    async with aiomqtt.Client(
        broker.host,
        broker.port,
        username=broker.username,
        password=broker.password,
        identifier=f"{gateway.client_id}-baseline",
        protocol=aiomqtt.ProtocolVersion.V5,
        max_queued_incoming_messages=0,
        tls_context=broker.ssl_context(),
    ) as client:
        await client.subscribe([(f, 1) for f in filters])
        ready.put(index)
        handle = gateway.ingest.handle

        async def consume() -> None:
            async for message in client.messages:
                handle(str(message.topic), bytes(message.payload))

        consumer = asyncio.create_task(consume())
        while not stop.is_set():
            await asyncio.sleep(gateway.config.flush_interval_s)
            await gateway.flush()
            progress.value = gateway.stored_messages
        consumer.cancel()
        await gateway.flush()


# -- publisher process ------------------------------------------------------------------------------


class _Fleet:
    """The devices of one kind a publisher plays: topics, a rate, and how far along the schedule it is."""

    def __init__(self, plant: str, kind: str, ids: list[str], rate_hz: float, seed: int) -> None:
        self.kind = kind
        self.topics = [topics.device_topic(plant, kind, d, "telemetry") for d in ids]
        self.rate = len(ids) * rate_hz
        self.produced = 0
        self.boot = now_ms()  # one run of these devices: their seq counts from 1 under it
        self.seq = 0
        rng = np.random.default_rng(seed)
        self.base = rng.uniform(5, 50, len(ids)).round(2).tolist()

    def payload(self, k: int, binary: bool) -> bytes:
        base = self.base[k]
        if self.kind == "agv":
            phase = self.seq % 100
            metrics = {"x": float(phase), "y": base, "soc": round(1.0 - phase / 200, 3)}
        else:
            metrics = {"kw": base, "temp_c": 40.0 + k % 7}
        return encode({"v": 1, "t": now_ms(), "boot": self.boot, "seq": self.seq, "m": metrics}, binary)


def _publisher_main(broker: Broker, spec: BenchSpec, index: int, start_at: float, out: Any) -> None:
    plant = spec.plant
    fleets = [
        _Fleet(plant, "machine", device_ids(spec.devices)[index :: spec.publishers], spec.rate_hz, index),
        _Fleet(plant, "agv", agv_ids(spec.agvs)[index :: spec.publishers], spec.agv_rate_hz, 1000 + index),
    ]
    fleets = [fleet for fleet in fleets if fleet.topics]

    async def run() -> dict[str, Any]:
        per = spec.connections_per_publisher
        clients = [broker.client(f"bench-{plant}-p{index}-{k}") for k in range(per)]
        for client in clients:
            await client.connect()
        totals = [math.floor(fleet.rate * spec.seconds) for fleet in fleets]
        await asyncio.sleep(max(0.0, start_at - time.time()))
        t0 = time.monotonic()
        cpu_start = time.process_time()
        while any(fleet.produced < total for fleet, total in zip(fleets, totals, strict=True)):
            elapsed = time.monotonic() - t0
            for fleet, total in zip(fleets, totals, strict=True):
                due = min(total, math.floor(elapsed * fleet.rate))
                size = len(fleet.topics)
                while fleet.produced < due:
                    k = fleet.produced % size
                    if k == 0:
                        fleet.seq += 1
                    await clients[k % len(clients)].publish_counted(
                        fleet.topics[k], fleet.payload(k, spec.binary)
                    )
                    fleet.produced += 1
            await asyncio.sleep(TICK_S)
        send_s = time.monotonic() - t0
        for client in clients:
            await client.drain(10.0)
            await client.disconnect()
        return {
            "produced": sum(fleet.produced for fleet in fleets),
            "sent": sum(client.acked for client in clients),
            "send_s": send_s,
            "cpu_s": time.process_time() - cpu_start,
        }

    out.put(asyncio.run(run()))


def _result_of(results: Any, processes: list[Any], what: str) -> dict[str, Any]:
    """The next result from `results`, or an error as soon as every process died without one."""
    while True:
        try:
            result: dict[str, Any] = results.get(timeout=1.0)
            return result
        except queue.Empty:
            if not any(process.is_alive() for process in processes):
                raise MixflowError(f"benchmark {what} exited without a result") from None


def run_bench(broker: Broker, spec: BenchSpec) -> dict[str, Any]:
    """Run the benchmark; returns the issue's JSON fields plus offered rate, per-gateway counters."""
    plant = spec.plant or f"bench{os.getpid()}x{int(time.time()) % 100000}"
    spec = BenchSpec(**{**asdict(spec), "plant": plant})
    context = mp.get_context("spawn")
    ready, stop, out, pub_out = context.Queue(), context.Event(), context.Queue(), context.Queue()
    with tempfile.TemporaryDirectory(prefix="mixflow-bench-") as scratch:
        # SQLite allows one writer: each gateway gets its own file (storage sharded like the topics)
        db_urls = [
            spec.db_url or f"sqlite:///{Path(scratch) / f'telemetry-gw{i}.db'}" for i in range(spec.gateways)
        ]
        for db_url in set(db_urls):
            connect_db(db_url)  # migrate once, before the gateways race to do it
        progress = [context.Value("q", 0) for _ in range(spec.gateways)]
        gateways = [
            context.Process(
                target=_gateway_main,
                args=(broker, spec, i, db_url, ready, stop, out, progress[i]),
                daemon=True,
            )
            for i in range(spec.gateways)
        ]
        for process in gateways:
            process.start()
        started: set[int] = set()
        deadline = time.monotonic() + 60
        while len(started) < spec.gateways:
            try:
                started.add(ready.get(timeout=1))
            except queue.Empty:
                if time.monotonic() > deadline or not all(p.is_alive() for p in gateways):
                    stop.set()
                    failure = out.get(timeout=5) if not out.empty() else {"error": "gateway did not start"}
                    raise MixflowError(f"benchmark gateway failed: {failure.get('error')}") from None
        start_at = time.time() + 1.0
        publishers = [
            context.Process(target=_publisher_main, args=(broker, spec, i, start_at, pub_out), daemon=True)
            for i in range(spec.publishers)
        ]
        for process in publishers:
            process.start()
        results = [_result_of(pub_out, publishers, "device publisher") for _ in publishers]
        for process in publishers:
            process.join(10)
        sent = sum(r["sent"] for r in results)
        # drain: wait until the gateways have stored everything sent, or made no progress for DRAIN_S
        last, quiet_since = -1, time.monotonic()
        while time.monotonic() - quiet_since < DRAIN_S:
            done = sum(value.value for value in progress)
            if done >= sent:
                break
            if done != last:
                last, quiet_since = done, time.monotonic()
            time.sleep(0.1)
        stop.set()
        reports = [_result_of(out, gateways, "gateway") for _ in gateways]
        for process in gateways:
            process.join(10)
    errors = [r["error"] for r in reports if "error" in r]
    if errors:
        raise MixflowError(f"benchmark gateway failed: {errors[0]}")
    received = sum(r["stats"].get("telemetry", 0) + r["stats"].get("duplicates", 0) for r in reports)
    stored = sum(r["stats"].get("stored_messages", 0) for r in reports)
    latencies = np.concatenate([r["latencies"] for r in reports])
    send_s = max(r["send_s"] for r in results)
    busy_s = max(r["last_store_ms"] for r in reports) / 1000 - start_at
    p50, p99 = (
        (float(np.percentile(latencies, q)) for q in (50, 99)) if latencies.size else (math.nan, math.nan)
    )
    return {
        "sent": sent,
        "received": received,
        "lost": sent - received,
        "msgs_per_s": round(stored / max(busy_s, send_s), 1),
        "latency_ms_p50": round(p50, 2),
        "latency_ms_p99": round(p99, 2),
        "stored": stored,
        "offered_per_s": spec.offered_per_s,
        "produced": sum(r["produced"] for r in results),
        "send_s": round(send_s, 2),
        "ingest_s": round(busy_s, 2),
        "rejected": sum(r["stats"].get("rejected", 0) for r in reports),
        "gateway_cpu_us_per_msg": round(sum(r["cpu_s"] for r in reports) * 1e6 / max(1, received), 1),
        "device_cpu_us_per_msg": round(sum(r["cpu_s"] for r in results) * 1e6 / max(1, sent), 1),
        "gateways": spec.gateways,
        "encoding": "msgpack" if spec.binary else "json",
        "ingest": "aiomqtt baseline" if spec.baseline else "mixflow wire",
        "storage": (spec.db_url or "sqlite").split(":", 1)[0],
    }
