"""Materials benchmark: the plant on its own supply, a late supplier, and how many AGVs it needs.

In one run, at `--scale` (default 0.25) over `--days` plant-days (default 5), with the cloud scheduler
in charge of the twin:
- nominal: the plant with its suppliers, stock and every internal flow on AGVs (the reference plant's
  materials); against the baseline of the same plant without materials modelled (bought parts after
  the catalogue's lead time from bottomless racks, AGVs carrying line calls only), so the cost of
  material is in the same run;
- late supplier: the supplier of `--late-item` announces on day `--late-from` that it delivers
  `--late-days` late; which orders are flagged, how soon after the announcement, and whether every
  other order keeps its promise;
- fleet sweep (`--agvs`, comma-separated; empty: skipped): throughput, order-to-delivery and line stops
  as the fleet shrinks, and the knee (the smallest fleet keeping p95 order-to-delivery within 5 days).

    .venv/bin/python benchmarks/materials.py [--scale 0.25] [--days 5] [--agvs 4,8,16,45,90,180] --json
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from typing import Any

from mixflow.model import DAY_S
from mixflow.plan import Scheduler
from mixflow.twin import Scenario, SupplierDelay, Twin, run
from mixflow.twin.sweep import sweep
from mixflow.twin.sweep_report import find_knee, sweep_row

KEYS = (
    "orders", "delivered", "order_to_delivery_days", "promises_kept", "orders_flagged_at_risk", "flagged_why",
    "line_stops", "line_stop_minutes", "material_overdue", "agv_collisions", "agv_refused_moves", "agvs",
    "agv_utilisation", "agv_empty_travel", "agv_tasks", "agv_tasks_per_hour", "agv_tasks_by_kind",
    "agv_task_wait_s", "material_wait_h", "stockouts", "rack_empty_at_pickup", "purchase_orders",
    "supplier_on_time", "inventory_value", "days_of_supply", "peak_power_kw", "peak_15min_kw",
    "energy_kwh", "energy_kwh_per_unit", "truck_charging", "agv_steps", "simulated_days", "wall_s", "cpu_s",
)


def _row(kpis: dict[str, Any]) -> dict[str, Any]:
    return {k: kpis.get(k) for k in KEYS}


def _without_materials(scale: float, days: int) -> dict[str, Any]:
    """The baseline: the same plant with no supply modelled (`Scenario.materials=False`)."""
    return _row(run(Scenario(scale=scale, days=days, materials=False), 0).kpis)


def _late(scale: float, days: int, item: str, late_days: float, from_day: float) -> dict[str, Any]:
    delay = SupplierDelay(item, round(late_days * DAY_S), round(from_day * DAY_S))
    seen: dict[str, Scheduler] = {}

    def keep(_now: int, scheduler: Scheduler, _twin: Twin) -> bool:
        seen["s"] = scheduler
        return True

    kpis = run(Scenario(scale=scale, days=days, supplier_delays=(delay,)), 0, on_progress=keep).kpis
    book = seen["s"].kpis
    why = f"supplier late: {item}"
    late = {o: at for o, (at, reason) in book.flagged.items() if reason == why}
    others = [o for o in book.delivered_s if o not in book.flagged]
    kept = sum(1 for o in others if book.delivered_s[o] <= book.promised_s[o])
    return {
        **_row(kpis),
        "late_item": item,
        "announced_s": delay.from_s,
        "flagged_for_the_supplier": len(late),
        "flag_after_announcement_s": (
            {"min": min(late.values()) - delay.from_s, "max": max(late.values()) - delay.from_s}
            if late
            else None
        ),
        "others_kept": round(kept / len(others), 4) if others else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=0.25)
    parser.add_argument("--days", type=int, default=5)
    parser.add_argument("--late-item", default="e_drive")
    parser.add_argument("--late-days", type=float, default=2.0)
    parser.add_argument("--late-from", type=float, default=1.0)
    parser.add_argument("--agvs", default="", help="fleet sizes of the sweep (empty: no sweep)")
    parser.add_argument("--sweep-days", type=int, default=2)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    began = time.perf_counter()
    out: dict[str, Any] = {
        "machine": platform.processor() or platform.machine(),
        "scale": args.scale,
        "days": args.days,
        "nominal": _row(run(Scenario(scale=args.scale, days=args.days), 0).kpis),
        "baseline_without_materials": _without_materials(args.scale, args.days),
        "late_supplier": _late(args.scale, args.days, args.late_item, args.late_days, args.late_from),
    }
    fleets = [int(a) for a in args.agvs.split(",") if a.strip()]
    if fleets:
        scenarios = [Scenario(scale=args.scale, days=args.sweep_days, agvs=a) for a in fleets]
        rows = [sweep_row(r) for r in sweep(scenarios, (0,), args.workers)]
        knee = find_knee(rows)
        out["sweep"] = {"days": args.sweep_days, "rows": rows, "knee_agvs": knee.agvs}
    out["benchmark_wall_s"] = round(time.perf_counter() - began, 1)
    print(json.dumps(out, indent=None if args.json else 2))


if __name__ == "__main__":
    main()
