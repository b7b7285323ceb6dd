"""A scripted factory played as devices through the real broker returns exactly the in-process events."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import uuid
from collections.abc import Iterator, Sequence

import numpy as np
import pytest

from mixflow.connect import topics
from mixflow.connect.broker import Broker
from mixflow.connect.commands import CommandTracker
from mixflow.connect.factory import MqttFactory
from mixflow.connect.gateway import GatewayConfig
from mixflow.connect.registry import Registry
from mixflow.connect.sim import FactoryDevices
from mixflow.model import Order
from mixflow.model.port import (
    AgvBatteryLow,
    AgvDown,
    AgvStates,
    AgvUp,
    AssignTask,
    Command,
    Event,
    LineStopped,
    MachineDown,
    MachineUp,
    MoveAgvs,
    OperationDone,
    OperationStarted,
    OrderPlaced,
    PartDelivered,
    StartOperation,
    TruckDelivered,
    TruckOffLine,
)

pytestmark = pytest.mark.services


def _script() -> list[Event]:
    order = Order("o-1", "acme", {"cab": "sleeper", "battery": "600kwh"}, 10, 5 * 86400)
    return [
        OrderPlaced(10, order),
        OperationStarted(20, "op-1", "m1"),
        OperationDone(80, "op-1", "m1"),
        MachineDown(90, "m1", "spindle"),
        MachineUp(150, "m1"),
        AgvStates(160, ("a1", "a2"), np.array([3, 4]), np.array([5, 6]), np.array([0.5, 0.25])),
        AgvBatteryLow(170, "a1", 0.125),
        AgvDown(180, "a2"),
        AgvUp(200, "a2"),
        PartDelivered(210, "t-1", "a1"),
        LineStopped(220, "3", "", "starved", "line-1"),
        TruckOffLine(230, "o-1", "line-1"),
        TruckDelivered(240, "o-1"),
    ]


class ScriptedFactory:
    """Emits a fixed event script by time and records the commands it is given."""

    def __init__(self, events: list[Event]) -> None:
        self.script = list(events)
        self.now = 0
        self.commands: list[Command] = []

    @property
    def now_s(self) -> int:
        return self.now

    def submit(self, commands: Sequence[Command]) -> None:
        self.commands.extend(commands)

    def poll(self, until_s: int) -> list[Event]:
        due = [e for e in self.script if e.at_s <= until_s]
        self.script = self.script[len(due) :]
        self.now = max(self.now, until_s)
        return due


def _same(a: Event, b: Event) -> bool:
    if isinstance(a, AgvStates) and isinstance(b, AgvStates):
        return (a.at_s, a.agv_ids) == (b.at_s, b.agv_ids) and all(
            np.array_equal(getattr(a, f), getattr(b, f)) for f in ("x", "y", "soc")
        )
    if isinstance(a, OrderPlaced) and isinstance(b, OrderPlaced):
        return (
            a.at_s == b.at_s
            and a.order.id == b.order.id
            and dict(a.order.configuration) == dict(b.order.configuration)
            and (a.order.placed_s, a.order.requested_s) == (b.order.placed_s, b.order.requested_s)
        )
    return a == b


@contextlib.contextmanager
def _edge(scripted: ScriptedFactory, broker: Broker, plant: str, boot: int | None = None) -> Iterator[None]:
    """`scripted` played as devices on a background loop, until the block ends."""
    edge = FactoryDevices(scripted, broker, plant, "line-1", boot=boot)
    loop = asyncio.new_event_loop()
    ready = asyncio.Event()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    serving = asyncio.run_coroutine_threadsafe(edge.run(ready), loop)
    try:
        asyncio.run_coroutine_threadsafe(asyncio.wait_for(ready.wait(), 10), loop).result(15)
        yield
    finally:
        serving.cancel()
        asyncio.run_coroutine_threadsafe(asyncio.sleep(0.5), loop).result(5)  # let it disconnect
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)


def _lockstep(broker: Broker, plant: str, devices: list[tuple[str, str]]) -> MqttFactory:
    """A lock-step `MqttFactory` for a simulated plant of `devices`."""
    registry = Registry(plant, heartbeat_timeout_ms=10**15)
    for device_id, kind in devices:
        registry.register(device_id, kind, "password-x", b"0123456789ab")
    config = GatewayConfig(gateway_id="sim", lockstep=True, line_id="line-1", session_expiry_s=0)
    return MqttFactory(broker, registry, epoch_ms=0, config=config, tracker=CommandTracker(60_000, 0))


@contextlib.contextmanager
def _served(
    scripted: ScriptedFactory, broker: Broker, plant: str, devices: list[tuple[str, str]]
) -> Iterator[MqttFactory]:
    """`scripted` played as devices on a background loop, and a lock-step `MqttFactory` in front."""
    with _edge(scripted, broker, plant), _lockstep(broker, plant, devices) as factory:
        yield factory


def test_lockstep_plant_over_the_broker_matches_in_process(mqtt_broker: tuple[str, int]) -> None:
    plant = f"t{uuid.uuid4().hex[:10]}"
    scripted = ScriptedFactory(_script())
    devices = [("m1", "machine"), ("a1", "agv"), ("a2", "agv"), ("line-1", "line"), ("fleet", "fleet")]
    with _served(scripted, Broker(*mqtt_broker), plant, devices) as factory:
        factory.submit([StartOperation("op-1", "m1", duration_s=60)])
        got: list[Event] = []
        for until in (50, 100, 175, 300):
            got += factory.poll(until)
            assert factory.now_s == until
        factory.submit([AssignTask("a1", "t-1"), MoveAgvs(300, ("a1",), np.array([7]), np.array([8]))])
        assert factory.poll(301) == []
        stats = factory.stats()
    expected = _script()
    assert stats.get("rejected", 0) == 0, sorted(stats.items())
    assert len(got) == len(expected)
    assert all(_same(a, b) for a, b in zip(got, expected, strict=True)), got
    assert scripted.commands[:2] == [StartOperation("op-1", "m1", duration_s=60), AssignTask("a1", "t-1")]
    move = scripted.commands[2]
    assert isinstance(move, MoveAgvs) and move.agv_ids == ("a1",) and move.x.tolist() == [7]
    assert stats["acks"] == 3


def test_every_poll_holds_exactly_its_steps_events_from_all_shards(mqtt_broker: tuple[str, int]) -> None:
    """Events of one step spread over all 16 shards (each its own broker session) must all arrive
    before the step's clock: none may slip into the next poll (what made long broker runs drift)."""
    plant = f"t{uuid.uuid4().hex[:10]}"
    machines = [f"m{k:03d}" for k in range(300)]
    steps = 25
    script: list[Event] = [
        OperationDone(60 * step + 59, f"op-{step}-{m}", m) for step in range(steps) for m in machines
    ]
    devices = [(m, "machine") for m in machines]
    assert {topics.shard_of(m) for m in machines} == set(topics.ALL_SHARDS)
    with _served(ScriptedFactory(script), Broker(*mqtt_broker), plant, devices) as factory:
        for step in range(steps):
            got = factory.poll(60 * step + 59)
            assert {e.operation_id for e in got if isinstance(e, OperationDone)} == {
                f"op-{step}-{m}" for m in machines
            }, f"step {step}: {len(got)} events of {len(machines)}"


def test_a_restarted_edge_starts_a_new_run_and_loses_nothing(mqtt_broker: tuple[str, int]) -> None:
    """The simulated plant's edge restarts (its sequence numbers start again under a later boot): the
    gateway counts a reboot per device and takes every event, none as a duplicate."""
    plant = f"t{uuid.uuid4().hex[:10]}"
    broker = Broker(*mqtt_broker)
    scripted = ScriptedFactory([OperationDone(10 * k + 5, f"op-{k}", "m1") for k in range(6)])
    got: list[Event] = []
    with _lockstep(broker, plant, [("m1", "machine")]) as factory:
        with _edge(scripted, broker, plant, boot=1_000):
            got += factory.poll(20)
        with _edge(scripted, broker, plant, boot=2_000):
            got += factory.poll(60)
        stats = factory.stats()
    assert [e.operation_id for e in got if isinstance(e, OperationDone)] == [f"op-{k}" for k in range(6)]
    assert stats["reboots"] == 1 and stats.get("duplicates", 0) == 0 and stats.get("rejected", 0) == 0
