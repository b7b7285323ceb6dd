"""The planner's actions at full scale; prints JSON.

    .venv/bin/python benchmarks/planner.py [--scale 1.0] [--warm-up-hours 30] [--rush 5] [--no-browser]

Runs the twin of the reference plant under the cloud scheduler for `--warm-up-hours`, then:
- inserts `--rush` rush orders one after another (each promised, moved to the earliest slot its parts
  allow, and every order it pushes out re-checked), timing each through `LivePlant.act` (lock, place,
  move, re-check), against the baseline of placing the same configuration as a normal order;
- takes a machine down and up (the action's time in the plan);
- serves the pages and times, in headless Chromium (/usr/bin/chromium), the planner's live Gantt drawing
  its 8-hour and 2-day windows (`#gantt[data-draw-ms]`, the canvas pass over every operation), with
  every machine group of the first shop opened.
Then drags the Gantt sideways for two seconds (frames drawn a second) and takes each page's first
contentful paint on a first visit.
Target (issue #28): a rush order at scale 1.0 re-promised with its pushed-out orders re-checked in
< 1 s; the Gantt of 2,040 machines drawn in < 500 ms and panned at >= 30 frames a second; every
page's first paint < 1 s.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from mixflow.api import Settings
from mixflow.api.plant_process import order_to_wire
from mixflow.api.twin_plant import TwinPlant
from mixflow.model import Order

CHROMIUM = "/usr/bin/chromium"


def _rush(live: TwinPlant, n: int) -> dict[str, Any]:
    template = next(iter(live.scheduler.orders.values()))
    took, pushed, at_risk, baseline = [], [], [], []
    for k in range(n):
        now = live.factory.now_s
        normal = Order(f"BASE{k}", "bench", template.configuration, now, now)
        began = time.perf_counter()
        live.place(normal)
        baseline.append((time.perf_counter() - began) * 1000)
        rush = Order(f"RUSH{k}", "bench", template.configuration, now, now, priority=1)
        began = time.perf_counter()
        done = live.act({"kind": "rush_order", "order": order_to_wire(rush), "priority": 1, "by": "bench"})
        took.append((time.perf_counter() - began) * 1000)
        pushed.append(len(done["pushed"]))
        at_risk.append(sum(p["at_risk"] for p in done["pushed"]))
    return {
        "rush_orders": n,
        "ms_p50": round(statistics.median(took), 2),
        "ms_max": round(max(took), 2),
        "pushed_out": pushed,
        "pushed_at_risk": at_risk,
        "baseline_normal_order_ms_p50": round(statistics.median(baseline), 2),
    }


def _machine(live: TwinPlant) -> dict[str, Any]:
    machine = next(m.id for m in live.plant.machines if m.id not in live.scheduler.shops.down)
    began = time.perf_counter()
    live.act(
        {"kind": "machine_down", "machine": machine, "reason": "bench", "expected_s": 3600, "by": "bench"}
    )
    down_ms = (time.perf_counter() - began) * 1000
    began = time.perf_counter()
    live.act({"kind": "machine_up", "machine": machine, "by": "bench"})
    up_ms = (time.perf_counter() - began) * 1000
    return {"machine_down_ms": round(down_ms, 2), "machine_up_ms": round(up_ms, 2)}


def _gantt_in_browser(settings: Settings, live: TwinPlant) -> dict[str, Any]:
    import socket

    import uvicorn
    from playwright.sync_api import sync_playwright

    from mixflow.api import create_app
    from mixflow.store import accounts
    from mixflow.store.accounts import Role

    app = create_app(settings, live)
    with app.state.sessions() as session:
        accounts.ensure_user(session, "bench", "gantt-window-2040", Role.PLANNER)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    base = f"http://127.0.0.1:{port}"
    out: dict[str, Any] = {}
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
            page = browser.new_page(viewport={"width": 1600, "height": 1000}, bypass_csp=True)
            page.goto(f"{base}/static/login.html?next=/static/planner.html")
            page.fill("input[name=username]", "bench")
            page.fill("input[name=password]", "gantt-window-2040")
            page.click("button[type=submit]")
            page.wait_for_url("**/static/planner.html")
            try:
                page.wait_for_function(
                    "document.getElementById('gantt')?.dataset.drawMs !== undefined", timeout=120_000
                )
            except Exception:
                return {"failed": page.inner_text("#error") or "no Gantt drawn in 120 s", "url": page.url}
            for hours in ("8", "48"):
                page.evaluate("document.getElementById('gantt').dataset.drawMs = ''")
                page.select_option("#zoom", hours)
                page.wait_for_function(
                    "document.getElementById('gantt').dataset.drawMs !== ''", timeout=120_000
                )
                page.wait_for_timeout(300)
                draws = []
                for _ in range(5):  # redraws of the same window (what a resize or a fold costs)
                    draws.append(
                        page.evaluate(
                            "(() => { const t = performance.now();"
                            " window.dispatchEvent(new Event('resize'));"
                            " return performance.now() - t; })()"
                        )
                    )
                out[f"window_{hours}h"] = {
                    "first_draw_ms": float(page.get_attribute("#gantt", "data-draw-ms") or "nan"),
                    "redraw_ms_p50": round(statistics.median(draws), 1),
                    "operations": page.evaluate("document.getElementById('gantt-note').textContent"),
                    "pan": _pan_fps(page),
                }
            out["first_contentful_paint_ms"] = _first_paint(browser, base)
            browser.close()
    finally:
        server.should_exit = True
    return out


def _pan_fps(page: Any) -> dict[str, float]:
    """Drag the Gantt sideways for about two seconds as a user would (the mouse held down, moved in
    small steps) and count the frames the page drew: frames a second, and the draw time per frame."""
    page.locator("#gantt").scroll_into_view_if_needed()
    box = page.locator("#gantt").bounding_box()
    y = box["y"] + 40
    x0 = box["x"] + box["width"] * 0.8
    frames0 = int(page.get_attribute("#gantt", "data-frames") or 0)
    page.mouse.move(x0, y)
    page.mouse.down()
    began = time.perf_counter()
    moved = 0
    while time.perf_counter() - began < 2.0:
        moved += 1
        page.mouse.move(x0 - 300 * ((moved % 40) / 40), y, steps=4)
    elapsed = time.perf_counter() - began
    page.mouse.up()
    page.wait_for_timeout(100)
    frames = int(page.get_attribute("#gantt", "data-frames") or 0) - frames0
    return {
        "frames_per_s": round(frames / elapsed, 1),
        "last_draw_ms": float(page.get_attribute("#gantt", "data-draw-ms") or "nan"),
    }


def _first_paint(browser: Any, base: str) -> dict[str, float]:
    """First contentful paint of every page, in a fresh context each (a first visit, nothing cached),
    logged in through the login page where the page needs it."""
    paints: dict[str, float] = {}
    for name in ("login", "configurator", "orders", "plant", "planner"):
        context = browser.new_context(viewport={"width": 1400, "height": 900})
        page = context.new_page()
        if name not in ("login", "configurator"):
            page.goto(f"{base}/static/login.html")
            page.fill("input[name=username]", "bench")
            page.fill("input[name=password]", "gantt-window-2040")
            page.click("button[type=submit]")
            page.wait_for_load_state("networkidle")
        page.goto(f"{base}/static/{name}.html")
        page.wait_for_load_state("load")
        fcp = page.evaluate(
            "() => new Promise((done) => { const e = performance.getEntriesByName('first-contentful-paint');"
            " if (e.length) return done(e[0].startTime);"
            " new PerformanceObserver((l) => done(l.getEntries()[0].startTime))"
            ".observe({type: 'paint', buffered: true}); setTimeout(() => done(-1), 5000); })"
        )
        paints[name] = round(float(fcp), 1)
        context.close()
    return paints


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--warm-up-hours", type=float, default=30.0)
    parser.add_argument("--rush", type=int, default=5)
    parser.add_argument("--no-browser", action="store_true")
    args = parser.parse_args()
    db = Path(tempfile.mkdtemp(prefix="mixflow-planner-bench-")) / "web.db"  # shared by the server's threads
    settings = Settings(
        db_url=f"sqlite:///{db}",
        secret_key="benchmark-secret-key-not-for-production",
        twin=True,
        scale=args.scale,
    )
    began = time.perf_counter()
    live = TwinPlant(settings, warm_up_s=int(args.warm_up_hours * 3600))  # not started: it stands still
    result: dict[str, Any] = {
        "scale": args.scale,
        "machines": len(live.plant.machines),
        "warm_up_s": round(time.perf_counter() - began, 1),
        "orders_in_plan": len(live.scheduler.orders),
        "host": platform.node(),
    }
    result["rush"] = _rush(live, args.rush)
    result["machine"] = _machine(live)
    if not args.no_browser:
        result["gantt_in_chromium"] = _gantt_in_browser(settings, live)
    live.close()
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
