"""Fleet benchmark: our planner (PIBT + flow guidance; LaCAM with swap) against plain PIBT, same run.

Sections (`maps` and `unseen` by default; pick with --only, `--only all` for every section):
  maps       every public map of ../shared/benchmarks/mapf (movingai maps with their random-1 scen,
             the Robot Runners warehouse_small instances) at 3 densities: the guided planner (guidance
             chosen per floor at load) against plain PIBT, throughput ratio, step p50/p95/max (wall
             and the planner thread's CPU), warm-up, conflicts on the written paths, and the free-flow
             bound (every robot alone on the floor) with the best ratio any planner could reach on the
             row; a summary row with the geometric mean of the ratios. --map picks floors by name
  unseen     the same on floors nobody tuned on: generated warehouses (one of 20k cells with 700
             robots: the step-time target), open rooms with obstacles, the reference and e-bus plants
  lifelong   warehouse-10-20-10-2-1, 100/400/700 robots, 1000 steps, round-robin stream of random-1
  delays     700 robots with 1% of robot-steps stalled 1-5 steps: throughput loss and conflicts
  oneshot    700 robots on random-1..5: LaCAM first solution then LNS refinement within 5 CPU-s, vs
             plain PIBT run until the step limit and the C++ lacam3 reference figures
  lorr       the League of Robot Runners 2023 warehouse_small sample, its 400-robot team
  scaling    step time against robots and map size (random-32-32-20, warehouse, den520d)
  plant      the reference plant floor, 720 AGVs serving line-side material tasks for a day

Timings are wall-clock on whatever machine runs this (a loaded, shared 2-core box when committed);
compare ours with the baseline of the same run, not with numbers from elsewhere. Prints one JSON.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from mixflow.fleet.distances import DistanceTable
from mixflow.fleet.formats import read_map, read_robot_runners, read_scen
from mixflow.fleet.lacam import solve_oneshot
from mixflow.fleet.lifelong import Delays, RoundRobinStream, free_flow_throughput, run_lifelong
from mixflow.fleet.planner import PLAIN_PIBT, PIBTPlanner, PlannerOptions
from mixflow.fleet.refine import arrivals, refine_plan
from mixflow.fleet.validate import validate_plan

MAPF = Path(__file__).resolve().parents[2] / "shared" / "benchmarks" / "mapf"
MOVINGAI = MAPF / "movingai"
WAREHOUSE = "warehouse-10-20-10-2-1"
OURS = PlannerOptions()
VARIANTS = {"ours": OURS, "plain_pibt": PLAIN_PIBT}


def _stats(ms: np.ndarray) -> dict[str, float]:
    return {
        "step_ms_mean": round(float(ms.mean()), 3),
        "step_ms_p50": round(float(np.percentile(ms, 50)), 3),
        "step_ms_p95": round(float(np.percentile(ms, 95)), 3),
        "step_ms_max": round(float(ms.max()), 3),
    }


def _lifelong(
    grid: Any,
    starts: np.ndarray,
    stream: RoundRobinStream,
    steps: int,
    options: PlannerOptions,
    delays: Delays | None = None,
) -> dict[str, Any]:
    began = time.process_time()
    result = run_lifelong(grid, starts, stream, steps, options, seed=0, delays=delays)
    cpu = time.process_time() - began
    check = validate_plan(grid, result.paths)
    return {
        "agents": len(starts),
        "steps": steps,
        "tasks_completed": len(result.reached),
        "throughput": round(result.throughput, 3),
        **_stats(result.step_ms),
        "cpu_step_ms_p95": round(float(np.percentile(result.step_cpu_ms, 95)), 3),
        "cpu_step_ms_max": round(float(result.step_cpu_ms.max()), 3),
        "cpu_ms_per_step": round(1000 * cpu / steps, 3),
        "vertex_conflicts": check.vertex_conflicts,
        "edge_conflicts": check.edge_conflicts,
        "illegal_moves": check.illegal_moves,
        "min_goals_per_agent": int(result.goals_per_agent.min()),
        "max_steps_on_one_goal": _longest_wait(result, len(starts)),
        "delayed_robot_steps": result.delayed_robot_steps,
    }


def _longest_wait(result: Any, n: int) -> int:
    """Longest time any robot chased one goal (open goals at the end count up to the last step)."""
    last = np.zeros(n, dtype=np.int64)
    longest = 0
    for agent, _, t in result.reached:
        longest = max(longest, t - int(last[agent]))
        last[agent] = t
    return int(max(longest, int((result.steps - last).max())))


def lifelong(steps: int, counts: list[int]) -> list[dict[str, Any]]:
    grid = read_map(MOVINGAI / f"{WAREHOUSE}.map")
    scen = read_scen(MOVINGAI / f"{WAREHOUSE}-random-1.scen", grid)
    rows = []
    for n in counts:
        for name, options in VARIANTS.items():
            row = _lifelong(grid, scen.starts[:n], RoundRobinStream(scen.goals, n), steps, options)
            rows.append({"planner": name, "map": WAREHOUSE, **row})
            print(json.dumps(rows[-1]), file=sys.stderr)
    return rows


def delays(steps: int, n: int) -> list[dict[str, Any]]:
    grid = read_map(MOVINGAI / f"{WAREHOUSE}.map")
    scen = read_scen(MOVINGAI / f"{WAREHOUSE}-random-1.scen", grid)
    stream = RoundRobinStream(scen.goals, n)
    rows = []
    for name, options in VARIANTS.items():
        calm = _lifelong(grid, scen.starts[:n], stream, steps, options)
        late = _lifelong(grid, scen.starts[:n], stream, steps, options, Delays(0.01, 5))
        loss = 1.0 - late["throughput"] / calm["throughput"]
        rows.append(
            {"planner": name, "no_delays": calm, "delays_1pct_1to5": late, "throughput_loss": round(loss, 4)}
        )
        print(json.dumps(rows[-1]), file=sys.stderr)
    return rows


def _plain_oneshot(
    grid: Any, starts: np.ndarray, goals: np.ndarray, max_steps: int, time_limit: float
) -> dict[str, Any]:
    """The baseline: plain PIBT stepping until every robot stands on its goal (not complete)."""
    began = time.perf_counter()
    planner = PIBTPlanner(grid, starts, goals, PLAIN_PIBT, seed=0)
    trail = [starts.copy()]
    while len(trail) <= max_steps and time.perf_counter() - began < time_limit:
        trail.append(planner.step())
        if np.array_equal(trail[-1], goals):
            break
    paths = np.array(trail)
    away = paths != goals[None, :]
    arrival = np.where(away.any(axis=0), len(paths) - np.argmax(away[::-1], axis=0), 0)
    return {
        "solved": bool(np.array_equal(paths[-1], goals)),
        "solve_s": round(time.perf_counter() - began, 3),
        "sum_of_costs": int(arrival.sum()),
        "makespan": int(arrival.max()),
        "at_goal": int((paths[-1] == goals).sum()),
        "conflict_free": validate_plan(grid, paths).ok,
    }


LACAM3_RANDOM1_700 = {"first_sum_of_costs": 138610, "sum_of_costs_10s_2_cores": 81875}
"""C++ lacam3 (Okumura) on random-1 with 700 robots, the issue's reference figures."""


