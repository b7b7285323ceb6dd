"""Many VDA 5050 vehicles in one process, each on its own MQTT connection with its own last will.

One asyncio loop drives them all: a shared timer ticks at the visualization rate (5 Hz), advances
every vehicle by the wall-clock time that passed (times `time_scale`), publishes visualization every
tick and state once a second (vehicles staggered over the ticks so the broker sees an even stream)
and at once on every event (node passed, action state, driving). Orders and instant actions are
handled the moment they arrive, and the state that answers them goes out at once. Each vehicle
speaks the lean wire client (`connect.wire`), so 720 vehicles fit one process on two cores.

In lock step (`lockstep=True`, see `lockstep`) no timer runs: the vehicles drive only as far as the
plant's clock moves, told by `{interface}/_sim/advance`; they report state on every event and at
least every `state_interval_s` of plant time (the spec's floor is 30 s), visualization every
`visualization_interval_s` of plant time (0: none, the lock-step default: no display watches a plant
day run in minutes), and the simulator answers each advance with `{interface}/_sim/clock`.

Connection (6.14): the last will `CONNECTIONBROKEN` (QoS 1, retained) is set at CONNECT, then
`ONLINE` is published, the factsheet (retained) and a first state; an orderly `stop` publishes
`OFFLINE` before DISCONNECT. A vehicle that loses the broker keeps driving its base (6.2) and
reconnects.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import signal
from collections import Counter, deque
from collections.abc import Sequence
from dataclasses import dataclass, field

from mixflow.connect.broker import Broker
from mixflow.connect.vda5050.factsheets import vehicle_types
from mixflow.connect.vda5050.lockstep import Advance, advance_topic, clock_payload, clock_topic
from mixflow.connect.vda5050.models import timestamp
from mixflow.connect.vda5050.orders import node_id
from mixflow.connect.vda5050.topics import INTERFACE, RETAINED, Subtopic, VehicleTopics, vehicle_topics
from mixflow.connect.vda5050.validation import SchemaValidator
from mixflow.connect.vda5050.vehicle import Vehicle
from mixflow.connect.wire import MqttError, Received, Will, WireClient
from mixflow.errors import ValidationError
from mixflow.model import Plant

log = logging.getLogger(__name__)

EXPECT_TIMEOUT_S = 10.0
"""How long an advance waits for the orders it follows before the vehicles drive without them (QoS 0
messages lost on the way would otherwise hold the plant for ever); each such wait is counted."""
YIELD_EVERY = 50
"""Vehicles advanced per slice of a tick: a tick of 720 vehicles takes tens of milliseconds, and an
order arriving meanwhile should not wait for all of it."""


@dataclass
class SimCounters:
    """What went over the wire, per topic, and what the vehicles made of their orders."""

    sent: Counter[str] = field(default_factory=Counter)
    received: Counter[str] = field(default_factory=Counter)
    orders: Counter[str] = field(default_factory=Counter)  # accepted, updated, ignored, rejected
    dropped: int = 0  # messages not sent because the vehicle was offline
    reconnects: int = 0
    advances: int = 0  # lock step: plant clock steps driven
    late_orders: int = 0  # lock step: advances that drove without all the orders they follow
    tick_lag_s: deque[float] = field(default_factory=lambda: deque(maxlen=18_000))  # the last hour

    def as_dict(self) -> dict[str, object]:
        lags = sorted(self.tick_lag_s)
        p99 = lags[int(0.99 * (len(lags) - 1))] if lags else 0.0
        return {
            "sent": dict(self.sent),
            "received": dict(self.received),
            "orders": dict(self.orders),
            "dropped": self.dropped,
            "reconnects": self.reconnects,
            "advances": self.advances,
            "late_orders": self.late_orders,
            "tick_lag_p99_ms": round(1000 * p99, 1),
            "tick_lag_max_ms": round(1000 * (lags[-1] if lags else 0.0), 1),
        }


class _Link:
    """One vehicle's MQTT connection and its topics."""

    def __init__(self, sim: VehicleSimulator, vehicle: Vehicle) -> None:
        self.sim = sim
        self.vehicle = vehicle
        self.topics: VehicleTopics = vehicle_topics(
            vehicle.manufacturer, vehicle.serial_number, sim.interface
        )
        self.inbox: dict[str, Subtopic] = {
            self.topics("order"): "order",
            self.topics("instantActions"): "instantActions",
        }
        self.client = WireClient(
            sim.broker.host,
            sim.broker.port,
            f"vda-{sim.interface}-{vehicle.manufacturer}-{vehicle.serial_number}",
            on_messages=self.on_messages,
            username=sim.broker.username,
            password=sim.broker.password,
            keepalive_s=sim.keepalive_s,
            tls=sim.tls,
        )
        self.reconnect = True
        self.watcher: asyncio.Task[None] | None = None
        self.commands = 0  # orders and instant actions received: what a lock-step advance waits for

    async def connect(self) -> None:
        """CONNECT with the last will, subscribe, then ONLINE, factsheet and a first state."""
        will = self.vehicle.connection("CONNECTIONBROKEN")
        self.client.will = Will(self.topics("connection"), will.to_json(), qos=1, retain=True)
        await self.client.connect()
        await self.client.subscribe(list(self.inbox), qos=0)
        done = await self.client.publish(
            self.topics("connection"), self.vehicle.connection("ONLINE").to_json(), qos=1, retain=True
        )
        await done
        self.sim.counters.sent["connection"] += 1
        self.send("factsheet", self.vehicle.factsheet().to_json())
        self.send("state", self.vehicle.state().to_json())
        self.watcher = asyncio.get_running_loop().create_task(self._watch())

    async def _watch(self) -> None:
        """Reconnect after an unexpected loss (the vehicle drives on meanwhile, 6.2)."""
        closed = self.client.closed
        assert closed is not None
        await asyncio.shield(closed)
        delay = 1.0
        while self.reconnect and not self.sim.stopping:
            log.warning("%s lost the broker; reconnecting in %.0f s", self.client.client_id, delay)
            await asyncio.sleep(delay)
            if not self.reconnect or self.sim.stopping:
                return
            try:
                await self.connect()
            except (MqttError, OSError) as error:
                log.warning("%s: %s", self.client.client_id, error)
                self.client.abort()  # a half-made connection must not linger beside the next one
                delay = min(2 * delay, 10.0)
                continue
            self.sim.counters.reconnects += 1
            return

    def send(self, subtopic: Subtopic, payload: bytes) -> None:
        if not self.client.connected:
            self.sim.counters.dropped += 1
            return
        if self.sim.check_sent is not None:
            self.sim.check_sent.validate(subtopic, json.loads(payload))
        self.client.publish_nowait(self.topics(subtopic), payload, retain=subtopic in RETAINED)
        self.sim.counters.sent[subtopic] += 1

    def on_messages(self, batch: list[Received]) -> None:
        vehicle = self.vehicle
        counters = self.sim.counters
        for message in batch:
            subtopic = self.inbox.get(message.topic)
            if subtopic is None:
                continue
            counters.received[subtopic] += 1
            self.commands += 1
            if subtopic == "order":
                counters.orders[vehicle.receive_order(message.payload)] += 1
                replies = {"state"}
            else:
                replies = set(vehicle.receive_instant_actions(message.payload))
            now = timestamp()
            if "factsheet" in replies:
                self.send("factsheet", vehicle.factsheet(now).to_json())
            self.send("state", vehicle.state(now).to_json())
        if self.sim.lockstep:
            self.sim.heard.set()

    async def close(self) -> None:
        """OFFLINE (retained, QoS 1), then DISCONNECT: the broker drops the last will."""
        self.reconnect = False
        if self.watcher is not None:
            self.watcher.cancel()
        if self.client.connected:
            with contextlib.suppress(MqttError, TimeoutError):
                done = await self.client.publish(
                    self.topics("connection"),
                    self.vehicle.connection("OFFLINE").to_json(),
                    qos=1,
                    retain=True,
                )
                await asyncio.wait_for(done, 5.0)
                self.sim.counters.sent["connection"] += 1
        await self.client.disconnect()


