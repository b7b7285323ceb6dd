"""The port's material messages on the wire: purchase orders to goods receiving, what a machine waits
for, material tasks of every kind, and the supply events back into the scheduler's port events."""

from __future__ import annotations

import itertools
import uuid
from dataclasses import replace
from typing import Any

import pytest

from mixflow.connect import topics
from mixflow.connect.broker import Broker
from mixflow.connect.commands import RECEIVING_ID, from_message, to_messages
from mixflow.connect.ingest import Ingest
from mixflow.connect.mosquitto import acl_section
from mixflow.connect.payloads import CommandMessage, PayloadError, decode, encode
from mixflow.connect.registry import Registry, issue_credentials, plant_devices
from mixflow.connect.sim import event_messages
from mixflow.model.materials import Materials, Supplier
from mixflow.model.port import (
    Command,
    DeliveryConfirmed,
    Event,
    GoodsReceived,
    PostTask,
    PurchaseOrder,
    StartOperation,
    StockOut,
)
from mixflow.model.work import TASK_KINDS, MaterialTask
from mixflow.reference import build_plant
from tests.connect.test_connect_sim import ScriptedFactory, _served

EPOCH_MS = 1_700_000_000_000
ORDER = PurchaseOrder("po-7", "baosteel", "sheet-s355", 400, 86_400, (2, 31))
WAITING = StartOperation(
    "op-9", "frame_weld-002", 60, 300, "ladder", "O-1", "frame", False, ("t-raw", "t-wip")
)


def _task(kind: str) -> MaterialTask:
    after_op = "op-8" if kind == "wip" else ""
    return MaterialTask(
        f"t-{kind}", "sheet-s355", (2, 31), (40, 12), 10, 900, 95.5, "O-1", "", "", kind, 25, after_op
    )


def _there_and_back(command: Command, binary: bool) -> tuple[str, str, Command]:
    """(device kind, device id, what the device decodes) for one command sent to the plant."""
    [out] = to_messages(command, "line-1", EPOCH_MS, itertools.count(1), "gw.1")
    received = CommandMessage.parse(decode(encode(out.message.to_map(), binary)))
    return out.kind, out.device_id, from_message(received)


@pytest.mark.parametrize("binary", [False, True], ids=["json", "msgpack"])
def test_material_commands_reach_their_devices_unchanged(binary: bool) -> None:
    assert _there_and_back(ORDER, binary) == ("receiving", RECEIVING_ID, ORDER)
    assert _there_and_back(WAITING, binary) == ("machine", "frame_weld-002", WAITING)
    for kind in TASK_KINDS:
        posted = PostTask(_task(kind))
        assert _there_and_back(posted, binary) == ("line", "line-1", posted), kind


def test_messages_from_before_materials_still_parse() -> None:
    """A device agent or a queued message of an older gateway sends none of the new fields: no wait, a
    line-side part, one piece."""
    start = {"operation_id": "op-1", "machine_id": "m1", "duration_s": 60}
    assert from_message(CommandMessage(1, "c1", "start_operation", start)) == StartOperation(
        "op-1", "m1", 0, 60
    )
    fields: dict[str, Any] = {
        "task_id": "t1",
        "part": "axle",
        "pickup": [1, 2],
        "dropoff": [5, 6],
        "release_s": 0,
        "deadline_s": 100,
        "payload_kg": 250.0,
        "order_id": "o1",
        "station": "3",
    }
    posted = from_message(CommandMessage(1, "c2", "post_task", fields))
    assert posted == PostTask(MaterialTask("t1", "axle", (1, 2), (5, 6), 0, 100, 250.0, "o1", "3"))
    assert isinstance(posted, PostTask)
    assert (posted.task.kind, posted.task.qty, posted.task.after_op) == ("line", 1, "")


def _fields(command: Command, **changes: object) -> dict[str, Any]:
    [out] = to_messages(command, "line-1", EPOCH_MS, itertools.count(1), "gw.1")
    return {**out.message.fields, **changes}


