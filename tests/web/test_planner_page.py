"""In a real browser: a planner takes a machine down from the planner page, sees it red on the plant
map and in the alarms, acknowledges the alarm, and a refusal (the same machine down twice) is shown on
the page; the live Gantt draws its window; an admin changes a staff account's role and disables it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from mixflow.store import accounts
from mixflow.store.accounts import Role

from .conftest import log_in

pytestmark = pytest.mark.browser


def _log_in(page: Any, base: str, next_page: str, username: str, password: str) -> None:
    log_in(page, base, f"/static/{next_page}", username, password)


def test_a_planner_puts_a_machine_down_and_acknowledges_its_alarm(live_server, page, artifacts: Path) -> None:  # type: ignore[no-untyped-def]
    base, app = live_server
    with app.state.sessions() as session:
        accounts.ensure_user(session, "paula", "planner-password-2", Role.PLANNER)
    layout = app.state.layout
    live = app.state.live
    down = set(live.snapshot()["machines_down"])
    index = next(i for i in range(len(layout.machine_ids)) if i not in down)
    machine = layout.machine_ids[index]
    page.set_viewport_size({"width": 1400, "height": 1000})
    _log_in(page, base, "planner.html", "paula", "planner-password-2")
    page.wait_for_function("document.getElementById('gantt')?.dataset.drawMs !== undefined", timeout=30_000)
    page.fill("#machine-id", machine)
    page.fill("#machine-reason", "bearing noise")
    page.fill("#machine-hours", "3")
    page.click("#machine-down")
    result = "document.getElementById('action-result').textContent"
    page.wait_for_function(f"{result}.includes('{machine} is down')")
    page.click("#machine-down")  # twice: refused, and the page says why
    page.wait_for_function("document.getElementById('action-error').textContent.includes('down already')")
    row = page.locator(f"#alarms .alarm.active:has-text('{machine}')").first
    row.wait_for(timeout=20_000)
    assert "bearing noise" in row.inner_text() and "major" in row.inner_text()
    row.locator("button:has-text('Acknowledge')").click()
    page.locator(f"#alarms .alarm.acknowledged:has-text('{machine}')").first.wait_for(timeout=20_000)
    assert "acknowledged by paula" in page.inner_text("#alarms")
    page.locator("#audit div:has-text('machine_down')").first.wait_for(timeout=20_000)
    page.screenshot(path=str(artifacts / "planner-actions.png"), full_page=True)

    # the plant map shows it down, and the alarm acknowledged
    page.goto(f"{base}/static/plant.html")
    page.wait_for_function(
        f"window.__mixflowPlant.next && window.__mixflowPlant.next.machines_down.includes({index})",
        timeout=20_000)
    page.locator(f"#alarms .alarm.acknowledged:has-text('{machine}')").first.wait_for(timeout=20_000)
    x, y = layout.machine_xy[2 * index], layout.machine_xy[2 * index + 1]
    box = page.locator("#agvs").bounding_box()
    page.mouse.click(box["x"] + (x + 0.5) / layout.width * box["width"],
                     box["y"] + (y + 0.5) / layout.height * box["height"])
    page.wait_for_function(f"document.getElementById('detail').textContent.includes('{machine}')")
    assert "state: down" in page.inner_text("#detail")
    page.screenshot(path=str(artifacts / "plant-machine-down.png"), full_page=True)
    live.act({"kind": "machine_up", "machine": machine, "by": "paula"})  # leave the shared plant as it was


def test_the_gantt_draws_its_window(live_server, page, artifacts: Path) -> None:  # type: ignore[no-untyped-def]
    base, app = live_server
    with app.state.sessions() as session:
        accounts.ensure_user(session, "pablo", "planner-password-3", Role.PLANNER)
    page.set_viewport_size({"width": 1400, "height": 1000})
    _log_in(page, base, "planner.html", "pablo", "planner-password-3")
    page.wait_for_function("document.getElementById('gantt')?.dataset.drawMs !== undefined", timeout=30_000)
    page.select_option("#zoom", "24")
    page.locator("#gantt").click(position={"x": 20, "y": 18 + 14 + 7})  # open the first machine group
    drawn = float(page.get_attribute("#gantt", "data-draw-ms") or "nan")
    page.wait_for_function("document.getElementById('gantt-note').textContent.includes('drawn in')")
    assert page.inner_text("#error") == ""
    # drag the window back in time, then double-click back to now
    box = page.locator("#gantt").bounding_box()
    assert box is not None
    page.mouse.move(box["x"] + 600, box["y"] + 40)
    page.mouse.down()
    page.mouse.move(box["x"] + 900, box["y"] + 40, steps=10)
    page.mouse.up()
    page.wait_for_function("Number(document.getElementById('gantt').dataset.panS) < 0")
    page.locator("#gantt").dblclick(position={"x": 600, "y": 40})
    page.wait_for_function("document.getElementById('gantt').dataset.panS === '0'")
    (artifacts / "planner-gantt.json").write_text(json.dumps({"draw_ms": drawn}))
    page.screenshot(path=str(artifacts / "planner-gantt.png"), full_page=True)


def test_an_admin_disables_a_staff_account_from_the_page(live_server, page, artifacts: Path) -> None:  # type: ignore[no-untyped-def]
    base, app = live_server
    with app.state.sessions() as session:
        accounts.ensure_user(session, "adele", "admin-password-4", Role.ADMIN)
        stan_id = accounts.ensure_user(session, "stan", "planner-password-5", Role.PLANNER).id
    stan_token = app.state.tokens.issue(stan_id, "stan", Role.PLANNER)[0]  # as if stan had logged in
    page.set_viewport_size({"width": 1400, "height": 1000})
    _log_in(page, base, "planner.html", "adele", "admin-password-4")
    stan = page.locator("#staff-list tr[data-user=stan]")
    stan.wait_for(timeout=30_000)
    assert page.locator("#staff-list tr[data-user=adele] button.staff-toggle").is_disabled()  # not yourself
    stan.locator("select.staff-role").select_option("operator")
    page.wait_for_function("document.getElementById('staff-result').textContent.includes('now operator')")
    page.locator("#staff-list tr[data-user=stan] button:has-text('Disable')").click()
    page.locator("#staff-list tr[data-user=stan].disabled button:has-text('Enable')").wait_for(timeout=20_000)
    assert page.inner_text("#staff-list tr[data-user=stan] .staff-state") == "disabled"
    assert page.inner_text("#staff-error") == ""
    page.locator("#audit div:has-text('staff_disable stan')").first.wait_for(timeout=20_000)
    with app.state.sessions() as session:
        assert accounts.authenticate(session, "stan", "planner-password-5") is None
        assert accounts.get_user(session, stan_id).role == "operator"  # type: ignore[union-attr]
    refused = page.request.get(f"{base}/api/auth/me", headers={"Authorization": f"Bearer {stan_token}"})
    assert refused.status == 401
    page.screenshot(path=str(artifacts / "planner-staff.png"), full_page=True)
    page.locator("#staff-list tr[data-user=stan] button:has-text('Enable')").click()
    page.locator("#staff-list tr[data-user=stan]:not(.disabled) button:has-text('Disable')").wait_for()
