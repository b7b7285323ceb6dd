"""Plants as files at scale: reading, validating and simulating a plant file; prints JSON.

    .venv/bin/python benchmarks/plant_file.py [--sizes 1000,2500,5000,10000] [--simulate-days 1]

Measured, each against the built-in generator in the same run (the baseline: the same plant built in
code instead of read from a file):
- `validate`: `mixflow plant validate` of the reference plant exported at scale 1.0, as a whole
  process (median of three), next to `mixflow plant describe --scale 1.0` (the generator path);
- `load`: reading a synthetic plant file of about N machines (AGVs 0.3 N, three lines) against
  building it, for each size, so the cost per machine can be read off;
- `simulate`: one plant-day (orders for one day, no drain) of the 5,000-machine, 1,500-AGV, 3-line
  synthetic plant read from its file, against one plant-day of the reference plant at scale 1.0 built
  by the generator; both with the reference truck catalogue.
Targets (the plant-format issue): validate < 2 s; the 5,000-machine plant loads in < 5 s and
simulates a plant-day in < 5 min.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from mixflow.model.plant_file import load_plant, write_plant
from mixflow.reference.synthetic import synthetic_plant
from mixflow.twin.experiment import run
from mixflow.twin.scenario import Scenario

MIXFLOW = [sys.executable, "-m", "mixflow"]


def _process_s(argv: list[str], runs: int = 3) -> float:
    """Median wall seconds of a whole `mixflow` process."""
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run([*MIXFLOW, *argv], check=True, capture_output=True)
        times.append(time.perf_counter() - started)
    return round(statistics.median(times), 3)


def _median_s(action: object, runs: int = 3) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        action()  # type: ignore[operator]
        times.append(time.perf_counter() - started)
    return round(statistics.median(times), 4)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="1000,2500,5000,10000")
    parser.add_argument("--simulate-days", type=int, default=1)
    parser.add_argument("--skip-simulate", action="store_true")
    args = parser.parse_args()
    out: dict[str, object] = {}
    with tempfile.TemporaryDirectory() as tmp:
        reference = Path(tmp) / "reference.yaml"
        subprocess.run(
            [*MIXFLOW, "plant", "export", "--scale", "1.0", "-o", str(reference)],
            check=True,
            capture_output=True,
        )
        out["validate"] = {
            "file_bytes": reference.stat().st_size,
            "validate_process_s": _process_s(["plant", "validate", str(reference), "--json"]),
            "baseline_describe_generator_process_s": _process_s(
                ["plant", "describe", "--scale", "1.0", "--json"]
            ),
            "target_s": 2.0,
        }
        rows = []
        for size in (int(s) for s in args.sizes.split(",") if s):
            plant = synthetic_plant(machines=size, agvs=round(0.3 * size), lines=3)
            path = Path(tmp) / f"synthetic-{size}.yaml"
            write_s = _median_s(lambda plant=plant, path=path: write_plant(plant, path), 1)
            load_s = _median_s(lambda path=path: load_plant(path))
            build_s = _median_s(
                lambda size=size: synthetic_plant(machines=size, agvs=round(0.3 * size), lines=3)
            )
            rows.append(
                {
                    "machines": len(plant.machines),
                    "agvs": len(plant.fleet.agv_ids),
                    "lines": len(plant.lines),
                    "grid_cells": plant.floor.width * plant.floor.height,
                    "file_bytes": path.stat().st_size,
                    "write_s": write_s,
                    "load_s": load_s,
                    "baseline_build_s": build_s,
                    "load_us_per_machine": round(1e6 * load_s / len(plant.machines), 1),
                }
            )
        out["load"] = rows
        out["load_target_s_at_5000"] = 5.0
        if not args.skip_simulate:
            big = Path(tmp) / "synthetic-5000.yaml"
            if not big.exists():
                write_plant(synthetic_plant(5000, 1500, 3), big)
            simulate = []
            for name, scenario in (
                (
                    "synthetic 5,000 machines, 1,500 AGVs, 3 lines (file)",
                    Scenario(days=args.simulate_days, drain_days=0, plant_file=str(big)),
                ),
                (
                    "baseline: reference scale 1.0 (generator)",
                    Scenario(scale=1.0, days=args.simulate_days, drain_days=0),
                ),
            ):
                started = time.perf_counter()
                result = run(scenario, seed=0)
                wall = time.perf_counter() - started
                simulate.append(
                    {
                        "plant": name,
                        "plant_days": args.simulate_days,
                        "wall_s": round(wall, 1),
                        "orders": result.kpis.get("orders"),
                        "delivered": result.kpis.get("delivered"),
                        "agv_collisions": result.kpis.get("agv_collisions"),
                    }
                )
            out["simulate"] = simulate
            out["simulate_target_s"] = 300
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
