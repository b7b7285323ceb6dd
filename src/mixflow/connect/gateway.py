"""The gateway: an asyncio service between the broker and the scheduler.

Uplink: one MQTT 5 connection per owned shard (`wire.WireClient`, persistent session, its own
flow-control window and broker queue), each subscribed as that shard's shared-subscription group;
`Ingest` validates every message; every `flush_interval_s` the accepted telemetry is stored in one
batch and only then are the QoS 1 messages acknowledged, so a crash loses nothing the broker handed
over (it re-delivers the rest). Commands (ids, re-sends, escalation) go out pipelined on the first
connection; alarm changes and dead letters (rate-limited; the counters count all) go through an
aiomqtt client.

Scale-out: run `count` gateways with `index` 0..count-1; each owns the shards `index mod count` and
every device's messages stay on one gateway, in order. A stand-by gateway started with the same
index joins the same share groups and takes over when the owner dies (Mosquitto round-robins inside
a group, so per-device order holds only while one member per group is active)."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import functools
import itertools
import json
import logging
import sqlite3
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field

import aiomqtt
import numpy as np
import psycopg
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from mixflow.connect import topics
from mixflow.connect.alarms import AlarmChange
from mixflow.connect.broker import Broker
from mixflow.connect.commands import Outgoing, to_messages
from mixflow.connect.ingest import Ingest
from mixflow.connect.payloads import encode
from mixflow.connect.wire import Received, WireClient
from mixflow.errors import ValidationError
from mixflow.model.port import Command, Event
from mixflow.store.telemetry import Row, downsample, insert_samples, record_alarms

log = logging.getLogger("mixflow.connect")
LATENCY_WINDOW = 2_000_000
"""Latest stored messages whose latencies are kept for the percentiles: about six minutes at the
plant's 5,600 msg/s (16 MB); keeping them all would grow by 4 GB a day."""


def now_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclass(frozen=True)
class GatewayConfig:
    """How one gateway process runs."""

    gateway_id: str = "gw0"
    index: int = 0
    count: int = 1
    session_expiry_s: int = 3600
    flush_interval_s: float = 0.025
    tick_interval_s: float = 0.5
    dead_letters_per_s: int = 200
    line_id: str = "line"
    keep_raw_s: int = 0  # downsample samples older than this (0 = keep everything raw)
    rollup_bucket_s: int = 60
    downsample_every_s: float = 300.0
    shards: tuple[str, ...] = field(default=())
    lockstep: bool = False  # a simulated plant: time moves by _sim/advance and _sim/clock (see sim.py)

    def __post_init__(self) -> None:
        topics.check_name("gateway_id", self.gateway_id)
        if self.count < 1:
            raise ValidationError("--gateways", f"must be at least 1, got {self.count}")
        topics.shards_for(self.index, self.count)
        if self.flush_interval_s <= 0 or self.tick_interval_s <= 0 or self.downsample_every_s <= 0:
            raise ValidationError("gateway", "flush, tick and downsampling intervals must be positive")
        if self.keep_raw_s < 0 or self.rollup_bucket_s <= 0:
            raise ValidationError("gateway", "keep_raw_s must be >= 0 and rollup_bucket_s positive")

    def owned_shards(self) -> list[str]:
        return list(self.shards) or topics.shards_for(self.index, self.count)


