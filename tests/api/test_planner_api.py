"""The planner's actions over the API against a live twin: each takes effect in the plan at once and is
in the audit trail with who and when; each bad input is a clear 4xx."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from typing import Any

import pytest

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from mixflow.api import Settings, create_app
from mixflow.api.twin_plant import TwinPlant
from mixflow.store.accounts import Role

from .conftest import SECRET, login_as


@pytest.fixture(scope="module")
def plant_app(tmp_path_factory: pytest.TempPathFactory,
              ) -> Iterator[tuple[TestClient, TwinPlant]]:
    db = f"sqlite:///{tmp_path_factory.mktemp('planner') / 'web.db'}"
    settings = Settings(db_url=db, secret_key=SECRET, twin=True, scale=0.05)
    live = TwinPlant(settings, warm_up_s=2 * 86_400 + 8 * 3600)  # not started: it stands still
    with TestClient(create_app(settings, live)) as client:
        yield client, live


@pytest.fixture(scope="module")
def planner(plant_app: tuple[TestClient, TwinPlant]) -> dict[str, str]:
    return login_as(plant_app[0], "pat", Role.PLANNER)


def _audit(client: TestClient, headers: dict[str, str]) -> list[dict[str, Any]]:
    return client.get("/api/planner/audit", headers=headers).json()["actions"]  # type: ignore[no-any-return]


def test_machine_down_and_up(plant_app, planner) -> None:  # type: ignore[no-untyped-def]
    client, live = plant_app
    machine = live.plant.machines[5].id
    down = client.post(f"/api/planner/machines/{machine}/down", headers=planner,
                       json={"reason": "spindle check", "expected_h": 2})
    assert down.status_code == 200, down.text
    assert down.json()["state"] == "down" and machine in live.scheduler.shops.down
    assert live.scheduler.held[machine].expected_s == 7200
    alarm = live.take_snapshot()["alarms"][-1]
    assert (alarm["kind"], alarm["source"], alarm["severity"]) == ("machine down", machine, "major")
    assert "pat" in alarm["text"] and "spindle check" in alarm["text"]
    again = client.post(f"/api/planner/machines/{machine}/down", headers=planner, json={"reason": "again"})
    assert again.status_code == 409 and "down already" in again.json()["detail"]
    assert " UTC (spindle check)" in again.json()["detail"]  # a date a person reads, not plant seconds
    up = client.post(f"/api/planner/machines/{machine}/up", headers=planner)
    assert up.status_code == 200 and up.json()["state"] == "up" and machine not in live.scheduler.shops.down
    cleared = [a for a in live.take_snapshot()["alarms"] if a["id"] == alarm["id"]]
    assert cleared[0]["state"] == "cleared" and cleared[0]["cleared_by"] == "pat"
    assert client.post(f"/api/planner/machines/{machine}/up", headers=planner).status_code == 409
    trail = _audit(client, planner)[:4]
    assert [(a["action"], a["outcome"], a["username"]) for a in trail] == [
        ("machine_up", "refused", "pat"), ("machine_up", "done", "pat"),
        ("machine_down", "refused", "pat"), ("machine_down", "done", "pat"),
    ]
    assert trail[3]["target"] == machine and trail[3]["detail"]["reason"] == "spindle check"


def test_unknown_machine_and_order_are_404(plant_app, planner) -> None:  # type: ignore[no-untyped-def]
    client, _ = plant_app
    answer = client.post("/api/planner/machines/no-such-press/down", headers=planner, json={})
    assert answer.status_code == 404 and "no machine 'no-such-press'" in answer.json()["detail"]
    answer = client.post("/api/planner/orders/NOPE/priority", headers=planner, json={"priority": 1})
    assert answer.status_code == 404 and "no order 'NOPE'" in answer.json()["detail"]


def test_a_rush_order_is_promised_and_reprioritised(plant_app, planner, cheapest_config) -> None:  # type: ignore[no-untyped-def]
    client, live = plant_app
    answer = client.post("/api/planner/rush-orders", headers=planner,
                         json={"configuration": cheapest_config, "priority": 2})
    assert answer.status_code == 201, answer.text
    rush = answer.json()
    assert rush["order"] in live.scheduler.orders and live.scheduler.orders[rush["order"]].priority == 2
    assert rush["slot"] <= rush["was_slot"] and rush["promised_date"]
    assert rush["took_ms"] < 1000
    for pushed in rush["pushed"]:
        assert live.scheduler.promises[pushed["order"]].slot == pushed["slot"]
        assert pushed["at_risk"] == (pushed["order"] in live.scheduler.kpis.at_risk) or not pushed["at_risk"]
    back = client.post(f"/api/planner/orders/{rush['order']}/priority", headers=planner, json={"priority": 0})
    assert back.status_code == 200 and live.scheduler.orders[rush["order"]].priority == 0
    assert _audit(client, planner)[0]["action"] == "expedite"


def test_a_rush_order_that_cannot_be_built_is_422(plant_app, planner) -> None:  # type: ignore[no-untyped-def]
    client, _ = plant_app
    answer = client.post("/api/planner/rush-orders", headers=planner,
                         json={"configuration": {"family": "mixer"}})
    assert answer.status_code == 422 and "cannot be built" in answer.json()["detail"]
    assert _audit(client, planner)[0]["outcome"] == "refused"


def test_an_order_on_the_line_cannot_move(plant_app, planner) -> None:  # type: ignore[no-untyped-def]
    client, live = plant_app
    on_line = next((o for o, order in live.scheduler.orders.items() if order.status.value == "on_line"), None)
    assert on_line is not None, "at 08:00 of plant day 3 the line is running"
    answer = client.post(f"/api/planner/orders/{on_line}/priority", headers=planner, json={"priority": 1})
    assert answer.status_code == 409 and "not yet on its line" in answer.json()["detail"]


def test_freeze_and_replan(plant_app, planner) -> None:  # type: ignore[no-untyped-def]
    client, live = plant_app
    frozen = client.post("/api/planner/freeze", headers=planner, json={"frozen_h": 4})
    assert frozen.status_code == 200 and frozen.json()["frozen_s"] == 4 * 3600
    assert live.scheduler.options.frozen_s == 4 * 3600
    replan = client.post("/api/planner/replan", headers=planner, json={"horizon_h": 24})
    assert replan.status_code == 200 and live.scheduler.options.shop_horizon_s == 24 * 3600
    assert client.post("/api/planner/freeze", headers=planner, json={"frozen_h": -1}).status_code == 422


def test_alarms_are_acknowledged_then_cleared(plant_app, planner) -> None:  # type: ignore[no-untyped-def]
    client, live = plant_app
    machine = live.plant.machines[7].id
    assert client.post(f"/api/planner/machines/{machine}/down", headers=planner, json={}).status_code == 200
    live._snapshot = live.take_snapshot()
    listed = client.get("/api/planner/alarms?state=active", headers=planner).json()["alarms"]
    alarm = next(a for a in listed if a["source"] == machine)
    assert alarm["severity"] == "major" and alarm["at_s"] > 0
    ack = client.post(f"/api/planner/alarms/{alarm['id']}/acknowledge", headers=planner)
    assert ack.status_code == 200 and ack.json()["state"] == "acknowledged"
    twice = client.post(f"/api/planner/alarms/{alarm['id']}/acknowledge", headers=planner)
    assert twice.status_code == 409 and "acknowledged already" in twice.json()["detail"]
    assert client.post(f"/api/planner/alarms/{alarm['id']}/clear", headers=planner).status_code == 200
    cleared = client.post(f"/api/planner/alarms/{alarm['id']}/acknowledge", headers=planner)
    assert cleared.status_code == 409 and "cleared already" in cleared.json()["detail"]
    assert client.post("/api/planner/alarms/999999/acknowledge", headers=planner).status_code == 404


def test_only_planners_act(plant_app) -> None:  # type: ignore[no-untyped-def]
    client, live = plant_app
    customer = login_as(client, "cathy", Role.CUSTOMER)
    operator = login_as(client, "otto", Role.OPERATOR)
    machine = live.plant.machines[0].id
    for headers, code in ((customer, 403), (operator, 403), ({}, 401)):
        answer = client.post(f"/api/planner/machines/{machine}/down", headers=headers, json={})
        assert answer.status_code == code


def test_the_gantt_window_rolls_with_the_plant(plant_app, planner) -> None:  # type: ignore[no-untyped-def]
    client, live = plant_app
    window = client.get("/api/plan/gantt/window?back_h=8&ahead_h=48", headers=planner).json()
    assert window["from_s"] == window["at_s"] - 8 * 3600 and window["ops"]
    assert all(end > window["from_s"] and start <= window["at_s"] for _, start, end, _, _ in window["ops"])
    assert window["slots"] and {s[0] for s in window["slots"]} <= {line.id for line in live.plant.lines}


def test_admins_manage_staff_accounts(plant_app) -> None:  # type: ignore[no-untyped-def]
    client, _ = plant_app
    admin = login_as(client, "ada", Role.ADMIN)
    made = client.post("/api/staff/accounts", headers=admin,
                       json={"username": "penny", "password": "a-long-planner-pass", "role": "planner"})
    assert made.status_code == 201, made.text
    listed = client.get("/api/staff/accounts", headers=admin).json()["accounts"]
    names = {a["username"]: a["role"] for a in listed}
    assert names["penny"] == "planner" and "cathy" not in names
    customer = client.post("/api/staff/accounts", headers=admin,
                           json={"username": "cust1", "password": "a-long-customer-pass", "role": "customer"})
    assert customer.status_code == 422
    planner = login_as(client, "pete", Role.PLANNER)
    assert client.get("/api/staff/accounts", headers=planner).status_code == 403
    last = _audit(client, admin)[0]
    assert (last["action"], last["target"], last["username"]) == ("staff_account", "penny", "ada")


@pytest.fixture(scope="module")
def cheapest_config(plant_app) -> dict[str, str]:  # type: ignore[no-untyped-def]
    client, _ = plant_app
    answer = client.post("/api/configurator/complete", json={"choices": {"family": "mixer"}})
    assert answer.status_code == 200, answer.text
    return answer.json()["configuration"]  # type: ignore[no-any-return]


def test_an_open_stream_closes_once_its_account_is_disabled(plant_app) -> None:  # type: ignore[no-untyped-def]
    from starlette.websockets import WebSocketDisconnect

    client, _ = plant_app
    admin = login_as(client, "adam", Role.ADMIN)
    watcher = login_as(client, "walt", Role.OPERATOR)
    walt = next(a["id"] for a in client.get("/api/staff/accounts", headers=admin).json()["accounts"]
                if a["username"] == "walt")
    with client.websocket_connect(f"/api/plant/stream?token={watcher['Authorization'][7:]}") as ws:
        assert "machines_down" in ws.receive_text()
        assert client.post(f"/api/staff/accounts/{walt}/disable", headers=admin).status_code == 200
        with pytest.raises(WebSocketDisconnect) as closed:
            for _ in range(50):  # 5 frames a second, the account read again every second
                ws.receive_text()
    assert closed.value.code == 4401
    assert client.post(f"/api/staff/accounts/{walt}/enable", headers=admin).status_code == 200
