"""The gateway as Sparkplug B primary host, through the real broker into PostgreSQL: births, data by
alias, a seq gap answered by a rebirth within a second, dead letters with their reasons, the node's
NDEATH will, and the host's own STATE (online, offline when it stops, its will when it dies)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from collections.abc import AsyncIterator, Callable

import aiomqtt
import pytest
from sqlalchemy import Engine, text

from mixflow.connect import topics
from mixflow.connect.broker import Broker
from mixflow.connect.device import DeviceLink
from mixflow.connect.gateway import Gateway, GatewayConfig
from mixflow.connect.ingest import Ingest
from mixflow.connect.registry import Registry
from mixflow.connect.sparkplug import EdgeNode, codec
from mixflow.connect.sparkplug import sparkplug_b_pb2 as pb
from mixflow.connect.wire import Received, Will, WireClient
from mixflow.model.port import MachineDown
from mixflow.store.db import connect
from mixflow.store.telemetry import dead_letters

pytestmark = pytest.mark.services
METRICS = {"spindle_kw": (pb.Double, 10.0), "parts": (pb.UInt32, 0), "Machine/State": (pb.Boolean, True)}


def _setup(postgres_url: str) -> tuple[str, Registry, Engine, str, str]:
    plant = f"t{uuid.uuid4().hex[:10]}"
    registry = Registry(plant, heartbeat_timeout_ms=60_000)
    press, lathe = f"{plant}-press", f"{plant}-lathe"
    for device_id in (press, lathe):
        registry.register(device_id, "machine", "password-1", b"0123456789ab")
    engine, _ = connect(postgres_url)
    return plant, registry, engine, press, lathe


def _samples(engine: Engine, device_id: str) -> int:
    with engine.connect() as connection:
        query = text("select count(*) from telemetry_sample where device_id = :d")
        return int(connection.execute(query, {"d": device_id}).scalar_one())


async def _until(condition: Callable[[], bool], timeout_s: float = 10.0) -> None:
    async with asyncio.timeout(timeout_s):
        while not condition():
            await asyncio.sleep(0.02)


class Edge:
    """An edge node's MQTT connection (the lean client, with the NDEATH as its will)."""

    def __init__(self, mqtt_broker: tuple[str, int], client_id: str, will: tuple[str, bytes] | None) -> None:
        self.commands: asyncio.Queue[Received] = asyncio.Queue()
        self.client = WireClient(
            *mqtt_broker,
            client_id,
            on_messages=self._received,
            will=None if will is None else Will(*will, qos=1, retain=False),
        )

    def _received(self, batch: list[Received]) -> None:
        for message in batch:
            self.commands.put_nowait(message)

    async def open(self, group: str, edge_node: str) -> None:
        await self.client.connect()
        await self.client.subscribe([codec.topic(group, "NCMD", edge_node)], qos=0)

    def send(self, *messages: tuple[str, bytes]) -> None:
        for topic, payload in messages:
            self.client.publish_nowait(topic, payload)

    async def command(self) -> pb.Payload:
        async with asyncio.timeout(5):
            return pb.Payload.FromString((await self.commands.get()).payload)


@contextlib.asynccontextmanager
async def _gateway(broker: Broker, registry: Registry, engine: Engine) -> AsyncIterator[Gateway]:
    config = GatewayConfig(gateway_id="spb", session_expiry_s=5, sparkplug_group=registry.plant)
    gateway = Gateway(broker, Ingest(registry), config, engine)
    await gateway.start()
    try:
        yield gateway
    finally:
        await gateway.stop()


async def _retained_state(mqtt_broker: tuple[str, int], host_id: str) -> dict[str, object]:
    async with aiomqtt.Client(*mqtt_broker) as reader:
        await reader.subscribe(codec.state_topic(host_id), qos=1)
        async with asyncio.timeout(5):
            async for message in reader.messages:
                return dict(json.loads(bytes(message.payload)))  # type: ignore[arg-type]
    return {}


