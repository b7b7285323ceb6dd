"""Connect benchmark: end-to-end ingestion through the real Mosquitto, validation and storage included.

Runs, in one go and on the same broker:
1. the reference plant profile (2,040 machines at 1 Hz + 720 AGVs at 5 Hz = 5,640 msg/s), mixflow's
   gateway and the baseline (aiomqtt's message iterator feeding the same validation and storage);
2. a ladder of offered rates (machines at 10 Hz) to find the highest ingestion rate with zero loss,
   with one gateway and with two gateways sharing the shards;
3. optionally the same top rate with PostgreSQL storage (COPY) when --pg is given.
Each run prints the issue's fields (sent, received, lost, msgs_per_s, latency p50/p99, stored) plus
CPU microseconds per message, which stay meaningful on a machine shared with other work.
ThingsBoard's published figures (1,100 msg/s on 4 cores, 11,000 msg/s on 36 cores, with storage
and rules; thingsboard.io "performance tests" page) are quoted for reference, not re-measured.

    python benchmarks/connect.py [--broker mqtt://127.0.0.1:1883] [--seconds 10] [--pg postgresql://...]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from mixflow.connect.bench import BenchSpec, run_bench
from mixflow.connect.broker import Broker, parse_broker

BROKER_PID_FILE = Path("/run/mosquitto/mosquitto.pid")


def broker_cpu_s() -> float | None:
    """CPU seconds the local Mosquitto has used so far (None when it is not the local system broker)."""
    try:
        pid = int(BROKER_PID_FILE.read_text().split()[0])
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, ValueError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measured(broker: Broker, spec: BenchSpec) -> dict[str, Any]:
    """One run, plus the broker's CPU per message and what the whole chain costs per message.

    `chain_cpu_us_per_msg` = devices + broker + gateway (with SQLite storage, which runs inside the
    gateway); `msgs_per_s_on_2_free_cores` = 2 s of CPU per second / that cost: the rate this chain
    would sustain with the machine to itself, an estimate that does not depend on the other load.
    """
    before = broker_cpu_s()
    result = run_bench(broker, spec)
    after = broker_cpu_s()
    if before is not None and after is not None and result["received"]:
        broker_us = (after - before) * 1e6 / result["received"]
        result["broker_cpu_us_per_msg"] = round(broker_us, 1)
        chain = broker_us + result["gateway_cpu_us_per_msg"] + result["device_cpu_us_per_msg"]
        result["chain_cpu_us_per_msg"] = round(chain, 1)
        result["msgs_per_s_on_2_free_cores"] = round(2e6 / chain)
    return result


THINGSBOARD = {
    "msgs_per_s_4_cores": 1100,
    "msgs_per_s_36_cores": 11000,
    "source": "thingsboard.io performance tests",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--broker", default="mqtt://127.0.0.1:1883")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--plant-seconds", type=float, default=20.0)
    parser.add_argument("--rates", default="10000,20000,30000,40000", help="offered msg/s of the ladder")
    parser.add_argument("--pg", default=None, help="PostgreSQL URL for the storage run (optional)")
    args = parser.parse_args()
    broker = parse_broker(args.broker)
    started = time.time()
    report: dict[str, object] = {
        "machine": {"cpus": os.cpu_count(), "load_average_at_start": os.getloadavg()},
        "thingsboard_published": THINGSBOARD,
    }

    plant = BenchSpec(2040, 1.0, args.plant_seconds, agvs=720, agv_rate_hz=5.0)
    report["plant"] = measured(broker, plant)
    report["plant_baseline"] = measured(
        broker, BenchSpec(2040, 1.0, args.plant_seconds, agvs=720, baseline=True)
    )
    plant_ok = report["plant"]
    assert isinstance(plant_ok, dict)
    report["plant_target_met"] = plant_ok["lost"] == 0 and plant_ok["latency_ms_p99"] < 100

    ladder = []
    for rate in (int(r) for r in args.rates.split(",")):
        ladder.append(measured(broker, BenchSpec(rate // 10, 10.0, args.seconds)))
    top = max(int(r) for r in args.rates.split(","))
    ladder.append(measured(broker, BenchSpec(top // 10, 10.0, args.seconds, gateways=2, publishers=2)))
    report["ladder"] = ladder
    clean = [run for run in ladder if run["lost"] == 0]
    best = max(clean, key=lambda run: run["msgs_per_s"]) if clean else None
    report["max_sustained_msgs_per_s"] = best["msgs_per_s"] if best else 0
    report["max_target_met"] = bool(best and best["msgs_per_s"] >= 30000)
    gateway_us = min(run["gateway_cpu_us_per_msg"] for run in ladder)
    report["gateway_msgs_per_s_per_free_core"] = round(1e6 / gateway_us) if gateway_us else None
    if args.pg:
        report["postgresql"] = measured(broker, BenchSpec(top // 10, 10.0, args.seconds, db_url=args.pg))
    estimates = [run["msgs_per_s_on_2_free_cores"] for run in ladder if "msgs_per_s_on_2_free_cores" in run]
    report["chain_msgs_per_s_on_2_free_cores"] = min(estimates) if estimates else None
    report["load_average_at_end"] = os.getloadavg()
    report["wall_s"] = round(time.time() - started, 1)
    json.dump(report, sys.stdout)
    print()


if __name__ == "__main__":
    main()
