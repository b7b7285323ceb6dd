"""Plant endpoints: the floor layout, and clear refusals when no plant runs or the caller may not watch."""

from __future__ import annotations

import pytest
from starlette.websockets import WebSocketDisconnect

from mixflow.cli import main
from mixflow.store.accounts import Role


def test_layout_describes_the_floor(client, add_user) -> None:  # type: ignore[no-untyped-def]
    planner = add_user("pat", Role.PLANNER)
    layout = client.get("/api/plant/layout", headers=planner).json()
    assert all(sum(runs) == layout["width"] for runs in layout["blocked_rle"])
    assert len(layout["blocked_rle"]) == layout["height"]
    assert len(layout["machine_xy"]) == 2 * len(layout["machine_ids"]) == 2 * len(layout["machine_group"])
    assert layout["stations"] and layout["agv_ids"]


def test_without_a_live_plant_the_answer_says_so(client, add_user) -> None:  # type: ignore[no-untyped-def]
    planner = add_user("pat", Role.PLANNER)
    for path in ("/api/plant/state", "/api/plan/kpis"):
        answer = client.get(path, headers=planner)
        assert answer.status_code == 503 and "mixflow serve --twin" in answer.json()["detail"]
    assert client.get("/api/plan/nonsense", headers=planner).status_code == 404


def test_the_stream_needs_a_staff_token(client, add_user) -> None:  # type: ignore[no-untyped-def]
    customer = add_user("cat", Role.CUSTOMER)["Authorization"].removeprefix("Bearer ")
    for query in ("", "?token=forged", f"?token={customer}"):
        stream = f"/api/plant/stream{query}"
        with pytest.raises(WebSocketDisconnect) as closed, client.websocket_connect(stream) as ws:
            ws.receive_text()
        assert closed.value.code in (4401, 4403)


def test_pages_and_plotly_are_served_offline(client) -> None:  # type: ignore[no-untyped-def]
    for page in ("configurator", "orders", "plant", "planner", "login"):
        html = client.get(f"/static/{page}.html")
        assert html.status_code == 200 and "http://" not in html.text and "https://" not in html.text
    bundle = client.get("/vendor/plotly.min.js")
    assert bundle.status_code == 200 and len(bundle.content) > 1_000_000


def test_serve_refuses_bad_options(capsys) -> None:  # type: ignore[no-untyped-def]
    both = ["serve", "--mqtt", "mqtt://127.0.0.1:1883", "--twin", "--port", "8123"]
    for argv in (["serve", "--port", "0"], both):
        with pytest.raises(SystemExit) as done:
            main(argv)
        assert done.value.code == 2
        assert capsys.readouterr().err.startswith("mixflow: error: ")
