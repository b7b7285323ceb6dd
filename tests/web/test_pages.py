"""In a real browser: a customer configures, sees a greyed option's reason, orders and sees the promise;
a planner watches AGVs move on the plant's floor map and opens the planner view."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from mixflow.model import DAY_S, Order, OrderStatus, StatusChange
from mixflow.store import accounts, order_book
from mixflow.store.accounts import Role

from .conftest import log_in

pytestmark = pytest.mark.browser


def _log_in(page: Any, base: str, next_page: str, username: str, password: str, register: bool) -> None:
    log_in(page, base, f"/static/{next_page}", username, password, register)


def test_customer_configures_orders_and_sees_the_promise(live_server, page, artifacts: Path) -> None:  # type: ignore[no-untyped-def]
    base, _app = live_server
    _log_in(page, base, "configurator.html", "carla", "mixer-fan-2025", register=True)
    page.click("button.chip[data-variable=family][data-value=mixer]")
    greyed = page.locator("button.chip.greyed[data-variable=drive][data-value='4x2']")
    greyed.wait_for()
    greyed.hover()
    page.wait_for_function("document.querySelector(\"button.chip[data-variable=drive][data-value='4x2']\")"
                           ".dataset.reason !== undefined")
    reason = greyed.get_attribute("data-reason") or ""
    assert "Concrete mixer" in reason and "not possible" in reason
    assert page.locator("#tooltip").inner_text() == reason
    page.screenshot(path=str(artifacts / "configurator-greyed-reason.png"))

    count_before = int(re.sub(r"\D", "", page.inner_text("#count")))
    page.click("#cheapest")
    page.wait_for_function("document.querySelector('#count').textContent.trim() === '1'")
    assert count_before > 1
    page.wait_for_function("document.querySelector('#promise').textContent.startsWith('Delivered by')")
    promised = page.inner_text("#promise")
    page.screenshot(path=str(artifacts / "configurator-complete-promise.png"))

    page.click("#order")  # review first: the whole configuration, the price line by line, the promise
    page.locator("#confirm[open] #confirm-configuration tr").first.wait_for()
    page.wait_for_function("document.querySelector('#confirm-promise').textContent"
                           ".startsWith('Delivered by')")
    page.click("#confirm-order")
    page.locator("#placed .order-id").wait_for()
    order_id = page.inner_text("#placed .order-id")
    assert page.inner_text("#placed .order-promise").startswith("Promised for")
    # the plant runs on while the customer decides: the booked promise may differ from the quote by minutes
    assert promised.split(",")[0].removeprefix("Delivered by ") in page.inner_text("#placed .order-promise")
    page.screenshot(path=str(artifacts / "configurator-ordered.png"))

    page.goto(f"{base}/static/orders.html")
    card = page.locator(f".order[data-order={order_id}]")
    card.wait_for()
    assert card.locator(".flow span.done[data-status=promised]").count() == 1
    assert "promised for" in card.locator(".promise").inner_text()
    page.screenshot(path=str(artifacts / "my-orders.png"))


def test_planner_sees_agvs_move(live_server, page, artifacts: Path) -> None:  # type: ignore[no-untyped-def]
    base, app = live_server
    with app.state.sessions() as session:
        accounts.ensure_user(session, "pia", "planner-password", Role.PLANNER)
    _log_in(page, base, "plant.html", "pia", "planner-password", register=False)
    page.wait_for_function("window.__mixflowPlant && window.__mixflowPlant.snapshots >= 2", timeout=20_000)
    first = page.evaluate("[window.__mixflowPlant.next.at_s, window.__mixflowPlant.next.agv_x, "
                          "window.__mixflowPlant.next.agv_y]")
    page.wait_for_function(f"window.__mixflowPlant.next.at_s > {first[0] + 300}", timeout=20_000)
    # wait until at least one AGV stands somewhere else than in the first snapshot
    x0, y0 = json.dumps(first[1]), json.dumps(first[2])
    page.wait_for_function(
        f"(() => {{ const n = window.__mixflowPlant.next, x = {x0}, y = {y0};"
        " return n.agv_x.some((v, i) => v !== x[i] || n.agv_y[i] !== y[i]); })()",
        timeout=30_000,
    )
    agvs = len(first[1])
    assert agvs == len(app.state.layout.agv_ids) > 30  # the whole fleet of the plant (36 at scale 0.05)
    frames = page.evaluate("window.__mixflowPlant.frames.slice(-120)")
    fps = 1000 * (len(frames) - 1) / (frames[-1] - frames[0])
    (artifacts / "plant-fps.json").write_text(json.dumps({"agvs": agvs, "fps": round(fps, 1)}))
    page.screenshot(path=str(artifacts / "plant-live.png"))

    page.click("#speeds button[data-speed='0']")
    page.wait_for_function("window.__mixflowPlant.next.running === false", timeout=10_000)
    # each AGV's VDA 5050 state: in the snapshot, and in the detail of one clicked on the map
    x, y, codes = page.evaluate("(({ agv_x, agv_y, agv_vda }) => [agv_x[0], agv_y[0], agv_vda])"
                                "(window.__mixflowPlant.next)")
    assert len(codes) == agvs
    box = page.locator("#agvs").bounding_box()
    layout = app.state.layout
    page.mouse.click(box["x"] + (x + 0.5) / layout.width * box["width"],
                     box["y"] + (y + 0.5) / layout.height * box["height"])
    page.wait_for_function("document.getElementById('detail').textContent.includes('VDA 5050')")
    assert "batteryCharge" in page.inner_text("#detail")

    # the planner page under its real Content-Security-Policy (the `page` fixture bypasses it): the text
    # comes first, plotly.js (from the plotly package, no CDN) after it, and the CSP refuses nothing
    strict = page.context.browser.new_context(viewport={"width": 1400, "height": 1000})
    strict.add_cookies(page.context.cookies())
    planner = strict.new_page()
    blocked: list[str] = []
    planner.on("console", lambda m: blocked.append(m.text) if "Content Security Policy" in m.text else None)
    planner.goto(f"{base}/static/login.html")
    planner.evaluate("localStorage.setItem('mixflow.session', JSON.stringify("
                     "{username: 'pia', role: 'planner', expires_at: '2999-01-01T00:00:00Z'}))")
    planner.goto(f"{base}/static/planner.html")
    planner.locator(".kpi").first.wait_for()
    assert "parts overdue at the line" in planner.inner_text("#kpis")
    assert "driving" in planner.inner_text("#agv-states [data-state=driving]")
    planner.locator("#output .main-svg").first.wait_for()
    assert not blocked, blocked
    strict.close()
    page.goto(f"{base}/static/planner.html")
    page.locator("#output .main-svg").first.wait_for()
    page.screenshot(path=str(artifacts / "planner.png"), full_page=True)


def test_a_customer_pages_back_through_many_orders(live_server, page) -> None:  # type: ignore[no-untyped-def]
    base, app = live_server
    with app.state.sessions() as session:
        accounts.ensure_user(session, "olga", "olive-garden-7", Role.CUSTOMER)
        for k in range(60):
            placed = StatusChange(OrderStatus.PLACED, k)
            config = {"family": "mixer", "drive": "6x4"}
            order = Order(f"OLGA-{k:03d}", "olga", config, k, k + DAY_S, history=(placed,))
            order_book.save_new(session, order, 100_000.0)
    _log_in(page, base, "orders.html", "olga", "olive-garden-7", register=False)
    page.locator(".order[data-order=OLGA-059]").wait_for()
    assert page.locator(".order").count() == 50 and page.locator("#older").is_visible()
    page.click("#older")
    page.locator(".order[data-order=OLGA-000]").wait_for()
    ids = page.evaluate("[...document.querySelectorAll('.order')].map((e) => e.dataset.order)")
    assert ids == [f"OLGA-{k:03d}" for k in range(59, -1, -1)]  # newest first, each once
    assert not page.locator("#older").is_visible()
