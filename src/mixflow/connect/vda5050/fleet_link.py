"""The master control on the broker: one MQTT connection for a whole VDA 5050 fleet.

`VdaLink` subscribes to every vehicle's `state`, `connection` (QoS 1, retained: who is there when we
start) and `factsheet`, feeds them to `MasterControl` as they come (the lean `wire` client parses
every message of a read at once: 720 vehicles send states at 1 Hz and on every node they pass) and
publishes what it answers; `submit` publishes the orders and instant actions of a batch
of port commands. The step of the fleet is paced by the vehicles: `settled` waits until every vehicle
that was sent a base reported standing at its decision point (or a timeout), and the time from that
report to the next order update of the vehicle is kept (`latencies_ms`), the figure the benchmark
holds against its 250 ms target.

In lock step with a simulated plant (`lockstep=True`, vehicles of `simulator` in lock step) the link
also tells the vehicles how far the plant's clock moved (`advance`, see `lockstep`): it counts what it
sent each vehicle, so the simulator can hold an advance until the orders it follows are in.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Sequence

from mixflow.connect.broker import Broker
from mixflow.connect.vda5050.lockstep import Advance, advance_topic, clock_topic, parse_clock
from mixflow.connect.vda5050.master import MasterControl, Publish
from mixflow.connect.vda5050.topics import Subtopic, fleet_filter
from mixflow.connect.wire import Received
from mixflow.model.port import Command, Event

LATENCIES_KEPT = 1_000_000
LISTENED: tuple[Subtopic, ...] = ("state", "connection", "factsheet")
"""Not `visualization`: it is for displays (6.13), five times the state's traffic, and a master that
takes it too makes the broker drop messages for it in the bursts of a large fleet."""


class VdaLink:
    """`master` on the broker; `clock` gives the plan's second for events (the fleet's step count)."""

    def __init__(
        self,
        master: MasterControl,
        broker: Broker,
        clock: Callable[[], int],
        client_id: str | None = None,
        lockstep: bool = False,
    ) -> None:
        # one session per interface: a second master on the broker (another plant) must not take
        # this one's session over
        client_id = client_id or f"mixflow-vda5050-master-{master.interface}"
        self.master = master
        self.clock = clock
        self.client = broker.client(client_id, on_messages=self._received)
        self.latencies_ms: list[float] = []
        self._reached_at: dict[str, float] = {}
        self._changed = asyncio.Event()
        self.lockstep = lockstep
        self._clock_topic = clock_topic(master.interface)
        self._advance_topic = advance_topic(master.interface)
        self._serials = {agv: v.ident.serial_number for agv, v in master.vehicles.items()}
        self._sent_to: dict[str, int] = {}  # serial number -> orders and instant actions sent
        self._told: dict[str, int] = {}  # of those, the counts not yet passed on in an advance
        self.advances = 0  # steps of the plant's clock sent to the vehicles
        self.clock_n = 0  # the last step the vehicles reported driven

    async def start(self) -> None:
        await self.client.connect()
        filters = [fleet_filter(sub, self.master.interface) for sub in LISTENED]
        if self.lockstep:
            filters.append(self._clock_topic)
        await self.client.subscribe(filters, qos=1)

    def _received(self, batch: list[Received]) -> None:
        at_s = self.clock()
        for message in batch:
            if message.topic == self._clock_topic:
                self.clock_n = max(self.clock_n, parse_clock(message.payload))
                continue
            self._send(self.master.receive(message.topic, message.payload, at_s))
        if self.master.reached:
            now = time.perf_counter()
            for agv in self.master.reached:
                self._reached_at[agv] = now
            self.master.reached.clear()
        self._changed.set()

    def _send(self, messages: Sequence[Publish]) -> None:
        if not messages:
            return
        now = time.perf_counter()
        for message in messages:
            self.client.publish_nowait(message.topic, message.payload())
            if self.lockstep:
                serial = self._serials[message.agv_id]
                sent = self._sent_to[serial] = self._sent_to.get(serial, 0) + 1
                self._told[serial] = sent
            if message.subtopic == "order":
                reached = self._reached_at.pop(message.agv_id, None)
                if reached is not None and len(self.latencies_ms) < LATENCIES_KEPT:
                    self.latencies_ms.append((now - reached) * 1000)

    def submit(self, commands: Sequence[Command], at_s: int) -> list[Publish]:
        """Publish the messages of a batch of port commands; returns them. A vehicle that reported at
        its decision point and was not moved by this batch has no state-to-order latency."""
        messages = self.master.submit(commands, at_s)
        self._send(messages)
        self._reached_at.clear()
        return messages

    def send(self, messages: Sequence[Publish]) -> None:
        """Publish messages made by the master (instant actions asked for by hand)."""
        self._send(messages)

    def take_events(self) -> list[Event]:
        return self.master.take_events(self.clock())

    async def heard(self, timeout_s: float) -> bool:
        """Wait until every vehicle has said where it stands: a move planned for one not heard yet
        cannot be sent (its order would start nowhere). False if `timeout_s` passed first."""
        vehicles = self.master.vehicles.values()
        return await self._until(lambda: all(vehicle.cell is not None for vehicle in vehicles), timeout_s)

    async def settled(self, timeout_s: float) -> bool:
        """Wait until no vehicle is on its way to its decision point; False if `timeout_s` passed first."""
        return await self._until(lambda: not self.master.awaiting, timeout_s)

    async def advance(self, dt_s: float, timeout_s: float) -> bool:
        """Lock step: the vehicles drive `dt_s` plant seconds once they hold what was sent them; True
        once they said so (their clock mark), False if `timeout_s` passed first."""
        self.advances += 1
        step = Advance(self.advances, dt_s, self._told)
        self._told = {}
        self.client.publish_nowait(self._advance_topic, step.payload())
        return await self._until(lambda: self.clock_n >= step.n, timeout_s)

    async def _until(self, done: Callable[[], bool], timeout_s: float) -> bool:
        """Wait until `done()`, asked again as each message comes in; False if `timeout_s` passed first."""
        deadline = time.perf_counter() + timeout_s
        while not done():
            left = deadline - time.perf_counter()
            if left <= 0:
                return False
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), left)
        return True

    async def stop(self) -> None:
        with contextlib.suppress(Exception):
            await self.client.disconnect()
