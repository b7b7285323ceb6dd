"""`mixflow serve --cloud`: plants as tenants of one app, each with its own store, one login, staff
scoped to their plants, and one order quoted by every plant and placed at the one delivering first."""

from __future__ import annotations

import logging
import os
import signal
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient
    from starlette.websockets import WebSocketDisconnect

from mixflow.api import Settings
from mixflow.api.cloud_app import create_cloud_app, start_tenants
from mixflow.api.worker_pool import LocalWorkers
from mixflow.cli import main
from mixflow.model.cloud_file import CloudFile, load_cloud
from mixflow.store import connect, order_book, tenant_url
from mixflow.store.plant_workers import register

from .conftest import PASSWORD, SECRET

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "ebus"
ADMIN = {"username": "root_admin", "password": "Wq7-admin-Lp3x"}


def write_cloud(folder: Path) -> Path:
    """Two e-bus plants far apart (north near region central, south near east) and one whose plant
    file is broken."""
    (folder / "broken.yaml").write_text("format: mixflow-plant-v1\nname: broken\nshops: 7\n")
    cloud = folder / "cloud.yaml"
    cloud.write_text(f"""format: mixflow-cloud-v1
name: test cloud
plants:
- id: north
  plant: {EXAMPLES / 'plant.yaml'}
  catalogue: {EXAMPLES / 'catalogue.yaml'}
  seed: 1
  transport_h: {{central: 4, east: 40}}
- id: south
  plant: {EXAMPLES / 'plant.yaml'}
  catalogue: {EXAMPLES / 'catalogue.yaml'}
  seed: 2
  transport_h: {{central: 40, east: 4}}
- id: broken
  plant: broken.yaml
  transport_h: {{central: 1}}
""")
    return cloud


@dataclass
class Cloud:
    client: TestClient
    db: str
    settings: Settings
    cloud_file: CloudFile
    workers: LocalWorkers


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cloud]:
    """`serve --cloud` in this process, its plant workers real processes it started."""
    folder = tmp_path_factory.mktemp("cloud")
    db = f"sqlite:///{folder / 'cloud.db'}"
    settings = Settings(db_url=db, secret_key=SECRET, admin_user=ADMIN["username"],
                        admin_password=ADMIN["password"], twin_speed=60.0)
    path = write_cloud(folder)
    cloud_file = load_cloud(path)
    workers = LocalWorkers(path, db, SECRET)
    tenants = start_tenants(cloud_file, settings, workers)
    with TestClient(create_cloud_app(cloud_file, settings, tenants, workers)) as client:
        yield Cloud(client, db, settings, cloud_file, workers)


def login(client: TestClient, username: str, password: str) -> dict[str, str]:
    answer = client.post("/api/auth/login", json={"username": username, "password": password})
    assert answer.status_code == 200, answer.text
    client.cookies.clear()
    return {"Authorization": f"Bearer {answer.json()['access_token']}"}


def staff(client: TestClient, admin: dict[str, str], username: str, role: str, plants: list[str]) -> Any:
    return client.post("/api/staff/accounts", headers=admin,
                       json={"username": username, "password": PASSWORD, "role": role, "plants": plants})


def a_bus(client: TestClient, headers: dict[str, str]) -> dict[str, str]:
    done = client.post("/plants/north/api/configurator/complete", headers=headers, json={"choices": {}})
    assert done.status_code == 200, done.text
    return dict(done.json()["configuration"])


def test_a_broken_plant_is_named_and_the_others_serve(cloud) -> None:  # type: ignore[no-untyped-def]
    client = cloud.client
    admin = login(client, **ADMIN)
    plants = {p["id"]: p for p in client.get("/api/cloud/plants", headers=admin).json()["plants"]}
    assert plants["north"]["running"] and plants["south"]["running"]
    assert not plants["broken"]["running"]
    assert "cloud.yaml:" in plants["broken"]["error"] and "broken.yaml" in plants["broken"]["error"]
    assert plants["north"]["kpis"]["agv_collisions"] == 0 and plants["north"]["base"] == "/plants/north"
    assert client.get("/plants/broken/api/plant/layout", headers=admin).status_code == 404


