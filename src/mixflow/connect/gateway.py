"""The gateway: an asyncio service between the broker and the scheduler.

Uplink: one MQTT 5 connection per owned shard (`wire.WireClient`, persistent session, its own
flow-control window and broker queue), each subscribed to that shard's topics;
`Ingest` validates every message; every `flush_interval_s` the accepted telemetry is stored in one
batch and only then are the QoS 1 messages acknowledged, so a crash loses nothing the broker handed
over (it re-delivers the rest). Commands (ids, re-sends, escalation), alarm changes and dead letters
go out on the first connection (dead letters rate-limited there; every one is stored). With a
`sparkplug_group`, gateway 0's first connection is also that group's Sparkplug B primary host
(`connect.sparkplug`: its STATE is the connection's will; rebirth requests go out on it).

Nothing acknowledged is lost: a lost connection is re-opened with backoff and its persistent session
resumes (the broker re-delivers what we had not acknowledged; each device's (boot, seq) mark, committed
with every batch and read at start, keeps those from being stored twice, even by the next gateway after
a kill -9 between a commit and its acknowledgements); a device not yet in the registry is looked up in
the store before its messages are refused; a store outage keeps the batch, retries with backoff and, past
`max_buffered` waiting messages, stops reading so the broker queues for us; a message whose values
the database refuses is stored as a dead letter and the rest of its batch is stored.

Scale-out: run `count` gateways with `index` 0..count-1; each owns the shards `index mod count` and
every device's messages stay on one gateway, in order. With `shared=True` the subscriptions are
MQTT 5 shared-subscription groups, so a stand-by gateway started with the same index joins them and
takes over when the owner dies (Mosquitto round-robins inside a group, so per-device order holds
only while one member per group is active). That is not the default because Mosquitto 2.0 does not
restore shared subscriptions from its persistence: after a broker restart, messages published
before the gateway has subscribed again are acknowledged to the device and dropped. A plain
subscription is part of the persistent session and survives the restart."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import functools
import itertools
import json
import logging
import random
import time
from collections import Counter, deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sqlalchemy import Engine

from mixflow.connect import topics
from mixflow.connect.alarms import AlarmChange
from mixflow.connect.broker import Broker
from mixflow.connect.commands import Outgoing, to_messages
from mixflow.connect.ingest import Ingest
from mixflow.connect.metrics import GatewayMetrics
from mixflow.connect.payloads import encode
from mixflow.connect.sparkplug import PREFIX as SPARKPLUG_PREFIX
from mixflow.connect.sparkplug import SparkplugHost
from mixflow.connect.sparkplug.codec import plant_host_id, state_payload
from mixflow.connect.storing import (
    STORE_ERRORS,
    Batch,
    BatchStore,
    alarm_payload,
    first_line,
    letter_row,
    now_ms,
)
from mixflow.connect.wire import MqttError, Received, Will, WireClient
from mixflow.errors import MixflowError, ValidationError
from mixflow.model.port import Command, Event
from mixflow.store.telemetry import (
    CommitInDoubt,
    DeadLetterRow,
    commit_status,
    device_marks,
    downsample,
    next_gateway_start,
)

log = logging.getLogger("mixflow.connect")
LATENCY_WINDOW = 2_000_000
"""Latest stored messages whose latencies are kept for the percentiles: about six minutes at the
plant's 5,600 msg/s (16 MB); keeping them all would grow by 4 GB a day."""


@dataclass
class _InDoubt:
    """A flush whose COMMIT broke off: stored or not, the database will say (`commit_status`)."""

    txid: int
    batch: Batch
    alarms: list[AlarmChange]  # as flushed (the batch's own are emptied once they are stored)
    sent_ms: list[int]
    acks: list[list[int]]
    generations: list[int]


