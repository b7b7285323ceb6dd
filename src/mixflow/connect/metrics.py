"""The gateway's health and Prometheus metrics, served over plain HTTP on its own event loop.

Counts are read from the gateway at scrape time (a custom collector), so the hot path pays nothing
and nothing is counted twice; only the store latency is a histogram the gateway feeds. Each gateway
has its own `CollectorRegistry`, so several gateways (tests, a stand-by) can live in one process.

`GET /metrics` answers in Prometheus' text format; `GET /health` answers 200 with a JSON summary
while every broker link is up and the store took the latest batch within the bound, 503 otherwise.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Iterator, Mapping
from typing import Any, Protocol

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from mixflow.errors import MixflowError

PREFIX = "mixflow_gateway"
DEAD_PREFIX = "rejected_"  # ingest counts each dead-letter reason as rejected_<reason>
INGEST_COUNTS = {
    "received": "Uplink messages received (accepted, duplicate or dead-lettered).",
    "duplicates": "Messages dropped as re-deliveries (sequence not above the last of the device's run).",
    "gaps": "Sequence gaps: a device's sequence jumped past the next number.",
    "missing": "Messages missing inside sequence gaps.",
    "reboots": "Device agents seen starting a new run (boot counter grew).",
    "reconnects": "Broker connections re-established after a loss.",
    "store_retries": "Batches the store could not take (outage) and that were kept for a retry.",
}


class Observed(Protocol):
    """What the metrics read of a gateway (`mixflow.connect.gateway.Gateway` has it)."""

    stored_messages: int
    stored_rows: int

    @property
    def gateway_id(self) -> str: ...

    @property
    def counters(self) -> Mapping[str, int]: ...

    def lag_s(self) -> float | None: ...

    def queue_depths(self) -> dict[str, int]: ...

    def health(self) -> tuple[bool, dict[str, Any]]: ...


class _GatewayCollector:
    """Turns the gateway's counters into metric families at each scrape."""

    def __init__(self, gateway: Observed) -> None:
        self.gateway = gateway

    def collect(self) -> Iterator[Metric]:
        gateway = self.gateway
        counters = gateway.counters
        labels = ["gateway"]
        ids = [gateway.gateway_id]
        for name, text in INGEST_COUNTS.items():
            family = CounterMetricFamily(f"{PREFIX}_{name}", text, labels=labels)
            family.add_metric(ids, counters.get(name, 0))
            yield family
        for name, value, text in (
            ("stored_messages", gateway.stored_messages, "Telemetry messages stored (then acknowledged)."),
            ("stored_rows", gateway.stored_rows, "Telemetry samples stored."),
        ):
            family = CounterMetricFamily(f"{PREFIX}_{name}", text, labels=labels)
            family.add_metric(ids, value)
            yield family
        dead = CounterMetricFamily(
            f"{PREFIX}_dead_lettered", "Messages dead-lettered, by reason.", labels=[*labels, "reason"]
        )
        for key, value in sorted(counters.items()):
            if key.startswith(DEAD_PREFIX):
                dead.add_metric([*ids, key[len(DEAD_PREFIX) :]], value)
        yield dead
        depth = GaugeMetricFamily(
            f"{PREFIX}_queue_depth",
            "Messages received but not yet stored and acknowledged, per shard.",
            labels=[*labels, "shard"],
        )
        for shard, value in gateway.queue_depths().items():
            depth.add_metric([*ids, shard], value)
        yield depth
        lag = gateway.lag_s()
        if lag is not None:
            lag_family = GaugeMetricFamily(
                f"{PREFIX}_lag_seconds", "Now minus the send time of the last stored message.", labels=labels
            )
            lag_family.add_metric(ids, lag)
            yield lag_family
        healthy, facts = gateway.health()
        up = GaugeMetricFamily(f"{PREFIX}_healthy", "1 while /health answers 200.", labels=labels)
        up.add_metric(ids, float(healthy))
        yield up
        paused = GaugeMetricFamily(
            f"{PREFIX}_paused", "1 while reading is paused because the store is behind.", labels=labels
        )
        paused.add_metric(ids, float(facts["paused"]))
        yield paused


class GatewayMetrics:
    """One gateway's registry: the collector plus the store-latency histogram the gateway feeds."""

    def __init__(self, gateway: Observed) -> None:
        self.gateway = gateway
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(_GatewayCollector(gateway))
        self.store_seconds = Histogram(
            f"{PREFIX}_store_seconds",
            "Time one batch took to store (rows, alarms and dead letters).",
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
            registry=self.registry,
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)

    async def serve(self, host: str, port: int) -> asyncio.Server:
        """Listen for `/metrics` and `/health`; a port in use raises a one-line error."""
        try:
            return await asyncio.start_server(self._answer, host, port)
        except OSError as error:
            raise MixflowError(
                f"metrics endpoint {host}:{port}: {error.strerror or error} (choose another --metrics-port,"
                " or 0 for none)"
            ) from None

    async def _answer(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            async with asyncio.timeout(5):
                request = await reader.readline()
                while (await reader.readline()).strip():  # headers: not needed
                    pass
            parts = request.decode("latin-1").split()
            path = parts[1].split("?", 1)[0] if len(parts) >= 2 else ""
            if path == "/metrics":
                status, body, kind = 200, self.render(), CONTENT_TYPE_LATEST
            elif path == "/health":
                healthy, facts = self.gateway.health()
                status, body, kind = (200 if healthy else 503), json.dumps(facts).encode(), "application/json"
            else:
                status, body, kind = 404, b"try /metrics or /health\n", "text/plain"
            reason = {200: "OK", 404: "Not Found", 503: "Service Unavailable"}[status]
            head = (
                f"HTTP/1.1 {status} {reason}\r\nContent-Type: {kind}\r\nContent-Length: {len(body)}\r\n"
                f"Date: {time.strftime('%a, %d %b %Y %H:%M:%S GMT', time.gmtime())}\r\n"
                "Connection: close\r\n\r\n"
            )
            writer.write(head.encode() + body)
            await writer.drain()
        except (TimeoutError, ConnectionError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()