def oneshot(n: int, scens: list[int], cpu_budget: float) -> list[dict[str, Any]]:
    """LaCAM's first solution, then LNS for the rest of `cpu_budget` CPU seconds (CPU, not wall, so
    the load of a shared machine does not shrink the search); plain PIBT gets the same in wall time."""
    grid = read_map(MOVINGAI / f"{WAREHOUSE}.map")
    rows = []
    for k in scens:
        scen = read_scen(MOVINGAI / f"{WAREHOUSE}-random-{k}.scen", grid)
        starts, goals = scen.starts[:n], scen.goals[:n]
        began, began_cpu = time.perf_counter(), time.thread_time()
        first = solve_oneshot(grid, starts, goals, time_limit=60.0, seed=0, refine=False)
        first_wall, first_cpu = time.perf_counter() - began, time.thread_time() - began_cpu
        paths, rounds = first.paths, 0
        if first.solved:
            better = refine_plan(grid, first.paths, goals, cpu_budget - first_cpu, seed=0, cpu_clock=True)
            paths, rounds = better.paths, better.rounds
        lower = DistanceTable(grid, min_rows=n)
        ours = {
            "solved": first.solved,
            "first_solution_s": round(first_wall, 3),
            "first_solution_cpu_s": round(first_cpu, 3),
            "first_sum_of_costs": first.sum_of_costs,
            "first_makespan": first.makespan,
            "lacam_nodes": first.nodes,
            "total_s": round(time.perf_counter() - began, 3),
            "total_cpu_s": round(time.thread_time() - began_cpu, 3),
            "sum_of_costs": int(arrivals(paths, goals).sum()),
            "makespan": len(paths) - 1,
            "lns_rounds": rounds,
            "at_goal": int((paths[-1] == goals).sum()),
            "conflict_free": validate_plan(grid, paths).ok,
        }
        plain = _plain_oneshot(grid, starts, goals, 3000, cpu_budget)
        row: dict[str, Any] = {
            "scen": f"random-{k}",
            "agents": n,
            "sum_of_distances_lower_bound": sum(map(lower.distance, starts.tolist(), goals.tolist())),
            "ours_lacam_lns": ours,
            "plain_pibt": plain,
        }
        if k == 1 and n == 700:
            row["lacam3_cpp_reference"] = LACAM3_RANDOM1_700
        rows.append(row)
        print(json.dumps(rows[-1]), file=sys.stderr)
    return rows