@dataclass(frozen=True)
class GatewayConfig:
    """How one gateway process runs."""

    gateway_id: str = "gw0"
    index: int = 0
    count: int = 1
    session_expiry_s: int = 3600
    flush_interval_s: float = 0.025
    tick_interval_s: float = 0.5
    dead_letters_per_s: int = 200  # published on MQTT; every dead letter is stored all the same
    line_id: str = "line"
    keep_raw_s: int = 0  # downsample samples older than this (0 = keep everything raw)
    rollup_bucket_s: int = 60
    downsample_every_s: float = 300.0
    shards: tuple[str, ...] = field(default=())
    lockstep: bool = False  # a simulated plant: time moves by _sim/advance and _sim/clock (see sim.py)
    shared: bool = False  # subscribe as shared groups, for a stand-by gateway (see the module's doc)
    max_buffered: int = 200_000  # telemetry messages waiting for the store before we stop reading
    reconnect_min_s: float = 0.1  # broker reconnects back off from this, doubling, with jitter...
    reconnect_max_s: float = 5.0  # ...up to this
    store_retry_max_s: float = 5.0  # store retries back off from the flush interval up to this
    registry_refresh_s: float = 60.0  # reload the plant's devices from the store this often...
    unknown_refresh_s: float = 0.5  # ...and at most this often while unknown devices write
    metrics_port: int = 0  # /metrics and /health (0 = none)
    metrics_host: str = "127.0.0.1"
    health_store_s: float = 30.0  # /health fails when the store took nothing for longer than this
    sparkplug_group: str = ""  # be the Sparkplug B primary host of this group (gateway index 0; "" = off)

    def __post_init__(self) -> None:
        topics.check_name("gateway_id", self.gateway_id)
        if self.count < 1:
            raise ValidationError("--gateways", f"must be at least 1, got {self.count}")
        topics.shards_for(self.index, self.count)
        if self.flush_interval_s <= 0 or self.tick_interval_s <= 0 or self.downsample_every_s <= 0:
            raise ValidationError("gateway", "flush, tick and downsampling intervals must be positive")
        if self.keep_raw_s < 0 or self.rollup_bucket_s <= 0:
            raise ValidationError("gateway", "keep_raw_s must be >= 0 and rollup_bucket_s positive")
        if self.max_buffered < 1:
            raise ValidationError("gateway", f"max_buffered must be at least 1, got {self.max_buffered}")
        if not 0 < self.reconnect_min_s <= self.reconnect_max_s or self.store_retry_max_s <= 0:
            raise ValidationError("gateway", "reconnect and store retry delays must be positive, min <= max")
        if not 0 <= self.metrics_port < 65536:
            raise ValidationError("--metrics-port", f"must lie in 0..65535, got {self.metrics_port}")
        if self.sparkplug_group:
            topics.check_name("--sparkplug-group", self.sparkplug_group)
            if self.shared:  # a stand-by would read every node too, and one node's seq needs one host
                raise ValidationError("--sparkplug-group", "a Sparkplug host cannot run with --shared")

    def owned_shards(self) -> list[str]:
        return list(self.shards) or topics.shards_for(self.index, self.count)