@pytest.mark.parametrize(
    ("type_", "command", "changes", "named"),
    [
        ("purchase_order", ORDER, {"qty": 0}, "'qty'"),
        ("purchase_order", ORDER, {"qty": "400"}, "'qty'"),
        ("purchase_order", ORDER, {"qty": True}, "'qty'"),
        ("purchase_order", ORDER, {"due_s": -5}, "'due_s'"),
        ("purchase_order", ORDER, {"dock": [2]}, "'dock'"),
        ("purchase_order", ORDER, {"dock": [2, "31"]}, "'dock'"),
        ("purchase_order", ORDER, {"dock": "2,31"}, "'dock'"),
        ("purchase_order", ORDER, {"supplier": ""}, "'supplier'"),
        ("purchase_order", ORDER, {"item": 7}, "'item'"),
        ("start_operation", WAITING, {"waits_for": "t-raw"}, "'waits_for'"),
        ("start_operation", WAITING, {"waits_for": ["t-raw", 3]}, "'waits_for'"),
        ("post_task", PostTask(_task("raw")), {"kind": "pallet"}, "'kind'"),
        ("post_task", PostTask(_task("raw")), {"kind": ["raw"]}, "'kind'"),
        ("post_task", PostTask(_task("raw")), {"qty": 0}, "'qty'"),
        ("post_task", PostTask(_task("raw")), {"pickup": [1, 2, 3]}, "'pickup'"),
        ("post_task", PostTask(_task("raw")), {"deadline_s": 5}, "deadline"),  # the task itself refuses it
    ],
)
def test_bad_material_command_fields_are_payload_errors_naming_the_field(
    type_: str, command: Command, changes: dict[str, object], named: str
) -> None:
    with pytest.raises(PayloadError, match=named):
        from_message(CommandMessage(1, "c1", type_, _fields(command, **changes)))


def test_a_purchase_order_without_its_fields_is_refused_on_arrival() -> None:
    data = {"v": 1, "t": 1, "id": "c1", "type": "purchase_order", **_fields(ORDER)}
    del data["dock"]
    with pytest.raises(PayloadError, match="dock"):
        CommandMessage.parse(data)


SUPPLY_EVENTS: list[Event] = [
    DeliveryConfirmed(30, "po-7", 90_000),
    GoodsReceived(45, "po-7", "sheet-s355", 400, (2, 31)),
    StockOut(60, "cell-nmc", "t-raw"),
]


def _ingest() -> Ingest:
    registry = Registry("p", heartbeat_timeout_ms=10**15)
    for device_id, kind in (("line-1", "line"), ("fleet", "fleet"), (RECEIVING_ID, "receiving")):
        registry.register(device_id, kind, "password-x", b"0123456789ab")
    return Ingest(registry, epoch_ms=EPOCH_MS)


@pytest.mark.parametrize("binary", [False, True], ids=["json", "msgpack"])
def test_supply_events_travel_as_device_events_into_the_same_port_events(binary: bool) -> None:
    ingest = _ingest()
    senders = []
    for seq, event in enumerate(SUPPLY_EVENTS, 1):
        [(kind, device_id, channel, fields)] = event_messages(event, "line-1")
        senders.append((kind, device_id, channel))
        payload = {"v": 1, "t": EPOCH_MS + event.at_s * 1000, "seq": seq, **fields}
        assert ingest.handle(topics.device_topic("p", kind, device_id, channel), encode(payload, binary))
    assert senders == [
        ("receiving", RECEIVING_ID, "event"),
        ("receiving", RECEIVING_ID, "event"),
        ("fleet", "fleet", "event"),
    ]
    assert ingest.take_events() == SUPPLY_EVENTS
    assert ingest.counters.get("rejected", 0) == 0