def lorr(steps: int) -> list[dict[str, Any]]:
    config = MAPF / "lorr2023-warehouse_small" / "EI23-warehouse_small_400.json"
    inst = read_robot_runners(config)
    stream = RoundRobinStream(inst.errands, inst.team_size)
    rows = []
    for name, options in VARIANTS.items():
        rows.append(
            {
                "planner": name,
                "instance": config.name,
                **_lifelong(inst.grid, inst.starts, stream, steps, options),
            }
        )
        print(json.dumps(rows[-1]), file=sys.stderr)
    return rows


def scaling(steps: int) -> list[dict[str, Any]]:
    cases = [
        ("random-32-32-20", 100),
        ("random-32-32-20", 300),
        (WAREHOUSE, 100),
        (WAREHOUSE, 400),
        (WAREHOUSE, 700),
        ("den520d", 100),
        ("den520d", 700),
    ]
    rows = []
    for map_name, n in cases:
        grid = read_map(MOVINGAI / f"{map_name}.map")
        scen = read_scen(MOVINGAI / f"{map_name}-random-1.scen", grid)
        for name, options in VARIANTS.items():
            row = _lifelong(grid, scen.starts[:n], RoundRobinStream(scen.goals, n), steps, options)
            rows.append({"planner": name, "map": map_name, "free_cells": len(grid.free_cells), **row})
            print(json.dumps(rows[-1]), file=sys.stderr)
    return rows


# Line position each part is fitted at, and the shop that makes it (None: bought, from a warehouse rack).
PARTS = {
    "frame": (1, "frame"),
    "axles": (6, "axle"),
    "e_drive": (12, None),
    "battery_pack": (16, "battery"),
    "pto_unit": (20, None),
    "tyre": (28, None),
    "harness": (30, None),
    "cab": (34, "cab"),
    "mcs_inlet": (40, None),
    "kit": (45, None),
    "adas_kit": (50, None),
    "body": (55, None),
}


