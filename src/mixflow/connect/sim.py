"""A simulated plant played as devices over the broker, in lock step with the cloud.

`FactoryDevices` takes any in-process `Factory` (the twin) and puts it behind the topic tree: the
factory's events go out as the device messages a real plant would send (machines, AGVs, the line
controller, the AGV fleet controller), and command messages come back in and are executed and
acknowledged (re-sent commands are recognised by id and executed once); its messages carry one
`boot` (when this edge started), so a restarted edge is a new run, not a replay. A simulated plant has no
wall clock, so the cloud drives it: `_sim/advance {"n", "until_s"}` runs the factory to `until_s`,
and a mark `_sim/clock/{shard} {"n", "now_s"}` follows the last event of that step in every shard. Each
shard reaches the gateway on its own session, in publication order, so once the gateway holds the
mark of every shard it holds every event of the step, and a `poll` through the broker returns
exactly what the in-process `poll` would.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections import OrderedDict
from typing import Any

from mixflow.connect import topics
from mixflow.connect.broker import Broker
from mixflow.connect.commands import FLEET_ID, RECEIVING_ID, from_message
from mixflow.connect.gateway import now_ms
from mixflow.connect.payloads import CommandMessage, PayloadError, decode, encode
from mixflow.connect.sparkplug import PREFIX as SPARKPLUG_PREFIX
from mixflow.connect.sparkplug.machines import MachineStates
from mixflow.connect.wire import Received, Will
from mixflow.model.port import (
    OUT_OF_SERVICE,
    AgvBatteryLow,
    AgvDown,
    AgvStates,
    AgvUp,
    DeliveryConfirmed,
    Event,
    Factory,
    GoodsReceived,
    LineStopped,
    MachineDown,
    MachineUp,
    OperationDone,
    OperationStarted,
    OrderPlaced,
    PartDelivered,
    StockOut,
    TruckDelivered,
    TruckOffLine,
)

Message = tuple[str, str, str, dict[str, Any]]  # kind, device id, channel, fields
REMEMBERED_COMMANDS = 100_000


def event_messages(event: Event, line_id: str) -> list[Message]:
    """The device message that reports one factory event. A line stop and a truck off the line come
    from the controller of the line they name (`line_id`, the first line's, where they name none); a
    supplier's delivery date and goods unloaded from goods receiving, a stock-out from the AGV fleet
    controller (its AGV found the rack empty)."""
    if isinstance(event, OrderPlaced):
        order = event.order
        body = {
            "id": order.id,
            "customer": order.customer,
            "configuration": dict(order.configuration),
            "placed_s": order.placed_s,
            "requested_s": order.requested_s,
            "promised_s": order.promised_s,
            "priority": order.priority,
        }
        return [("line", line_id, "event", {"type": "order_placed", "order_id": order.id, "order": body})]
    if isinstance(event, OperationStarted | OperationDone):
        kind = "operation_started" if isinstance(event, OperationStarted) else "operation_done"
        return [("machine", event.machine_id, "event", {"type": kind, "operation_id": event.operation_id})]
    if isinstance(event, MachineDown):
        state = {"status": "down", "reason": event.reason or "down"}
        if event.state != OUT_OF_SERVICE:  # the default need not travel
            state["item_state"] = event.state
        return [("machine", event.machine_id, "state", state)]
    if isinstance(event, MachineUp):
        return [("machine", event.machine_id, "state", {"status": "up"})]
    if isinstance(event, AgvStates):
        fields = {
            "type": "agv_states",
            "agv_ids": list(event.agv_ids),
            "x": event.x.tolist(),
            "y": event.y.tolist(),
            "soc": event.soc.tolist(),
        }
        if event.load:
            fields["load"] = list(event.load)
        if event.down:
            fields["down"] = list(event.down)
        return [("fleet", FLEET_ID, "event", fields)]
    if isinstance(event, AgvBatteryLow):
        return [("agv", event.agv_id, "event", {"type": "battery_low", "soc": float(event.soc)})]
    if isinstance(event, AgvDown | AgvUp):
        return [("agv", event.agv_id, "state", {"status": "down" if isinstance(event, AgvDown) else "up"})]
    if isinstance(event, PartDelivered):
        return [("agv", event.agv_id, "event", {"type": "part_delivered", "task_id": event.task_id})]
    if isinstance(event, LineStopped):
        fields = {
            "type": "line_stopped",
            "station_id": event.station_id,
            "order_id": event.order_id,
            "cause": event.cause,
        }
        return [("line", event.line or line_id, "event", fields)]
    if isinstance(event, TruckOffLine):
        fields = {"type": "truck_off_line", "order_id": event.order_id}
        return [("line", event.line or line_id, "event", fields)]
    if isinstance(event, DeliveryConfirmed):
        fields = {"type": "delivery_confirmed", "po_id": event.po_id, "due_s": int(event.due_s)}
        return [("receiving", RECEIVING_ID, "event", fields)]
    if isinstance(event, GoodsReceived):
        fields = {
            "type": "goods_received",
            "po_id": event.po_id,
            "item": event.item,
            "qty": int(event.qty),
            "dock": [int(v) for v in event.dock],
        }
        return [("receiving", RECEIVING_ID, "event", fields)]
    if isinstance(event, StockOut):
        fields = {"type": "stock_out", "item": event.item, "task_id": event.task_id}
        return [("fleet", FLEET_ID, "event", fields)]
    assert isinstance(event, TruckDelivered)
    return [("line", line_id, "event", {"type": "truck_delivered", "order_id": event.order_id})]


class FactoryDevices:
    """Plays an in-process factory as the plant's devices, over one edge connection."""

    def __init__(
        self,
        factory: Factory,
        broker: Broker,
        plant: str,
        line_id: str,
        binary: bool = True,
        boot: int | None = None,
        sparkplug: MachineStates | None = None,
    ) -> None:
        self.factory = factory
        self.sparkplug = sparkplug  # machines' breakdowns and repairs as a Sparkplug B edge node
        self.broker = broker
        self.plant = topics.check_name("plant", plant)
        self.line_id = line_id
        self.binary = binary
        self.advance_topic = topics.advance_topic(plant)
        self.boot = now_ms() if boot is None else boot
        self.seq: dict[str, int] = {}
        self.executed: OrderedDict[str, None] = OrderedDict()
        self.counters = {"commands": 0, "resent_ignored": 0, "bad_commands": 0, "events": 0, "steps": 0}
        self._inbox: asyncio.Queue[Received] = asyncio.Queue()
        self._client = broker.client(f"{plant}-edge", on_messages=self._received)

    def _received(self, batch: list[Received]) -> None:
        for message in batch:
            self._inbox.put_nowait(message)

    async def _send(self, kind: str, device_id: str, channel: str, fields: dict[str, Any], t_ms: int) -> None:
        seq = self.seq.get(device_id, 0) + 1
        self.seq[device_id] = seq
        payload = encode({"v": 1, "t": t_ms, "boot": self.boot, "seq": seq, **fields}, self.binary)
        await self._client.publish_counted(topics.device_topic(self.plant, kind, device_id, channel), payload)

    async def _command(self, message: Received) -> None:
        where = topics.parse(message.topic)
        try:
            command = CommandMessage.parse(decode(message.payload))
            port_command = from_message(command)
        except PayloadError:
            self.counters["bad_commands"] += 1
            return
        if where is None:
            return
        if command.command_id in self.executed:
            self.counters["resent_ignored"] += 1
        else:
            self.executed[command.command_id] = None
            if len(self.executed) > REMEMBERED_COMMANDS:
                self.executed.popitem(last=False)
            self.factory.submit([port_command])
            self.counters["commands"] += 1
        ack = {"v": 1, "t": self.factory.now_s * 1000, "id": command.command_id, "status": "accepted"}
        await self._client.publish_counted(
            topics.device_topic(self.plant, where.kind, where.device_id, "ack"), encode(ack, self.binary)
        )

    async def _advance(self, message: Received) -> None:
        request = json.loads(message.payload)
        events = self.factory.poll(int(request["until_s"]))
        for event in events:
            said = self.sparkplug.event(event) if self.sparkplug is not None else None
            if said is not None:
                for topic, payload in said:
                    self._client.publish_nowait(topic, payload)
                continue
            for kind, device_id, channel, fields in event_messages(event, self.line_id):
                await self._send(kind, device_id, channel, fields, event.at_s * 1000)
        self.counters["events"] += len(events)
        self.counters["steps"] += 1
        clock = json.dumps({"n": request["n"], "now_s": self.factory.now_s}).encode()
        for shard in topics.ALL_SHARDS:
            await self._client.publish_counted(topics.clock_topic(self.plant, shard), clock)

    async def run(self, ready: asyncio.Event | None = None) -> None:
        """Serve until cancelled: commands and advance requests, strictly in arrival order."""
        filters = [f"{topics.ROOT}/{self.plant}/+/+/+/cmd", self.advance_topic]
        if self.sparkplug is not None:
            self._client.will = Will(*self.sparkplug.will(), qos=1, retain=False)  # NDEATH
            filters += self.sparkplug.filters()
        await self._client.connect()
        await self._client.subscribe(filters, qos=1)
        if ready is not None:
            ready.set()
        try:
            while True:
                message = await self._inbox.get()
                if message.topic == self.advance_topic:
                    await self._advance(message)
                elif message.topic.startswith(SPARKPLUG_PREFIX) and self.sparkplug is not None:
                    for topic, payload in self.sparkplug.receive(
                        message.topic, message.payload, self.factory.now_s * 1000
                    ):
                        self._client.publish_nowait(topic, payload)
                else:
                    await self._command(message)
        finally:
            with contextlib.suppress(Exception):
                await self._client.drain(5.0)
                await self._client.disconnect()
