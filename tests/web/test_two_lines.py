"""In a real browser, a plant of two final-assembly lines: the e-bus example plant (city line and coach
line sharing six shops) served with its bus catalogue. The pages say "bus", the plant map shows both
lines' state, and the planner shows each line's sequence."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from mixflow.store import accounts
from mixflow.store.accounts import Role

from .conftest import log_in

pytestmark = pytest.mark.browser

LINES = {"city-line": "City line", "coach-line": "Coach line"}


def _words(page: Any) -> str:
    return str(page.inner_text("body")).lower()


def test_a_two_line_bus_plant_shows_each_line(ebus_server, page, artifacts: Path) -> None:  # type: ignore[no-untyped-def]
    base, app = ebus_server
    with app.state.sessions() as session:
        accounts.ensure_user(session, "pia", "planner-password", Role.PLANNER)
    log_in(page, base, "/static/plant.html", "pia", "planner-password")

    # the plant map: one block per line, named, each with its takt bar and a cell per station
    page.wait_for_function("window.__mixflowPlant && window.__mixflowPlant.snapshots >= 2", timeout=20_000)
    blocks = page.locator("#lines .line")
    assert blocks.count() == 2
    assert [blocks.nth(k).get_attribute("data-line") for k in range(2)] == list(LINES)
    for k, (line_id, name) in enumerate(LINES.items()):
        block = blocks.nth(k)
        assert name in block.locator(".name").inner_text() and line_id in block.locator(".name").inner_text()
        assert block.locator(".bar").count() == 1
        stations = sum(1 for s in app.state.layout.stations if s.line == line_id)
        assert block.locator(".stations div").count() == stations
    # the twin reports the buses on each line's stations: the state text counts them in buses
    page.wait_for_function(
        "[...document.querySelectorAll('#lines .line .state')]"
        ".every((e) => / on \\d+ stations/.test(e.textContent))",
        timeout=10_000,
    )
    states = [blocks.nth(k).locator(".state").inner_text() for k in range(2)]
    assert all(("bus " in s or "buses " in s) and "takt" in s for s in states), states
    assert "station with a bus" in page.inner_text(".legend")
    assert "truck" not in _words(page)
    page.screenshot(path=str(artifacts / "ebus-plant.png"))

    # the planner: one sequence per line, titled with the line's name, once the lines have units
    page.goto(f"{base}/static/planner.html")
    page.locator(".kpi").first.wait_for()
    page.wait_for_function(
        "(() => { const cards = document.querySelectorAll('#sequences .sequence');"
        " return cards.length === 2"
        " && [...cards].every((c) => c.querySelectorAll('.colours div').length > 0); })()",
        timeout=20_000,
    )
    cards = page.locator("#sequences .sequence")
    assert [cards.nth(k).get_attribute("data-line") for k in range(2)] == list(LINES)
    for k, name in enumerate(LINES.values()):
        card = cards.nth(k)
        assert name in card.locator("h2").inner_text()
        assert "one column per bus" in card.locator("h2").inner_text()
        assert "buses" in card.locator(".note").inner_text() or "bus" in card.locator(".note").inner_text()
    kpis = page.inner_text("#kpis")
    assert "per delivered bus" in kpis
    assert "truck" not in _words(page)
    assert "8x4" not in page.inner_text("#sequences")  # no truck ratio rows on a bus catalogue
    page.screenshot(path=str(artifacts / "ebus-planner.png"), full_page=True)

    # the configurator names the product too
    page.goto(f"{base}/static/configurator.html")
    page.wait_for_function("document.querySelector('h1').textContent.includes('bus')", timeout=10_000)
    assert "truck" not in _words(page)
