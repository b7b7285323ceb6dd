"""The web app under load: 100 concurrent customers clicking the configurator and ordering; prints JSON.

    .venv/bin/python benchmarks/api.py [--clients 100] [--seconds 20] [--scale 1.0] [--no-browser]

Starts `mixflow serve` (twin of the reference plant at `--scale`, SQLite) in its own process, opens one
account per client through the admin API, then runs 100 httpx async clients. Each client configures
trucks as a buyer does: a random variable, a random value still offered (`POST
/api/configurator/propagate` after each click), sometimes asks why a greyed value is greyed
(`/explain`), and when the truck is complete places the order (`POST /api/orders`, stored and promised
by the live plan before the answer).

Two loads, both with 100 clients: `human` (each client thinks 0.5–1.5 s between clicks, as people do:
the target "click p99 < 50 ms under 100 concurrent clients" is measured here) and `saturation` (no
think time at all: the most requests a second the server answers, and the latency at that load).
Baseline in the same run: the same click stream answered by the configurator engine in-process, without
HTTP (the floor the API adds its cost to). With the browser part, Debian's Chromium opens the plant page
and the frame rate is measured from requestAnimationFrame timestamps with every AGV of the plant drawn.
Timings are taken on a shared, loaded 2-core machine.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
ADMIN, ADMIN_PASSWORD = "bench-admin", "bench-admin-password"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]


def stats(values: list[float]) -> dict[str, float]:
    arr = np.asarray(values, dtype=np.float64) * 1000.0
    if arr.size == 0:
        return {"n": 0}
    return {"n": int(arr.size), "p50_ms": round(float(np.percentile(arr, 50)), 2),
            "p99_ms": round(float(np.percentile(arr, 99)), 2), "max_ms": round(float(arr.max()), 2)}


def cpu_s(pid: int) -> float:
    """User + system CPU seconds a process has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(port: int, db: Path, scale: float, twin: bool) -> subprocess.Popen[bytes]:
    env = dict(os.environ, MIXFLOW_ADMIN_USER=ADMIN, MIXFLOW_ADMIN_PASSWORD=ADMIN_PASSWORD,
               MIXFLOW_SECRET_KEY="benchmark-secret-key-0123456789")
    command = [sys.executable, "-m", "mixflow", "serve", "--db", f"sqlite:///{db}", "--port", str(port),
               "--scale", str(scale), "--speed", "60", "--twin" if twin else "--no-twin"]
    server = subprocess.Popen(command, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"server exited: {server.stderr.read().decode() if server.stderr else ''}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/api/catalogue", timeout=1).status_code == 200:
                return server
        except httpx.HTTPError:
            time.sleep(0.5)
    server.kill()
    raise RuntimeError("server did not come up in 600 s")


def accounts(base: str, n: int) -> list[str]:
    """One customer account per client (opened by the admin), logged in; their tokens."""
    with httpx.Client(base_url=base, timeout=30) as client:
        admin = client.post("/api/auth/login", json={"username": ADMIN, "password": ADMIN_PASSWORD}).json()
        headers = {"Authorization": f"Bearer {admin['access_token']}"}
        tokens = []
        for k in range(n):
            name, password = f"buyer{k:03d}-{random.randrange(10**6)}", "buyer-password"
            client.post("/api/auth/users", json={"username": name, "password": password, "role": "customer"},
                        headers=headers).raise_for_status()
            login = client.post("/api/auth/login", json={"username": name, "password": password})
            tokens.append(login.raise_for_status().json()["access_token"])
        return tokens


class Load:
    """Latencies by request kind, and counts."""

    def __init__(self) -> None:
        self.seconds: dict[str, list[float]] = {"click": [], "explain": [], "order": []}
        self.errors: dict[str, int] = {}
        self.clicks: list[dict[str, str]] = []

    async def call(self, client: httpx.AsyncClient, kind: str, path: str, body: dict[str, Any],
                   headers: dict[str, str] | None = None) -> Any:
        started = time.perf_counter()
        response = await client.post(path, json=body, headers=headers)
        self.seconds[kind].append(time.perf_counter() - started)
        if response.status_code >= 400:
            key = f"{kind} {response.status_code}"
            self.errors[key] = self.errors.get(key, 0) + 1
            return None
        return response.json()


async def buyer(
    load: Load, client: httpx.AsyncClient, token: str, until: float, think: bool, seed: int
) -> None:
    rng = random.Random(seed)
    headers = {"Authorization": f"Bearer {token}"}
    if think:  # people do not all arrive in the same millisecond
        await asyncio.sleep(rng.uniform(0.0, 1.5))
    while time.monotonic() < until:
        choices: dict[str, str] = {}
        state = await load.call(client, "click", "/api/configurator/propagate", {"choices": choices})
        while state is not None and not state["complete"] and time.monotonic() < until:
            open_vars = [v for v in state["valid"] if v not in choices]
            var = rng.choice(open_vars)
            choices[var] = rng.choice(state["valid"][var])
            load.clicks.append(dict(choices))
            if think:
                await asyncio.sleep(rng.uniform(0.5, 1.5))
            state = await load.call(client, "click", "/api/configurator/propagate", {"choices": choices})
            if state is not None and rng.random() < 0.1:  # one hover in ten: why is that greyed?
                await explain_one(load, client, state, choices, rng)
        if state is not None and state["complete"] and time.monotonic() < until:
            await load.call(client, "order", "/api/orders", {"configuration": choices}, headers)