def test_a_planner_of_one_plant_sees_nothing_of_another(cloud) -> None:  # type: ignore[no-untyped-def]
    client = cloud.client
    admin = login(client, **ADMIN)
    refused = staff(client, admin, "nobody_plans", "planner", [])
    assert refused.status_code == 422 and "name them" in refused.json()["detail"]
    unknown = staff(client, admin, "nobody_plans", "planner", ["west"])
    assert unknown.status_code == 422 and "'west'" in unknown.json()["detail"]
    made = staff(client, admin, "pat_north", "planner", ["north"])
    assert made.status_code == 201 and made.json()["plants"] == ["north"]
    pat = login(client, "pat_north", PASSWORD)
    assert client.get("/plants/north/api/plan/kpis", headers=pat).status_code == 200
    for path in ("/api/plan/kpis", "/api/orders", "/api/planner/alarms", "/api/plant/state"):
        answer = client.get(f"/plants/south{path}", headers=pat)
        assert answer.status_code == 403, (path, answer.text)
        assert "not of south" in answer.json()["detail"]
    seen = [p["id"] for p in client.get("/api/cloud/plants", headers=pat).json()["plants"]]
    assert seen == ["north"]
    bus = a_bus(client, pat)
    placed = client.post("/api/cloud/orders", headers=pat,
                         json={"configuration": bus, "region": "east", "plant": "south"})
    assert placed.status_code == 403
    token = pat["Authorization"].removeprefix("Bearer ")
    with client.websocket_connect(f"/plants/south/api/plant/stream?token={token}") as socket, \
            pytest.raises(WebSocketDisconnect) as closed:
        socket.receive_json()
    assert closed.value.code == 4403 and "plant south" in closed.value.reason
    with client.websocket_connect(f"/plants/north/api/plant/stream?token={token}") as socket:
        assert socket.receive_json()["at_s"] > 0
    # the admin gives pat the south plant too: from the next request on, it is open
    pat_id = made.json()["id"]
    both = client.post(f"/api/staff/accounts/{pat_id}/plants", headers=admin,
                       json={"plants": ["north", "south"]})
    assert both.status_code == 200 and both.json()["plants"] == ["north", "south"]
    assert client.get("/plants/south/api/plan/kpis", headers=pat).status_code == 200


def test_an_order_is_quoted_everywhere_and_placed_at_the_plant_delivering_first(cloud) -> None:  # type: ignore[no-untyped-def]
    client, db = cloud.client, cloud.db
    client.post("/api/auth/register", json={"username": "cara", "password": PASSWORD})
    cara = login(client, "cara", PASSWORD)
    bus = a_bus(client, cara)
    quote = client.post("/api/cloud/quote", headers=cara, json={"configuration": bus, "region": "east"})
    assert quote.status_code == 200, quote.text
    quotes = {q["plant"]: q for q in quote.json()["quotes"]}
    assert quote.json()["best"] == "south"
    assert quotes["south"]["transport_h"] == 4 and quotes["north"]["transport_h"] == 40
    assert quotes["broken"]["can_build"] is False and "to region 'east'" in quotes["broken"]["why_not"]
    assert "central" in client.post("/api/cloud/quote", headers=cara,
                                    json={"configuration": bus, "region": "mars"}).json()["detail"]

    placed = client.post("/api/cloud/orders", headers=cara, json={"configuration": bus, "region": "east"})
    assert placed.status_code == 201, placed.text
    order = placed.json()
    assert order["plant"] == "south" and order["order"]["promised_date"] is not None
    order_id = order["order"]["id"]
    assert client.get(f"/plants/south/api/orders/{order_id}", headers=cara).status_code == 200
    assert client.get(f"/plants/north/api/orders/{order_id}", headers=cara).status_code == 404
    mine = client.get("/api/cloud/orders", headers=cara).json()["orders"]
    assert [(o["plant"], o["order"]["id"]) for o in mine] == [("south", order_id)]
    # each plant's store holds its own orders only
    for plant, holds in (("south", True), ("north", False)):
        _, sessions = connect(tenant_url(db, plant))
        with sessions() as session:
            assert (order_book.load(session, order_id) is not None) is holds

    at_north = client.post("/api/cloud/orders", headers=cara,
                           json={"configuration": bus, "region": "east", "plant": "north"})
    assert at_north.status_code == 201 and at_north.json()["plant"] == "north"
    assert client.post("/api/cloud/orders", headers=cara,
                       json={"configuration": bus, "region": "east", "plant": "nowhere"}).status_code == 404
    broken = client.post("/api/cloud/orders", headers=cara,
                         json={"configuration": bus, "region": "central", "plant": "broken"})
    assert broken.status_code == 409 and "not running" in broken.json()["detail"]
    # one login, the cloud's: a plant has no login of its own
    assert client.post("/plants/north/api/auth/login", json=ADMIN).status_code == 404


