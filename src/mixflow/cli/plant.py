"""`mixflow plant ...`: look at the reference plant."""

from __future__ import annotations

import json

import typer
from rich.console import Console
from rich.table import Table

from mixflow.cli.options import JSON, SCALE, SEED, check_scale
from mixflow.model import Plant
from mixflow.reference import build_plant, buildable_models, orders_per_day, reference_catalogue

app = typer.Typer(help="The reference plant: machines, line, floor, fleet.", no_args_is_help=True)


def describe_plant(plant: Plant) -> dict[str, object]:
    """The counts `mixflow plant describe --json` prints (the foundation issue's contract)."""
    return {
        "models": len(buildable_models(reference_catalogue())),
        "machines": len(plant.machines),
        "machines_by_shop": {shop.id: shop.machine_count for shop in plant.shops},
        "agvs": len(plant.fleet.agv_ids),
        "stations": len(plant.line.stations),
        "takt_s": plant.line.takt_s,
        "grid": [plant.floor.width, plant.floor.height],
        "chargers": len(plant.floor.chargers),
        "orders_per_day": round(orders_per_day(plant), 2),
    }


@app.command()
def describe(scale: float = SCALE, seed: int = SEED, as_json: bool = JSON) -> None:
    """Build the reference plant at SCALE and print its size."""
    facts = describe_plant(build_plant(check_scale(scale), seed))
    if as_json:
        print(json.dumps(facts))
        return
    table = Table(title=f"Reference plant at scale {scale:g}")
    table.add_column("what")
    table.add_column("count", justify="right")
    for key, value in facts.items():
        if isinstance(value, dict):
            for sub, count in value.items():
                table.add_row(f"  machines in {sub}", str(count))
        else:
            table.add_row(key, str(value))
    Console().print(table)