class VehicleSimulator:
    """Vehicles on a broker: `await start()`, `await run(seconds)` (or `run()` until cancelled),
    `await stop()`; or `async with` it, which runs the timers in the background."""

    def __init__(
        self,
        broker: Broker,
        vehicles: Sequence[Vehicle],
        *,
        interface: str = INTERFACE,
        state_interval_s: float = 1.0,
        visualization_interval_s: float = 0.2,
        time_scale: float = 1.0,
        keepalive_s: int = 15,
        connect_concurrency: int = 50,
        check_sent: SchemaValidator | None = None,
        lockstep: bool = False,
    ) -> None:
        self.broker = broker
        self.tls = broker.ssl_context()  # one context for every vehicle's connection
        self.interface = interface
        self.tick_s = visualization_interval_s
        self.state_every = max(1, round(state_interval_s / visualization_interval_s)) if not lockstep else 1
        self.time_scale = time_scale
        self.keepalive_s = keepalive_s
        self.connect_concurrency = connect_concurrency
        self.check_sent = check_sent
        self.counters = SimCounters()
        self.stopping = False
        self.links = {v.serial_number: _Link(self, v) for v in vehicles}
        self._runner: asyncio.Task[None] | None = None
        self.lockstep = lockstep
        self.state_interval_s = state_interval_s
        self.visualization_interval_s = visualization_interval_s
        self.heard = asyncio.Event()  # lock step: a vehicle received an order or instant action
        self.plant_s = 0.0  # lock step: plant seconds driven so far
        self._advances: asyncio.Queue[Advance] = asyncio.Queue()
        self._clock = (  # lock step: hears the plant's clock and answers it
            broker.client(f"vda-{interface}-clock", on_messages=self._advance_received, tls=self.tls)
            if lockstep
            else None
        )

    def vehicle(self, serial_number: str) -> Vehicle:
        return self.links[serial_number].vehicle

    async def start(self) -> None:
        gate = asyncio.Semaphore(self.connect_concurrency)

        async def one(link: _Link) -> None:
            async with gate:
                await link.connect()

        await asyncio.gather(*(one(link) for link in self.links.values()))
        if self._clock is not None:
            await self._clock.connect()
            await self._clock.subscribe([advance_topic(self.interface)], qos=1)

    def _advance_received(self, batch: list[Received]) -> None:
        for message in batch:
            self._advances.put_nowait(Advance.parse(message.payload))

    async def run(self, seconds: float | None = None) -> None:
        """Tick until `seconds` of wall time passed (or for ever); in lock step, drive each advance of
        the plant's clock as it comes (`seconds` is then plant time)."""
        if self.lockstep:
            await self._run_lockstep(seconds)
            return
        loop = asyncio.get_running_loop()
        links = list(self.links.values())
        start = last = loop.time()
        tick = 0
        while seconds is None or last - start < seconds:
            tick += 1
            due = start + tick * self.tick_s
            await asyncio.sleep(max(0.0, due - loop.time()))
            now = loop.time()
            self.counters.tick_lag_s.append(max(0.0, now - due))
            dt = (now - last) * self.time_scale
            last = now
            stamp = timestamp()
            for k, link in enumerate(links):
                if k % YIELD_EVERY == YIELD_EVERY - 1:
                    await asyncio.sleep(0)  # let orders that came meanwhile in before the next chunk
                vehicle = link.vehicle
                changed = vehicle.advance(dt)
                if changed or (tick + k) % self.state_every == 0:
                    link.send("state", vehicle.state(stamp).to_json())
                link.send("visualization", vehicle.visualization(stamp).to_json())

    async def _run_lockstep(self, seconds: float | None) -> None:
        assert self._clock is not None
        while seconds is None or self.plant_s < seconds:
            step = await self._advances.get()
            await self._await_commands(step)
            self._drive(step.dt_s)
            self.counters.advances += 1
            self._clock.publish_nowait(clock_topic(self.interface), clock_payload(step.n))

    async def _await_commands(self, step: Advance) -> None:
        """Hold the advance until every vehicle got the orders and instant actions it follows."""
        links = self.links

        def behind() -> bool:
            return any(
                links[serial].commands < count for serial, count in step.expect.items() if serial in links
            )

        loop = asyncio.get_running_loop()
        deadline = loop.time() + EXPECT_TIMEOUT_S
        while behind():
            self.heard.clear()
            left = deadline - loop.time()
            if left <= 0:
                self.counters.late_orders += 1
                log.warning("advance %d: orders for some vehicles did not come within %.0f s; driving on",
                            step.n, EXPECT_TIMEOUT_S)
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.heard.wait(), left)

    def _drive(self, dt_s: float) -> None:
        """Every vehicle drives `dt_s` plant seconds; a state from each that changed or is due, then
        the visualizations due. Periodic messages are staggered over the vehicles by their index."""
        before, self.plant_s = self.plant_s, self.plant_s + dt_s
        stamp = timestamp()
        n = len(self.links)

        def due(k: int, interval: float) -> bool:
            offset = interval * k / n
            return interval > 0 and (before + offset) // interval != (self.plant_s + offset) // interval

        for k, link in enumerate(self.links.values()):
            vehicle = link.vehicle
            if vehicle.advance(dt_s) or due(k, self.state_interval_s):
                link.send("state", vehicle.state(stamp).to_json())
            if due(k, self.visualization_interval_s):
                link.send("visualization", vehicle.visualization(stamp).to_json())

    async def stop(self) -> None:
        self.stopping = True
        if self._runner is not None:
            self._runner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._runner
        gate = asyncio.Semaphore(self.connect_concurrency)

        async def one(link: _Link) -> None:
            async with gate:
                await link.close()

        await asyncio.gather(*(one(link) for link in self.links.values()))
        if self._clock is not None and self._clock.connected:
            await self._clock.disconnect()

    def break_connection(self, serial_number: str, reconnect: bool = False) -> None:
        """Drop a vehicle's connection without DISCONNECT, as a crash or a lost radio link would:
        the broker then publishes its last will (CONNECTIONBROKEN)."""
        link = self.links[serial_number]
        link.reconnect = reconnect
        link.client.abort()

    async def __aenter__(self) -> VehicleSimulator:
        await self.start()
        self._runner = asyncio.get_running_loop().create_task(self.run())
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()


