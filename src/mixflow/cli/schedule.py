"""`mixflow schedule ...`: solve a job-shop / flexible job-shop instance file and print the schedule."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from mixflow.schedule import METHODS, solve
from mixflow.schedule.formats import read

app = typer.Typer(help="Feeder-shop scheduling (flexible job shop).", no_args_is_help=True)


@app.callback()
def schedule() -> None:
    """Feeder-shop scheduling (flexible job shop)."""


@app.command("solve")
def solve_command(
    instance: Path = typer.Argument(..., help="JSPLIB/Taillard or .fjs file (optionally .gz)."),
    time_limit: float = typer.Option(10.0, "--time-limit", help="Seconds to search."),
    seed: int = typer.Option(0, "--seed", help="Random seed (same seed, same schedule)."),
    workers: int = typer.Option(2, "--workers", help="CP-SAT worker threads."),
    method: str = typer.Option("auto", "--method", help=f"One of: {', '.join(METHODS)}."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON only."),
) -> None:
    """Schedule INSTANCE to minimise makespan; 0-based job, operation and machine indices in file order."""
    data = read(instance)
    result = solve(data, time_limit=time_limit, seed=seed, workers=workers, method=method)
    if as_json:
        payload = {
            "makespan": result.makespan,
            "lower_bound": result.lower_bound,
            "time_s": round(result.time_s, 3),
            "schedule": result.rows(data),
        }
        typer.echo(json.dumps(payload))
        return
    typer.echo(
        f"{data.name}: makespan {result.makespan}, lower bound {result.lower_bound}, "
        f"gap {100 * result.gap:.2f}%, {result.time_s:.1f} s ({result.solver})"
    )