def test_a_second_api_process_serves_the_same_plants_and_a_killed_worker_is_back(cloud, caplog) -> None:  # type: ignore[no-untyped-def]
    caplog.set_level(logging.WARNING, logger="mixflow.api")  # the workers' logs come through the pool
    client = cloud.client
    client.post("/api/auth/register", json={"username": "dora", "password": PASSWORD})
    dora = login(client, "dora", PASSWORD)
    bus = a_bus(client, dora)
    placed = client.post("/api/cloud/orders", headers=dora,
                         json={"configuration": bus, "region": "central", "plant": "north"}).json()
    order_id = placed["order"]["id"]
    # another API process over the same store: it starts no worker, it finds those running
    tenants = start_tenants(cloud.cloud_file, cloud.settings, None, timeout_s=30)
    with TestClient(create_cloud_app(cloud.cloud_file, cloud.settings, tenants)) as second:
        dora_there = login(second, "dora", PASSWORD)
        seen = second.get(f"/plants/north/api/orders/{order_id}", headers=dora_there)
        assert seen.status_code == 200 and seen.json()["promised_date"] == placed["order"]["promised_date"]
        quoted = second.post("/api/cloud/quote", headers=dora_there,
                             json={"configuration": bus, "region": "east"})
        assert quoted.json()["best"] == "south"

        killed = cloud.workers.pid("north")
        os.kill(killed, signal.SIGKILL)
        began = time.monotonic()
        quote = {"configuration": bus}
        while_away = client.post("/plants/north/api/orders", headers=dora, json=quote)
        assert while_away.status_code == 202 and while_away.json()["promised_date"] is None
        answers = set()
        while time.monotonic() - began < 30:
            first = client.post("/plants/north/api/orders/quote", headers=dora, json=quote).status_code
            other = second.post("/plants/north/api/orders/quote", headers=dora_there, json=quote).status_code
            answers |= {first, other}
            if first == other == 200 and cloud.workers.pid("north") != killed:
                break
            time.sleep(0.1)
        back_s = time.monotonic() - began
        assert cloud.workers.pid("north") != killed
        assert first == other == 200 and back_s < 10, (answers, back_s)
        assert answers <= {200, 503}  # while it was away: "try again", never a 500
        # its world was not warmed up anew: it resumed from the checkpoint in north's store
        north = [r.message for r in caplog.records if "[plant north]" in r.message]
        assert any("resumed at plant second" in line for line in north), north
        # the south plant did not notice; the order stays in north's book with its promise
        south = second.post("/plants/south/api/orders/quote", headers=dora_there, json=quote)
        assert south.status_code == 200
        again = client.get(f"/plants/north/api/orders/{order_id}", headers=dora).json()
        assert again["promised_date"] == placed["order"]["promised_date"]
        # the order stored while the plant was away is promised by the plant started again
        deadline = time.monotonic() + 10
        taken_up: dict[str, Any] = {}
        while time.monotonic() < deadline and not taken_up.get("promised_date"):
            time.sleep(0.2)
            taken_up = second.get(f"/plants/north/api/orders/{while_away.json()['id']}",
                                  headers=dora_there).json()
        assert taken_up["promised_date"] is not None and taken_up["status"] == "sequenced"


def test_a_worker_another_start_took_over_from_stops(cloud) -> None:  # type: ignore[no-untyped-def]
    """An orphan (its server killed, a new one started its own worker) must not run beside the new one:
    it stops once the registry names a later start of its plant."""
    before = cloud.workers.pid("south")
    _, sessions = connect(cloud.db)
    with sessions() as session:
        register(session, "south", "127.0.0.1", 1, 0)  # a later start of south, somewhere else
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and psutil_alive(before):
        time.sleep(0.1)
    assert not psutil_alive(before)


def psutil_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] != "Z"  # a zombie has ended


@pytest.mark.services
def test_each_plant_of_a_cloud_on_postgresql_has_a_schema_of_its_own(postgres_url: str) -> None:
    url = tenant_url(postgres_url, "Test-Plant.1")
    assert url.endswith("search_path%3Dplant_test_plant_1")
    engine, _ = connect(url)
    try:
        with engine.connect() as connection:
            assert connection.execute(text("SELECT current_schema()")).scalar() == "plant_test_plant_1"
            tables = connection.execute(text("SELECT count(*) FROM information_schema.tables "
                                             "WHERE table_schema = 'plant_test_plant_1'")).scalar()
            assert tables and tables > 10
    finally:
        with engine.begin() as connection:
            connection.execute(text("DROP SCHEMA plant_test_plant_1 CASCADE"))
        engine.dispose()


def serve(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    with pytest.raises(SystemExit) as done:
        main(["serve", *argv])
    assert done.value.code == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and error.startswith("mixflow: error: ")
    return error


def test_serve_cloud_refuses_mixed_sources_and_twin_ids_in_one_line(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cloud = write_cloud(tmp_path)
    assert "drop --plant" in serve(["--cloud", str(cloud), "--plant", str(cloud)], capsys)
    twins = tmp_path / "twins.yaml"
    twins.write_text(cloud.read_text().replace("id: south", "id: North"))
    error = serve(["--cloud", str(twins)], capsys)
    assert "twins.yaml:" in error and "share plant 'north'" in error
