"""Fault benchmark (issue 27): connect without loss, at the plant's rate, measured from outside.

Each fault runs on its own private Mosquitto (persistent, with the per-session queue that `mixflow connect
provision --broker-conf` writes for these devices: a 10-minute outage of the busiest shard, x1.5),
a fresh PostgreSQL schema and a real `mixflow connect gateway` process, with the plant's devices as
paho-mqtt clients publishing QoS 1 telemetry (2,040 machines at 1 Hz + 720 AGVs at 5 Hz = 5,640
msg/s; `--rate-scale` scales the device counts). Per run: what the broker acknowledged to the devices
against what is stored, lost (acknowledged, neither stored nor quarantined as a dead letter),
duplicate rows, and recovery_s, from the fault's end until the gateway stores at the offered rate
again. Targets: 0 lost, 0 duplicates, recovery within 10 s.

Faults: broker_restart (SIGTERM, down 5 s, same port and data), gateway_kill (kill -9, down 10
minutes; `--minutes`), device_reboot (a quarter of the devices: seq again from 1, boot + 1),
poison_message (a metric name PostgreSQL refuses), database_outage (connections reset and refused,
60 s). Baseline: the gateway kill against a broker with Mosquitto's default per-session queue
(max_queued_messages 1000), which drops what does not fit, silently, as the issue reports.

The broker saves its database every 30 s here (tests: 2 s): with millions of queued messages each
save stops Mosquitto for seconds, and a SIGTERM saves everything anyway.

    python benchmarks/faults.py [--json] [--minutes 10] [--rate-scale 1.0] [--faults a,b] [--pg URL]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the harness is shared with tests/faults

from mixflow.connect.mosquitto import queue_limit
from tests.faults.harness import FAULTS, PLANT, FaultReport, Phases, run_fault

AUTOSAVE_S = 30
DEFAULT_QUEUE = 1000  # Mosquitto's max_queued_messages when not configured


def phases_for(fault: str, minutes: float, db_outage_s: float) -> Phases:
    if fault == "gateway_kill":
        hold = minutes * 60
        return Phases(warmup_s=10, hold_s=hold, after_s=30, drain_s=max(120.0, 2 * hold), stall_s=30)
    if fault == "database_outage":
        return Phases(warmup_s=10, hold_s=db_outage_s, after_s=30, drain_s=180, stall_s=30)
    if fault == "broker_restart":
        return Phases(warmup_s=10, hold_s=5, after_s=30, drain_s=120, stall_s=30)
    return Phases(warmup_s=10, hold_s=0, after_s=30, drain_s=60, stall_s=20)


def print_table(reports: list[FaultReport]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="connect faults at the plant's rate (target: 0 lost, 0 dup, recovery <= 10 s)")
    for name in ("fault", "held s", "msg/s", "acked", "stored", "lost", "dup", "quarantined", "recovery s"):
        table.add_column(name, justify="left" if name == "fault" else "right", no_wrap=True)
    table.add_column("catch-up s", justify="right", no_wrap=True)
    table.add_column("ok", no_wrap=True)
    for r in reports:
        table.add_row(
            r.fault,
            f"{r.hold_s:g}",
            f"{r.offered_msgs_per_s:,.0f}",
            f"{r.acked:,}",
            f"{r.stored:,}",
            f"{r.lost:,}",
            f"{r.duplicates:,}",
            f"{r.quarantined:,}",
            "never" if r.recovery_s is None else f"{r.recovery_s:.1f}",
            "never" if r.catch_up_s is None else f"{r.catch_up_s:.1f}",
            "yes" if r.passed else "NO",
        )
    console = Console(width=None if sys.stdout.isatty() else 160)
    console.print(table)
    for r in reports:
        if r.lost_by_device or r.dead_letters:
            console.print(f"{r.fault}: dead letters {r.dead_letters}, worst devices {r.lost_by_device}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--json", action="store_true", help="a JSON list, one row per fault, instead of a table"
    )
    parser.add_argument("--minutes", type=float, default=10.0, help="how long the gateway stays killed")
    parser.add_argument("--rate-scale", type=float, default=1.0, help="devices as a share of the plant's")
    parser.add_argument("--db-outage-s", type=float, default=60.0, help="how long the database is away")
    parser.add_argument("--faults", default=",".join(FAULTS), help=f"comma-separated subset of {FAULTS}")
    parser.add_argument("--no-baseline", action="store_true", help="skip the default-queue baseline run")
    parser.add_argument(
        "--pg", default=os.environ.get("MIXFLOW_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
    )
    parser.add_argument("--keep", default=None, help="folder for the logs of each run (default: temporary)")
    args = parser.parse_args()
    unknown = set(args.faults.split(",")) - set(FAULTS)
    if unknown:
        parser.error(f"unknown faults {sorted(unknown)}; choose from {FAULTS}")
    profile = PLANT.scaled(args.rate_scale) if args.rate_scale != 1.0 else PLANT

    def say(line: str) -> None:
        print(f"[{time.strftime('%H:%M:%S')}] {line}", file=sys.stderr, flush=True)

    # the per-session queue `connect provision --broker-conf` writes for these devices (sized for a
    # 10-minute gateway outage), so the run also checks that sizing; longer outages get more
    queue = queue_limit(profile.devices())["max_queued_messages"] * max(1.0, args.minutes / 10)
    queue = int(queue)
    reports: list[FaultReport] = []
    with tempfile.TemporaryDirectory(prefix="mixflow-faults-") as scratch:
        folder = Path(args.keep or scratch)
        for fault in args.faults.split(","):
            phases = phases_for(fault, args.minutes, args.db_outage_s)
            reports.append(
                run_fault(
                    fault,
                    profile,
                    phases,
                    folder / fault,
                    args.pg,
                    max_queued_messages=queue,
                    autosave_interval_s=AUTOSAVE_S,
                    say=say,
                )
            )
            say(json.dumps(reports[-1].as_row()))
        if not args.no_baseline and "gateway_kill" in args.faults.split(","):
            hold = min(60.0, args.minutes * 60)
            phases = Phases(warmup_s=10, hold_s=hold, after_s=30, drain_s=120, stall_s=20)
            reports.append(
                run_fault(
                    "gateway_kill",
                    profile,
                    phases,
                    folder / "baseline",
                    args.pg,
                    max_queued_messages=DEFAULT_QUEUE,
                    autosave_interval_s=AUTOSAVE_S,
                    label="gateway_kill (baseline: default queue 1000)",
                    say=say,
                )
            )
    if args.json:
        print(json.dumps([report.as_row() for report in reports]))
    else:
        print_table(reports)


if __name__ == "__main__":
    main()
