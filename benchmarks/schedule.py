"""Benchmark `mixflow.schedule`: ours vs plain CP-SAT on the shared job-shop instances, and the plant day.

Ours is `solve(method="auto")` (dispatch + tabu search + CP-SAT / LNS); the baseline is plain CP-SAT
(one interval per operation and machine, no-overlap, minimise makespan, no hint) with the same time
limit and workers. Gaps are to the best known upper bound in ../shared/benchmarks/jobshop/bks.csv.
The plant part builds the feeder-shop day of the reference plant at each scale, times the first
feasible schedule (dispatch), the objective after the time limit against the computed lower bound,
and the repair after one breakdown of the busiest machine. Prints one JSON document.

Full run (hours on a 2-core machine):
    .venv/bin/python benchmarks/schedule.py
Reduced run (what the issue report quotes):
    .venv/bin/python benchmarks/schedule.py --instances ta01-ta05,ta21-ta25,ta31-ta35,mk01-mk07 \\
        --plant-scales 0.25,0.5,1.0
Robustness over seeds (each instance once per seed; `runs_at_bks` counts the runs at best known):
    .venv/bin/python benchmarks/schedule.py --instances mk06,mk07,ta10 --seeds 0-9 --plant-scales ""
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from mixflow.model import DAY_S
from mixflow.reference import build_plant, order_stream, reference_catalogue
from mixflow.schedule import check, solve
from mixflow.schedule.formats import read
from mixflow.schedule.plant import line_slots, plant_day
from mixflow.schedule.repair import Breakdown, repair, with_breakdown

JOBSHOP = Path(__file__).resolve().parents[2] / "shared" / "benchmarks" / "jobshop"


def time_limit_for(row: dict[str, str]) -> float:
    """The issue's time limits: 15x15 10 s, 20x20 30 s, 30x20 and larger 60 s; Brandimarte 10 s."""
    ops = int(row["operations"])
    if row["family"] == "brandimarte" or ops <= 225:
        return 10.0
    if ops <= 400:
        return 30.0
    return 60.0


def expand(spec: str, names: list[str]) -> set[str]:
    """`ta01-ta05,mk01` -> the named instances (ranges by position in bks.csv)."""
    chosen: set[str] = set()
    for part in filter(None, spec.split(",")):
        if "-" in part and part.split("-")[0] in names:
            first, last = part.split("-")
            chosen.update(names[names.index(first) : names.index(last) + 1])
        else:
            chosen.add(part)
    return chosen


def parse_seeds(spec: str) -> list[int]:
    """`0-9` or `0,3,5` -> the seeds (inclusive ranges)."""
    seeds: list[int] = []
    for part in filter(None, spec.split(",")):
        first, _, last = part.partition("-")
        seeds.extend(range(int(first), int(last or first) + 1))
    return seeds


def run_instance(row: dict[str, str], limit: float, workers: int, seeds: list[int]) -> dict[str, object]:
    """Ours and plain CP-SAT on one instance, once per seed. With one seed each side reports that run;
    with several, the makespan of each run, the mean gap and in how many runs it met the best known
    (the figure that shows whether a result is robust or one lucky seed)."""
    data = read(JOBSHOP / row["file"])
    best = int(row["upper_bound"])
    out: dict[str, object] = {"instance": row["instance"], "operations": data.num_operations,
                              "time_limit_s": limit, "bks": best}
    for label, method in (("ours", "auto"), ("cpsat", "cpsat")):
        runs: list[dict[str, Any]] = []
        for seed in seeds:
            try:
                result = solve(data, time_limit=limit, seed=seed, workers=workers, method=method)
            except Exception as failed:  # the baseline may find nothing on the largest instances
                runs.append({"error": str(failed)})
                continue
            report = check(data, result.machine, result.start, result.end)
            runs.append({
                "makespan": result.makespan,
                "gap_pct": round(100 * (result.makespan - best) / best, 2),
                "lower_bound": result.lower_bound,
                "time_s": round(result.time_s, 2),
                "feasible": report.feasible,
            })
        solved = [run for run in runs if "makespan" in run]
        if len(seeds) == 1 or not solved:
            out[label] = runs[0] if len(seeds) == 1 else {"error": runs[0]["error"]}
            continue
        out[label] = {
            "makespan_by_seed": [run.get("makespan") for run in runs],
            "gap_pct": round(float(np.mean([run["gap_pct"] for run in solved])), 2),
            "runs_at_bks": sum(run["makespan"] == best for run in solved),
            "runs": len(runs),
            "feasible": all(run["feasible"] for run in solved),
        }
    print(json.dumps(out), file=sys.stderr, flush=True)
    return out


def warm_up(rows: list[dict[str, str]], plant: bool, workers: int, seed: int) -> float:
    """Compile the numba kernels before anything is timed (a fresh checkout has no cache yet, and the
    first instance would otherwise lose seconds of its limit to compiling): a short solve of the first
    instance of each family, and of a small plant day. Returns the seconds it took."""
    started = time.perf_counter()
    firsts = {row["family"]: row for row in reversed(rows)}
    for row in firsts.values():
        solve(read(JOBSHOP / row["file"]), time_limit=1.0, seed=seed, workers=workers)
    if plant:
        run_plant(0.05, 2.0, workers, seed)
    return round(time.perf_counter() - started, 1)