def plant_vehicles(
    plant: Plant, count: int | None = None, pick_s: float = 5.0, drop_s: float = 5.0
) -> list[Vehicle]:
    """The plant's AGVs as vehicles of the two makers (alternating), each on its home cell, its AGV id
    as serial number, placed where master control puts that cell's node (`orders.FloorMap`); each
    one's factsheet is built from its own AGV type (speed, payload, battery), as the planner sees it."""
    agvs = list(zip(plant.fleet.agv_ids, plant.fleet.homes, strict=True))
    if count is not None:
        if not 0 < count <= len(agvs):
            raise ValidationError("--count", f"the plant has {len(agvs)} AGVs; {count} were asked for")
        agvs = agvs[:count]
    fleet = plant.fleet
    kinds = [vehicle_types(spec, pick_s=pick_s, drop_s=drop_s) for spec in fleet.types]
    cell_m = plant.floor.cell_m
    return [
        Vehicle(kinds[fleet.type_of[k]][k % 2], agv, x * cell_m, y * cell_m, node_id((x, y)))
        for k, (agv, (x, y)) in enumerate(agvs)
    ]


async def run_vehicles(
    simulator: VehicleSimulator, seconds: float | None, ready: bool = False
) -> dict[str, object]:
    """Run until `seconds` passed or SIGINT/SIGTERM, then stop in order (OFFLINE); the counters. With
    `ready`, print `{"vehicles": "ready"}` once every vehicle is on the broker (for a parent process)."""
    loop = asyncio.get_running_loop()
    await simulator.start()
    if ready:
        print('{"vehicles": "ready"}', flush=True)
    runner = loop.create_task(simulator.run(seconds))
    for stop_signal in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):  # no signal handlers on Windows
            loop.add_signal_handler(stop_signal, runner.cancel)
    with contextlib.suppress(asyncio.CancelledError):
        await runner
    await simulator.stop()
    return simulator.counters.as_dict()
