"""The plan and a fleet of AGV types that carry different payloads: a part no type can carry is refused
at plan start, or (a heavier call than the catalogue's smallest) told to the supervisor at once."""

from __future__ import annotations

from dataclasses import replace

import pytest

from mixflow.errors import ValidationError
from mixflow.model import Fleet, Plant
from mixflow.model.port import OrderPlaced
from mixflow.plan import Scheduler
from mixflow.plan import scheduler as scheduler_module
from mixflow.reference import build_plant, order_stream, reference_catalogue


def _fleet_carrying(payloads: tuple[float, ...]) -> Plant:
    plant = build_plant(0.1)
    fleet = plant.fleet
    types = tuple(replace(fleet.spec, id=f"t{kg:g}", payload_kg=kg) for kg in payloads)
    type_of = tuple(k % len(types) for k in range(len(fleet.agv_ids)))
    return replace(plant, fleet=Fleet(types[0], fleet.agv_ids, fleet.homes, types, type_of))


def test_a_plan_whose_parts_no_agv_type_carries_is_refused_at_start() -> None:
    # the reference kit is 12 pieces (600 kg), tyre sets 6 to 12 (300-600 kg)
    with pytest.raises(ValidationError, match=r"kit \(600 kg\)") as caught:
        Scheduler(_fleet_carrying((200.0, 100.0)), reference_catalogue())
    assert "tyre (300 kg)" in str(caught.value) and "200 kg" in str(caught.value)
    Scheduler(_fleet_carrying((600.0, 100.0)), reference_catalogue())  # one type carries everything


def test_a_call_no_agv_carries_is_a_notice_and_puts_the_promise_at_risk(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    plant = _fleet_carrying((600.0, 100.0))
    catalogue = reference_catalogue()
    scheduler = Scheduler(plant, catalogue)
    monkeypatch.setattr(scheduler_module, "KG_PER_PIECE", 60.0)  # the kit now weighs 720 kg
    order = order_stream(plant, catalogue, 1, 0)[0]
    scheduler.consume([OrderPlaced(order.placed_s, order)])
    scheduler._post_task(order.id, "kit", 12, order.placed_s, order.placed_s + 3600)
    notices = [n for n in scheduler.notices if n.kind == "fleet cannot carry"]
    assert len(notices) == 1 and "720 kg" in notices[0].text and "600 kg" in notices[0].text
    assert order.id in scheduler.kpis.at_risk
    task = scheduler.fleet.tasks[f"{order.id}/kit"]
    assert task.payload_kg == 720.0 and not scheduler.fleet.can_carry(task)


def test_the_fleet_model_takes_each_tasks_payload() -> None:
    plant = _fleet_carrying((3000.0, 100.0))
    catalogue = reference_catalogue()
    scheduler = Scheduler(plant, catalogue)
    order = order_stream(plant, catalogue, 1, 0)[0]
    scheduler.consume([OrderPlaced(order.placed_s, order)])
    bom = catalogue.bill_of_materials(order.configuration)
    for part, qty in bom.items():
        scheduler._post_task(order.id, part, qty, order.placed_s, order.placed_s + 3600)
        assert scheduler.fleet.tasks[f"{order.id}/{part}"].payload_kg == 50.0 * qty
    assert not scheduler.notices
    # a task the fleet model let go is posted again with the same payload
    task_id = f"{order.id}/tyre"
    scheduler.fleet.tasks.pop(task_id)
    scheduler.fleet.open.discard(task_id)
    scheduler._repost(task_id)
    assert scheduler.fleet.tasks[task_id].payload_kg == 50.0 * bom["tyre"] > 100.0