@pytest.mark.parametrize(
    ("fields", "named"),
    [
        ({"type": "goods_received", "po_id": "po-7", "item": "sheet", "qty": 0, "dock": [2, 31]}, "'qty'"),
        ({"type": "goods_received", "po_id": "po-7", "item": "sheet", "qty": "4", "dock": [2, 31]}, "'qty'"),
        ({"type": "goods_received", "po_id": "po-7", "item": "sheet", "qty": 4, "dock": [2]}, "'dock'"),
        ({"type": "goods_received", "po_id": "po-7", "item": "sheet", "qty": 4}, "'dock'"),
        ({"type": "goods_received", "po_id": "", "item": "sheet", "qty": 4, "dock": [2, 31]}, "'po_id'"),
        ({"type": "goods_received", "po_id": "po-7", "qty": 4, "dock": [2, 31]}, "'item'"),
        ({"type": "delivery_confirmed", "po_id": "po-7"}, "'due_s'"),
        ({"type": "delivery_confirmed", "po_id": "po-7", "due_s": 1.5}, "'due_s'"),
        ({"type": "stock_out", "item": "cell-nmc"}, "'task_id'"),
    ],
)
def test_garbage_supply_events_are_dead_letters_naming_the_field(fields: dict[str, Any], named: str) -> None:
    ingest = _ingest()
    device = RECEIVING_ID if fields["type"] != "stock_out" else "fleet"
    kind = "receiving" if device == RECEIVING_ID else "fleet"
    payload = encode({"v": 1, "t": EPOCH_MS, "seq": 1, **fields})
    assert not ingest.handle(topics.device_topic("p", kind, device, "event"), payload)
    [dead] = ingest.dead
    assert dead.reason == "schema" and named in dead.detail, dead.detail
    assert ingest.take_events() == []


def test_a_plant_that_buys_provisions_its_goods_receiving() -> None:
    """Goods receiving gets a credential and its own topics like any device, but only in a plant that
    describes its suppliers: one that does not never orders anything."""
    plant = replace(build_plant(0.05, 0), materials=Materials())
    assert RECEIVING_ID not in dict(plant_devices(plant))
    steel = Supplier("baosteel", "Baosteel", ("sheet-s355",), lead_time_s=3 * 86_400, capacity_per_day=2_000)
    buying = replace(plant, materials=Materials(suppliers=(steel,)))
    registry = Registry("p")
    issued = issue_credentials(registry, plant_devices(buying))
    assert registry.kind_of(RECEIVING_ID) == "receiving" and RECEIVING_ID in issued
    acl = acl_section(registry)
    at = acl.index("user p.receiving")
    assert acl[at + 1 : at + 6] == [
        *(f"topic write {topics.device_topic('p', 'receiving', RECEIVING_ID, c)}" for c in topics.UPLINK),
        f"topic read {topics.device_topic('p', 'receiving', RECEIVING_ID, 'cmd')}",
    ]


@pytest.mark.services
def test_the_simulated_plant_takes_purchase_orders_and_reports_supply_over_the_broker(
    mqtt_broker: tuple[str, int],
) -> None:
    """Through the real broker: the plant's edge executes the purchase order and the waiting start
    exactly as sent, acknowledges them from goods receiving and the machine, and its supply events
    reach the scheduler as the in-process factory reported them."""
    plant = f"t{uuid.uuid4().hex[:10]}"
    scripted = ScriptedFactory(list(SUPPLY_EVENTS))
    devices = [
        ("frame_weld-002", "machine"),
        ("line-1", "line"),
        ("fleet", "fleet"),
        (RECEIVING_ID, "receiving"),
    ]
    with _served(scripted, Broker(*mqtt_broker), plant, devices) as factory:
        factory.submit([ORDER, WAITING, PostTask(_task("receipt"))])
        got = list(factory.poll(100))
        stats = factory.stats()
    assert scripted.commands == [ORDER, WAITING, PostTask(_task("receipt"))]
    assert got == SUPPLY_EVENTS
    assert stats["acks"] == 3 and stats.get("rejected", 0) == 0, sorted(stats.items())
