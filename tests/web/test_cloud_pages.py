"""In a real browser, a cloud of two e-bus plants (`mixflow serve --cloud`): a customer logs in once,
configures at one plant, sees the bus quoted by every plant for the region, orders where it arrives
first, and finds the order on the cloud's overview, which lists both plants."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mixflow.store import accounts
from mixflow.store.accounts import Role

from ..api.test_cloud_serve import write_cloud
from .conftest import log_in, serve_app

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def cloud_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Any]]:
    """The cloud's app served by uvicorn in this process: its base URL and app."""
    from mixflow.api import Settings
    from mixflow.api.cloud_app import create_cloud_app, start_tenants
    from mixflow.api.worker_pool import LocalWorkers
    from mixflow.model.cloud_file import load_cloud

    folder = tmp_path_factory.mktemp("cloud-pages")
    path = write_cloud(folder)
    cloud_file = load_cloud(path)
    settings = Settings(db_url=f"sqlite:///{folder / 'cloud.db'}", secret_key="browser-test-secret-key",
                        twin_speed=300.0)
    workers = LocalWorkers(path, settings.db_url, settings.secret_key)
    app = create_cloud_app(cloud_file, settings, start_tenants(cloud_file, settings, workers), workers)
    yield from serve_app(app)  # its shutdown stops the workers


def test_a_customer_orders_where_the_bus_arrives_first(cloud_server, page, artifacts: Path) -> None:  # type: ignore[no-untyped-def]
    base, app = cloud_server
    with app.state.sessions() as session:
        accounts.ensure_user(session, "cleo", "customer-password", Role.CUSTOMER)
    log_in(page, base, "/plants/north/static/configurator.html", "cleo", "customer-password")
    assert page.inner_text("header .plant-name") == "plant north"

    page.click("#cheapest")
    rows = page.locator("#everywhere-quotes tr")
    rows.first.wait_for(timeout=20_000)
    page.select_option("#region", "east")
    page.wait_for_function(
        "document.querySelector('#everywhere-quotes tr')?.dataset.plant === 'south'", timeout=20_000)
    plants = [rows.nth(k).get_attribute("data-plant") for k in range(rows.count())]
    assert plants[:2] == ["south", "north"]  # south is 4 h from the east, north 40 h
    assert "not running" in rows.nth(2).inner_text() or "east" in rows.nth(2).inner_text()
    rows.first.locator("button").click()
    page.locator("#everywhere-placed .order-plant").wait_for(timeout=20_000)
    assert page.inner_text("#everywhere-placed .order-plant") == "south"
    order_id = page.inner_text("#everywhere-placed .order-id")
    page.screenshot(path=str(artifacts / "cloud-configurator.png"), full_page=True)

    page.goto(f"{base}/static/cloud.html")
    page.locator("#plants tr").first.wait_for(timeout=20_000)
    listed = page.locator("#plants tr")
    assert {listed.nth(k).get_attribute("data-plant") for k in range(listed.count())} == {
        "north", "south", "broken"}
    page.locator("#orders tr").first.wait_for(timeout=20_000)
    assert order_id in page.inner_text("#orders") and "south" in page.inner_text("#orders")
    assert "not running" in page.inner_text("#plants tr[data-plant=broken]")
    page.screenshot(path=str(artifacts / "cloud-overview.png"), full_page=True)


def test_a_planner_watches_their_plant_live_and_not_another(cloud_server, page) -> None:  # type: ignore[no-untyped-def]
    base, app = cloud_server
    with app.state.sessions() as session:
        pia = accounts.ensure_user(session, "pia_north", "planner-password", Role.PLANNER)
        accounts.set_plants(session, pia.id, frozenset({"north"}))
        session.commit()
    log_in(page, base, "/plants/north/static/plant.html", "pia_north", "planner-password")
    page.wait_for_function("window.__mixflowPlant && window.__mixflowPlant.snapshots >= 2", timeout=20_000)
    assert page.locator("#lines .line").count() == 2
    answer = page.request.get(f"{base}/plants/south/api/plant/state")
    assert answer.status == 403
