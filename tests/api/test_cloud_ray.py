"""`mixflow serve --cloud --ray local`: the plant workers as Ray actors on a Ray started by the test;
an actor's process killed is started again by Ray, and the API finds the new one."""

from __future__ import annotations

import os
import signal
import time
import warnings
from pathlib import Path

import pytest

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from mixflow.api import Settings
from mixflow.api.cloud_app import create_cloud_app, start_tenants
from mixflow.api.ray_workers import RayWorkers
from mixflow.model.cloud_file import load_cloud
from mixflow.twin.sweep_ray import LOCAL

from .conftest import SECRET
from .test_cloud_serve import ADMIN, login, write_cloud


def test_plant_workers_as_ray_actors_are_started_again_when_killed(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'cloud.db'}"
    settings = Settings(db_url=db, secret_key=SECRET, admin_user=ADMIN["username"],
                        admin_password=ADMIN["password"])
    path = write_cloud(tmp_path)
    cloud_file = load_cloud(path)
    workers = RayWorkers(LOCAL, path, db, SECRET, 60.0, len(cloud_file.plants))
    tenants = start_tenants(cloud_file, settings, workers, timeout_s=120)
    with TestClient(create_cloud_app(cloud_file, settings, tenants, workers)) as client:
        admin = login(client, **ADMIN)
        plants = {p["id"]: p for p in client.get("/api/cloud/plants", headers=admin).json()["plants"]}
        assert plants["north"]["running"] and plants["south"]["running"] and not plants["broken"]["running"]
        killed = workers.pid("south")
        assert killed != os.getpid()
        os.kill(killed, signal.SIGKILL)
        began = time.monotonic()
        while time.monotonic() - began < 60:
            answer = client.get("/plants/south/api/plan/kpis", headers=admin)
            if answer.status_code == 200 and tenants[1].live is not None and tenants[1].live.reconnects:
                break
            assert answer.status_code in (200, 503), answer.text
            time.sleep(0.2)
        assert answer.status_code == 200
        assert workers.pid("south") != killed  # Ray started the actor again
        assert client.get("/plants/north/api/plan/kpis", headers=admin).status_code == 200


pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
