"""A plant day through VDA 5050: the scheduler with machines as devices and AGVs as VDA 5050 vehicles.

What `mixflow demo --mqtt` runs, measured: the reference plant at `--scale` (0.25: 510 machines, 180
AGVs) with `--days` of orders, run `--hours` plant hours (24: one plant day) two ways on the same seed:

  in_process  the baseline: the scheduler on the twin, no I/O
  vda5050     the scheduler through the local Mosquitto: machines and the line played as devices by a
              `connect devices` process in lock step with the gateway, the AGVs as VDA 5050 vehicles of
              two makers in a `connect vda-vehicles --lockstep` process behind master control (state on
              every event and every 30 plant seconds, instant pick and drop as the twin has them)

With `--fleet mixflow` the second run has mixflow's own fleet device instead of VDA 5050 (the path
`demo --mqtt` took before), for the cost of one against the other. Figures: whether every KPI agrees,
the KPIs that differ, wall time of each run and per plant clock step, the messages (gateway clock
steps and device messages; VDA 5050 orders, order updates, instant actions, states; lost, rejected,
invalid; steps the vehicles did not report done in time; Sparkplug B births and machine states) and
the load average while it ran (the box is shared). Prints one JSON.

    python benchmarks/vda_plant_day.py [--scale 0.25] [--hours 24] [--days 1] [--seed 0] [--fleet vda5050]
"""

from __future__ import annotations

import argparse
import json
import os
import time
from typing import Any

from mixflow.cli.connect import compare_over_mqtt
from mixflow.connect.broker import Broker
from mixflow.twin import Scenario

SHOWN = ("orders", "delivered", "agv_steps", "agv_tasks", "faults", "line_stops", "agv_collisions")
"""KPIs shown in the output (all of them are compared)."""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=0.25)
    parser.add_argument("--hours", type=float, default=24.0, help="plant hours run both ways")
    parser.add_argument("--days", type=int, default=1, help="days of order arrivals")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--fleet", choices=("vda5050", "mixflow"), default="vda5050")
    parser.add_argument("--broker", default="127.0.0.1:1883", help="host:port of the local Mosquitto")
    parser.add_argument("--json", action="store_true", help="(always JSON; kept for the common interface)")
    args = parser.parse_args()
    host, port = args.broker.rsplit(":", 1)
    load_before = os.getloadavg()
    began = time.perf_counter()
    result = compare_over_mqtt(
        Broker(host, int(port)),
        Scenario(scale=args.scale, days=args.days),
        args.seed,
        int(args.hours * 3600),
        args.fleet,
    )
    steps = result["gateway"]["round_trips"]
    out: dict[str, Any] = {
        "scale": args.scale,
        "plant_hours": args.hours,
        "days_of_orders": args.days,
        "seed": args.seed,
        "fleet": args.fleet,
        "same_kpis": result["same_kpis"],
        "differing": result["differing"],
        "in_process_s": result["in_process_s"],
        "through_broker_s": result["over_mqtt_s"],
        "wall_ratio": round(result["over_mqtt_s"] / max(result["in_process_s"], 1e-9), 1),
        "clock_steps": steps,
        "ms_per_clock_step": round(1000 * result["over_mqtt_s"] / max(steps, 1), 2),
        "gateway": result["gateway"],
        "vda5050": result.get("vda5050"),
        "sparkplug": result.get("sparkplug"),
        "kpis": {k: result["in_process"].get(k) for k in SHOWN},
        "load_average": {
            "before": [round(x, 2) for x in load_before],
            "after": [round(x, 2) for x in os.getloadavg()],
        },
        "wall_s": round(time.perf_counter() - began, 1),
    }
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
