"""`mixflow serve --mqtt`: the scheduler runs the reference plant's devices through the real broker, and the
pages' endpoints show what the devices report (a machine reported down raises an alarm)."""

from __future__ import annotations

import asyncio
import time
import uuid
import warnings
from pathlib import Path

import pytest

from mixflow.api import Settings, create_app
from mixflow.api.runner import start_live_plant
from mixflow.configure import compile_catalogue
from mixflow.connect.broker import Broker
from mixflow.connect.device import DeviceLink
from mixflow.connect.registry import registry_for_plant
from mixflow.reference import build_plant, reference_catalogue
from mixflow.store import accounts, connect
from mixflow.store.accounts import Role

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

pytestmark = pytest.mark.services
SCALE = 0.1


def _headers(app, name: str, role: Role) -> dict[str, str]:  # type: ignore[no-untyped-def]
    with app.state.sessions() as session:
        user = accounts.create_user(session, name, "password-123", role)
        session.commit()
        return {"Authorization": f"Bearer {app.state.tokens.issue(user.id, name, role)[0]}"}


def test_a_real_plant_through_the_broker(mqtt_broker: tuple[str, int], tmp_path: Path) -> None:
    plant_id = f"w{uuid.uuid4().hex[:10]}"
    db = f"sqlite:///{tmp_path / 'plant.db'}"
    plant = build_plant(SCALE, 0)
    engine, _ = connect(db)
    registry_for_plant(plant, plant_id, "device-secret").save(engine)
    host, port = mqtt_broker
    settings = Settings(db_url=db, secret_key="broker-test-secret-key", mqtt_url=f"mqtt://{host}:{port}",
                        twin=False, scale=SCALE, plant_id=plant_id)
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
                async with DeviceLink(Broker(host, port), plant_id, "machine", machine.id) as link:
                    await link.heartbeat(down=True, reason="spindle overheated")

            asyncio.run(report_down())
            deadline = time.monotonic() + 15
            alarms: list[dict[str, object]] = []
            while time.monotonic() < deadline and not alarms:
                time.sleep(0.2)
                alarms = client.get("/api/plant/state", headers=planner).json()["alarms"]
            assert alarms and alarms[-1]["source"] == machine.id and alarms[-1]["kind"] == "machine down"
            down = client.get("/api/plant/state", headers=planner).json()["machines_down"]
            assert 3 in down
    finally:
        live.close()  # type: ignore[union-attr]
