"""A planner's StopOperation travels to the machine as a `stop_operation` command, and a machine that is
switched off (NotAvailable) reaches the plan apart from one that is broken (OutOfService)."""

from __future__ import annotations

import itertools
import uuid

import pytest

from mixflow.connect import topics
from mixflow.connect.broker import Broker
from mixflow.connect.commands import from_message, to_messages
from mixflow.connect.payloads import CommandMessage, PayloadError, State, encode
from mixflow.connect.sim import event_messages
from mixflow.errors import ValidationError
from mixflow.model.port import (
    NOT_AVAILABLE,
    OUT_OF_SERVICE,
    MachineDown,
    MachineUp,
    OperationDone,
    OperationStarted,
    StartOperation,
    StopOperation,
)
from mixflow.reference import build_plant, reference_catalogue
from mixflow.twin import Scenario, Twin
from tests.connect.test_connect_ingest import EPOCH_MS, make_ingest
from tests.connect.test_connect_sim import _edge, _lockstep


def test_stop_operation_goes_to_the_machine_and_back_unchanged() -> None:
    stop = StopOperation("o-1/cab/2", "cab_weld-001", "taken down by pat: spindle check")
    [out] = to_messages(stop, "line-1", 5, itertools.count(1), "gw.1")
    assert (out.kind, out.device_id, out.message.type) == ("machine", "cab_weld-001", "stop_operation")
    assert from_message(CommandMessage.parse(out.message.to_map())) == stop
    with pytest.raises(PayloadError, match="lacks fields \\['operation_id'\\]"):
        CommandMessage(5, "c-1", "stop_operation", {"machine_id": "m1"})
    with pytest.raises(PayloadError, match="'machine_id' must be a non-empty string"):
        from_message(CommandMessage(5, "c-1", "stop_operation", {"operation_id": "op", "machine_id": ""}))


def test_a_down_state_says_not_available_or_out_of_service() -> None:
    base = {"v": 1, "t": 1, "seq": 1, "status": "down"}
    assert State.parse(base).item_state == OUT_OF_SERVICE  # as before the field existed
    assert State.parse({**base, "item_state": NOT_AVAILABLE}).item_state == NOT_AVAILABLE
    with pytest.raises(PayloadError, match="'item_state' must be one of"):
        State.parse({**base, "item_state": "Executing"})
    with pytest.raises(ValidationError, match=r"MachineDown of m1.*state must be one of"):
        MachineDown(0, "m1", state="Broken")
    # the simulated plant's devices say it only when it is not the default
    [(_, _, _, off)] = event_messages(MachineDown(3, "m1", "energy saving", state=NOT_AVAILABLE), "line-1")
    [(_, _, _, broken)] = event_messages(MachineDown(3, "m1", "spindle"), "line-1")
    assert off["item_state"] == NOT_AVAILABLE and "item_state" not in broken


def _state(ingest, seq: int, t_s: int, **fields: object) -> None:  # type: ignore[no-untyped-def]
    topic = topics.device_topic("p", "machine", "m1", "state")
    ingest.handle(topic, encode({"v": 1, "t": EPOCH_MS + t_s * 1000, "seq": seq, **fields}))


def test_ingest_reports_the_down_state_and_a_change_between_the_two() -> None:
    ingest = make_ingest()
    _state(ingest, 1, 1, status="down", reason="NotAvailable: night", item_state=NOT_AVAILABLE)
    _state(ingest, 2, 2, status="down", reason="NotAvailable: night", item_state=NOT_AVAILABLE)  # heartbeat
    [off] = ingest.take_events()
    assert isinstance(off, MachineDown) and off.state == NOT_AVAILABLE
    ingest.tick(EPOCH_MS + 60_000)  # silent: offline as well, but still switched off, not broken
    assert ingest.take_events() == []
    _state(ingest, 3, 61, status="down", reason="OutOfService: jam", item_state=OUT_OF_SERVICE)
    [broke] = ingest.take_events()  # it broke while off: the plan must count the fault
    assert isinstance(broke, MachineDown) and (broke.state, broke.reason) == (
        OUT_OF_SERVICE,
        "OutOfService: jam",
    )
    _state(ingest, 4, 62, status="up")
    assert [type(e) for e in ingest.take_events()] == [MachineUp]
    _state(ingest, 5, 63, status="down", reason="jam")  # a device that does not say: OutOfService
    [down] = ingest.take_events()
    assert isinstance(down, MachineDown) and down.state == OUT_OF_SERVICE


@pytest.mark.services
def test_a_stop_through_the_broker_stops_the_twins_operation(mqtt_broker: tuple[str, int]) -> None:
    plant_id = f"t{uuid.uuid4().hex[:10]}"
    plant = build_plant(0.05, 0)
    twin = Twin(plant, reference_catalogue(), [], Scenario(scale=0.05, mtbf_factor=0, agv_mtbf_h=0), 0)
    a, b = plant.machines[0].id, plant.machines[1].id
    shift = 6 * 3600
    with (
        _edge(twin, Broker(*mqtt_broker), plant_id),
        _lockstep(  # type: ignore[arg-type]
            Broker(*mqtt_broker), plant_id, [(a, "machine"), (b, "machine"), ("fleet", "fleet")]
        ) as factory,
    ):
        factory.submit([StartOperation("op-a", a, duration_s=600), StartOperation("op-b", b, duration_s=600)])
        started = factory.poll(shift + 100)
        assert {e.operation_id for e in started if isinstance(e, OperationStarted)} == {"op-a", "op-b"}
        factory.submit([StopOperation("op-a", a, "taken down by pat"), StopOperation("op-x", b, "stale")])
        events = []
        while factory.now_s < shift + 3600:
            events += factory.poll(shift + 3600)
        stats = factory.stats()
    done = [e.operation_id for e in events if isinstance(e, OperationDone)]
    assert done == ["op-b"], "op-a stopped; a stop for an operation b does not run leaves b's be"
    assert twin._running[twin.machine_index[a]] is None
    assert stats["acks"] == 4 and stats.get("rejected", 0) == 0, sorted(stats.items())