def run_plant(scale: float, limit: float, workers: int, seed: int) -> dict[str, object]:
    plant = build_plant(scale, seed=seed)
    catalogue = reference_catalogue()
    orders = order_stream(plant, catalogue, days=1, seed=seed)
    day = plant_day(plant, catalogue, line_slots(plant, orders, 3 * DAY_S), seed=seed)
    data = day.data
    first = solve(data, time_limit=limit, seed=seed, workers=workers, method="dispatch")
    best = solve(data, time_limit=limit, seed=seed, workers=workers, method="auto")
    report = check(data, best.machine, best.start, best.end)
    busiest = int(np.bincount(best.machine, minlength=len(data.machines)).argmax())
    now = int(np.median(best.start[best.machine == busiest]))
    breakdown = Breakdown(busiest, now, now + 4 * 3600)
    started = time.perf_counter()
    repair(data, best, breakdown, frozen_s=1800)  # right after the solve, as the plan would
    cold_s = time.perf_counter() - started
    started = time.perf_counter()
    repaired = repair(data, best, breakdown, frozen_s=1800)
    repair_s = time.perf_counter() - started
    broken = with_breakdown(data, breakdown)
    repaired_ok = check(broken, repaired.machine, repaired.start, repaired.end).feasible
    out: dict[str, object] = {
        "scale": scale,
        "machines": len(data.machines),
        "jobs": len(data.jobs),
        "operations": data.num_operations,
        "objective": "weighted_tardiness_s",
        "feasible_s": round(first.time_s, 2),
        "dispatch": first.objective,
        "after_time_limit": best.objective,
        "time_limit_s": limit,
        "lower_bound": best.lower_bound,
        "gap_to_bound_pct": round(100 * best.gap, 1),
        "makespan": best.makespan,
        "feasible": report.feasible,
        "repair_s": round(repair_s, 3),
        "repair_first_call_s": round(cold_s, 3),
        "repair_moved_ops": len(repaired.moved),
        "repair_feasible": repaired_ok,
        "objective_after_repair": repaired.objective,
    }
    print(json.dumps(out), file=sys.stderr, flush=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--instances", default="", help="e.g. ta01-ta05,mk01-mk07 (default: all)")
    parser.add_argument("--time-limit", type=float, default=None, help="override the per-size limits")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--seeds", default="", help="e.g. 0-9: each instance once per seed")
    parser.add_argument("--plant-scales", default="0.25,0.5,1.0")
    parser.add_argument("--plant-time-limit", type=float, default=60.0)
    args = parser.parse_args()
    with (JOBSHOP / "bks.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    rows = [row for row in rows if (JOBSHOP / row["file"]).is_file()]
    if args.instances:
        wanted = expand(args.instances, [row["instance"] for row in rows])
        rows = [row for row in rows if row["instance"] in wanted]
    scales = [float(scale) for scale in filter(None, args.plant_scales.split(","))]
    warm_up_s = warm_up(rows, bool(scales), args.workers, args.seed)
    seeds = parse_seeds(args.seeds) or [args.seed]
    results = [run_instance(row, args.time_limit or time_limit_for(row), args.workers, seeds) for row in rows]
    summary: dict[str, dict[str, float]] = {}
    groups = {"ta01-10 (15x15)": 225, "ta21-30 (20x20)": 400, "ta31-40 (30x15)": 450}
    for label, size in groups.items():
        chosen = [r for r in results if str(r["instance"]).startswith("ta") and r["operations"] == size]
        for side in ("ours", "cpsat"):
            gaps = [r[side]["gap_pct"] for r in chosen if "gap_pct" in r[side]]  # type: ignore[index,operator]
            if gaps:
                summary.setdefault(label, {})[f"{side}_mean_gap_pct"] = round(float(np.mean(gaps)), 2)
                summary[label]["instances"] = len(gaps)
    brandimarte = [r for r in results if str(r["instance"]).startswith("mk")]
    for side in ("ours", "cpsat"):
        if brandimarte:
            met = 0
            for r in brandimarte:
                ran: dict[str, Any] = r[side]  # type: ignore[assignment]
                met += int(ran.get("runs_at_bks", ran.get("makespan") == r["bks"]))
            runs = len(seeds) * len(brandimarte)
            key = f"{side}_at_bks" if len(seeds) == 1 else f"{side}_runs_at_bks_of_{runs}"
            summary.setdefault("mk01-07", {})[key] = met
    plant = [run_plant(scale, args.plant_time_limit, args.workers, args.seed) for scale in scales]
    document = {"workers": args.workers, "warm_up_s": warm_up_s, "instances": results, "summary": summary,
                "plant": plant}
    print(json.dumps(document, indent=1))


if __name__ == "__main__":
    main()
