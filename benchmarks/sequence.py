"""Line sequencing benchmark: our local search next to CP-SAT at the same time limit on the public
car-sequencing sets (CSPLib prob001 classic and Gravel 200-400, ROADEF 2005 A/B/X), with the gap to
best_known.csv where a best value is known. Prints one JSON document.

    .venv/bin/python benchmarks/sequence.py                        # every set at the issue's limits
    .venv/bin/python benchmarks/sequence.py --sets roadef_A --time-limit 60 --out roadef_A.json

Default limits per set follow the issue's targets (1 s for the 200-car CSPLib set, 60 s for the hard
100-car and Gravel sets, 600 s for ROADEF); --time-limit overrides them all. The "plant" set runs the
reference plant's own day and a rush-order re-sequencing (CP-SAT gets --time-limit, default 10 s).
Both solvers run on one core (CP-SAT with one worker), one instance after the other.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from mixflow.model import DAY_S
from mixflow.reference import build_plant, order_stream, reference_catalogue
from mixflow.sequence import ProblemData, RatioRule, SequenceResult, evaluate, solve
from mixflow.sequence.cpsat import solve_cpsat
from mixflow.sequence.formats import read_instance
from mixflow.sequence.plant import resequence, rush_first, sequence_day

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "benchmarks" / "carseq"
SETS = {
    "csplib_200": ("csplib/classic", "[0-9][0-9]-*.txt", 1.0),
    "csplib_100_hard": ("csplib/classic", "pb_*.txt", 60.0),
    "gravel_200to400": ("csplib/gravel_200to400", "*.txt", 60.0),
    "roadef_A": ("roadef2005/A", "*", 600.0),
    "roadef_B": ("roadef2005/B", "*", 600.0),
    "roadef_X": ("roadef2005/X", "*", 600.0),
}
LADDER_S = (0.25, 0.5, 1.0, 2.0, 5.0, 10.0)


def best_known(root: Path) -> dict[str, dict[str, str]]:
    """Rows of best_known.csv keyed by their instance path relative to the carseq folder."""
    with (root / "best_known.csv").open(newline="") as handle:
        return {row["path"].rstrip("/"): row for row in csv.DictReader(handle)}


def _summary(result: SequenceResult | None) -> dict[str, object] | None:
    if result is None:
        return None
    return {
        "objective": result.objective,
        "criteria": result.criteria,
        "violations": result.violations,
        "feasible": result.feasible,
        "optimal": result.optimal,
        "time_s": round(result.time_s, 3),
        "cpu_s": round(result.cpu_s, 3),
    }


def run_instance(path: Path, root: Path, known: dict[str, dict[str, str]], limit: float, seed: int) -> dict:
    """Solve one instance with both solvers at `limit` seconds and compare."""
    data = read_instance(path)
    ours = solve(data, time_limit_s=limit, seed=seed)
    cpsat = solve_cpsat(data, time_limit_s=limit, seed=seed, workers=1)
    row = known.get(str(path.relative_to(root)), {})
    best = row.get("best_known_violations") or None
    best_value = int(best) if best is not None else None
    entry: dict[str, object] = {
        "instance": data.name,
        "vehicles": data.num_vehicles,
        "time_limit_s": limit,
        "ours": _summary(ours),
        "cpsat": _summary(cpsat),
        "best_known_violations": best_value,
        "lower_bound": int(row["lower_bound"]) if row.get("lower_bound") else None,
        "status": row.get("status"),
        "ours_gap_to_best": None if best_value is None else ours.violations - best_value,
        "ours_not_worse_than_cpsat": cpsat is None or ours.objective <= cpsat.objective,
    }
    return entry


def summarise(entries: list[dict]) -> dict[str, object]:
    """Counts per set: instances at their best known value, and where ours is not worse than CP-SAT."""
    with_best = [e for e in entries if e["best_known_violations"] is not None]
    return {
        "instances": len(entries),
        "with_best_known": len(with_best),
        "ours_at_best_known": sum(1 for e in with_best if e["ours_gap_to_best"] <= 0),
        "ours_not_worse_than_cpsat": sum(1 for e in entries if e["ours_not_worse_than_cpsat"]),
        "cpsat_found_no_sequence": sum(1 for e in entries if e["cpsat"] is None),
        "ours_time_s_max": max((e["ours"]["time_s"] for e in entries), default=0.0),
        "ours_cpu_s_max": max((e["ours"]["cpu_s"] for e in entries), default=0.0),
    }


def run_plant(seeds: list[int], limit: float) -> dict[str, object]:
    """The reference plant's own day (scale 1.0) and a rush re-sequencing, per order-stream seed.

    Day: the shortest limit in LADDER_S at which the day has no high-priority violation and no paint
    breach, next to CP-SAT at `limit` and to first-in-first-out overload. Rush: three rush orders at
    10:00 with two frozen hours, re-sequenced in 0.5 s, next to the rush-first order it starts from.
    """
    plant = build_plant(1.0, 0)
    catalogue = reference_catalogue()
    days = []
    for seed in seeds:
        orders = order_stream(plant, catalogue, days=3, seed=seed)
        day_start = 2 * DAY_S
        reached = None
        line = None
        for step in LADDER_S:
            line = sequence_day(plant, catalogue, orders, day_start, time_limit_s=step, seed=seed)
            if line.result.criteria["high"] == 0 and line.result.feasible:
                reached = step
                break
        assert line is not None
        baseline = solve_cpsat(line.data, time_limit_s=limit, seed=seed, workers=1)
        later = order_stream(plant, catalogue, days=1, seed=1000 + seed, start_s=day_start)[:3]
        rush = [replace(o, id=f"RUSH{k}", priority=2) for k, o in enumerate(later)]
        tick = time.perf_counter()
        new = resequence(
            plant, catalogue, line, rush, now_s=day_start + 10 * 3600, time_limit_s=0.5, seed=seed
        )
        rush_s = time.perf_counter() - tick
        start = evaluate(new.data, rush_first(new.data, len(rush)))
        position = {o.id: k for k, o in enumerate(new.orders)}
        days.append(
            {
                "seed": seed,
                "trucks": len(line.orders),
                "rules": [f"{r.name} {r.p}/{r.q} {r.priority}" for r in line.data.rules],
                "ours_limit_s_to_no_high_and_paint_ok": reached,
                "ours": _summary(line.result),
                "ours_overload_s": line.overload_s,
                "fifo_overload_s": line.fifo_overload_s,
                "cpsat": _summary(baseline),
                "rush_resequence_s": round(rush_s, 3),
                "rush_slots": [position[o.id] for o in rush],
                "rush_frozen_trucks": len(new.frozen),
                "rush_ours": _summary(new.result),
                "rush_first_without_search": {"objective": start.objective, "criteria": start.criteria},
            }
        )
        print(f"plant seed {seed}: no-high/paint-ok within {reached} s, rush {rush_s:.2f} s", file=sys.stderr)
    return {"time_limit_s": limit, "days": days}


def warm_up() -> None:
    """Compile (or load) the numba kernels once, so no instance pays for it inside its time limit."""
    tiny = ProblemData(
        ("a", "b", "c"),
        np.array([[1], [0], [1]], bool),
        np.array([1, 2, 1]),
        (RatioRule("x", 1, 2),),
        paint_batch_limit=2,
        tail_options=np.array([[1]], bool),
        tail_colours=np.array([1]),
    )
    solve(tiny, time_limit_s=60, max_iterations=1000)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sets", nargs="+", choices=[*sorted(SETS), "plant"], default=[*SETS, "plant"])
    parser.add_argument("--time-limit", type=float, default=None, help="Seconds per instance and solver.")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--first", type=int, default=None, help="Only the first N instances of each set.")
    parser.add_argument("--only", nargs="+", default=None, help="Only instances with these names.")
    parser.add_argument("--root", type=Path, default=SHARED)
    parser.add_argument("--out", type=Path, default=None, help="Also write the JSON here.")
    args = parser.parse_args(argv)

    known = best_known(args.root)
    warm_up()
    report: dict[str, object] = {"started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "sets": {}}
    sets: dict[str, object] = {}
    for name in args.sets:
        if name == "plant":
            sets[name] = run_plant([0, 1, 2], args.time_limit or 10.0)
            continue
        folder, pattern, default_limit = SETS[name]
        limit = args.time_limit if args.time_limit is not None else default_limit
        paths = sorted((args.root / folder).glob(pattern))[: args.first]
        if args.only:
            paths = [path for path in paths if path.stem in args.only or path.name in args.only]
        entries: list[dict] = []
        for path in paths:
            entries.append(run_instance(path, args.root, known, limit, args.seed))
            sets[name] = {"time_limit_s": limit, "summary": summarise(entries), "instances": entries}
            if args.out is not None:  # keep what is done if a long sweep is stopped
                args.out.write_text(json.dumps({**report, "sets": sets}, indent=1))
            print(
                f"{name} {entries[-1]['instance']}: ours {entries[-1]['ours']['objective']} "
                f"cpsat {(entries[-1]['cpsat'] or {}).get('objective')}",
                file=sys.stderr,
                flush=True,
            )
        sets[name] = {"time_limit_s": limit, "summary": summarise(entries), "instances": entries}
    report["sets"] = sets
    text = json.dumps(report, indent=1)
    if args.out is not None:
        args.out.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