async def explain_one(load: Load, client: httpx.AsyncClient, state: dict[str, Any], choices: dict[str, str],
                      rng: random.Random) -> None:
    """Ask why one greyed value (a value no longer offered) is greyed, if there is one."""
    catalogue = load.catalogue  # type: ignore[attr-defined]
    greyed = [(v, c) for v, codes in catalogue.items() if v not in choices
              for c in codes if c not in state["valid"].get(v, [])]
    if greyed:
        var, value = rng.choice(greyed)
        await load.call(client, "explain", "/api/configurator/explain",
                        {"choices": choices, "variable": var, "value": value})


async def run_load(
    base: str, tokens: list[str], seconds: float, think: bool, catalogue: dict[str, list[str]],
    server_pid: int,
) -> dict[str, Any]:
    load = Load()
    load.catalogue = catalogue  # type: ignore[attr-defined]
    # one client (one keep-alive connection) per buyer, as each buyer has their own browser; one shared
    # pool of 100 connections would make httpx itself the bottleneck (it scans its pool per request)
    clients = [httpx.AsyncClient(base_url=base, timeout=60) for _ in tokens]
    until = time.monotonic() + seconds
    started, server_cpu = time.perf_counter(), cpu_s(server_pid)
    buyers = enumerate(zip(clients, tokens, strict=True))
    await asyncio.gather(*(buyer(load, c, t, until, think, k) for k, (c, t) in buyers))
    wall = time.perf_counter() - started
    server_cpu = cpu_s(server_pid) - server_cpu
    for client in clients:
        await client.aclose()
    total = sum(len(v) for v in load.seconds.values())
    return {
        "clients": len(tokens), "think_s": "0.5-1.5" if think else 0, "wall_s": round(wall, 1),
        "requests": total, "requests_per_s": round(total / wall, 1),
        "server_cpu_ms_per_request": round(1000 * server_cpu / max(1, total), 2),
        "load_average_1min": round(os.getloadavg()[0], 1),
        "click": stats(load.seconds["click"]), "explain": stats(load.seconds["explain"]),
        "order": stats(load.seconds["order"]), "errors": load.errors, "_clicks": load.clicks,
    }


def engine_baseline(clicks: list[dict[str, str]]) -> dict[str, Any]:
    """The same click stream answered in-process by the configurator engine (no HTTP, no JSON)."""
    from mixflow.configure import compile_catalogue
    from mixflow.reference import reference_catalogue

    engine = compile_catalogue(reference_catalogue())
    seconds = []
    for choices in clicks[:20_000]:
        started = time.perf_counter()
        engine.propagate(choices)
        seconds.append(time.perf_counter() - started)
    return {"name": "engine in-process (no HTTP)", "click": stats(seconds)}


def plant_fps(base: str, seconds: float) -> dict[str, Any]:
    """Frames per second of the plant page in Debian's Chromium, from requestAnimationFrame timestamps."""
    from playwright.sync_api import sync_playwright

    with httpx.Client(base_url=base, timeout=30) as client:
        token = client.post("/api/auth/login", json={"username": ADMIN, "password": ADMIN_PASSWORD}).json()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
        page.goto(f"{base}/static/login.html")
        page.evaluate(f"localStorage.setItem('mixflow.token', {json.dumps(json.dumps(token))})")
        page.goto(f"{base}/static/plant.html")
        ready = "window.__mixflowPlant && window.__mixflowPlant.snapshots >= 2"
        page.wait_for_function(ready, timeout=60_000)
        start = page.evaluate("performance.now()")
        time.sleep(seconds)
        frames = page.evaluate(f"window.__mixflowPlant.frames.filter((t) => t >= {start})")
        agvs = page.evaluate("window.__mixflowPlant.next.agv_x.length")
        snapshots = page.evaluate("window.__mixflowPlant.snapshots")
        browser.close()
    gaps = np.diff(np.asarray(frames))
    return {"agvs_drawn": agvs, "seconds": seconds, "frames": len(frames),
            "fps": round(1000 * (len(frames) - 1) / (frames[-1] - frames[0]), 1),
            "frame_ms_p50": round(float(np.percentile(gaps, 50)), 1),
            "frame_ms_p99": round(float(np.percentile(gaps, 99)), 1), "snapshots": snapshots,
            "target_fps": 30}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--no-browser", action="store_true")
    parser.add_argument("--no-twin", action="store_true", help="serve without the live plant (no promises)")
    args = parser.parse_args()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory() as folder:
        started = time.perf_counter()
        server = start_server(port, Path(folder) / "bench.db", args.scale, not args.no_twin)
        startup_s = time.perf_counter() - started
        try:
            catalogue = {v["name"]: [x["code"] for x in v["values"]]
                         for v in httpx.get(f"{base}/api/catalogue").json()["variables"]}
            tokens = accounts(base, args.clients)
            human = asyncio.run(run_load(base, tokens, args.seconds, True, catalogue, server.pid))
            saturation = asyncio.run(run_load(base, tokens, args.seconds, False, catalogue, server.pid))
            fps = None if args.no_browser or args.no_twin else plant_fps(base, 5.0)
        finally:
            server.terminate()
            server.wait(timeout=30)
    clicks = human.pop("_clicks") + saturation.pop("_clicks")
    print(json.dumps({
        "server": {"twin": not args.no_twin, "scale": args.scale, "startup_s": round(startup_s, 1),
                   "twin_speed": 60},
        "human": human, "saturation": saturation, "baseline": engine_baseline(clicks),
        "plant_page": fps, "target_click_p99_ms": 50, "machine": "shared 2-core machine under load",
    }, indent=2))


if __name__ == "__main__":
    main()
