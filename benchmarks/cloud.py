"""Many plants, one cloud (issue #30), measured from outside as a user runs it; prints JSON.

    .venv/bin/python benchmarks/cloud.py [--scale 0.25] [--order-hours 6] [--days 8] [--speed 1440]
                                         [--ray] [--db postgresql://127.0.0.1/test] [--click-seconds 10]

What runs, all real processes on this machine:
- a cloud file of 3 reference plants at `--scale` (seeds 1-3, each nearest one of 3 regions);
- API process A, `mixflow serve --cloud F --db URL [--ray local]`, which starts the plant workers
  (processes, or Ray actors on a local Ray with `--ray`), and API process B, `serve --cloud F --attach`,
  which finds the same workers through the store;
- one customer placing orders through A and B in turn for `--order-hours` plant-hours: each configured
  once (the configurator's `complete` of a random family), quoted by every plant for a random region
  (`/api/cloud/quote`), and placed at the earliest (`/api/cloud/orders`);
- then the plants run on until every acknowledged order is delivered, or `--days` plant-days have passed.

Faults, while orders come in: B is killed (SIGKILL) and started again; one plant worker is killed
(SIGKILL, its pid from the store's worker registry) and `worker_restart_s` is the time until that plant
answers a quote again through A (a twin resumes from the checkpoint in its store).

At the end every acknowledged order (201 or 202) is looked up in each plant's own store: `lost` counts
those in no store, `wrong_plant` those stored elsewhere than at the plant the API named or not at the
plant whose quote was the earliest when it was placed. `delivered` counts the orders the plants have
delivered by the end and `promises_kept` those delivered by their promised date; `plant_days` says how
far each plant ran (the pace is `--speed` plant seconds per wall second; a plant that cannot keep up runs
slower).

Load: configurator clicks (`/plants/<id>/api/configurator/propagate`) from 8 threads, p50/p99 and
clicks/s, answered by A alone and by A and B in turn (the baseline in the same run is one process);
after the delivery run, orders/s placed from 8 threads through A alone and through A and B (these
`burst_orders` are checked for loss and plant, not for delivery).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
PASSWORD = "cloud-bench-password-1"
REGIONS = ("central", "south", "east")
FAMILIES = ("mixer", "tractor", "dump", "cargo")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def write_cloud(folder: Path, scale: float) -> Path:
    plants = []
    for k, (plant, near) in enumerate(zip(("changsha", "guangzhou", "shanghai"), REGIONS, strict=True)):
        hours = {region: (4 if region == near else 24 + 6 * k) for region in REGIONS}
        plants.append(f"- id: {plant}\n  scale: {scale}\n  seed: {k + 1}\n"
                      f"  transport_h: {json.dumps(hours)}\n")
    path = folder / "cloud.yaml"
    path.write_text("format: mixflow-cloud-v1\nname: benchmark cloud\nplants:\n" + "".join(plants))
    return path


class Api:
    """One `mixflow serve --cloud` process."""

    def __init__(self, cloud: Path, db: str, env: dict[str, str], extra: list[str], log: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._command = [sys.executable, "-m", "mixflow", "serve", "--cloud", str(cloud), "--db", db,
                         "--port", str(self.port), *extra]
        self._env, self._log = env, log
        self.process = self._start()

    def _start(self) -> subprocess.Popen[bytes]:
        return subprocess.Popen(self._command, env=self._env, stdout=subprocess.DEVNULL,
                                stderr=self._log.open("ab"))

    def restart(self) -> None:
        self.process = self._start()

    def wait_up(self, timeout_s: float) -> float:
        began = time.monotonic()
        while time.monotonic() - began < timeout_s:
            if self.process.poll() is not None:
                raise SystemExit(f"serve exited {self.process.returncode}; see {self._log}")
            try:
                if httpx.get(self.url + "/static/cloud.html", timeout=2).status_code == 200:
                    return time.monotonic() - began
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        raise SystemExit(f"serve did not answer within {timeout_s:.0f} s; see {self._log}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                self.process.kill()


def login(client: httpx.Client, username: str) -> dict[str, str]:
    client.post("/api/auth/register", json={"username": username, "password": PASSWORD})
    token = client.post("/api/auth/login", json={"username": username, "password": PASSWORD}).json()
    return {"Authorization": f"Bearer {token['access_token']}"}


def stats(values: list[float]) -> dict[str, float]:
    arr = np.asarray(values) * 1000.0
    if arr.size == 0:
        return {"n": 0}
    return {"n": int(arr.size), "p50_ms": round(float(np.percentile(arr, 50)), 1),
            "p99_ms": round(float(np.percentile(arr, 99)), 1)}


def place_one(client: httpx.Client, headers: dict[str, str], rng: random.Random) -> dict[str, Any] | None:
    """Configure, quote everywhere, place at the earliest; the acknowledged order, or None."""
    plant = rng.choice(("changsha", "guangzhou", "shanghai"))
    done = client.post(f"/plants/{plant}/api/configurator/complete", headers=headers,
                       json={"choices": {"family": rng.choice(FAMILIES)}})
    if done.status_code != 200:
        return None
    body = {"configuration": done.json()["configuration"], "region": rng.choice(REGIONS)}
    quote = client.post("/api/cloud/quote", headers=headers, json=body)
    placed = client.post("/api/cloud/orders", headers=headers, json=body)
    if placed.status_code not in (201, 202):
        return None
    answer = placed.json()
    return {"id": answer["order"]["id"], "plant": answer["plant"],
            "best": quote.json().get("best") if quote.status_code == 200 else None}


def clicks(urls: list[str], headers: dict[str, str], seconds: float, threads: int = 8) -> dict[str, Any]:
    """Configurator clicks for `seconds` from `threads` threads, spread over `urls` in turn."""
    latencies: list[float] = []
    stop = time.monotonic() + seconds

    def click_loop(k: int) -> list[float]:
        rng = random.Random(k)
        own: list[float] = []
        with httpx.Client(timeout=30) as client:
            n = 0
            while time.monotonic() < stop:
                url = urls[(k + n) % len(urls)]
                n += 1
                plant = rng.choice(("changsha", "guangzhou", "shanghai"))
                began = time.perf_counter()
                answer = client.post(f"{url}/plants/{plant}/api/configurator/propagate", headers=headers,
                                     json={"choices": {"family": rng.choice(FAMILIES)}})
                if answer.status_code == 200:
                    own.append(time.perf_counter() - began)
        return own

    with ThreadPoolExecutor(threads) as pool:
        for own in pool.map(click_loop, range(threads)):
            latencies += own
    return {**stats(latencies), "clicks_per_s": round(len(latencies) / seconds, 1)}


def burst(urls: list[str], headers: dict[str, str], seconds: float,
          threads: int = 8) -> tuple[float, list[Any]]:
    """Orders placed (configured, quoted everywhere, placed) from `threads` threads for `seconds`, spread
    over `urls` in turn: orders/s and the acknowledged orders."""
    stop = time.monotonic() + seconds

    def place_loop(k: int) -> list[dict[str, Any]]:
        rng = random.Random(1000 + k)
        own = []
        with httpx.Client(base_url=urls[k % len(urls)], timeout=60) as client:
            while time.monotonic() < stop:
                with contextlib.suppress(httpx.HTTPError):
                    order = place_one(client, headers, rng)
                    if order is not None:
                        own.append(order)
        return own

    began = time.monotonic()
    with ThreadPoolExecutor(threads) as pool:
        placed = [o for own in pool.map(place_loop, range(threads)) for o in own]
    return round(len(placed) / (time.monotonic() - began), 2), placed


def worker_pids(db: str) -> dict[str, int]:
    from sqlalchemy import text

    from mixflow.store import connect

    engine, _ = connect(db)
    with engine.connect() as connection:
        rows = connection.execute(text("SELECT plant_id, pid FROM cloud_plant_workers")).all()
    engine.dispose()
    return {str(plant): int(pid) for plant, pid in rows}


def stored(db: str, plants: list[str]) -> dict[str, dict[str, tuple[str, bool]]]:
    """Every web order in each plant's own store: order id -> (status, delivered by its promise)."""
    from mixflow.model import OrderStatus
    from mixflow.store import connect, order_book, tenant_url

    found: dict[str, dict[str, tuple[str, bool]]] = {}
    for plant in plants:
        engine, sessions = connect(tenant_url(db, plant))
        with sessions() as session:
            orders = order_book.list_orders(session, None, 100_000, None)
        found[plant] = {}
        for order, _ in orders:
            delivered = order.reached(OrderStatus.DELIVERED)
            kept = delivered is not None and order.promised_s is not None and delivered <= order.promised_s
            found[plant][order.id] = (order.status.value, kept)
        engine.dispose()
    return found


