"""`mixflow configure ...`: count, propagate, explain and replay over any configuration model file."""

from __future__ import annotations

import json
import time
from pathlib import Path

import typer

from mixflow.cli.options import JSON, SEED
from mixflow.configure import compile_catalogue, load_model, read_history
from mixflow.configure.replay import replay as replay_history
from mixflow.errors import ValidationError

app = typer.Typer(
    help="The configurator: exact counts, valid choices, explanations, replays of sales histories.",
    no_args_is_help=True,
)

MODEL = typer.Argument(..., help="Model: mixflow catalogue (YAML/JSON), XCSP 2.1 tables, or table JSON(.gz).")
CHOOSE = typer.Option([], "--choose", help="A choice VAR=VALUE (repeat the option for several).")


def _choices(items: list[str]) -> dict[str, str]:
    choices: dict[str, str] = {}
    for item in items:
        var, sep, value = item.partition("=")
        if not sep or not var.strip() or not value.strip():
            raise ValidationError("--choose", f"expected VAR=VALUE, got {item!r}")
        choices[var.strip()] = value.strip()
    return choices


@app.command()
def count(
    model: Path = MODEL,
    fresh: bool = typer.Option(False, "--fresh", help="Compile anew instead of loading the cached form."),
    as_json: bool = JSON,
) -> None:
    """Compile MODEL (or load it from the cache) and print its exact number of configurations.

    `compile_s` is the time from the read model to the count: compile (or cache load) plus count.
    """
    catalogue = load_model(model)
    started = time.perf_counter()
    engine = compile_catalogue(catalogue, use_disk_cache=not fresh)
    configurations = engine.count()
    facts = {"configurations": configurations, "compile_s": round(time.perf_counter() - started, 4)}
    if as_json:
        print(json.dumps(facts))
        return
    print(f"{configurations:,} configurations (compiled or loaded in {facts['compile_s']} s)")


@app.command()
def propagate(model: Path = MODEL, choose: list[str] = CHOOSE, as_json: bool = JSON) -> None:
    """Print the values every variable can still take after the choices, the count and the price range."""
    engine = compile_catalogue(load_model(model))
    result = engine.propagate(_choices(choose))
    if as_json:
        print(json.dumps(result.to_json()))
        return
    for conflict in result.conflicts:
        print(f"conflict: {conflict.choices} -- {'; '.join(conflict.rules)}")
    for var, codes in result.valid.items():
        print(f"{var}: {' '.join(codes)}")
    print(f"{result.count:,} configurations, price {result.price_min} .. {result.price_max}")


@app.command()
def explain(
    model: Path = MODEL,
    var: str = typer.Option(..., "--var", help="The variable of the greyed-out value."),
    value: str = typer.Option(..., "--value", help="The greyed-out value."),
    choose: list[str] = CHOOSE,
    as_json: bool = JSON,
) -> None:
    """Say why VAR=VALUE is not offered after the choices (minimal choices and rules)."""
    engine = compile_catalogue(load_model(model))
    explanation = engine.explain(_choices(choose), var, value)
    print(json.dumps(explanation.to_json()) if as_json else explanation.text)


@app.command()
def replay(
    model: Path = MODEL,
    history: Path = typer.Argument(..., help="Sales history: a header of variable names, one row a line."),
    seed: int = SEED,
    limit: int = typer.Option(0, "--limit", help="Replay only the first N rows (0 = all)."),
    as_json: bool = JSON,
) -> None:
    """Replay every history row as clicks in random order; every click must be offered."""
    catalogue = load_model(model)
    engine = compile_catalogue(catalogue)
    result = replay_history(engine, read_history(history, catalogue), seed=seed, limit=limit or None)
    facts = result.to_json()
    if as_json:
        print(json.dumps(facts))
        return
    print(", ".join(f"{k} {v}" for k, v in facts.items()))
    if result.rejected_lines:
        print(f"rejected rows at lines {list(result.rejected_lines[:10])}")
