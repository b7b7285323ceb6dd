"""A real plant in a cloud (`mqtt` in the cloud file): its worker schedules the devices on the broker and
keeps its plan in the plant's store, so a worker killed and started again takes the plan up where it
stood: the promise given before is kept, and an order stored while it was away is promised on return."""

from __future__ import annotations

import os
import signal
import time
import uuid
import warnings
from pathlib import Path

import pytest

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from mixflow.api import Settings
from mixflow.api.cloud_app import create_cloud_app, start_tenants
from mixflow.api.worker_pool import LocalWorkers
from mixflow.connect.registry import Registry, issue_credentials, plant_devices
from mixflow.model.cloud_file import load_cloud
from mixflow.reference import build_plant
from mixflow.store import connect, tenant_url

from .conftest import PASSWORD, SECRET
from .test_cloud_serve import ADMIN, login

pytestmark = pytest.mark.services
SCALE = 0.05


def test_a_killed_worker_of_a_real_plant_takes_its_plan_up_again(mqtt_broker: tuple[str, int],
                                                                 tmp_path: Path) -> None:
    host, port = mqtt_broker
    plant_id = f"real_{uuid.uuid4().hex[:8]}"  # a topic tree of its own on the shared broker
    db = f"sqlite:///{tmp_path / 'cloud.db'}"
    engine, _ = connect(tenant_url(db, plant_id))  # the devices are registered in the plant's own store
    registry = Registry(plant_id)
    issue_credentials(registry, plant_devices(build_plant(SCALE, 0)))
    registry.save(engine)
    engine.dispose()
    path = tmp_path / "cloud.yaml"
    path.write_text(f"""format: mixflow-cloud-v1
plants:
- id: {plant_id}
  scale: {SCALE}
  mqtt: mqtt://{host}:{port}
  transport_h: {{central: 2}}
""")
    settings = Settings(db_url=db, secret_key=SECRET, admin_user=ADMIN["username"],
                        admin_password=ADMIN["password"])
    cloud_file = load_cloud(path)
    workers = LocalWorkers(path, db, SECRET)
    tenants = start_tenants(cloud_file, settings, workers, timeout_s=120)
    base = f"/plants/{plant_id}"
    with TestClient(create_cloud_app(cloud_file, settings, tenants, workers)) as client:
        client.post("/api/auth/register", json={"username": "rhea", "password": PASSWORD})
        rhea = login(client, "rhea", PASSWORD)
        truck = client.post(f"{base}/api/configurator/complete", json={"choices": {"family": "mixer"}}).json()
        order = {"configuration": truck["configuration"], "region": "central"}
        first = client.post("/api/cloud/orders", headers=rhea, json=order)
        assert first.status_code == 201, first.text
        promised = first.json()["order"]["promised_date"]
        assert promised is not None

        killed = workers.pid(plant_id)
        os.kill(killed, signal.SIGKILL)
        bus = {"configuration": truck["configuration"]}
        while_away = client.post(f"{base}/api/orders", headers=rhea, json=bus)
        assert while_away.status_code == 202, while_away.text  # stored, promised when the plant is back
        assert while_away.json()["status"] == "placed" and while_away.json()["promised_date"] is None
        stored_id = while_away.json()["id"]
        began = time.monotonic()
        while time.monotonic() - began < 60:
            quote = client.post(f"{base}/api/orders/quote", headers=rhea, json=bus)
            if quote.status_code == 200:
                break
            assert quote.status_code == 503, quote.text
            time.sleep(0.2)
        assert quote.status_code == 200 and workers.pid(plant_id) != killed
        again = client.get(f"{base}/api/orders/{first.json()['order']['id']}", headers=rhea).json()
        assert again["promised_date"] == promised  # the plan was taken up, not made anew
        deadline = time.monotonic() + 15
        late = client.get(f"{base}/api/orders/{stored_id}", headers=rhea).json()
        while late["promised_date"] is None and time.monotonic() < deadline:
            time.sleep(0.3)
            late = client.get(f"{base}/api/orders/{stored_id}", headers=rhea).json()
        assert late["promised_date"] is not None
