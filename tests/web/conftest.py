"""A live server (the app over the twin of a small reference plant) and Debian's Chromium via Playwright.

Chromium is the distribution's (`/usr/bin/chromium`, installed by `.ci/run`); Playwright's own browser
downloads are never used. Screenshots go to `artifacts/web/` (git-ignored) as test artefacts.
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = os.environ.get("MIXFLOW_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts" / "web"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


@pytest.fixture(scope="session")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Any]]:
    """Base URL and app of `mixflow serve --twin` at scale 0.05, run in this process. The pages need a
    plant with every kind of machine and a fleet, not a large one: the twin's warm-up (two days and more
    of plant time, once per test worker) costs about 13 s of CPU at 0.05 against 30 s at 0.1."""
    from mixflow.api import Settings

    db = tmp_path_factory.mktemp("web") / "web.db"
    settings = Settings(db_url=f"sqlite:///{db}", secret_key="browser-test-secret-key", scale=0.05,
                        twin_speed=300.0)
    yield from serve(settings)


@pytest.fixture(scope="module")
def ebus_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Any]]:
    """`mixflow serve --twin --plant examples/ebus/plant.yaml --catalogue examples/ebus/catalogue.yaml`:
    a plant of two lines building buses, fast."""
    from mixflow.api import Settings

    example = Path(__file__).resolve().parents[2] / "examples" / "ebus"
    db = tmp_path_factory.mktemp("ebus") / "web.db"
    settings = Settings(db_url=f"sqlite:///{db}", secret_key="browser-test-secret-key", twin_speed=600.0,
                        plant_file=str(example / "plant.yaml"),
                        catalogue_file=str(example / "catalogue.yaml"))
    yield from serve(settings)


def serve(settings: Any) -> Iterator[tuple[str, Any]]:
    """Run `mixflow serve --twin` with `settings` in this process: yields its base URL and app."""
    from mixflow.api import create_app
    from mixflow.api.runner import start_live_plant

    yield from serve_app(create_app(settings, start_live_plant(settings)))


def serve_app(app: Any) -> Iterator[tuple[str, Any]]:
    """Serve `app` with uvicorn on a free port in this process: yields its base URL and app."""
    import uvicorn

    port = _free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", ws="websockets-sansio",
                            proxy_headers=False)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started, "the test server did not start"
    yield f"http://127.0.0.1:{port}", app
    server.should_exit = True
    thread.join(timeout=10)


def log_in(page: Any, base: str, next_path: str, username: str, password: str,
           register: bool = False) -> None:
    """Log in (or, with `register`, open a customer account and log in) on the login page, which sends
    the browser on to `next_path` (`/static/plant.html`, or a plant's `/plants/<id>/static/...`)."""
    page.goto(f"{base}/static/login.html?next={next_path}")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("#register" if register else "button[type=submit]")
    page.wait_for_url(f"**{next_path}")


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Chromium for one test module: Playwright's sync API keeps an event loop running in the main
    thread while it lives, which would break `asyncio.run` in whatever test the worker runs next."""
    if not Path(CHROMIUM).exists() and shutil.which("chromium") is None:
        message = f"Debian's chromium is not installed at {CHROMIUM} (apt-get install -y chromium)"
        if os.environ.get("MIXFLOW_REQUIRE_SERVICES") == "1":
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    # Playwright evaluates string predicates (wait_for_function) in the page, which the pages' CSP (no
    # eval) forbids; tests that check the CSP itself open a context of their own without this bypass.
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, bypass_csp=True)
    page = context.new_page()
    yield page
    context.close()