def test_sparkplug_node_through_the_gateway(mqtt_broker: tuple[str, int], postgres_url: str) -> None:
    plant, registry, engine, press, lathe = _setup(postgres_url)
    broker = Broker(*mqtt_broker)
    node = EdgeNode(plant, "edge-1", bd_seq=3)
    host_id = f"mixflow-{plant}"

    async def run() -> float:
        async with _gateway(broker, registry, engine) as gateway:
            state = await _retained_state(mqtt_broker, host_id)
            assert state["online"] is True and isinstance(state["timestamp"], int)
            edge = Edge(mqtt_broker, f"{plant}-edge-1", node.death())
            await edge.open(plant, "edge-1")
            edge.send(node.birth({}), node.device_birth(press, METRICS))
            for k in range(50):
                edge.send(node.data({"spindle_kw": 10.0 + k, "parts": k}, press))
            await _until(lambda: _samples(engine, press) == 3 + 2 * 50)

            node.data({"parts": 999}, press)  # lost on the way: the next one jumps
            sent = time.perf_counter()
            edge.send(node.data({"parts": 1000}, press))
            request = await edge.command()
            latency_s = time.perf_counter() - sent
            assert [(m.name, m.boolean_value) for m in request.metrics] == [(codec.REBIRTH, True)]
            edge.send(*node.rebirth(), node.device_birth(lathe, {"kw": (pb.Float, 1.5)}))
            edge.send(node.data({"spindle_kw": 99.0}, press), node.data({"Machine/State": False}, press))
            await _until(lambda: _samples(engine, lathe) == 1 and _samples(engine, press) == 103 + 3 + 2)
            events: list[object] = []
            async with asyncio.timeout(5):
                while not any(isinstance(e, MachineDown) for e in events):
                    events.append(await gateway.events.get())
            down = next(e for e in events if isinstance(e, MachineDown))
            assert (down.machine_id, down.reason) == (press, "Machine/State = false")
            edge.client.abort()  # the node's link dies: the broker publishes its NDEATH
            async with asyncio.timeout(5):
                while not any(isinstance(e, MachineDown) and e.machine_id == lathe for e in events):
                    events.append(await gateway.events.get())
            assert gateway.stats()["rejected_sequence"] == 1
        letters = [(d.reason, d.topic, d.device_id) for d in dead_letters(engine, plant)]
        assert letters == [("sequence", codec.topic(plant, "DDATA", "edge-1", press), press)]
        assert (await _retained_state(mqtt_broker, host_id))["online"] is False  # stopped cleanly
        return latency_s

    latency_s = asyncio.run(run())
    assert latency_s < 1.0


def test_bad_sparkplug_input_is_dead_lettered_with_its_reason_and_disturbs_nothing_else(
    mqtt_broker: tuple[str, int], postgres_url: str
) -> None:
    plant, registry, engine, press, _ = _setup(postgres_url)
    # a machine of mixflow's own protocol whose shard is on the same (first) link as Sparkplug
    own = next(f"{plant}-j{k}" for k in range(1000) if topics.shard_of(f"{plant}-j{k}") == "s00")
    registry.register(own, "machine", "password-1", b"0123456789ab")
    broker = Broker(*mqtt_broker)
    node = EdgeNode(plant, "edge-2")

    async def run() -> dict[str, int]:
        async with _gateway(broker, registry, engine) as gateway:
            edge = Edge(mqtt_broker, f"{plant}-edge-2", None)
            await edge.open(plant, "edge-2")
            early = EdgeNode(plant, "edge-2")
            early.birth({})
            early.device_birth(press, METRICS)
            edge.send(early.data({"parts": 1}, press))  # its births were before the host listened
            await edge.command()  # answered with a rebirth request
            edge.send(node.birth({}), node.device_birth(press, METRICS))
            unborn = pb.Payload(timestamp=1, seq=node.seq)
            node.seq += 1
            codec.set_value(unborn.metrics.add(alias=77), pb.Double, 1.0)
            edge.send((codec.topic(plant, "DDATA", "edge-2", press), unborn.SerializeToString()))
            edge.send((codec.topic(plant, "NDATA", "edge-2"), b"\x08"))
            edge.send(node.device_birth("not-registered", {"kw": (pb.Float, 1.0)}))
            await edge.command()  # the alias never born: another rebirth request
            async with DeviceLink(broker, plant, "machine", own) as link:
                for k in range(5):
                    await link.telemetry({"kw": float(k), "temp_c": 40.0})
                    edge.send(node.data({"spindle_kw": float(k)}, press))  # in step again: stored
            await _until(lambda: _samples(engine, own) == 10 and _samples(engine, press) == 3 + 5)
            await _until(lambda: len(dead_letters(engine, plant)) == 4)
            return dict(gateway.stats())

    stats = asyncio.run(run())
    reasons = sorted(d.reason for d in dead_letters(engine, plant))
    assert reasons == ["alias", "malformed", "not_born", "unknown_device"]
    assert stats["sparkplug_rebirths_requested"] == 2  # for the data before the birth, and for the alias
    assert _samples(engine, press) == 3 + 5  # its DBIRTH, then the data after the refused messages


