"""Whole-plant benchmark: wall time of N plant-days as the plant grows, and what the plan buys.

For each scale (default 0.25, 0.5, 1.0) it simulates `--days` days of orders at 1-second AGV steps
(the run drains those orders afterwards) with the cloud scheduler in charge and prints the wall time
and KPIs. In the same run, at `--compare-scale`, it sets our plan (the schedule solver's
machine orders, slot-ordered pull rule where the plan has nothing ready) against the pull rule alone
(no shop solver), the plain baseline (first-come-first-served dispatch) and the plan without spacers on
the line (`max_spacing=0`), and the plant without and with a breakdown storm (10% of the cab shop down
for an hour on day 1). Prints one JSON document.

    .venv/bin/python benchmarks/twin.py [--scales 0.25,0.5,1.0] [--days 5] [--compare-scale 0.25]
"""

from __future__ import annotations

import argparse
import json
import platform
import time

from mixflow.model import DAY_S
from mixflow.plan import PlanOptions
from mixflow.twin import Scenario, Storm, run

KEYS = (
    "orders",
    "delivered",
    "open_orders",
    "order_to_delivery_days",
    "promises_kept",
    "orders_flagged_at_risk",
    "line_stops",
    "line_stop_causes",
    "line_stop_minutes",
    "line_pitches",
    "agv_collisions",
    "agv_refused_moves",
    "agv_steps",
    "agv_utilisation",
    "agv_empty_travel",
    "energy_kwh_per_unit",
    "faults",
    "machines",
    "agvs",
    "simulated_days",
    "wall_s",
    "cpu_s",
    "planner_ms_per_decision",
    "shop_plans",
)


def _row(scenario: Scenario, seed: int, options: PlanOptions | None = None) -> dict[str, object]:
    began = time.perf_counter()
    result = run(scenario, seed, options=options)
    row = {k: result.kpis[k] for k in KEYS}
    row["scale"] = scenario.scale
    row["wall_s_total"] = round(time.perf_counter() - began, 2)
    days = max(1e-9, float(result.kpis["simulated_days"]))
    row["wall_s_per_plant_day"] = round(row["wall_s_total"] / days, 2)
    row["cpu_s_per_plant_day"] = round(float(result.kpis["cpu_s"]) / days, 2)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scales", default="0.25,0.5,1.0")
    parser.add_argument("--days", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--compare-scale", type=float, default=0.25)
    args = parser.parse_args()
    scales = [float(s) for s in args.scales.split(",") if s]
    growth = [_row(Scenario(scale=s, days=args.days), args.seed) for s in scales]
    base = Scenario(scale=args.compare_scale, days=args.days)
    storm = Scenario(
        scale=args.compare_scale, days=args.days, storms=(Storm("cab", 0.10, DAY_S + 9 * 3600, 3600),)
    )
    comparison = {
        "plan_slot_dispatch": _row(base, args.seed),
        "plan_pull_rule_only": _row(base, args.seed, PlanOptions(shop_solver="none")),
        "baseline_fifo_dispatch": _row(base, args.seed, PlanOptions(dispatch="fifo")),
        "plan_without_spacers": _row(base, args.seed, PlanOptions(max_spacing=0)),
        "plan_with_breakdown_storm": _row(storm, args.seed),
    }
    print(
        json.dumps(
            {
                "benchmark": "twin",
                "machine": f"{platform.processor() or platform.machine()}, shared 2-core box (loaded)",
                "days": args.days,
                "agv_step_s": 1,
                "growth": growth,
                "comparison_scale": args.compare_scale,
                "comparison": comparison,
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
