"""`mixflow serve --mqtt`: the scheduler runs the reference plant's devices through the real broker, and the
pages' endpoints show what the devices report (a machine reported down raises an alarm)."""

from __future__ import annotations

import asyncio
import time
import uuid
import warnings
from pathlib import Path
from typing import Any

import pytest

from mixflow.api import Settings, create_app
from mixflow.api.runner import start_live_plant
from mixflow.configure import compile_catalogue
from mixflow.connect.broker import Broker
from mixflow.connect.device import DeviceLink
from mixflow.connect.registry import Registry, issue_credentials, plant_devices
from mixflow.model import Order, Plant
from mixflow.reference import build_plant, reference_catalogue
from mixflow.store import accounts, connect, order_book
from mixflow.store.accounts import Role

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

pytestmark = pytest.mark.services
SCALE = 0.1


def _headers(app, name: str, role: Role) -> dict[str, str]:  # type: ignore[no-untyped-def]
    with app.state.sessions() as session:
        user = accounts.create_user(session, name, "horse-battery-123", role)
        session.commit()
        return {"Authorization": f"Bearer {app.state.tokens.issue(user.id, name, role)[0]}"}


def _provisioned(mqtt_broker: tuple[str, int], tmp_path: Path) -> tuple[Plant, Settings]:
    """A plant of a fresh id whose devices are registered in a fresh database, and the settings of
    `mixflow serve --mqtt` for it."""
    plant_id = f"w{uuid.uuid4().hex[:10]}"
    db = f"sqlite:///{tmp_path / 'plant.db'}"
    plant = build_plant(SCALE, 0)
    engine, _ = connect(db)
    registry = Registry(plant_id)
    issue_credentials(registry, plant_devices(plant))  # the anonymous broker never asks for them
    registry.save(engine)
    host, port = mqtt_broker
    return plant, Settings(db_url=db, secret_key="broker-test-secret-key", mqtt_url=f"mqtt://{host}:{port}",
                           twin=False, scale=SCALE, plant_id=plant_id)


def test_a_real_plant_through_the_broker(mqtt_broker: tuple[str, int], tmp_path: Path) -> None:
    plant, settings = _provisioned(mqtt_broker, tmp_path)
    host, port = mqtt_broker
    live = start_live_plant(settings)
    try:
        with TestClient(create_app(settings, live)) as client:
            planner = _headers(client.app, "plan", Role.PLANNER)
            buyer = _headers(client.app, "buyer", Role.CUSTOMER)
            state = client.get("/api/plant/state", headers=planner).json()
            assert state["speed"] == 1 and len(state["agv_x"]) == len(plant.fleet.agv_ids)
            assert client.post("/api/plant/time", json={"speed": 60}, headers=planner).status_code == 422

            truck = compile_catalogue(reference_catalogue()).complete({"family": "mixer"})
            order = client.post("/api/orders", json={"configuration": truck}, headers=buyer).json()
            assert order["promised_date"] is not None and order["status"] == "sequenced"

            machine = plant.machines[3]

            async def report_down() -> None:
                async with DeviceLink(Broker(host, port), settings.plant_id, "machine", machine.id) as link:
                    await link.heartbeat(down=True, reason="spindle overheated")

            asyncio.run(report_down())
            deadline = time.monotonic() + 15
            alarms: list[dict[str, object]] = []
            while time.monotonic() < deadline and not alarms:
                time.sleep(0.2)
                alarms = [a for a in client.get("/api/plant/state", headers=planner).json()["alarms"]
                          if a["kind"] == "machine down"]
            assert alarms and alarms[-1]["source"] == machine.id
            down = client.get("/api/plant/state", headers=planner).json()["machines_down"]
            assert 3 in down

            # a planner's action takes the same path as against the twin (through the plan process's pipe)
            held = plant.machines[7].id
            answer = client.post(f"/api/planner/machines/{held}/down", headers=planner,
                                 json={"reason": "tooling change", "expected_h": 1})
            assert answer.status_code == 200, answer.text
            assert _shown_down(client, planner, 7)  # on the plant page within a cycle
            assert client.post(f"/api/planner/machines/{held}/down", headers=planner,
                               json={"reason": "again"}).status_code == 409
            assert client.post(f"/api/planner/machines/{held}/up", headers=planner).status_code == 200
            assert not _shown_down(client, planner, 7, expected=False)
            trail = client.get("/api/planner/audit", headers=planner).json()["actions"][:3]
            assert [(a["action"], a["outcome"], a["target"]) for a in trail] == [
                ("machine_up", "done", held),
                ("machine_down", "refused", held),
                ("machine_down", "done", held),
            ]
    finally:
        live.close()  # type: ignore[union-attr]