def drop_plants(db: str, plants: list[str]) -> None:
    """Leave the PostgreSQL database as it was found: the plants' schemas and worker entries go."""
    from sqlalchemy import text

    from mixflow.store import connect
    from mixflow.store.plant_workers import PlantWorkerRow

    engine, sessions = connect(db)
    with engine.begin() as connection:
        for plant in plants:
            connection.execute(text(f'DROP SCHEMA IF EXISTS "plant_{plant}" CASCADE'))
    with sessions() as session:
        session.query(PlantWorkerRow).filter(PlantWorkerRow.plant_id.in_(plants)).delete()
        session.commit()
    engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scale", type=float, default=0.25)
    parser.add_argument("--order-hours", type=float, default=6.0, help="plant-hours of placing orders")
    parser.add_argument("--days", type=float, default=8.0, help="plant-days at most, waiting for delivery")
    parser.add_argument("--speed", type=float, default=1440.0, help="plant seconds per wall second")
    parser.add_argument("--ray", action="store_true", help="plant workers as Ray actors on a local Ray")
    parser.add_argument("--db", default=None, help="PostgreSQL URL (default: SQLite in a temporary folder)")
    parser.add_argument("--click-seconds", type=float, default=10.0)
    parser.add_argument("--burst-seconds", type=float, default=5.0, help="orders/s: seconds per API count")
    parser.add_argument("--json", action="store_true", help="(the output is always JSON)")
    args = parser.parse_args()

    folder = Path(tempfile.mkdtemp(prefix="mixflow-cloud-bench-"))
    db = args.db or f"sqlite:///{folder / 'cloud.db'}"
    cloud = write_cloud(folder, args.scale)
    plants = ["changsha", "guangzhou", "shanghai"]
    env = {**os.environ, "MIXFLOW_SECRET_KEY": secrets.token_urlsafe(32)}
    log = folder / "serve.log"
    started = time.monotonic()
    a = Api(cloud, db, env, ["--speed", str(args.speed), *(["--ray", "local"] if args.ray else [])], log)
    a.wait_up(1800)
    b = Api(cloud, db, env, ["--attach", "--speed", str(args.speed)], log)
    b.wait_up(600)
    startup_s = time.monotonic() - started
    rng = random.Random(7)
    bursts: list[dict[str, Any]] = []
    result: dict[str, Any] = {"plants": 3, "scale": args.scale, "ray": args.ray,
                              "db": "postgresql" if args.db else "sqlite", "startup_s": round(startup_s, 1)}
    try:
        with httpx.Client(base_url=a.url, timeout=60) as ca:
            headers = login(ca, "bench_customer")
            result["clicks_1_api"] = clicks([a.url], headers, args.click_seconds)
            result["clicks_2_api"] = clicks([a.url, b.url], headers, args.click_seconds)

            def plant_days() -> dict[str, float]:
                at = ca.get("/api/cloud/plants", headers=headers).json()["plants"]
                return {p["id"]: p["at"] for p in at if p["at"]}

            first_at = {p: datetime.fromisoformat(t) for p, t in plant_days().items()}
            acked: list[dict[str, Any]] = []
            placing_began = time.monotonic()
            wall_s = args.order_hours * 3600 / args.speed
            killed_api = killed_worker = False
            restart: dict[str, Any] = {}
            while time.monotonic() - placing_began < wall_s:
                elapsed = (time.monotonic() - placing_began) / wall_s
                use_b = len(acked) % 2 == 1 and b.process.poll() is None
                with httpx.Client(base_url=b.url if use_b else a.url, timeout=60) as client:
                    try:
                        order = place_one(client, headers, rng)
                    except httpx.HTTPError:
                        order = None
                if order is not None:
                    acked.append(order)
                if elapsed > 0.3 and not killed_api:
                    b.process.kill()
                    b.process.wait()
                    b.restart()
                    restart["api_restart_s"] = round(b.wait_up(600), 1)
                    killed_api = True
                if elapsed > 0.5 and not killed_worker:
                    victim = plants[1]
                    os.kill(worker_pids(db)[victim], signal.SIGKILL)
                    began = time.monotonic()
                    done = ca.post(f"/plants/{plants[0]}/api/configurator/complete", headers=headers,
                                   json={"choices": {}})
                    body = {"configuration": done.json()["configuration"]}
                    while time.monotonic() - began < 600:
                        if ca.post(f"/plants/{victim}/api/orders/quote", headers=headers,
                                   json=body).status_code == 200:
                            break
                        time.sleep(0.1)
                    restart["worker_restart_s"] = round(time.monotonic() - began, 2)
                    killed_worker = True
                time.sleep(0.2)
            result["orders_per_s_placed"] = round(len(acked) / max(1e-9, time.monotonic() - placing_began), 2)

            def ran_days() -> dict[str, float]:
                last_at = {p: datetime.fromisoformat(t) for p, t in plant_days().items()}
                return {p: round((last_at[p] - first_at[p]).total_seconds() / 86_400, 2)
                        for p in last_at if p in first_at}

            while True:  # the plants run on until every order is delivered or --days have passed
                books = stored(db, plants)
                done = sum(1 for plant_orders in books.values() for s, _ in plant_orders.values()
                           if s == "delivered")
                ran = ran_days()
                print(f"{time.monotonic() - started:6.0f} s: {done}/{len(acked)} delivered, plant-days {ran}",
                      file=sys.stderr, flush=True)
                if done >= len(acked) or min(ran.values(), default=0.0) >= args.days:
                    break
                time.sleep(10)
            result["plant_days"] = ran
            result["wall_s"] = round(time.monotonic() - started, 1)
            # placing throughput, after the delivery run (these orders are checked for loss, not delivery)
            one, burst_1 = burst([a.url], headers, args.burst_seconds)
            two, burst_2 = burst([a.url, b.url], headers, args.burst_seconds)
            result["orders_per_s"] = {"1_api": one, "2_api": two}
            bursts = burst_1 + burst_2
    finally:
        b.stop()
        a.stop()
    books = stored(db, plants)
    if args.db:
        drop_plants(db, plants)
    where = {order_id: plant for plant, orders in books.items() for order_id in orders}
    everyone = acked + bursts
    lost = [o for o in everyone if o["id"] not in where]
    # placed one at a time, an order goes where its quote said was earliest; in a burst the plants' loads
    # move between an order's quote and its placing, so there it must only be stored where the API said
    wrong = [o for o in everyone if o["id"] in where and where[o["id"]] != o["plant"]]
    wrong += [o for o in acked if o["best"] and o["best"] != o["plant"]]
    status = {o["id"]: books.get(where.get(o["id"], ""), {}).get(o["id"], (None, False)) for o in acked}
    delivered = sum(1 for s, _ in status.values() if s == "delivered")
    promised = sum(1 for s, _ in status.values() if s not in (None, "placed"))
    kept = sum(1 for _, k in status.values() if k)
    result.update({"orders": len(acked), "burst_orders": len(bursts), "promised": promised,
                   "delivered": delivered,
                   "promises_kept": kept, "lost": len(lost),
                   "wrong_plant": len(wrong), **restart, "log": str(log)})
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
