"""A 64-run fleet sweep on a local Ray against the process pool (the baseline), with the same workers.

8 fleet sizes x 2 MTBF factors x 4 seeds of one plant day (no drain) at a small scale, run first in
`mixflow.twin.sweep`'s process pool, then as Ray tasks on a local Ray started here with as many CPUs
as the pool has processes. Checks that both give the same rows (wall times aside) and prints the two
wall times and their ratio (Ray over pool; Ray's time includes starting and stopping it).

    .venv/bin/python benchmarks/sweep_ray.py [--scale 0.03] [--workers 2] [--json]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import time
from typing import Any

import ray

from mixflow.reference.sources import load_sources
from mixflow.twin import Result, Scenario
from mixflow.twin.sweep import sweep
from mixflow.twin.sweep_report import sweep_row

FACTORS = (0.5, 1.0)
SEEDS = (0, 1, 2, 3)
FLEETS = 8


def grid(scale: float) -> list[Scenario]:
    """8 fleet sizes from a third of what the floor parks up to all of it, under two breakdown rates."""
    plant, _ = load_sources(None, None, scale, 0)
    parks = len(plant.floor.parking)
    low = max(1, parks // 3)
    fleets = sorted({round(low + (parks - low) * i / (FLEETS - 1)) for i in range(FLEETS)})
    if len(fleets) != FLEETS:
        raise SystemExit(f"scale {scale} parks {parks} AGVs: too few for {FLEETS} fleet sizes")
    return [
        Scenario(scale=scale, days=1, drain_days=0, agvs=agvs, mtbf_factor=factor)
        for agvs in fleets
        for factor in FACTORS
    ]


def rows(results: list[Result]) -> list[dict[str, Any]]:
    return [{k: v for k, v in sweep_row(r).items() if k != "wall_s"} for r in results]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scale", type=float, default=0.03)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--json", action="store_true", help="one JSON document only")
    args = parser.parse_args()
    scenarios = grid(args.scale)
    load_before = os.getloadavg()[0]

    began = time.perf_counter()
    in_pool = sweep(scenarios, SEEDS, workers=args.workers)
    pool_s = time.perf_counter() - began

    began = time.perf_counter()
    ray.init(
        address="local",
        num_cpus=args.workers,
        include_dashboard=False,
        logging_level=logging.ERROR,
        log_to_driver=False,
    )
    ray_start_s = time.perf_counter() - began
    try:
        on_ray = sweep(scenarios, SEEDS, workers=args.workers, ray_address="local")
    finally:
        ray.shutdown()
    ray_s = time.perf_counter() - began

    doc = {
        "scenarios": len(in_pool),
        "same_results": rows(in_pool) == rows(on_ray),
        "pool_s": round(pool_s, 1),
        "ray_s": round(ray_s, 1),
        "ratio": round(ray_s / pool_s, 2),
        "ray_start_s": round(ray_start_s, 1),
        "workers": args.workers,
        "scale": args.scale,
        "fleets": sorted({s.agvs for s in scenarios if s.agvs is not None}),
        "mtbf_factors": list(FACTORS),
        "seeds": list(SEEDS),
        "run_s_mean": round(sum(r.kpis["wall_s"] for r in in_pool) / len(in_pool), 2),
        "load_1m": [round(load_before, 2), round(os.getloadavg()[0], 2)],
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "ray": ray.__version__,
    }
    if args.json:
        print(json.dumps(doc))
        return
    for key, value in doc.items():
        print(f"{key}: {value}")


if __name__ == "__main__":
    main()
