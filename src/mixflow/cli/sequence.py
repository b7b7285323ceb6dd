"""`mixflow sequence ...`: sequence a CSPLib or ROADEF 2005 instance, or score a given sequence."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from mixflow.errors import ValidationError
from mixflow.sequence import SequenceResult, evaluate, solve
from mixflow.sequence.cpsat import solve_cpsat
from mixflow.sequence.formats import read_instance, read_sequence

app = typer.Typer(help="Mixed-model line sequencing (ratio rules, paint batches).", no_args_is_help=True)

SOLVERS = ("local-search", "cpsat")


@app.callback()
def sequence() -> None:
    """Mixed-model line sequencing (ratio rules, paint batches)."""


def _show(result: SequenceResult, name: str, as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps(result.to_json()))
        return
    criteria = ", ".join(f"{key} {value}" for key, value in result.criteria.items())
    paint = "" if result.feasible else ", PAINT LIMIT BROKEN"
    typer.echo(
        f"{name}: objective {result.objective} ({criteria}), violations {result.violations}{paint}, "
        f"{result.time_s:.2f} s ({result.solver})"
    )


@app.command("solve")
def solve_command(
    instance: Path = typer.Argument(..., help="CSPLib prob001 file or ROADEF 2005 instance folder."),
    time_limit: float = typer.Option(10.0, "--time-limit", help="Seconds to search."),
    seed: int = typer.Option(0, "--seed", help="Random seed (same seed and moves, same sequence)."),
    solver: str = typer.Option("local-search", "--solver", help=f"One of: {', '.join(SOLVERS)}."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON only."),
) -> None:
    """Sequence INSTANCE; ROADEF sequences list vehicle Idents, CSPLib ones class ids, in line order."""
    if time_limit <= 0:
        raise ValidationError("--time-limit", f"must be > 0 seconds, got {time_limit:g}")
    if solver not in SOLVERS:
        raise ValidationError("--solver", f"must be one of {', '.join(SOLVERS)}, got {solver!r}")
    data = read_instance(instance)
    if solver == "cpsat":
        result = solve_cpsat(data, time_limit_s=time_limit, seed=seed)
        if result is None:
            raise ValidationError("cpsat", f"found no sequence for {data.name} within {time_limit:g} s")
    else:
        result = solve(data, time_limit_s=time_limit, seed=seed)
    _show(result, data.name, as_json)


@app.command("evaluate")
def evaluate_command(
    instance: Path = typer.Argument(..., help="CSPLib prob001 file or ROADEF 2005 instance folder."),
    sequence_file: Path = typer.Argument(..., help="Vehicle ids in line order, whitespace-separated."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON only."),
) -> None:
    """Score a given day-D sequence with the independent evaluator."""
    data = read_instance(instance)
    order = read_sequence(sequence_file, data)
    evaluation = evaluate(data, order)
    violations = (
        evaluation.violated_windows
        if data.window_rule == "csplib"
        else evaluation.criteria["high"] + evaluation.criteria["low"]
    )
    payload = {
        "objective": evaluation.objective,
        "criteria": evaluation.criteria,
        "violations": violations,
        "longest_paint_run": evaluation.longest_paint_run,
        "paint_breaches": evaluation.paint_breaches,
    }
    typer.echo(json.dumps(payload) if as_json else f"{data.name}: {payload}")
