"""`mixflow plant ...`: describe, export and validate plants (the reference one or any plant file)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from mixflow.cli.options import JSON, SCALE, SEED, check_scale
from mixflow.configure.catalogue_file import load_catalogue
from mixflow.errors import InputFileError
from mixflow.model import Catalogue, Plant
from mixflow.model.plant_file import check_fit, load_plant, write_plant
from mixflow.reference import (
    build_plant,
    buildable_models,
    feeder_loads,
    line_loads,
    order_stream,
    orders_per_day,
    reference_catalogue,
)
from mixflow.reference.capacity import model_samples, takt_overloads, unbuilt_models

app = typer.Typer(help="Plants as data: describe, export and validate plant files.", no_args_is_help=True)

VALIDATE_DAYS = 5
"""Days of a representative order stream the capacity table of `plant validate` is measured on."""


def describe_plant(plant: Plant, catalogue: Catalogue) -> dict[str, object]:
    """The counts `mixflow plant describe --json` prints (the foundation issue's contract); `stations`
    counts every line's, `takt_s` is the fastest line's, and `lines` details each."""
    return {
        "models": len(buildable_models(catalogue)),
        "machines": len(plant.machines),
        "machines_by_shop": {shop.id: shop.machine_count for shop in plant.shops},
        "agvs": len(plant.fleet.agv_ids),
        "stations": sum(len(line.stations) for line in plant.lines),
        "takt_s": min(line.takt_s for line in plant.lines),
        "grid": [plant.floor.width, plant.floor.height],
        "chargers": len(plant.floor.chargers),
        "orders_per_day": round(orders_per_day(plant), 2),
        "lines": [
            {
                "id": line.id,
                "stations": len(line.stations),
                "takt_s": line.takt_s,
                "units_per_day": line.units_per_day,
            }
            for line in plant.lines
        ],
        "routings": len(plant.routings),
    }


def _catalogue(path: Path | None) -> Catalogue:
    return reference_catalogue() if path is None else load_catalogue(path)


PLANT_FILE = typer.Argument(None, help="A plant file (mixflow-plant-v1); without it, the reference plant.")
CATALOGUE = typer.Option(None, "--catalogue", help="A catalogue file; without it, the reference trucks.")


@app.command()
def describe(
    file: Path | None = PLANT_FILE,
    catalogue: Path | None = CATALOGUE,
    scale: float = SCALE,
    seed: int = SEED,
    as_json: bool = JSON,
) -> None:
    """Print the size of a plant file, or of the reference plant at SCALE."""
    plant = build_plant(check_scale(scale), seed) if file is None else load_plant(file)
    facts = describe_plant(plant, _catalogue(catalogue))
    if as_json:
        print(json.dumps(facts))
        return
    table = Table(title=plant.name)
    table.add_column("what")
    table.add_column("count", justify="right")
    for key, value in facts.items():
        if isinstance(value, dict):
            for sub, count in value.items():
                table.add_row(f"  machines in {sub}", str(count))
        elif isinstance(value, list) and key == "lines":
            for line in value:
                table.add_row(f"  line {line['id']}", f"{line['stations']} stations, takt {line['takt_s']} s")
        else:
            table.add_row(key, str(value))
    Console().print(table)


@app.command()
def export(
    output: Path = typer.Option(..., "-o", "--output", help="The plant file to write (.yaml or .json)."),
    scale: float = SCALE,
    seed: int = SEED,
) -> None:
    """Write the reference plant at SCALE and SEED as a plant file, to start a plant of your own from."""
    plant = build_plant(check_scale(scale), seed)
    try:
        write_plant(plant, output)
    except OSError as exc:
        raise InputFileError(str(output), f"cannot write: {exc.strerror or exc}") from exc
    Console(stderr=True).print(
        f"wrote {output}: {len(plant.machines):,} machines, {len(plant.lines)} line(s), "
        f"{len(plant.fleet.agv_ids):,} AGVs, {plant.floor.width} x {plant.floor.height} floor"
    )


@app.command()
def validate(
    file: Path = typer.Argument(..., help="The plant file to check."),
    catalogue: Path | None = CATALOGUE,
    seed: int = SEED,
    as_json: bool = JSON,
) -> None:
    """Check a plant file and its fit with a catalogue; print capacity against demand. Exit 2 with the
    first problem (file:line: $.path: what) when it does not hold."""
    started = time.perf_counter()
    plant = load_plant(file)
    products = _catalogue(catalogue)
    problems = check_fit(plant, products)
    if problems:
        raise problems[0]
    orders = order_stream(plant, products, VALIDATE_DAYS, seed)
    models = model_samples(products, seed)
    unbuilt = unbuilt_models(plant, models)
    if unbuilt:
        raise unbuilt[0]
    overloaded = takt_overloads(plant, products, [dict(o.configuration) for o in orders] + models)
    loads = [
        *line_loads(plant, products, orders, VALIDATE_DAYS),
        *feeder_loads(plant, products, orders, VALIDATE_DAYS),
    ]
    over = [load for load in loads if load.utilisation > 1.0]
    elapsed = time.perf_counter() - started
    report = {
        "file": str(file),
        "plant": plant.name,
        "catalogue": products.name,
        "valid": not overloaded and not over,
        "orders_per_day": round(orders_per_day(plant), 2),
        "capacity": [
            {
                "resource": load.resource,
                "shop": load.shop,
                "machines": load.machines,
                "demand_s_per_day": round(load.demand_s_per_day),
                "capacity_s_per_day": round(load.capacity_s_per_day),
                "utilisation": round(load.utilisation, 3),
            }
            for load in loads
        ],
        "problems": [str(p) for p in overloaded]
        + [f"{load.resource} is over capacity ({load.utilisation:.0%})" for load in over],
        "validate_s": round(elapsed, 3),
    }
    if as_json:
        print(json.dumps(report))
    else:
        from mixflow.cli.demo import capacity_table

        console = Console()
        console.print(capacity_table(plant, products, orders, VALIDATE_DAYS))
        verdict = "[green]valid[/green]" if report["valid"] else "[red]does not hold[/red]"
        console.print(f"{file}: {plant.name} with {products.name}: {verdict} ({elapsed:.2f} s)")
    if overloaded:
        raise overloaded[0]
    if over:
        raise InputFileError(str(file), f"{over[0].resource} is over capacity ({over[0].utilisation:.0%})")