def _shown_down(client: TestClient, headers: dict[str, str], index: int, expected: bool = True) -> bool:
    """Whether the plant page shows machine `index` down, waiting up to 10 s for it to be `expected`."""
    deadline = time.monotonic() + 10
    while True:
        down = index in client.get("/api/plant/state", headers=headers).json()["machines_down"]
        if down == expected or time.monotonic() > deadline:
            return down
        time.sleep(0.2)


def _signed_in(client: TestClient, name: str) -> dict[str, str]:
    """Headers of an account made before the restart."""
    with client.app.state.sessions() as session:  # type: ignore[attr-defined]
        user = accounts.authenticate(session, name, "horse-battery-123")
    assert user is not None
    token = client.app.state.tokens.issue(user.id, name, Role(user.role))[0]  # type: ignore[attr-defined]
    return {"Authorization": f"Bearer {token}"}


def _slot_of(order: dict[str, Any]) -> str:
    return next(str(step["note"]) for step in order["history"] if step["status"] == "sequenced")


def test_a_restarted_service_takes_the_plan_up_again(mqtt_broker: tuple[str, int], tmp_path: Path) -> None:
    """`mixflow serve --mqtt` stopped and started on the same database: the plan's clock goes on, a slot
    promised before is not given again, a web order's progress still reaches the order book, and an
    order stored while the plant was down is promised when it comes back."""
    plant, settings = _provisioned(mqtt_broker, tmp_path)
    host, port = mqtt_broker
    plant_id, db = settings.plant_id, settings.db_url
    truck = compile_catalogue(reference_catalogue()).complete({"family": "mixer"})
    live = start_live_plant(settings)
    try:
        with TestClient(create_app(settings, live)) as client:
            buyer = _headers(client.app, "buyer", Role.CUSTOMER)
            planner = _headers(client.app, "plan", Role.PLANNER)
            first = client.post("/api/orders", json={"configuration": truck}, headers=buyer).json()
            time.sleep(2.5)  # the plan's clock runs on the wall clock
            before_s = client.get("/api/plant/state", headers=planner).json()["at_s"]
    finally:
        live.close()  # type: ignore[union-attr]
    _, sessions = connect(db)
    with sessions() as session:  # what the web app stores when the plant does not answer
        order_book.save_new(session, Order("W-WHILE-DOWN", "buyer", truck, before_s, before_s), 100_000.0)

    live = start_live_plant(settings)
    try:
        with TestClient(create_app(settings, live)) as client:
            buyer, planner = _signed_in(client, "buyer"), _signed_in(client, "plan")
            state = client.get("/api/plant/state", headers=planner).json()
            assert state["at_s"] >= before_s
            # no AGV of this test reports, so the page says the fleet waits for them
            waiting = [a for a in state["alarms"] if a["kind"] == "fleet waiting"]
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline and not waiting:
                time.sleep(0.2)
                alarms = client.get("/api/plant/state", headers=planner).json()["alarms"]
                waiting = [a for a in alarms if a["kind"] == "fleet waiting"]
            assert waiting and waiting[0]["text"].startswith(f"{len(plant.fleet.agv_ids)} AGVs have not")
            second = client.post("/api/orders", json={"configuration": truck}, headers=buyer).json()
            assert _slot_of(second) != _slot_of(first)
            deadline = time.monotonic() + 10
            waiting: dict[str, Any] = {}
            while time.monotonic() < deadline and waiting.get("status") != "sequenced":
                time.sleep(0.3)
                waiting = client.get("/api/orders/W-WHILE-DOWN", headers=buyer).json()
            assert waiting["status"] == "sequenced" and waiting["promised_date"] is not None
            assert len({_slot_of(first), _slot_of(second), _slot_of(waiting)}) == 3

            async def deliver() -> None:
                async with DeviceLink(Broker(host, port), plant_id, "line", plant.lines[0].id) as link:
                    await link.event("truck_delivered", order_id=first["id"])

            asyncio.run(deliver())
            deadline = time.monotonic() + 15
            status = ""
            while time.monotonic() < deadline and status != "delivered":
                time.sleep(0.3)
                status = client.get(f"/api/orders/{first['id']}", headers=buyer).json()["status"]
            assert status == "delivered"
    finally:
        live.close()  # type: ignore[union-attr]
