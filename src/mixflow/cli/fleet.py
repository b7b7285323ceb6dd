"""`mixflow fleet run ...`: run the AGV planner on a MovingAI map or a Robot Runners instance."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import typer

from mixflow.cli.options import JSON, SEED
from mixflow.errors import InputFileError, ValidationError
from mixflow.fleet.formats import read_map, read_robot_runners, read_scen
from mixflow.fleet.grid import Grid
from mixflow.fleet.guidance import run_guided
from mixflow.fleet.lacam import solve_oneshot
from mixflow.fleet.lifelong import Delays, RoundRobinStream, run_lifelong
from mixflow.fleet.planner import PLAIN_PIBT
from mixflow.fleet.validate import validate_plan

app = typer.Typer(help="AGV fleet: collision-free lifelong and one-shot path planning.", no_args_is_help=True)


@app.command()
def run(
    map_file: Path = typer.Argument(
        ..., metavar="MAP", help="MovingAI .map, or a Robot Runners problem .json"
    ),
    scen: Path | None = typer.Option(None, "--scen", help="MovingAI .scen: starts and the goal stream."),
    agents: int = typer.Option(..., "--agents", help="Number of robots N."),
    steps: int | None = typer.Option(
        None, "--steps", help="Steps T (lifelong, required) or the makespan bound (one-shot, optional)."
    ),
    mode: str = typer.Option("lifelong", "--mode", help="lifelong or oneshot."),
    planner: str = typer.Option(
        "guided",
        "--planner",
        help="Lifelong: plain (textbook PIBT) or guided (guidance chosen for the floor at load).",
    ),
    seed: int = SEED,
    paths: Path | None = typer.Option(
        None, "--paths", help="Write the paths and reached goals to this JSON."
    ),
    time_limit: float = typer.Option(30.0, "--time-limit", help="One-shot search limit in seconds."),
    delay_prob: float = typer.Option(0.0, "--delay-prob", help="Chance a robot stalls 1-5 steps, per step."),
    as_json: bool = JSON,
) -> None:
    """Plan N robots for T steps and print throughput, step times, conflicts and costs.

    Lifelong: robot i starts at scenario line i; its k-th goal is line (i + k*N) mod L; `warmup_s`
    is the load before the first step (the guided planner's choice of guidance included), apart from
    the step times. One-shot: the first N lines, solved by LaCAM; there the step_ms figures are the
    whole search's wall time, and without --steps the makespan is not bounded.
    """
    if mode not in ("lifelong", "oneshot"):
        raise ValidationError("--mode", f"must be 'lifelong' or 'oneshot', got {mode!r}")
    if planner not in ("plain", "guided"):
        raise ValidationError("--planner", f"must be 'plain' or 'guided', got {planner!r}")
    if agents < 1 or (steps is not None and steps < 1):
        raise ValidationError("--agents/--steps", "must both be >= 1")
    if mode == "lifelong" and steps is None:
        raise ValidationError("--steps", "is required in lifelong mode")
    grid, starts, goal_cells = _instance(map_file, scen, agents, seed)
    if mode == "lifelong":
        assert steps is not None
        stream = RoundRobinStream(goal_cells, agents)
        delays = Delays(delay_prob) if delay_prob > 0 else None
        choice: dict[str, Any] = {"planner": planner}
        if planner == "guided":
            guided = run_guided(grid, starts, stream, steps, seed=seed, delays=delays)
            result, warmup_s = guided.result, guided.warmup_s
            choice["guidance"] = guided.guidance
        else:
            result = run_lifelong(grid, starts, stream, steps, PLAIN_PIBT, seed=seed, delays=delays)
            warmup_s = result.warmup_s
        check = validate_plan(grid, result.paths)
        moves = int((result.paths[1:] != result.paths[:-1]).sum())
        facts: dict[str, Any] = {
            "agents": agents,
            "steps": steps,
            "tasks_completed": len(result.reached),
            "throughput": round(result.throughput, 4),
            **_ms(result.step_ms),
            "warmup_s": round(warmup_s, 3),
            **choice,
            "vertex_conflicts": check.vertex_conflicts,
            "edge_conflicts": check.edge_conflicts,
            "solved": bool(check.ok and result.goals_per_agent.min() > 0),
            "sum_of_costs": moves,
            "makespan": steps,
        }
        plan, reached = result.paths, result.reached
    else:
        goals = goal_cells[:agents]
        shot = solve_oneshot(grid, starts, goals, time_limit=time_limit, seed=seed)
        check = validate_plan(grid, shot.paths)
        solved = shot.solved and check.ok and (steps is None or shot.makespan <= steps)
        at_goal = int((shot.paths[-1] == goals).sum())
        ms = shot.solve_s * 1000.0
        facts = {
            "agents": agents,
            "steps": shot.makespan if steps is None else steps,
            "tasks_completed": at_goal,
            "throughput": round(at_goal / max(shot.makespan, 1), 4),
            "step_ms_p50": round(ms, 3),
            "step_ms_p95": round(ms, 3),
            "step_ms_max": round(ms, 3),
            "warmup_s": 0.0,
            "vertex_conflicts": check.vertex_conflicts,
            "edge_conflicts": check.edge_conflicts,
            "solved": bool(solved),
            "sum_of_costs": shot.sum_of_costs,
            "makespan": shot.makespan,
            "solve_cpu_s": round(shot.solve_cpu_s, 3),
            "first_solution_cpu_s": round(shot.first_solve_cpu_s, 3),
            "first_sum_of_costs": shot.first_sum_of_costs,
        }
        plan = shot.paths
        away = plan != goals[None, :]
        arrival = np.where(away.any(axis=0), len(plan) - np.argmax(away[::-1], axis=0), 0)
        reached = [(i, int(goals[i]), int(arrival[i])) for i in range(agents) if plan[-1, i] == goals[i]]
    if paths is not None:
        _write_paths(paths, grid, plan, reached)
    if as_json:
        print(json.dumps(facts))
    else:
        for key, value in facts.items():
            print(f"{key:>17}: {value}")


def _instance(
    map_file: Path, scen: Path | None, agents: int, seed: int
) -> tuple[Grid, np.ndarray, np.ndarray]:
    """Grid, the first N start cells and the goal list of the run."""
    if map_file.suffix == ".json":
        lorr = read_robot_runners(map_file)
        if agents > lorr.team_size:
            raise InputFileError(
                str(map_file), f"--agents {agents} but the instance has {lorr.team_size} robots"
            )
        return lorr.grid, lorr.starts[:agents], lorr.errands
    grid = read_map(map_file)
    free = grid.free_cells
    if agents > len(free):
        raise ValidationError("--agents", f"{agents} robots but {map_file} has only {len(free)} free cells")
    if scen is not None:
        scenario = read_scen(scen, grid)
        if agents > len(scenario):
            raise InputFileError(
                str(scen), f"--agents {agents} but the scenario has only {len(scenario)} lines"
            )
        return grid, scenario.starts[:agents], scenario.goals
    rng = np.random.default_rng(seed)
    starts = rng.choice(free, size=agents, replace=False).astype(np.int32)
    goals = rng.permutation(free)[: max(agents, min(len(free), 10 * agents))].astype(np.int32)
    return grid, starts, goals


def _ms(samples: np.ndarray) -> dict[str, float]:
    return {
        "step_ms_p50": round(float(np.percentile(samples, 50)), 3),
        "step_ms_p95": round(float(np.percentile(samples, 95)), 3),
        "step_ms_max": round(float(samples.max()), 3),
    }


def _write_paths(out: Path, grid: Grid, plan: np.ndarray, reached: list[tuple[int, int, int]]) -> None:
    xs, ys = plan % grid.width, plan // grid.width
    doc = {
        "paths": [
            [[int(x), int(y)] for x, y in zip(xs[:, i], ys[:, i], strict=True)] for i in range(plan.shape[1])
        ],
        "tasks": [{"agent": a, "x": c % grid.width, "y": c // grid.width, "t": t} for a, c, t in reached],
    }
    try:
        out.write_text(json.dumps(doc))
    except OSError as bad:
        raise InputFileError(str(out), f"cannot write paths: {bad}") from None