def line_side_tasks(reference: Any, hours: float, seed: int = 0) -> list[Any]:
    """One truck launched per takt; each needs every part at its station before the truck gets there.

    Released two takts before launch; due when the truck reaches the part's station.
    """
    from mixflow.model import MaterialTask

    rng = np.random.default_rng(seed)
    line = reference.lines[0]
    shops = {shop.id: shop.outbound_cell for shop in reference.shops}
    racks = reference.floor.warehouse_cells
    tasks = []
    trucks = int(hours * 3600 // line.takt_s)
    for k in range(trucks):
        launch = (k + 2) * line.takt_s
        for part, (position, shop) in PARTS.items():
            station = line.station_for_position(position)
            pickup = shops[shop] if shop else racks[int(rng.integers(len(racks)))]
            tasks.append(
                MaterialTask(
                    id=f"truck{k}/{part}",
                    part=part,
                    pickup=pickup,
                    dropoff=station.drop_cell,
                    release_s=launch - 2 * line.takt_s,
                    deadline_s=launch + station.index * line.takt_s,
                    payload_kg=500.0,
                )
            )
    return tasks


def plant(hours: float) -> list[dict[str, Any]]:
    from mixflow.fleet.plant import fleet_for_plant, fleet_task
    from mixflow.reference import build_plant

    reference = build_plant(1.0, 0)
    rows = []
    for name, options in VARIANTS.items():
        fleet = fleet_for_plant(reference, options, seed=0)
        tasks = sorted(
            (fleet_task(t, fleet.grid) for t in line_side_tasks(reference, hours)), key=lambda t: t.release
        )
        horizon = max(t.deadline for t in tasks) + 600
        ms = np.empty(horizon)
        k = 0
        trail_check = [fleet.positions.copy()]
        for step in range(horizon):
            while k < len(tasks) and tasks[k].release <= step:
                fleet.post(tasks[k])
                k += 1
            began = time.perf_counter()
            nxt = fleet.step()
            ms[step] = (time.perf_counter() - began) * 1000.0
            if step < 3600:
                trail_check.append(nxt)
        rows.append(
            {
                "planner": name,
                "agvs": fleet.n_robots,
                "hours_of_demand": hours,
                "steps": horizon,
                "tasks": len(tasks),
                "delivered": fleet.delivered,
                "late": fleet.delivered_late,
                "undelivered": len(tasks) - fleet.delivered,
                "flat_batteries": fleet.flat_batteries,
                "first_hour_conflict_free": validate_plan(fleet.grid, np.array(trail_check)).ok,
                "distance_bytes": fleet.planner.distances.bytes,
                **_stats(ms),
            }
        )
        print(json.dumps(rows[-1]), file=sys.stderr)
    return rows


SHARED_MAPS = [
    ("warehouse-10-20-10-2-1", (100, 400, 700)),
    ("random-32-32-20", (50, 100, 200)),
    ("den520d", (100, 400, 700)),
]
LORR_TEAMS = (100, 200, 400)


def _compare(grid: Any, starts: np.ndarray, goals: np.ndarray, steps: int) -> dict[str, Any]:
    """Plain PIBT and the guided planner on one floor, robots and goal stream."""
    from mixflow.fleet.guidance import run_guided

    stream = RoundRobinStream(goals, len(starts))
    plain = run_lifelong(grid, starts, stream, steps, PLAIN_PIBT, seed=0)
    guided = run_guided(grid, starts, stream, steps, seed=0)
    bound = free_flow_throughput(grid, starts, stream, steps)
    ours = guided.result
    check = validate_plan(grid, ours.paths)
    plain_check = validate_plan(grid, plain.paths)
    return {
        "agents": len(starts),
        "steps": steps,
        "free_cells": len(grid.free_cells),
        "throughput_ratio": round(ours.throughput / max(plain.throughput, 1e-9), 3),
        "guided_throughput": round(ours.throughput, 3),
        "plain_throughput": round(plain.throughput, 3),
        "free_flow_throughput": round(bound, 3),
        "best_possible_ratio": round(bound / max(plain.throughput, 1e-9), 3),
        "guidance": guided.guidance,
        "trial_throughput": guided.trial_throughput,
        "step_ms_p50": round(float(np.percentile(ours.step_ms, 50)), 3),
        "step_ms_p95": round(float(np.percentile(ours.step_ms, 95)), 3),
        "step_ms_max": round(float(ours.step_ms.max()), 3),
        "cpu_step_ms_p95": round(float(np.percentile(ours.step_cpu_ms, 95)), 3),
        "cpu_step_ms_max": round(float(ours.step_cpu_ms.max()), 3),
        "warmup_s": round(guided.warmup_s, 3),
        "warmup_cpu_s": round(guided.warmup_cpu_s, 3),
        "plain_step_ms_p95": round(float(np.percentile(plain.step_ms, 95)), 3),
        "plain_step_ms_max": round(float(plain.step_ms.max()), 3),
        "vertex_conflicts": check.vertex_conflicts + plain_check.vertex_conflicts,
        "edge_conflicts": check.edge_conflicts + plain_check.edge_conflicts,
        "illegal_moves": check.illegal_moves + plain_check.illegal_moves,
    }


def _summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    ratios = np.array([r["throughput_ratio"] for r in rows])
    return {
        "summary": True,
        "cases": len(rows),
        "geomean_throughput_ratio": round(float(np.exp(np.log(ratios).mean())), 3),
        "min_throughput_ratio": round(float(ratios.min()), 3),
        "min_best_possible_ratio": min(r["best_possible_ratio"] for r in rows),
        "max_step_ms_p95": max(r["step_ms_p95"] for r in rows),
        "max_step_ms_max": max(r["step_ms_max"] for r in rows),
        "max_cpu_step_ms_p95": max(r["cpu_step_ms_p95"] for r in rows),
        "max_cpu_step_ms_max": max(r["cpu_step_ms_max"] for r in rows),
        "max_warmup_s": max(r["warmup_s"] for r in rows),
        "max_warmup_cpu_s": max(r["warmup_cpu_s"] for r in rows),
        "conflicts": sum(r["vertex_conflicts"] + r["edge_conflicts"] for r in rows),
    }


def _picked(name: str, only: list[str] | None) -> bool:
    """Whether a floor is among the ones asked for (--map: parts of names; none asked: every floor)."""
    return not only or any(part in name for part in only)


def maps(steps: int, only: list[str] | None = None) -> list[dict[str, Any]]:
    rows = []
    for map_name, counts in SHARED_MAPS:
        if not _picked(map_name, only):
            continue
        grid = read_map(MOVINGAI / f"{map_name}.map")
        scen = read_scen(MOVINGAI / f"{map_name}-random-1.scen", grid)
        for n in counts:
            rows.append({"map": map_name, **_compare(grid, scen.starts[:n], scen.goals, steps)})
            print(json.dumps(rows[-1]), file=sys.stderr)
    for n in LORR_TEAMS:
        if not _picked(f"lorr-warehouse_small_{n}", only):
            continue
        inst = read_robot_runners(MAPF / "lorr2023-warehouse_small" / f"EI23-warehouse_small_{n}.json")
        rows.append(
            {"map": f"lorr-warehouse_small_{n}", **_compare(inst.grid, inst.starts, inst.errands, steps)}
        )
        print(json.dumps(rows[-1]), file=sys.stderr)
    return [*rows, _summary(rows)] if rows else rows


def _strongly_connected(grid: Any, seed: int) -> np.ndarray:
    """Free cells in the largest strongly connected part found from a few seeds (one-way lanes)."""
    from mixflow.fleet._kernels import bfs_to_goal

    rng = np.random.default_rng(seed)
    free = grid.free_cells
    closed = np.zeros(grid.n_cells, dtype=np.bool_)
    to, back = np.empty(grid.n_cells, dtype=np.int32), np.empty(grid.n_cells, dtype=np.int32)
    best = free[:0]
    for cell in rng.choice(free, size=min(5, len(free)), replace=False):
        bfs_to_goal(grid.predecessors, int(cell), closed, to)
        bfs_to_goal(grid.neighbors, int(cell), closed, back)
        part = np.flatnonzero((to < (1 << 30)) & (back < (1 << 30)))
        if len(part) > len(best):
            best = part
    return best


def _random_instance(grid: Any, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    cells = _strongly_connected(grid, seed)
    rng = np.random.default_rng(seed)
    starts = rng.choice(cells, size=n, replace=False).astype(np.int32)
    # the round-robin rule gives robot i the goals i, i + n, i + 2n, ... of the list: a list of n (or
    # 2n) goals would give each robot one (or two) goals for ever, a length with a small gcd with n not
    size = max(1000, n) + 1
    goals = rng.choice(cells, size=size, replace=True).astype(np.int32)
    return starts, goals


def random_warehouse(width: int, height: int, seed: int) -> Any:
    """A warehouse layout nobody tuned on: blocks of racks of random length and depth between aisles."""
    from mixflow.fleet.grid import Grid

    rng = np.random.default_rng(seed)
    blocked = np.zeros((height, width), dtype=bool)
    y = 3
    while y + 2 < height - 3:
        depth = int(rng.integers(1, 3))
        x = int(rng.integers(3, 6))
        while x < width - 4:
            length = int(rng.integers(4, 13))
            blocked[y : y + depth, x : min(x + length, width - 3)] = True
            x += length + int(rng.integers(1, 4))
        y += depth + int(rng.integers(1, 3))
    return Grid(blocked=blocked, name=f"random-warehouse-{width}x{height}-{seed}")


def open_room(size: int, fill: float, seed: int) -> Any:
    from mixflow.fleet.grid import Grid

    rng = np.random.default_rng(seed)
    return Grid(blocked=rng.random((size, size)) < fill, name=f"room-{size}-{fill}-{seed}")


def unseen(steps: int, only: list[str] | None = None) -> list[dict[str, Any]]:
    from mixflow.fleet.plant import grid_from_floor
    from mixflow.model.plant_file import load_plant
    from mixflow.reference import build_plant

    ebus = Path(__file__).resolve().parents[1] / "examples" / "ebus" / "plant.yaml"
    floors = [
        (random_warehouse(200, 100, 1), (100, 400, 700)),
        (random_warehouse(120, 60, 2), (100, 300, 500)),
        (open_room(64, 0.15, 3), (100, 300, 600)),
        (open_room(100, 0.25, 4), (200, 500, 1000)),
        (grid_from_floor(build_plant(1.0).floor), (100, 400, 700)),
        (grid_from_floor(load_plant(ebus).floor), (50, 100, 200)),
    ]
    rows = []
    for grid, counts in floors:
        if not _picked(grid.name, only):
            continue
        for n in counts:
            starts, goals = _random_instance(grid, n, 0)
            rows.append({"map": grid.name, **_compare(grid, starts, goals, steps)})
            print(json.dumps(rows[-1]), file=sys.stderr)
    return [*rows, _summary(rows)] if rows else rows


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--only", nargs="*", default=["maps", "unseen"])
    parser.add_argument("--quick", action="store_true", help="Short runs to check the script works.")
    parser.add_argument(
        "--oneshot-cpu", type=float, default=5.0, help="CPU seconds per scenario (first solution + LNS)."
    )
    parser.add_argument("--plant-hours", type=float, default=24.0)
    parser.add_argument("--steps", type=int, default=0, help="Lifelong steps (default 1000, --quick 200).")
    parser.add_argument(
        "--map", nargs="*", default=None, help="maps/unseen: only floors whose name contains one of these."
    )
    args = parser.parse_args()
    if "all" in args.only:
        args.only = ["maps", "unseen", "lifelong", "delays", "oneshot", "lorr", "scaling", "plant"]
    steps = args.steps or (200 if args.quick else 1000)
    out: dict[str, Any] = {
        "machine_note": "wall-clock on a shared, loaded 2-core machine; compare within this run"
    }
    if "maps" in args.only:
        out["maps"] = maps(steps, args.map)
    if "unseen" in args.only:
        out["unseen"] = unseen(steps, args.map)
    if "lifelong" in args.only:
        out["lifelong"] = lifelong(steps, [100, 400, 700])
    if "delays" in args.only:
        out["delays"] = delays(steps, 700)
    if "oneshot" in args.only:
        out["oneshot"] = oneshot(700, [1] if args.quick else [1, 2, 3, 4, 5], args.oneshot_cpu)
    if "lorr" in args.only:
        out["lorr"] = lorr(steps)
    if "scaling" in args.only:
        out["scaling"] = scaling(100 if args.quick else 300)
    if "plant" in args.only:
        out["plant"] = plant(1.0 if args.quick else args.plant_hours)
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