@dataclass
class _Outage:
    """One loss of the broker, from the first link down to the last one back (for the logs)."""

    since: float
    sessions_lost: int = 0
    told: bool = False  # that reconnecting fails for now


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
        self._batches = None if engine is None else BatchStore(engine, ingest.registry)
        if engine is not None:
            ingest.held = []  # unknown devices are looked up in the store before they are refused
        self.stored_messages = 0
        self.stored_rows = 0
        self.last_store_ms = 0
        self.last_sent_ms = 0  # send time of the latest stored message (for the lag)
        self.latencies_ms: deque[np.ndarray] = deque()
        self._latency_count = 0
        self._acks: list[list[int]] = []  # per link, in arrival order
        self._storing: list[int] = []  # per link: acknowledgements held by the flush being stored
        self._storing_messages = 0
        self._links: list[WireClient] = []
        self._filters: list[list[str]] = []
        self._links_down: set[int] = set()
        self._outage = _Outage(0.0)
        self._ids = itertools.count(1)
        self.command_start = now_ms()  # replaced by the store's start count when there is a store
        self._wire: WireClient | None = None
        self._outbox: deque[tuple[str, bytes]] = deque()  # commands and alarms waiting for a link
        self._outbox_lock = asyncio.Lock()
        self._drainer: asyncio.Task[None] | None = None  # sends queued alarms without holding up a flush
        self._background: set[asyncio.Task[list[int]]] = set()  # re-subscriptions of resumed sessions
        self._letters: list[DeadLetterRow] = []  # dead letters not stored yet
        self._row_ends: list[int] = []  # where each message's rows end in ingest.rows (to split a batch)
        self.paused = False
        self._store_failures = 0
        self._in_doubt: _InDoubt | None = None  # held back from every later flush until settled
        self._store_ok = time.monotonic()  # the store last took a batch, or had nothing to take
        self._refreshed = time.monotonic()  # when the registry was last reloaded from the store
        self.metrics = GatewayMetrics(self)
        self._http: asyncio.Server | None = None
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
        # the Sparkplug B host rides on the first link of gateway 0, with its STATE as that link's will
        self.sparkplug: SparkplugHost | None = None
        self._state_ms = now_ms()
        self._announcing: asyncio.Task[None] | None = None
        if config.sparkplug_group and config.index == 0:
            self.sparkplug = SparkplugHost(ingest, config.sparkplug_group, plant_host_id(self.plant))

    @property
    def client_id(self) -> str:
        return f"mixflow-{self.plant}-{self.config.gateway_id}"

    @property
    def gateway_id(self) -> str:
        return self.config.gateway_id

    @property
    def counters(self) -> Counter[str]:
        return self.ingest.counters

    @property
    def command_prefix(self) -> str:
        """Command ids are `{gateway_id}.{start}-{n}`: unique across restarts, so a device that skips
        an id it has handled never skips a new command."""
        return f"{self.config.gateway_id}.{self.command_start}"

    async def start(self) -> None:
        """Count this start, open the metrics endpoint, connect and subscribe this gateway's shards,
        start the loops."""
        config = self.config
        if self.engine is not None:
            try:
                self.command_start = await asyncio.to_thread(
                    next_gateway_start, self.engine, self.plant, config.gateway_id
                )
            except STORE_ERRORS as error:  # the clock still gives ids no earlier start used
                log.warning("cannot count this start, command ids use the clock: %s", first_line(error))
            try:  # what earlier runs stored: their re-deliveries are duplicates, not new messages
                marks = await asyncio.to_thread(device_marks, self.engine, self.plant)
                self.ingest.last_seq.update(marks)
            except STORE_ERRORS as error:
                log.warning(
                    "cannot read the devices' stored marks, re-deliveries may be stored twice: %s",
                    first_line(error),
                )
        if config.metrics_port:
            try:
                self._http = await self.metrics.serve(config.metrics_host, config.metrics_port)
            except MixflowError as error:  # ingest matters more than its gauges: run, and say so
                log.warning("%s; running without it", error)
        loop = asyncio.get_running_loop()
        # storing runs while the shards connect: after an outage each resumed session delivers its
        # backlog at once, and the store must drain it for the later sessions to be read at all
        self._tasks = [loop.create_task(self._flush_loop()), loop.create_task(self._tick_loop())]
        try:
            await self._connect_links()
        except BaseException:
            for task in self._tasks:
                task.cancel()
            for link in self._links:
                link.abort()
            if self._http is not None:
                self._http.close()
            raise
        self._wire = self._links[0]  # commands, alarms and lock-step requests go out on the first one
        await self._announce(online=True)
        await self._drain_outbox()
        self._tasks += [loop.create_task(self._keep_connected(k)) for k in range(len(self._links))]

    async def _connect_links(self) -> None:
        # one persistent session per shard: each gets its own flow-control window and broker queue,
        # and a stand-by gateway (shared groups) can take over a single shard
        broker = self.broker
        for k, shard in enumerate(self.config.owned_shards()):
            sparkplug = self.sparkplug if k == 0 else None
            link = WireClient(
                broker.host,
                broker.port,
                f"{self.client_id}-{shard}",
                on_messages=functools.partial(self._on_messages if sparkplug is None else self._on_first, k),
                username=broker.username,
                password=broker.password,
                clean_start=False,
                session_expiry_s=self.config.session_expiry_s,
                auto_ack=False,
                tls=broker.ssl_context(),
                will=None if sparkplug is None else Will(sparkplug.state_topic, self._state(online=False)),
            )
            self._links.append(link)
            self._acks.append([])  # before connecting: a persistent session delivers at once
            filters = topics.shard_filters(self.plant, shard, group=self.config.shared)
            if sparkplug is not None:
                filters += sparkplug.filters()
            if self.config.lockstep:
                filters.append(topics.clock_filter(self.plant, shard, group=self.config.shared))
                self._shard_clock[shard] = (0, 0)
            self._filters.append(filters)
            if self.paused:  # earlier sessions' backlogs already fill the buffer: this one waits too
                link.pause_reading()
            await link.connect()
            await self._subscribe(link, filters)

    async def _keep_connected(self, k: int) -> None:
        """Reconnect link `k` whenever its connection is lost, with exponential backoff and jitter.
        An outage is logged once for all links: when the first goes and when the last is back."""
        link = self._links[k]
        while True:
            assert link.closed is not None
            why = await asyncio.shield(link.closed)
            if self._stopping.is_set():
                return
            self._acks[k] = []  # their packet ids died with the connection; the broker re-delivers
            if not self._links_down:
                self._outage = _Outage(time.monotonic())
                log.warning(
                    "lost the broker %s (%s); reconnecting with backoff",
                    link.address,
                    why or "closed by the broker",
                )
            self._links_down.add(k)
            await self._reconnect(link, self._filters[k])
            self._links_down.discard(k)
            self.counters["reconnects"] += 1
            self._outage.sessions_lost += not link.session_present
            if not self._links_down:
                lost = self._outage.sessions_lost
                log.warning(
                    "reconnected to the broker %s after %.1f s (%d link(s))%s",
                    link.address,
                    time.monotonic() - self._outage.since,
                    len(self._links),
                    f"; it had lost {lost} session(s) and what it held for them" if lost else "",
                )
            if link is self._wire:
                await self._announce(online=True)
                await self._drain_outbox()

    async def _subscribe(self, link: WireClient, filters: list[str]) -> None:
        """Subscribe a new session and wait for the broker's answer. A resumed session keeps its
        subscriptions, but this run may listen to more (a Sparkplug group, the lock-step clock), so it
        subscribes again without waiting: its SUBACK queues behind the whole backlog the broker kept
        for it (minutes of plant traffic after an outage)."""
        if not link.session_present:
            await link.subscribe(filters, qos=1)
            return
        task = asyncio.get_running_loop().create_task(link.subscribe(filters, qos=1, timeout_s=3600))
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        task.add_done_callback(lambda done: done.cancelled() or done.exception())  # nobody awaits it

    async def _reconnect(self, link: WireClient, filters: list[str]) -> None:
        delay = self.config.reconnect_min_s
        while True:
            await asyncio.sleep(random.uniform(delay / 2, delay))
            try:
                await link.connect()
                await self._subscribe(link, filters)
                return
            except (MqttError, TimeoutError) as error:
                link.abort()
                if not self._outage.told:
                    self._outage.told = True
                    log.warning("cannot reconnect to the broker yet: %s", error)
                delay = min(self.config.reconnect_max_s, delay * 2)

    def _on_messages(self, link: int, batch: list[Received]) -> None:
        ingest = self.ingest
        ingest.received_ms = now_ms()
        handle = ingest.handle
        acks = self._acks[link]
        rows, ends = ingest.rows, self._row_ends
        for message in batch:
            if message.topic.startswith(self._clock_prefix):
                self._clock(message.topic, message.payload)
            else:
                handle(message.topic, message.payload)
                ends.append(len(rows))
            if message.qos:
                acks.append(message.packet_id)
        if not self.paused and self.buffered() > self.config.max_buffered:
            self._set_paused(True)

    def _on_first(self, link: int, batch: list[Received]) -> None:
        """The first link when this gateway is a Sparkplug host: Sparkplug messages go to it, in
        arrival order with the rest, into the same buffers (stored, acknowledged, dead-lettered alike)."""
        sparkplug = self.sparkplug
        assert sparkplug is not None
        plain: list[Received] = []
        for message in batch:
            if not message.topic.startswith(SPARKPLUG_PREFIX):
                plain.append(message)
                continue
            if plain:
                self._on_messages(link, plain)
                plain = []
            self.ingest.received_ms = now_ms()
            sparkplug.handle(message.topic, message.payload, self.ingest.received_ms)
            self._row_ends.append(len(self.ingest.rows))
            if message.qos:
                self._acks[link].append(message.packet_id)
            for topic, payload in sparkplug.requests:  # rebirth requests: QoS 0, as the spec has them
                try:
                    self._links[0].publish_nowait(topic, payload)
                except MqttError:
                    self.counters["publish_failed"] += 1
            sparkplug.requests.clear()
            if sparkplug.state_lost:  # an offline STATE of ours: a late will, or our own goodbye
                sparkplug.state_lost = False
                if not self._stopping.is_set():
                    self._announcing = asyncio.get_running_loop().create_task(self._announce(online=True))
        if plain:
            self._on_messages(link, plain)
        elif not self.paused and self.buffered() > self.config.max_buffered:
            self._set_paused(True)

    def _state(self, online: bool) -> bytes:
        return state_payload(online, self._state_ms)

    async def _announce(self, online: bool) -> None:
        """The Sparkplug host's STATE, retained at QoS 1, with its will's timestamp (edge nodes that wait
        for their primary host publish their births once they read it online)."""
        if self.sparkplug is None or self._wire is None:
            return
        payload = self._state(online)
        try:
            acked = await self._wire.publish(self.sparkplug.state_topic, payload, qos=1, retain=True)
            acked.add_done_callback(lambda done: done.cancelled() or done.exception())
            if not online:  # leaving: the broker should have it before we disconnect
                await asyncio.wait_for(acked, 5.0)
        except (MqttError, TimeoutError) as error:
            log.warning("cannot publish the Sparkplug STATE (online=%s): %s", online, error)

    def buffered(self) -> int:
        """Telemetry messages and dead letters received and not yet stored."""
        doubt = self._in_doubt
        in_doubt = len(doubt.sent_ms) + len(doubt.batch.letters) if doubt is not None else 0
        return len(self.ingest.sample_t_ms) + len(self._letters) + self._storing_messages + in_doubt

    def _set_paused(self, paused: bool) -> None:
        """Back-pressure: stop reading from the broker (it queues for our sessions) or read again."""
        self.paused = paused
        for link in self._links:
            if paused:
                link.pause_reading()
            else:
                link.resume_reading()
        if paused:
            log.warning("%d messages wait for the store: reading paused until it takes them", self.buffered())
        else:
            log.warning("the store caught up: reading again")

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
        """Store what arrived since the last flush, then acknowledge it and publish side messages.

        An outage keeps the batch for the next flush (nothing is acknowledged); a value the database
        refuses turns its message into a dead letter and the rest of the batch is stored. A batch
        whose COMMIT broke off is settled first: acknowledged if it was stored, else retried."""
        ingest = self.ingest
        if self._in_doubt is not None and not await self._settle_doubt():
            return
        if ingest.held:
            await self._take_up_held()
        rows, ingest.rows = ingest.rows, []
        ends, self._row_ends = self._row_ends, []
        sent_ms, ingest.sample_t_ms = ingest.sample_t_ms, []
        acks, self._acks = self._acks, [[] for _ in self._acks]
        generations = [link.generation for link in self._links]
        alarms, ingest.alarm_changes = ingest.alarm_changes, []
        dead, ingest.dead = ingest.dead, []
        for letter in dead:
            self._publish_dead(letter.reason, letter.topic, letter.detail, letter.excerpt)
        refused_messages = 0
        if self._batches is not None:
            letters, self._letters = [*self._letters, *(letter_row(self.plant, d) for d in dead)], []
            marks, ingest.marks = ingest.marks, {}
            batch = Batch(rows, ends, alarms, letters, marks)
            if (rows or alarms or letters or marks) and not await self._store(batch, len(sent_ms), acks):
                if self._in_doubt is not None:  # _store saw the COMMIT break off: settled next flush
                    self._in_doubt = _InDoubt(self._in_doubt.txid, batch, alarms, sent_ms, acks, generations)
                else:
                    self._keep(batch, sent_ms, acks, generations)
                return
            refused_messages = batch.refused_messages
        self._stored(len(rows), alarms, sent_ms, acks, generations, refused_messages)

    async def _settle_doubt(self) -> bool:
        """Ask the database whether the batch whose COMMIT broke off was stored: acknowledge it if so,
        else put it back in front of what arrived since. False while the database cannot say."""
        doubt = self._in_doubt
        assert doubt is not None and self.engine is not None
        try:
            async with self._store_lock:
                committed = await asyncio.to_thread(commit_status, self.engine, doubt.txid)
        except STORE_ERRORS:
            self._store_failures += 1
            self.counters["store_retries"] += 1
            return False
        if committed is None:  # the server has not yet noticed its connection is gone
            return False
        self._in_doubt = None
        self.counters["commits_in_doubt_stored" if committed else "commits_in_doubt_retried"] += 1
        outcome = "stored" if committed else "not stored: retrying"
        log.warning("the batch whose COMMIT broke off was %s", outcome)
        if committed:
            self._stored(len(doubt.batch.rows), doubt.alarms, doubt.sent_ms, doubt.acks, doubt.generations, 0)
        else:
            self._keep(doubt.batch, doubt.sent_ms, doubt.acks, doubt.generations)
        return True

    def _stored(
        self,
        rows: int,
        alarms: list[AlarmChange],
        sent_ms: list[int],
        acks: list[list[int]],
        generations: list[int],
        refused_messages: int,
    ) -> None:
        """A flush is in the store: count it, acknowledge its messages, publish its alarms."""
        ingest = self.ingest
        self._store_ok = time.monotonic()
        if sent_ms:
            self.last_store_ms = now_ms()
            self.last_sent_ms = sent_ms[-1]
            self.latencies_ms.append(self.last_store_ms - np.asarray(sent_ms, dtype=np.int64))
            self._latency_count += len(sent_ms)
            while self._latency_count - len(self.latencies_ms[0]) >= LATENCY_WINDOW:
                self._latency_count -= len(self.latencies_ms.popleft())
        self.stored_messages += len(sent_ms) - refused_messages
        self.stored_rows += rows
        for link, packet_ids, generation in zip(self._links, acks, generations, strict=False):
            if link.generation == generation:  # else those ids died with their connection
                link.ack(packet_ids)
        if self.paused and self.buffered() <= self.config.max_buffered // 2:
            self._set_paused(False)
        for outgoing in ingest.escalated:
            log.warning("escalated command %s to %s", outgoing.message.command_id, outgoing.device_id)
        ingest.escalated = []
        if alarms:
            # queued, not awaited: while reading is paused the broker's PUBACKs wait unread, and a
            # flush waiting for them would never store what lets reading resume
            self._outbox.extend((topics.alarm_topic(self.plant), encode(alarm_payload(c))) for c in alarms)
            if self._drainer is None or self._drainer.done():
                self._drainer = asyncio.get_running_loop().create_task(self._drain_outbox())
        for event_ in ingest.take_events():
            self.events.put_nowait(event_)

    async def _store(self, batch: Batch, messages: int, acks: list[list[int]]) -> bool:
        """Store a batch in a worker thread; False (and logged once per outage) when the store is away."""
        assert self._batches is not None
        self._storing, self._storing_messages = [len(a) for a in acks], messages
        began = time.perf_counter()
        try:
            async with self._store_lock:  # one writer: flushes and downsampling never overlap
                await asyncio.to_thread(self._batches.store, batch)
        except STORE_ERRORS as error:
            if isinstance(error, CommitInDoubt):
                self._in_doubt = _InDoubt(error.txid, batch, [], [], [], [])  # flush fills it in
            self._store_failures += 1
            self.counters["store_retries"] += 1
            if self._store_failures == 1:  # once per outage, not once per retry
                log.warning("storing failed, keeping the batch to retry with backoff: %s", first_line(error))
            return False
        finally:
            self._storing, self._storing_messages = [], 0
            self._report_refused(batch.refused)
        self.metrics.store_seconds.observe(time.perf_counter() - began)
        if self._store_failures:
            log.warning("the store is back after %d failed attempt(s)", self._store_failures)
            self._store_failures = 0
        return True

    def _keep(self, batch: Batch, sent_ms: list[int], acks: list[list[int]], generations: list[int]) -> None:
        """Put back what the store did not take, in front of what arrived since, for the next flush."""
        ingest = self.ingest
        self._row_ends = [*batch.ends, *(end + len(batch.rows) for end in self._row_ends)]
        ingest.rows[:0] = batch.rows
        ingest.sample_t_ms[:0] = sent_ms
        ingest.alarm_changes[:0] = batch.alarms
        self._letters[:0] = batch.letters
        self.ingest.marks = {**batch.marks, **self.ingest.marks}  # a newer mark wins
        for k, kept in enumerate(acks):
            if k < len(self._links) and self._links[k].generation != generations[k]:
                continue  # that connection is gone; the broker re-delivers those messages
            self._acks[k][:0] = kept

    def _report_refused(self, letters: list[DeadLetterRow]) -> None:
        for letter in letters:
            self.counters["rejected"] += 1
            self.counters[f"rejected_{letter.reason}"] += 1
            log.warning("stored as a dead letter, %s: %s", letter.topic, letter.detail)
            self._publish_dead(letter.reason, letter.topic, letter.detail, letter.excerpt)

    def _publish_dead(self, reason: str, topic: str, detail: str, excerpt: bytes) -> None:
        """Tell subscribers about a dead letter (QoS 0, rate-limited: the store has every one)."""
        log.info("dead letter (%s) on %s: %s", reason, topic, detail)
        if not self._take_dead_budget():
            return
        payload = {
            "v": 1,
            "t": now_ms(),
            "reason": reason,
            "topic": topic,
            "detail": detail,
            "excerpt": base64.b64encode(excerpt).decode(),
        }
        try:
            if self._wire is None:
                raise MqttError("not started")
            self._wire.publish_nowait(topics.dead_letter_topic(self.plant, reason), encode(payload))
        except MqttError:
            self.counters["publish_failed"] += 1

    def _take_dead_budget(self) -> bool:
        stamp = time.monotonic()
        rate = self.config.dead_letters_per_s
        self._dead_budget = min(rate, self._dead_budget + (stamp - self._dead_stamp) * rate)
        self._dead_stamp = stamp
        if self._dead_budget >= 1:
            self._dead_budget -= 1
            return True
        self.counters["dead_letters_unpublished"] += 1
        return False

    async def _send_reliably(self, topic: str, payload: bytes) -> None:
        """QoS 1 on the first link, in submission order; held while no link is up, sent on reconnect."""
        self._outbox.append((topic, payload))
        await self._drain_outbox()

    async def _drain_outbox(self) -> None:
        async with self._outbox_lock:
            wire = self._wire
            while self._outbox and wire is not None and wire.connected:
                topic, payload = self._outbox[0]
                try:
                    await wire.publish_counted(topic, payload)
                except MqttError:
                    return
                self._outbox.popleft()

    async def _flush_loop(self) -> None:
        while True:
            stopping = self._stopping.is_set()
            wait_s = self.config.flush_interval_s
            if self._store_failures:  # back off while the store is away
                wait_s = min(self.config.store_retry_max_s, wait_s * 2 ** min(self._store_failures, 20))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), wait_s)
            await self.flush()
            if stopping:  # this was the flush after stop() was asked: nothing can be left
                return

    async def _tick_loop(self) -> None:
        config = self.config
        next_downsample = time.monotonic() + config.downsample_every_s
        while True:
            await asyncio.sleep(config.tick_interval_s)
            hearing = not self.paused and not self._links_down
            for outgoing in self.ingest.tick(now_ms(), hearing):
                await self._send(outgoing)
            if self.engine is not None:
                await self._refresh_registry()
            if self.engine is not None and config.keep_raw_s and time.monotonic() >= next_downsample:
                next_downsample = time.monotonic() + config.downsample_every_s
                cutoff = now_ms() - config.keep_raw_s * 1000
                try:
                    async with self._store_lock:
                        done = await asyncio.to_thread(
                            downsample, self.engine, cutoff, config.rollup_bucket_s
                        )
                except STORE_ERRORS as error:
                    log.warning("downsampling failed, will retry: %s", first_line(error))
                    continue
                self.counters["downsampled"] += done.samples_removed

    async def _take_up_held(self) -> None:
        """Messages of devices we did not know: re-read the registry (waiting out `unknown_refresh_s`
        since the last read, so a spray of unknown ids costs the store little), then handle them again;
        a device still unknown is refused then. Their acknowledgements wait for this flush, so a device
        provisioned while the gateway runs loses not even its first message."""
        ingest = self.ingest
        assert ingest.held is not None
        wait = self._refreshed + self.config.unknown_refresh_s - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)
        await self._refresh_registry(now=True)
        held, ingest.held = ingest.held, None
        for topic, payload in held:
            ingest.handle(topic, payload)
            self._row_ends.append(len(ingest.rows))
        ingest.held = []

    async def _refresh_registry(self, now: bool = False) -> None:
        """Take up devices registered since we started: periodically, and at once when `now` (a device
        we do not know wrote)."""
        assert self.engine is not None
        stamp = time.monotonic()
        if not now and stamp < self._refreshed + self.config.registry_refresh_s:
            return
        self._refreshed = stamp
        try:
            new = await asyncio.to_thread(self.ingest.registry.refresh, self.engine)
        except STORE_ERRORS as error:
            log.warning("cannot reload the registry, will retry: %s", first_line(error))
            return
        if new:
            log.warning("took up %d newly registered device(s): %s", len(new), ", ".join(new[:20]))

    async def _send(self, outgoing: Outgoing) -> None:
        """Commands go out pipelined at QoS 1 on the uplink connection, in submission order; the
        device's ack (tracked by id), not the broker's, settles them. A machine registered as bridged
        from OPC UA gets its commands on its `opcua` topic, where its bridge listens."""
        kind = self.ingest.registry.kind_of(outgoing.device_id) or outgoing.kind
        topic = topics.device_topic(self.plant, kind, outgoing.device_id, "cmd")
        await self._send_reliably(topic, encode(outgoing.message.to_map()))

    async def submit(self, commands: Sequence[Command]) -> list[Outgoing]:
        """Send port commands to their devices and track their acknowledgements."""
        stamp = now_ms()
        sent: list[Outgoing] = []
        for command in commands:
            for outgoing in to_messages(command, self.config.line_id, stamp, self._ids, self.command_prefix):
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

    def lag_s(self) -> float | None:
        """Seconds from the send time of the latest stored message to now (None before the first)."""
        return None if not self.last_sent_ms else max(0.0, (now_ms() - self.last_sent_ms) / 1000)

    def queue_depths(self) -> dict[str, int]:
        """Per owned shard: messages received and not yet acknowledged (waiting or being stored)."""
        held = [0] * len(self._acks)
        for k, count in enumerate(self._storing[: len(held)]):
            held[k] += count
        for k, ids in enumerate(self._in_doubt.acks[: len(held)] if self._in_doubt is not None else []):
            held[k] += len(ids)
        return {
            shard: len(self._acks[k]) + held[k]
            for k, shard in enumerate(self.config.owned_shards()[: len(self._acks)])
        }

    def health(self) -> tuple[bool, dict[str, Any]]:
        """Healthy while every broker link is up and the store took the latest batch (within
        `health_store_s`: a store that hangs is not healthy either)."""
        shards = self.config.owned_shards()
        links = {shard: link.connected for shard, link in zip(shards, self._links, strict=False)}
        age_s = time.monotonic() - self._store_ok
        store_ok = self._store_failures == 0 and age_s <= self.config.health_store_s
        healthy = bool(links) and all(links.values()) and store_ok
        return healthy, {
            "gateway": self.config.gateway_id,
            "healthy": healthy,
            "links_up": sum(links.values()),
            "links_down": sorted(shard for shard, up in links.items() if not up),
            "store_ok": store_ok,
            "store_failures": self._store_failures,
            "last_store_age_s": round(age_s, 3),
            "buffered": self.buffered(),
            "paused": self.paused,
        }

    async def stop(self, crash: bool = False) -> None:
        """Stop after a last flush; `crash=True` drops the connection at once, as a killed process would."""
        if crash:
            for link in self._links:
                link.abort()
        self._stopping.set()
        for task in [*self._background, *(self._tasks if crash else self._tasks[1:])]:
            task.cancel()  # the flush loop (the first task) ends by itself after a last flush
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._links and not crash:
            if not self._tasks:
                await self.flush()
            await self._announce(online=False)
            if self._drainer is not None:  # the last alarms out before we leave (bounded: a broker away)
                with contextlib.suppress(TimeoutError, asyncio.CancelledError):
                    await asyncio.wait_for(self._drainer, 5.0)
            for link in self._links:
                await link.disconnect()
        if self._http is not None:
            self._http.close()
            await self._http.wait_closed()

    def stats(self) -> dict[str, int]:
        return {
            **self.counters,
            "stored_messages": self.stored_messages,
            "stored_rows": self.stored_rows,
        }
