"""`mixflow demo`: the main job. Builds the reference plant and its order stream and shows them:
the plant, the demand mix, and capacity against demand for the line and every machine group."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from mixflow.cli.options import SCALE, SEED, check_scale
from mixflow.cli.plant import describe_plant
from mixflow.errors import ValidationError
from mixflow.model import Catalogue, Order, Plant
from mixflow.reference import build_plant, feeder_loads, line_load, order_stream, reference_catalogue


def plant_table(plant: Plant) -> Table:
    table = Table(title=plant.name)
    table.add_column("what")
    table.add_column("value", justify="right")
    for key, value in describe_plant(plant).items():
        if isinstance(value, dict):
            for sub, count in value.items():
                table.add_row(f"  machines in {sub}", f"{count:,}")
        else:
            table.add_row(key, f"{value:,}" if isinstance(value, int) else str(value))
    return table


def demand_table(catalogue: Catalogue, orders: list[Order], days: int) -> Table:
    families = Counter(o.configuration["family"] for o in orders)
    powertrains = Counter(o.configuration["powertrain"] for o in orders)
    table = Table(title=f"Demand mix: {len(orders):,} orders in {days} days")
    table.add_column("family")
    table.add_column("orders", justify="right")
    table.add_column("powertrain")
    table.add_column("orders", justify="right")
    rows = max(len(families), len(powertrains))
    fam, pt = families.most_common(), powertrains.most_common()
    for i in range(rows):
        table.add_row(
            fam[i][0] if i < len(fam) else "",
            f"{fam[i][1]:,}" if i < len(fam) else "",
            pt[i][0] if i < len(pt) else "",
            f"{pt[i][1]:,}" if i < len(pt) else "",
        )
    prices = [catalogue.price(o.configuration) for o in orders]
    if prices:
        table.caption = f"mean list price {sum(prices) / len(prices):,.0f} {catalogue.currency}"
    return table


def capacity_table(plant: Plant, catalogue: Catalogue, orders: list[Order], days: int) -> Table:
    loads = [line_load(plant, catalogue, orders, days), *feeder_loads(plant, catalogue, orders, days)]
    table = Table(title="Capacity against demand (seconds of work a day)")
    for column in ("resource", "shop", "machines", "demand/day", "capacity/day", "utilisation"):
        table.add_column(column, justify="left" if column in ("resource", "shop") else "right")
    for load in loads:
        style = "red" if load.utilisation > 1 else ("yellow" if load.utilisation > 0.85 else "")
        table.add_row(
            load.resource,
            load.shop,
            str(load.machines),
            f"{load.demand_s_per_day:,.0f}",
            f"{load.capacity_s_per_day:,.0f}",
            f"{load.utilisation:.0%}",
            style=style,
        )
    return table


def demo(
    days: int = typer.Option(5, "--days", help="Days of orders to generate."),
    scale: float = SCALE,
    seed: int = SEED,
    report: Path | None = typer.Option(None, "--report", help="Also write what is shown as an HTML file."),
) -> None:
    """Build the reference plant and its order stream; show plant, demand mix and capacity vs demand."""
    check_scale(scale)
    if days <= 0:
        raise ValidationError("--days", f"must be positive, got {days}")
    console = Console(record=report is not None)
    with console.status("building the reference plant and its orders"):
        catalogue = reference_catalogue()
        plant = build_plant(scale, seed)
        orders = order_stream(plant, catalogue, days, seed)
    console.print(plant_table(plant))
    console.print(demand_table(catalogue, orders, days))
    console.print(capacity_table(plant, catalogue, orders, days))
    if report is not None:
        console.save_html(str(report))
        console.print(f"report written to {report}")
