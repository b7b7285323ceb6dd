"""The cloud scheduler restarted in the middle of a busy plant, as the plant grows; prints JSON.

    .venv/bin/python benchmarks/restart.py [--scales 0.25,0.5,1.0] [--kill-hours 54] [--url sqlite:///...]

For each scale it simulates a day of orders (drained afterwards) twice with the plan written through
`PlanStore` before every command batch (`flush_every_s=0`, what `mixflow serve --mqtt` runs with):
once without interruption (the baseline) and once with the scheduler dropped at `--kill-hours` (or
later, once trucks are on the line and AGVs carry parts) and a new one built on the same store, resumed
(`Scheduler.resume`) and seated on the AGVs' next report. It prints what the restarted scheduler had to
take up, how long reading the store, resuming and seating took, anything the plant was told twice
(operations, releases, parts) or refused (AGV moves), and the KPIs of both runs side by side.
The database is a fresh SQLite file per run unless `--url` names a PostgreSQL server (a schema of its
own per run, dropped at the end).

Then it times reading a plan back from the store of a plant that has run for years (`--history`
delivered orders, 220 a day, and 300 open ones): everything, as a restart read it before (the
baseline), against the open orders and the finished ones of the last 30 days (`PlanStore.load(now_s)`).
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from typing import Any

from sqlalchemy import insert

from mixflow.model import DAY_S
from mixflow.plan import PlanOptions, PlanStore, Scheduler
from mixflow.store import connect, scratch_database
from mixflow.store.plan_state import PlanOrderRow
from mixflow.twin import Scenario, Twin, prepare
from mixflow.twin.audit import RepeatAudit
from mixflow.twin.experiment import collect

KEYS = ("orders", "delivered", "order_to_delivery_days", "promises_kept", "line_stops", "line_stop_minutes",
        "material_overdue", "agv_collisions", "agv_refused_moves", "agv_resyncs")


def one_scale(scale: float, kill_s: int, seed: int, url: str | None) -> dict[str, Any]:
    scenario = Scenario(scale=scale, days=1, drain_days=4)
    plant, catalogue, orders = prepare(scenario, seed)
    options = PlanOptions(flush_every_s=0)

    def until_done(twin: Twin) -> Any:
        return lambda now: len(twin.delivered) < len(orders)

    with scratch_database(url) as db:
        twin = Twin(plant, catalogue, orders, scenario, seed)
        began = time.perf_counter()
        baseline = Scheduler(plant, catalogue, PlanStore(connect(db)[1]), options, seed=seed)
        baseline.run(twin, scenario.end_s, until_done(twin))
        base = collect(scenario, seed, plant, baseline, twin, time.perf_counter() - began, False).kpis

    with scratch_database(url) as db:
        twin = Twin(plant, catalogue, orders, scenario, seed)
        audit = RepeatAudit(twin)
        began = time.perf_counter()
        first = Scheduler(plant, catalogue, PlanStore(connect(db)[1]), options, seed=seed)
        first.run(audit, kill_s)
        while not (first.released_open and twin.agvs.loaded.any()) and twin.now_s < scenario.end_s:
            first.cycle(audit, scenario.end_s)  # on until trucks are on the line and parts on the way
        at_kill = {"plant_s": twin.now_s, "trucks_on_line": first.released_open, "machines_running":
                   len(first.shops.busy), "agvs_carrying": int(twin.agvs.loaded.sum())}
        del first

        clock = time.perf_counter()
        store = PlanStore(connect(db)[1])
        saved = store.load()
        load_ms = (time.perf_counter() - clock) * 1000
        clock = time.perf_counter()
        second = Scheduler(plant, catalogue, store, options, seed=seed)
        build_ms = (time.perf_counter() - clock) * 1000
        clock = time.perf_counter()
        second.resume(saved)
        resume_ms = (time.perf_counter() - clock) * 1000
        clock, waited_from = time.perf_counter(), twin.now_s
        while second.reports.waiting:
            second.cycle(audit, scenario.end_s)
        seat_ms = (time.perf_counter() - clock) * 1000
        waited_s = twin.now_s - waited_from
        second.run(audit, scenario.end_s, until_done(twin))
        after = collect(scenario, seed, plant, second, twin, time.perf_counter() - began, False).kpis
    return {
        "scale": scale, "machines": len(plant.machines), "agvs": len(plant.fleet.agv_ids),
        "at_restart": at_kill | {"orders_in_store": len(saved.orders), "operations_running":
                                 len(saved.running_operations), "tasks_open": len(saved.open_tasks)},
        "read_store_ms": round(load_ms, 1), "build_scheduler_ms": round(build_ms, 1),
        "resume_ms": round(resume_ms, 1), "seat_fleet_ms": round(seat_ms, 1),
        "agvs_stood_plant_s": waited_s,
        "told_twice": audit.repeats(),
        "kpis": {"uninterrupted": {k: base[k] for k in KEYS}, "restarted": {k: after[k] for k in KEYS}},
    }


def read_back(history: int, url: str | None) -> dict[str, Any]:
    """Seconds to read the plan back from a store of `history` delivered orders and 300 open ones."""
    day_s = DAY_S // 220
    now = (history + 300) * day_s
    rows = []
    for k in range(history + 300):
        delivered = k < history
        placed = k * day_s
        steps = [["placed", placed, ""], ["sequenced", placed, "line slot 1"]]
        if delivered:
            steps.append(["delivered", placed + 3 * DAY_S, ""])
        times = dict.fromkeys(("placed_s", "requested_s", "slot_s", "parts_ready_s", "earliest_s"), placed)
        rows.append(times | {"id": f"H{k:07d}", "customer": "c", "configuration": '{"family": "mixer"}',
                             "priority": 0, "promised_s": placed + 5 * DAY_S, "slot": k, "binding": "",
                             "at_risk": False, "status": "delivered" if delivered else "sequenced",
                             "history": json.dumps(steps)})
    with scratch_database(url) as db:
        _, sessions = connect(db)
        with sessions.begin() as session:
            for k in range(0, len(rows), 20_000):
                session.execute(insert(PlanOrderRow), rows[k : k + 20_000])
        store = PlanStore(sessions)
        timings = {}
        for name, now_s in (("everything_s", None), ("open_and_recent_s", now)):
            began = time.perf_counter()
            saved = store.load(now_s=now_s)
            timings[name] = round(time.perf_counter() - began, 3)
            timings[name.replace("_s", "_orders")] = len(saved.orders)
    return {"delivered_orders_in_store": history, "open_orders": 300} | timings


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--scales", default="0.25,0.5,1.0")
    parser.add_argument("--kill-hours", type=float, default=54.0, help="plant hours before the restart")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--url", default=None, help="PostgreSQL server URL (default: a SQLite file)")
    parser.add_argument("--history", type=int, default=200_000, help="delivered orders in the read-back test")
    args = parser.parse_args()
    kill_s = int(args.kill_hours * 3600)
    if not 0 < kill_s < 5 * DAY_S:
        parser.error("--kill-hours must lie within the run (0 to 120)")
    results = [one_scale(float(s), kill_s, args.seed, args.url) for s in args.scales.split(",") if s]
    print(json.dumps({"benchmark": "restart", "machine": platform.machine(), "kill_hours": args.kill_hours,
                      "database": "postgresql" if args.url else "sqlite", "scales": results,
                      "read_back": read_back(args.history, args.url)}, indent=1))


if __name__ == "__main__":
    main()
