"""`mixflow cloud ...`: many plants, one cloud (issue #30): check a cloud file, quote an order at every plant.

`mixflow cloud validate CLOUD.yaml [--json]` opens every plant of a cloud file (mixflow-cloud-v1) and
prints each one's size and the regions it serves; `mixflow cloud quote CLOUD.yaml --region R [--choose
VAR=VALUE ...] [--booked-days D] [--place earliest|PLANT] --json` loads every plant with D days of its
own reference order stream booked, completes the choices into one configuration as the configurator
does, and prints what every plant promises at the customer's region (and where the order was placed).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from mixflow.cli.configure import CHOOSE, _choices
from mixflow.cli.options import JSON
from mixflow.cli.plant import describe_plant
from mixflow.configure import compile_catalogue
from mixflow.errors import InfeasibleError, MixflowError, UnknownNameError, ValidationError
from mixflow.model import DAY_S, Order
from mixflow.model.cloud_file import CloudFile, CloudPlant, load_cloud
from mixflow.promise.cloud_sites import OpenedCloud, open_cloud
from mixflow.promise.multi_plant import EARLIEST, MultiPlantPromiser, PlantQuote, PlantSite
from mixflow.reference import order_stream

app = typer.Typer(
    help="Many plants, one cloud: check a cloud file, quote an order at every plant.", no_args_is_help=True
)

CLOUD_FILE = typer.Argument(..., help="The cloud file (mixflow-cloud-v1, YAML or JSON).")
ORDER_ID = "CLOUD-000001"


def _source(entry: CloudPlant) -> dict[str, Any]:
    if entry.plant_file is not None:
        return {"plant": str(entry.plant_file), "seed": entry.seed}
    return {"scale": entry.scale, "seed": entry.seed}


@app.command()
def validate(file: Path = CLOUD_FILE, as_json: bool = JSON) -> None:
    """Open every plant of the cloud file; print each one's size and the regions it serves. Exit 2 with
    the first plant that cannot be opened (file:line: $.path: plant 'id': what)."""
    cloud = load_cloud(file)
    opened = open_cloud(cloud)
    plants = []
    for site in opened.sites:
        entry = cloud.entry(site.id)
        promiser = site.promiser
        plants.append(
            {
                "id": site.id,
                **_source(entry),
                "name": promiser.plant.name,
                "catalogue": promiser.catalogue.name,
                "transport_h": dict(site.transport_h),
                **describe_plant(promiser.plant, promiser.catalogue),
            }
        )
    report = {
        "cloud": str(file),
        "name": cloud.name,
        "valid": not opened.refused,
        "regions": list(cloud.regions),
        "plants": plants,
        "refused": {plant_id: str(error) for plant_id, error in opened.refused.items()},
    }
    if as_json:
        print(json.dumps(report))
    else:
        table = Table(title=f"{cloud.name}: regions {', '.join(cloud.regions)}")
        for column in ("plant", "catalogue", "machines", "lines", "units/day", "transport h"):
            table.add_column(column)
        for row in plants:
            hours = ", ".join(f"{r} {h:g}" for r, h in row["transport_h"].items())
            units = sum(line["units_per_day"] for line in row["lines"])
            table.add_row(
                row["id"],
                row["catalogue"],
                str(row["machines"]),
                str(len(row["lines"])),
                f"{units:.1f}",
                hours,
            )
        Console().print(table)
    if opened.refused:
        raise next(iter(opened.refused.values()))


def configure_once(sites: tuple[PlantSite, ...], choices: Mapping[str, str]) -> tuple[str, dict[str, str]]:
    """The order's configuration, completed from `choices` as the configurator does (the cheapest that
    keeps them) in the catalogue of the first plant that takes them; (that plant, the configuration)."""
    first_error = ""
    for site in sites:
        engine = compile_catalogue(site.promiser.catalogue)
        try:
            return site.id, engine.complete(choices)
        except UnknownNameError as exc:
            why = str(exc)
        except InfeasibleError:
            rules = engine.conflict(choices).rules
            why = f"the choices cannot go together: {'; '.join(rules) or 'the catalogue allows none'}"
        first_error = first_error or f"catalogue {site.promiser.catalogue.name!r} of plant {site.id}: {why}"
    shown = " ".join(f"{var}={value}" for var, value in choices.items())
    raise ValidationError("--choose", f"no plant's catalogue takes {shown}: {first_error}")


def book_reference_orders(opened: OpenedCloud, days: int) -> dict[str, int]:
    """Promise `days` days of each plant's own reference order stream (seeded by its entry), so that the
    plants carry the loads their customers give them; the number of orders booked, by plant."""
    booked = {}
    for site in opened.sites:
        entry = opened.cloud.entry(site.id)
        promiser = site.promiser
        orders = order_stream(promiser.plant, promiser.catalogue, days, entry.seed)
        for order in orders:
            promiser.promise(order, order.placed_s)
        booked[site.id] = len(orders)
    return booked


def _check_names(cloud: CloudFile, region: str, place: str | None) -> None:
    """Refuse an unknown region or plant before any plant is opened."""
    if region not in cloud.regions:
        raise UnknownNameError("region", region, list(cloud.regions))
    if place is not None and place != EARLIEST and place not in {p.id for p in cloud.plants}:
        raise UnknownNameError("plant", place, [EARLIEST, *(p.id for p in cloud.plants)])


def _check_opened(opened: OpenedCloud, place: str | None) -> None:
    """Refuse a quote with no plant open, or an order placed at a plant that was refused."""
    if place is not None and place in opened.refused:
        raise opened.refused[place]
    if not opened.sites:
        raise next(iter(opened.refused.values()))


def _quote_row(quote: PlantQuote, now_s: int) -> dict[str, Any]:
    row = quote.to_json()
    delivery = quote.delivery_s
    row["transport_h"] = None if quote.transport_s is None else round(quote.transport_s / 3600, 2)
    row["delivery_in_h"] = None if delivery is None else round((delivery - now_s) / 3600, 1)
    return row


@app.command()
def quote(
    file: Path = CLOUD_FILE,
    region: str = typer.Option(
        ..., "--region", help="The customer's region (a key of the plants' transport_h)."
    ),
    choose: list[str] = CHOOSE,
    booked_days: int = typer.Option(
        3, "--booked-days", help="Days of each plant's own reference order stream booked before the quote."
    ),
    place: str | None = typer.Option(
        None, "--place", help="Book the order: `earliest` (first at the region) or a plant id."
    ),
    as_json: bool = JSON,
) -> None:
    """Quote one order at every plant of the cloud: completion at the plant, delivery at the region,
    what binds, or why a plant cannot take it; with --place, book it at one plant."""
    if booked_days < 0:
        raise ValidationError("--booked-days", f"must be >= 0, got {booked_days}")
    choices = _choices(choose)
    cloud = load_cloud(file)
    _check_names(cloud, region, place)
    opened = open_cloud(cloud)
    _check_opened(opened, place)
    configured_in, configuration = configure_once(opened.sites, choices)
    booked = book_reference_orders(opened, booked_days)
    now_s = booked_days * DAY_S
    order = Order(ORDER_ID, "cloud", configuration, now_s, now_s)
    cloud_promiser = MultiPlantPromiser(opened.sites)
    if place is None:
        quotes, placed = cloud_promiser.quote(order, region, now_s), None
    else:
        placement = cloud_promiser.place(order, region, now_s, place)
        quotes, placed = placement.quotes, placement.placed
    rows = [_quote_row(q, now_s) for q in quotes]
    report = {
        "cloud": str(file),
        "region": region,
        "now_s": now_s,
        "booked_orders": booked,
        "configured_in": configured_in,
        "configuration": configuration,
        "quotes": rows,
        "placed": None if placed is None else {"order": ORDER_ID, **_quote_row(placed, now_s)},
        "refused": {plant_id: str(error) for plant_id, error in opened.refused.items()},
    }
    for error in opened.refused.values():
        print(f"mixflow: warning: {error}", file=sys.stderr)
    if as_json:
        print(json.dumps(report))
        return
    console = Console()
    table = Table(title=f"order {ORDER_ID} for region {region} (configured in {configured_in})")
    for column in ("plant", "delivery in h", "transport h", "line", "binding / why not"):
        table.add_column(column)
    for row in rows:
        table.add_row(
            row["plant"],
            "-" if row["delivery_in_h"] is None else f"{row['delivery_in_h']:g}",
            "-" if row["transport_h"] is None else f"{row['transport_h']:g}",
            row["line"] or "-",
            row["binding"] or row["why_not"],
        )
    console.print(table)
    if placed is not None:
        console.print(f"placed at plant {placed.plant}, line {placed.line} slot {placed.slot}")


@app.command()
def worker(
    file: Path = CLOUD_FILE,
    plant: str = typer.Option(..., "--plant", help="the id of the plant (in the cloud file) to run"),
    db: str = typer.Option("sqlite:///mixflow.db", "--db", envvar="MIXFLOW_DB",
                           help="the cloud's database URL (or $MIXFLOW_DB, to keep a password off the "
                           "command line); the plant's store is its schema or file beside it"),
    host: str = typer.Option("127.0.0.1", "--host", help="address to listen on"),
    port: int = typer.Option(0, "--port", help="TCP port to listen on (0: any free one)"),
    speed: float = typer.Option(60.0, "--speed", help="twin seconds per wall second"),
    advertise: str | None = typer.Option(None, "--advertise", help="the host name API processes dial "
                                         "(default: the --host, or this machine's name on 0.0.0.0)"),
) -> None:
    """Run one plant of the cloud for the API processes of `serve --cloud` (they find it through the
    store). Needs MIXFLOW_SECRET_KEY, the key the API processes share. Runs until SIGTERM."""
    import os

    from mixflow.api.cloud_app import plant_settings
    from mixflow.api.plant_worker import advertised_host, run_worker
    from mixflow.api.settings import SECRET_ENV, Settings

    if not os.environ.get(SECRET_ENV):
        raise ValidationError(SECRET_ENV, "is not set: the worker and the API processes must share it")
    if not 0 <= port < 65536:
        raise ValidationError("--port", f"{port} is not a TCP port")
    cloud = load_cloud(file)
    entry = cloud.entry(plant)
    settings = plant_settings(Settings(db_url=db, twin_speed=speed), entry)
    try:
        settings.plant()
    except MixflowError as refused:
        raise cloud.place(entry, "plant" if entry.plant_file else "scale", str(refused)) from refused
    run_worker(settings, db, host, port, advertise or advertised_host(host))