def test_the_host_state_stays_online_and_its_will_says_offline_when_the_gateway_dies(
    mqtt_broker: tuple[str, int], postgres_url: str
) -> None:
    _, registry, engine, _, _ = _setup(postgres_url)
    broker = Broker(*mqtt_broker)

    async def run() -> None:
        config = GatewayConfig(gateway_id="spb", session_expiry_s=5, sparkplug_group=registry.plant)
        gateway = Gateway(broker, Ingest(registry), config, engine)
        await gateway.start()
        host_id = f"mixflow-{registry.plant}"
        assert (await _retained_state(mqtt_broker, host_id))["online"] is True
        async with aiomqtt.Client(*mqtt_broker) as other:  # someone says we are offline: we are not
            await other.publish(codec.state_topic(host_id), codec.state_payload(False, 1), qos=1, retain=True)
        await asyncio.sleep(0.3)
        assert (await _retained_state(mqtt_broker, host_id))["online"] is True
        await gateway.stop(crash=True)
        await asyncio.sleep(0.3)
        state = await _retained_state(mqtt_broker, host_id)
        assert state == {"online": False, "timestamp": gateway._state_ms}

    asyncio.run(run())


def test_a_resumed_session_takes_up_what_this_run_listens_to(
    mqtt_broker: tuple[str, int], postgres_url: str
) -> None:
    """A gateway that ran without a Sparkplug group leaves a persistent session behind; started again
    with one, it resumes that session (no SUBACK wait behind a backlog) and still subscribes the
    group's topics: the node's births and data are stored."""
    plant, registry, engine, press, _ = _setup(postgres_url)
    broker = Broker(*mqtt_broker)
    node = EdgeNode(plant, "edge-2")

    async def run() -> None:
        plain = Gateway(broker, Ingest(registry), GatewayConfig(gateway_id="rs", session_expiry_s=60), engine)
        await plain.start()
        await plain.stop()
        config = GatewayConfig(gateway_id="rs", session_expiry_s=60, sparkplug_group=plant)
        gateway = Gateway(broker, Ingest(registry), config, engine)
        await gateway.start()
        try:
            assert gateway._links[0].session_present  # resumed, not new
            edge = Edge(mqtt_broker, f"{plant}-edge-2", node.death())
            await edge.open(plant, "edge-2")
            deadline = time.monotonic() + 5
            while _samples(engine, press) == 0:  # the re-subscription may land a moment after start
                assert time.monotonic() < deadline, "the resumed session never heard the Sparkplug node"
                edge.send(*node.rebirth(), node.device_birth(press, METRICS))
                await asyncio.sleep(0.3)
            edge.client.abort()
        finally:
            await gateway.stop()

    asyncio.run(run())