class Gateway:
    """Runs the ingest, storage, command and alarm loops against one broker."""

    def __init__(
        self, broker: Broker, ingest: Ingest, config: GatewayConfig, engine: Engine | None = None
    ) -> None:
        self.broker = broker
        self.ingest = ingest
        self.config = config
        self.engine = engine
        self.plant = ingest.plant
        self.stored_messages = 0
        self.stored_rows = 0
        self.last_store_ms = 0
        self.latencies_ms: deque[np.ndarray] = deque()
        self._latency_count = 0
        self._acks: list[list[int]] = []  # per link, in arrival order
        self._links: list[WireClient] = []
        self._ids = itertools.count(1)
        self._wire: WireClient | None = None
        self._out: aiomqtt.Client | None = None
        self._stack = contextlib.AsyncExitStack()
        self._tasks: list[asyncio.Task[None]] = []
        self._dead_budget = float(config.dead_letters_per_s)
        self._dead_stamp = time.monotonic()
        self.events: asyncio.Queue[Event] = asyncio.Queue()
        self.advance_topic = topics.advance_topic(self.plant)
        self._clock_prefix = topics.clock_topic(self.plant, "")
        self._shard_clock: dict[str, tuple[int, int]] = {}  # shard -> (n, now_s) of its last mark
        self.clock_n = 0
        self.clock_now_s = 0
        self._clock_moved = asyncio.Event()
        self._advances = 0
        self._stopping = asyncio.Event()
        self._store_lock = asyncio.Lock()

    @property
    def client_id(self) -> str:
        return f"mixflow-{self.plant}-{self.config.gateway_id}"

    async def start(self) -> None:
        """Connect both clients, subscribe this gateway's shards, start the loops."""
        broker = self.broker
        self._out = await self._stack.enter_async_context(
            aiomqtt.Client(
                broker.host,
                broker.port,
                username=broker.username,
                password=broker.password,
                identifier=self.client_id + "-out",
                protocol=aiomqtt.ProtocolVersion.V5,
                tls_context=broker.ssl_context(),
            )
        )
        # one persistent session per shard: each gets its own flow-control window and broker queue,
        # and a stand-by gateway can take over a single shard's session
        for k, shard in enumerate(self.config.owned_shards()):
            link = WireClient(
                broker.host,
                broker.port,
                f"{self.client_id}-{shard}",
                on_messages=functools.partial(self._on_messages, k),
                username=broker.username,
                password=broker.password,
                clean_start=False,
                session_expiry_s=self.config.session_expiry_s,
                auto_ack=False,
                tls=broker.ssl_context(),
            )
            self._links.append(link)
            self._acks.append([])  # before connecting: a persistent session delivers at once
            await link.connect()
            filters = topics.shard_filters(self.plant, shard)
            if self.config.lockstep:
                filters.append(topics.clock_filter(self.plant, shard))
                self._shard_clock[shard] = (0, 0)
            await link.subscribe(filters, qos=1)
        self._wire = self._links[0]  # commands and lock-step advance requests go out on the first one
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._flush_loop()), loop.create_task(self._tick_loop())]

    def _on_messages(self, link: int, batch: list[Received]) -> None:
        handle = self.ingest.handle
        acks = self._acks[link]
        for message in batch:
            if message.topic.startswith(self._clock_prefix):
                self._clock(message.topic, message.payload)
            else:
                handle(message.topic, message.payload)
            if message.qos:
                acks.append(message.packet_id)

    def _clock(self, topic: str, payload: bytes) -> None:
        """A shard's mark that the simulated plant got to `now_s`; once every owned shard has marked
        step n, every event of the step is in: hand them over."""
        shard = topic[len(self._clock_prefix) :]
        try:
            clock = json.loads(payload)
            n, now_s = int(clock["n"]), int(clock["now_s"])
        except (ValueError, KeyError, TypeError):
            self.ingest.reject("schema", topic, "clock needs integers n and now_s", payload)
            return
        if shard not in self._shard_clock:
            self.ingest.reject("topic", topic, "clock mark of a shard this gateway does not own", payload)
            return
        self._shard_clock[shard] = max(self._shard_clock[shard], (n, now_s))
        n, now_s = min(self._shard_clock.values())
        if n <= self.clock_n:
            return
        for event_ in self.ingest.take_events():
            self.events.put_nowait(event_)
        self.clock_n, self.clock_now_s = n, max(self.clock_now_s, now_s)
        self._clock_moved.set()

    async def advance(self, until_s: int, timeout_s: float = 120.0) -> None:
        """Ask the simulated plant to run to `until_s` and wait until it says where it got."""
        self._advances += 1
        wanted = self._advances
        # commands went out before this on the same connection, so the plant sees them first
        assert self._wire is not None
        await self._wire.publish_counted(
            self.advance_topic, json.dumps({"n": wanted, "until_s": until_s}).encode()
        )
        async with asyncio.timeout(timeout_s):
            while self.clock_n < wanted:
                self._clock_moved.clear()
                await self._clock_moved.wait()

    async def flush(self) -> None:
        """Store what arrived since the last flush, then acknowledge it and publish side messages."""
        ingest = self.ingest
        rows, ingest.rows = ingest.rows, []
        sent_ms, ingest.sample_t_ms = ingest.sample_t_ms, []
        acks, self._acks = self._acks, [[] for _ in self._acks]
        alarms, ingest.alarm_changes = ingest.alarm_changes, []
        dead, ingest.dead = ingest.dead, []
        if self.engine is not None and (rows or alarms):
            try:
                async with self._store_lock:  # one writer: flushes and downsampling never overlap
                    await asyncio.to_thread(self._store, rows, alarms)
            except (SQLAlchemyError, sqlite3.Error, psycopg.Error) as error:
                # keep everything for the next flush; unacknowledged messages stay the broker's
                log.warning("storing %d rows failed, will retry: %s", len(rows), error)
                ingest.counters["store_retries"] += 1
                ingest.rows[:0] = rows
                ingest.sample_t_ms[:0] = sent_ms
                ingest.alarm_changes[:0] = alarms
                for pending, kept in zip(self._acks, acks, strict=True):
                    pending[:0] = kept
                ingest.dead[:0] = dead
                return
        if sent_ms:
            self.last_store_ms = now_ms()
            self.latencies_ms.append(self.last_store_ms - np.asarray(sent_ms, dtype=np.int64))
            self._latency_count += len(sent_ms)
            while self._latency_count - len(self.latencies_ms[0]) >= LATENCY_WINDOW:
                self._latency_count -= len(self.latencies_ms.popleft())
        self.stored_messages += len(sent_ms)
        self.stored_rows += len(rows)
        for link, packet_ids in zip(self._links, acks, strict=False):
            link.ack(packet_ids)
        for outgoing in ingest.escalated:
            log.warning("escalated command %s to %s", outgoing.message.command_id, outgoing.device_id)
        ingest.escalated = []
        for change in alarms:
            payload = {
                "v": 1,
                "t": change.t_ms,
                "device": change.device_id,
                "rule": change.rule,
                "raised": change.raised,
                "value": change.value,
                "message": change.message,
            }
            await self._publish(topics.alarm_topic(self.plant), encode(payload), qos=1)
        for letter in dead:
            log.info("dead letter (%s) on %s: %s", letter.reason, letter.topic, letter.detail)
            if self._take_dead_budget():
                payload = {
                    "v": 1,
                    "t": now_ms(),
                    "reason": letter.reason,
                    "topic": letter.topic,
                    "detail": letter.detail,
                    "excerpt": base64.b64encode(letter.excerpt).decode(),
                }
                await self._publish(
                    topics.dead_letter_topic(self.plant, letter.reason), encode(payload), qos=0
                )
        for event_ in ingest.take_events():
            self.events.put_nowait(event_)

    def _store(self, rows: list[Row], alarms: list[AlarmChange]) -> None:
        assert self.engine is not None
        insert_samples(self.engine, rows)
        if alarms:
            record_alarms(self.engine, alarms)

    def _take_dead_budget(self) -> bool:
        stamp = time.monotonic()
        rate = self.config.dead_letters_per_s
        self._dead_budget = min(rate, self._dead_budget + (stamp - self._dead_stamp) * rate)
        self._dead_stamp = stamp
        if self._dead_budget >= 1:
            self._dead_budget -= 1
            return True
        self.ingest.counters["dead_letters_unpublished"] += 1
        return False

    async def _publish(self, topic: str, payload: bytes, qos: int) -> None:
        if self._out is None:
            return
        try:
            await self._out.publish(topic, payload, qos=qos)
        except aiomqtt.MqttError as error:
            self.ingest.counters["publish_failed"] += 1
            log.warning("publish to %s failed: %s", topic, error)

    async def _flush_loop(self) -> None:
        while True:
            stopping = self._stopping.is_set()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self.config.flush_interval_s)
            await self.flush()
            if stopping:  # this was the flush after stop() was asked: nothing can be left
                return

    async def _tick_loop(self) -> None:
        config = self.config
        next_downsample = time.monotonic() + config.downsample_every_s
        while True:
            await asyncio.sleep(config.tick_interval_s)
            for outgoing in self.ingest.tick(now_ms()):
                await self._send(outgoing)
            if self.engine is not None and config.keep_raw_s and time.monotonic() >= next_downsample:
                next_downsample = time.monotonic() + config.downsample_every_s
                cutoff = now_ms() - config.keep_raw_s * 1000
                try:
                    async with self._store_lock:
                        done = await asyncio.to_thread(
                            downsample, self.engine, cutoff, config.rollup_bucket_s
                        )
                except (SQLAlchemyError, sqlite3.Error, psycopg.Error) as error:
                    log.warning("downsampling failed, will retry: %s", error)
                    continue
                self.ingest.counters["downsampled"] += done.samples_removed

    async def _send(self, outgoing: Outgoing) -> None:
        """Commands go out pipelined at QoS 1 on the uplink connection, in submission order; the
        device's ack (tracked by id), not the broker's, settles them."""
        topic = topics.device_topic(self.plant, outgoing.kind, outgoing.device_id, "cmd")
        payload = encode(outgoing.message.to_map())
        if self._wire is not None and self._wire.connected:
            await self._wire.publish_counted(topic, payload)
        else:
            await self._publish(topic, payload, qos=1)

    async def submit(self, commands: Sequence[Command]) -> list[Outgoing]:
        """Send port commands to their devices and track their acknowledgements."""
        stamp = now_ms()
        sent: list[Outgoing] = []
        for command in commands:
            for outgoing in to_messages(
                command, self.config.line_id, stamp, self._ids, self.config.gateway_id
            ):
                self.ingest.tracker.sent(outgoing, stamp)
                await self._send(outgoing)
                sent.append(outgoing)
        return sent

    def latency_percentiles(self) -> tuple[float, float]:
        """(p50, p99) in ms from a message's send time to its storage commit, over about the latest
        `LATENCY_WINDOW` stored messages."""
        if not self.latencies_ms:
            return (float("nan"), float("nan"))
        values = np.concatenate(self.latencies_ms)
        return float(np.percentile(values, 50)), float(np.percentile(values, 99))

    async def stop(self, crash: bool = False) -> None:
        """Stop after a last flush; `crash=True` drops the connection at once, as a killed process would."""
        if crash:
            for link in self._links:
                link.abort()
        self._stopping.set()
        for task in self._tasks if crash else self._tasks[1:]:  # the flush loop ends after a last flush
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._links and not crash:
            if not self._tasks:
                await self.flush()
            for link in self._links:
                await link.disconnect()
        with contextlib.suppress(aiomqtt.MqttError):
            await self._stack.aclose()

    def stats(self) -> dict[str, int]:
        return {
            **self.ingest.counters,
            "stored_messages": self.stored_messages,
            "stored_rows": self.stored_rows,
        }
