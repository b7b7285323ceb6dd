"""The store refuses a value, or goes away: nothing acknowledged is lost, nothing is stored twice.

A message whose values the database refuses (PostgreSQL takes no NUL in text) is quarantined as a
dead letter with the database's reason and the rest of its batch is stored. A database outage is
made for real, by cutting a TCP proxy between the gateway and PostgreSQL: the gateway keeps the batch,
acknowledges nothing, stops reading past its bound, and stores everything once the database is back;
a gateway killed during the outage loses nothing either (the broker re-delivers what it held).
The devices are an outside QoS 1 publisher (paho-mqtt): what the broker acknowledged to it must end
up stored exactly once.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path

import paho.mqtt.client as paho
import pytest
from sqlalchemy import text

from mixflow.connect import topics
from mixflow.connect.broker import Broker
from mixflow.connect.gateway import Gateway, GatewayConfig
from mixflow.connect.ingest import Ingest
from mixflow.store.db import connect, scratch_database
from mixflow.store.telemetry import (
    CommitInDoubt,
    DeadLetterRow,
    Row,
    commit_status,
    dead_letters,
    store_samples,
)
from tests.connect.outside import machine_registry, stored_seqs

pytestmark = pytest.mark.services
POISON = "kw\u0000"  # passes payload validation, PostgreSQL refuses NUL in text
DEVICES = ("m1", "m2", "m3")


@pytest.fixture
def pg_url(postgres_url: str) -> Iterator[str]:
    """A schema of its own on the real PostgreSQL (other tests write the same tables)."""
    with scratch_database(postgres_url) as url:
        yield url






class Publisher:
    """Outside devices: paho-mqtt at QoS 1; remembers what the broker acknowledged, per device."""

    def __init__(self, host: str, port: int, plant: str) -> None:
        self.plant = plant
        self.client = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id=f"{plant}-devices")
        self.client.max_inflight_messages_set(1000)
        self.client.connect(host, port)
        self.client.loop_start()
        self.seq = dict.fromkeys(DEVICES, 0)
        self.acked: dict[str, set[int]] = {d: set() for d in DEVICES}

    def send(self, rounds: int, poison: str | None = None) -> None:
        """`rounds` messages per device; with `poison`, that device's first one holds a bad name."""
        infos = []
        for k in range(rounds):
            for device_id in DEVICES:
                self.seq[device_id] += 1
                seq = self.seq[device_id]
                payload = {"v": 1, "t": time.time_ns() // 1_000_000, "seq": seq, "m": {"seq": seq}}
                if k == 0 and device_id == poison:
                    payload["m"][POISON] = 1.0
                topic = topics.device_topic(self.plant, "machine", device_id, "telemetry")
                infos.append((device_id, seq, self.client.publish(topic, json.dumps(payload), qos=1)))
        for device_id, seq, info in infos:
            info.wait_for_publish(10)
            if info.is_published():
                self.acked[device_id].add(seq)

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


class Proxy:
    """A TCP proxy to PostgreSQL that the test can cut (refusing and dropping connections) and mend.

    `break_commit(forward)` arms it to break the next COMMIT of a transaction that wrote samples (a
    COPY into telemetry_sample): with `forward`, the server gets the COMMIT and the client never hears
    back; without, the COMMIT is lost on the way. Either way the client cannot tell which."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.port = 0
        self.server: asyncio.Server | None = None
        self.pipes: set[asyncio.StreamWriter] = set()
        self.armed: bool | None = None  # None, or whether to forward the COMMIT it breaks
        self.broken = 0

    def break_commit(self, forward: bool) -> None:
        self.armed = forward

    async def open(self) -> None:
        self.server = await asyncio.start_server(self._pipe, "127.0.0.1", self.port)
        self.port = self.server.sockets[0].getsockname()[1]

    async def cut(self) -> None:
        assert self.server is not None
        self.server.close()
        for writer in list(self.pipes):
            writer.transport.abort()
        self.pipes.clear()
        await self.server.wait_closed()

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return
        self.pipes |= {writer, up_writer}
        copied = False  # this connection's transaction wrote samples
        silenced = False  # the server's answers are no longer passed on

        async def pump(source: asyncio.StreamReader, sink: asyncio.StreamWriter, upstream: bool) -> None:
            nonlocal copied, silenced
            with contextlib.suppress(ConnectionError, OSError):
                while data := await source.read(65536):
                    if silenced:
                        continue
                    copied = copied or (upstream and b"COPY telemetry_sample" in data)
                    if upstream and copied and self.armed is not None and b"COMMIT" in data:
                        forward, self.armed, silenced = self.armed, None, True
                        if forward:
                            sink.write(data)
                            await sink.drain()
                            await asyncio.sleep(0.3)  # the server commits; its answer is never passed on
                        self.broken += 1
                        writer.transport.abort()
                        up_writer.transport.abort()
                        return
                    if upstream and b"COMMIT" in data:
                        copied = False
                    sink.write(data)
                    await sink.drain()
            sink.transport.abort()

        await asyncio.gather(pump(reader, up_writer, True), pump(up_reader, writer, False))
        self.pipes -= {writer, up_writer}


def _via(url: str, port: int) -> str:
    return url.replace("@127.0.0.1:5432/", f"@127.0.0.1:{port}/")


async def _until(check: object, timeout_s: float = 15.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.05)


def test_a_poisonous_message_is_quarantined_and_the_rest_of_its_batchstored_seqs(
    pg_url: str, mqtt_broker: tuple[str, int]
) -> None:
    plant = f"sp{uuid.uuid4().hex[:8]}"
    engine, _ = connect(pg_url)
    config = GatewayConfig(session_expiry_s=60)
    gateway = Gateway(Broker(*mqtt_broker), Ingest(machine_registry(plant, DEVICES)), config, engine)

    async def run() -> None:
        await gateway.start()
        publisher = Publisher(*mqtt_broker, plant)
        try:
            await asyncio.to_thread(publisher.send, 20)
            await asyncio.to_thread(publisher.send, 20, "m2")  # seq 21 of m2 is poisonous
            await _until(lambda: gateway.stored_messages >= 119)
            await _until(lambda: sum(gateway.queue_depths().values()) == 0)  # every one acknowledged
        finally:
            publisher.close()
            await gateway.stop()
        stored = stored_seqs(engine)
        expected = {d: [k for k in range(1, 41) if (d, k) != ("m2", 21)] for d in DEVICES}
        publisher.acked["m2"].discard(21)  # the broker took it; the store must not
        for d in DEVICES:
            assert sorted(publisher.acked[d]) == expected[d], (d, set(expected[d]) ^ publisher.acked[d])
            assert sorted(stored[d]) == expected[d], (d, set(expected[d]) ^ set(stored[d]))

    asyncio.run(run())
    letters = [letter for letter in dead_letters(engine, plant) if letter.reason == "store"]
    assert len(letters) == 1, [(letter.reason, letter.detail) for letter in dead_letters(engine, plant)]
    assert letters[0].device_id == "m2" and "NUL" in letters[0].detail
    assert letters[0].topic == topics.device_topic(plant, "machine", "m2", "telemetry")
    assert gateway.ingest.counters["rejected_store"] == 1 and gateway.stored_messages == 119
    engine.dispose()


def test_bisection_stores_everything_but_the_refused_messages(tmp_path: Path, pg_url: str) -> None:
    """SQLite refuses an integer past 64 bits, PostgreSQL a NUL: the same bisection finds either, and
    splits at message boundaries even where one device sent several messages in one millisecond."""
    for url, bad in ((f"sqlite:///{tmp_path / 'b.db'}", ("kw", 2**63)), (pg_url, (POISON, 1100))):
        engine, _ = connect(url)
        rows, ends = [], []
        for k in range(300):  # two-row messages, all of m2 in the same millisecond
            rows += [("m2", "kw", 1000, float(k)), ("m2", "temp_c", 1000, float(k))]
            ends.append(len(rows))
        rows[301] = ("m2", bad[0], bad[1], 1.0)  # the second row of message 150
        made: list[str] = []

        def quarantine(refused: Sequence[Row], error: str, made: list[str] = made) -> DeadLetterRow:
            made.append(error)
            assert [value for *_, value in refused] == [150.0, 1.0]
            return DeadLetterRow(1, "m2", "store", "t", error, b"")

        letter = DeadLetterRow(2, None, "topic", "x/y", "ingest's own dead letter", b"")
        assert len(store_samples(engine, "bisect", rows, [letter], quarantine, ends)) == 1
        with engine.connect() as connection:
            stored = connection.execute(text("SELECT COUNT(*) FROM telemetry_sample")).scalar_one()
        assert stored == 598 and len(made) == 1  # the whole bad message out, every good one in
        assert {r.reason for r in dead_letters(engine, "bisect")} == {"store", "topic"}
        engine.dispose()


def test_a_database_outage_loses_and_acknowledges_nothing(pg_url: str, mqtt_broker: tuple[str, int]) -> None:
    plant = f"so{uuid.uuid4().hex[:8]}"
    direct, _ = connect(pg_url)
    registry = machine_registry(plant, DEVICES)
    registry.save(direct)
    proxy = Proxy(("127.0.0.1", 5432))
    config = GatewayConfig(gateway_id="so", session_expiry_s=120, max_buffered=150, store_retry_max_s=0.5)

    def total() -> int:
        return sum(len(seqs) for seqs in stored_seqs(direct).values())

    async def run() -> None:
        await proxy.open()
        engine, _ = connect(_via(pg_url, proxy.port), upgrade=False)
        gateway = Gateway(Broker(*mqtt_broker), Ingest(machine_registry(plant, DEVICES)), config, engine)
        await gateway.start()
        publisher = Publisher(*mqtt_broker, plant)
        try:
            await asyncio.to_thread(publisher.send, 20)
            await _until(lambda: total() == 60)
            assert gateway.health()[0]

            await proxy.cut()  # the database goes away
            await asyncio.to_thread(publisher.send, 100)  # the broker acknowledges these to the devices
            await _until(lambda: gateway.paused)  # 300 waiting > 150: stop reading, the broker queues
            await asyncio.sleep(1.0)
            assert total() == 60 and gateway.stored_messages == 60
            assert gateway.counters["store_retries"] >= 1 and not gateway.health()[0]
            assert sum(gateway.queue_depths().values()) >= 150  # held, not acknowledged

            await proxy.open()  # back: everything is stored, reading resumes
            await _until(lambda: total() == 360)
            await _until(lambda: gateway.health()[0] and not gateway.paused)

            await proxy.cut()  # again, and the gateway is killed while it holds a batch
            await asyncio.to_thread(publisher.send, 30)
            await _until(lambda: gateway.counters["telemetry"] >= 450)
            await gateway.stop(crash=True)
            await proxy.open()
            second = Gateway(Broker(*mqtt_broker), Ingest(machine_registry(plant, DEVICES)), config, engine)
            await second.start()  # the broker re-delivers what the dead one never acknowledged
            await _until(lambda: total() == 450)
            await asyncio.sleep(0.3)
            await second.stop()
        finally:
            publisher.close()
            with contextlib.suppress(AssertionError):
                await proxy.cut()
            engine.dispose()
        stored = stored_seqs(direct)
        for device_id in DEVICES:
            assert sorted(stored[device_id]) == sorted(publisher.acked[device_id]) == list(range(1, 151))

    asyncio.run(run())
    direct.dispose()


def test_a_batch_stored_but_not_acknowledged_is_not_stored_again_by_the_next_gateway(
    pg_url: str, mqtt_broker: tuple[str, int]
) -> None:
    """kill -9 between a batch's commit and its PUBACKs: the broker hands the batch to the next
    gateway again. Each device's (boot, seq) mark is committed with the batch, so the new gateway's
    ingest knows those messages; here the re-delivery is the same messages sent again."""
    plant = f"sm{uuid.uuid4().hex[:8]}"
    engine, _ = connect(pg_url)

    async def run(rounds: int, first_seq: int) -> Gateway:
        registry = machine_registry(plant, DEVICES)
        gateway = Gateway(Broker(*mqtt_broker), Ingest(registry), GatewayConfig(), engine)
        await gateway.start()
        publisher = Publisher(*mqtt_broker, plant)
        publisher.seq = dict.fromkeys(DEVICES, first_seq)
        try:
            await asyncio.to_thread(publisher.send, rounds)
            await _until(lambda: gateway.ingest.counters["telemetry"] + gateway.ingest.counters["duplicates"]
                         >= rounds * len(DEVICES))
            await _until(lambda: sum(gateway.queue_depths().values()) == 0)
        finally:
            publisher.close()
            await gateway.stop()
        return gateway

    asyncio.run(run(10, 0))  # seq 1..10 stored by the first gateway
    second = asyncio.run(run(15, 5))  # seq 6..20: 6..10 again, as a re-delivery would bring them
    assert second.ingest.counters["duplicates"] == 5 * len(DEVICES)
    assert second.ingest.counters["gaps"] == 0  # the stored mark is where the new gateway starts from
    assert stored_seqs(engine) == {d: list(range(1, 21)) for d in DEVICES}


@pytest.mark.parametrize("forward", [True, False], ids=["committed", "lost"])
def test_a_commit_whose_answer_is_lost_is_asked_about_not_guessed(pg_url: str, forward: bool) -> None:
    """The connection breaks during COMMIT: the store says it cannot know, and the server answers
    afterwards whether that transaction committed (rows there once) or not (rows absent)."""
    direct, _ = connect(pg_url)
    proxy = Proxy(("127.0.0.1", 5432))
    rows = [("m1", "seq", 1000 + k, float(k)) for k in range(50)]

    async def run() -> CommitInDoubt:
        await proxy.open()
        engine, _ = connect(_via(pg_url, proxy.port), upgrade=False)
        proxy.break_commit(forward)
        try:
            with pytest.raises(CommitInDoubt) as caught:
                await asyncio.to_thread(store_samples, engine, "doubt", rows, [], None, (), {"m1": (1, 50)})
        finally:
            engine.dispose()
            await proxy.cut()
        return caught.value

    doubt = asyncio.run(run())
    deadline = time.monotonic() + 10
    while (committed := commit_status(direct, doubt.txid)) is None:  # until the server sees the cut
        assert time.monotonic() < deadline, "the transaction stayed in progress"
        time.sleep(0.05)
    assert committed is forward and proxy.broken == 1
    assert stored_seqs(direct).get("m1", []) == (list(range(50)) if forward else [])
    direct.dispose()


@pytest.mark.parametrize("forward", [True, False], ids=["committed", "lost"])
def test_a_batch_whose_commit_broke_off_is_stored_exactly_once(
    pg_url: str, mqtt_broker: tuple[str, int], forward: bool
) -> None:
    """The gateway's COMMIT breaks off mid-stream: it asks the database whether that batch was
    stored, acknowledges it if so, retries it if not; every acknowledged message is stored once."""
    plant = f"sd{uuid.uuid4().hex[:8]}"
    direct, _ = connect(pg_url)
    machine_registry(plant, DEVICES).save(direct)
    proxy = Proxy(("127.0.0.1", 5432))
    config = GatewayConfig(gateway_id="sd", session_expiry_s=120, store_retry_max_s=0.5)

    async def run() -> Gateway:
        await proxy.open()
        engine, _ = connect(_via(pg_url, proxy.port), upgrade=False)
        gateway = Gateway(Broker(*mqtt_broker), Ingest(machine_registry(plant, DEVICES)), config, engine)
        await gateway.start()
        publisher = Publisher(*mqtt_broker, plant)
        try:
            await asyncio.to_thread(publisher.send, 10)
            await _until(lambda: gateway.stored_messages == 30)
            proxy.break_commit(forward)
            await asyncio.to_thread(publisher.send, 40)
            await _until(lambda: proxy.broken == 1)
            await _until(lambda: gateway.stored_messages == 150)
            await _until(lambda: sum(gateway.queue_depths().values()) == 0)  # every one acknowledged
        finally:
            publisher.close()
            await gateway.stop()
            engine.dispose()
            await proxy.cut()
        for device_id in DEVICES:
            assert sorted(publisher.acked[device_id]) == list(range(1, 51))
        return gateway

    gateway = asyncio.run(run())
    settled = "commits_in_doubt_stored" if forward else "commits_in_doubt_retried"
    assert gateway.counters[settled] == 1, dict(gateway.counters)
    assert stored_seqs(direct) == {d: list(range(1, 51)) for d in DEVICES}  # each once, in order
    direct.dispose()
