"""`mixflow demo`: the main job. Builds the plant (the reference one, or `--plant FILE` with
`--catalogue FILE`) and its order stream and shows them (the
plant, the demand mix, capacity against demand), then runs the plant: the twin with the cloud
scheduler in charge, a progress bar and live KPI lines, and a self-contained HTML report at the end.
Ctrl-C stops the run and still writes the report of what ran."""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

import numpy as np
import typer
from rich.console import Console, Group
from rich.live import Live
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from mixflow.cli.connect import FLEET, FLEETS, compare_over_mqtt
from mixflow.cli.options import CATALOGUE, PLANT, SEED, check_sources
from mixflow.cli.plant import describe_plant
from mixflow.cli.simulate import DEFAULT_SCALE, scenario_from, storm_shop_of
from mixflow.connect.broker import Broker, parse_broker
from mixflow.errors import ValidationError
from mixflow.model import DAY_S, Catalogue, Order, Plant, Scope
from mixflow.plan import PlanStore, Scheduler
from mixflow.reference import feeder_loads, line_loads
from mixflow.store import connect
from mixflow.twin import Scenario, Twin, prepare, run
from mixflow.twin.report import write_report


def plant_table(plant: Plant, catalogue: Catalogue) -> Table:
    table = Table(title=plant.name)
    table.add_column("what")
    table.add_column("value", justify="right")
    for key, value in describe_plant(plant, catalogue).items():
        if isinstance(value, dict):
            for sub, count in value.items():
                table.add_row(f"  machines in {sub}", f"{count:,}")
        else:
            table.add_row(key, f"{value:,}" if isinstance(value, int) else str(value))
    return table


def mix_variables(catalogue: Catalogue) -> tuple[str, str | None]:
    """The two model variables the demand mix is shown by: the catalogue's first model variable (the
    family, say) and, of the others, the one with the most values (the powertrain of a truck)."""
    model = catalogue.variables_of(Scope.MODEL) or tuple(catalogue.variables)
    rest = sorted(model[1:], key=lambda v: -len(v.codes))
    return model[0].name, (rest[0].name if rest else None)


def demand_table(catalogue: Catalogue, orders: list[Order], days: int) -> Table:
    first, second = mix_variables(catalogue)
    families = Counter(o.configuration[first] for o in orders)
    powertrains = Counter(o.configuration[second] for o in orders) if second is not None else Counter()
    table = Table(title=f"Demand mix: {len(orders):,} orders in {days} days")
    table.add_column(catalogue.variable(first).label or first)
    table.add_column("orders", justify="right")
    table.add_column(catalogue.variable(second).label or second if second is not None else "")
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
    loads = [*line_loads(plant, catalogue, orders, days), *feeder_loads(plant, catalogue, orders, days)]
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


def live_table(now_s: int, scheduler: Scheduler, twin: Twin, orders: int) -> Table:
    """The live KPI lines shown under the progress bar."""
    book = scheduler.kpis
    lead = [(t - book.placed_s[o]) / DAY_S for o, t in book.delivered_s.items()]
    p95 = f"{float(np.percentile(lead, 95)):.2f}" if lead else "-"
    kept = sum(1 for o, t in book.delivered_s.items() if t <= book.promised_s.get(o, -1))
    day, tod = divmod(now_s, DAY_S)
    table = Table(show_header=True, box=None)
    for column in (
        "plant time",
        "orders",
        "on line",
        "delivered",
        "p95 d",
        "kept",
        "stops",
        "down",
        "AGVs",
        "crash",
    ):
        table.add_column(column, justify="right")
    busy = int((scheduler.fleet.state != 0).sum())
    table.add_row(
        f"day {day} {tod // 3600:02d}:{tod % 3600 // 60:02d}",
        f"{len(book.placed_s)}/{orders}",
        str(sum(1 for line in twin.lines.values() for o in line.at if o is not None)),
        str(len(book.delivered_s)),
        p95,
        f"{kept}/{len(book.delivered_s)}",
        str(len(book.stops)),
        str(len(scheduler.shops.down)),
        str(busy),
        str(twin.agvs.counters.collisions),
    )
    return table


def demo(
    days: int = typer.Option(2, "--days", help="Days of order arrivals (the run then drains them)."),
    scale: float = typer.Option(
        DEFAULT_SCALE, "--scale", help="Reference plant size: 1.0 = 2,040 machines, 720 AGVs."
    ),
    seed: int = SEED,
    plant: Path | None = PLANT,
    catalogue: Path | None = CATALOGUE,
    report: Path = typer.Option(
        Path("mixflow-report.html"), "--report", help="Where to write the HTML report."
    ),
    storm: bool = typer.Option(
        False, "--storm", help="Breakdown storm: 10% of the cab shop (or the plant's first shop) down 1 h."
    ),
    db: str = typer.Option("sqlite://", "--db", help="Where the scheduler persists its state."),
    mqtt: str | None = typer.Option(
        None,
        "--mqtt",
        help="Broker URL: run the plant a second time as devices behind this broker and compare the KPIs.",
    ),
    fleet: str = FLEET,
    mqtt_hours: float = typer.Option(
        24.0,
        "--mqtt-hours",
        help="Plant hours to run both ways for the --mqtt comparison (default: the first plant day; "
        "each plant hour through the broker takes some 30-60 s on two cores).",
    ),
) -> None:
    """Show the plant, demand and capacity, then run it with the cloud scheduler and write a report.

    With --mqtt the same scheduler then runs the plant for --mqtt-hours (the first plant day by default)
    in-process and through the broker: machines and the line as devices (the `mixflow connect devices`
    process, breakdowns and repairs in Sparkplug B) and the AGVs as VDA 5050 vehicles of two makers
    behind master control (the `mixflow connect vda-vehicles --lockstep` process; with `--fleet
    mixflow`, the fleet as one device of mixflow's own), and the two runs' KPIs are compared side by
    side.
    """
    if mqtt_hours <= 0:
        raise ValidationError("--mqtt-hours", f"must be positive, got {mqtt_hours:g}")
    if fleet not in FLEETS:
        raise ValidationError("--fleet", f"must be one of {', '.join(FLEETS)}, got {fleet!r}")
    if days <= 0:
        raise ValidationError("--days", f"must be positive, got {days}")
    console = Console()
    with console.status("reading the plant and its catalogue"):
        shop = storm_shop_of(check_sources(plant, catalogue, scale, seed, DEFAULT_SCALE))
    scenario = scenario_from(days, scale, None, 1.0, storm, 1.0, plant, catalogue, storm_shop=shop)
    with console.status("building the plant and its orders"):
        the_plant, the_catalogue, orders = prepare(scenario, seed)
    console.print(plant_table(the_plant, the_catalogue))
    console.print(demand_table(the_catalogue, orders, days))
    console.print(capacity_table(the_plant, the_catalogue, orders, days))
    _engine, sessions = connect(db)
    progress = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.completed:,.0f}/{task.total:,.0f}"),
        TimeElapsedColumn(),
        console=console,
    )
    delivered_task = progress.add_task(f"{the_catalogue.products} delivered", total=len(orders))
    clock_task = progress.add_task("plant hours", total=scenario.end_s // 3600)
    last_draw = [0.0]
    with Live(Group(progress, Table()), console=console, refresh_per_second=4) as live:

        def on_progress(now_s: int, scheduler: Scheduler, twin: Twin) -> bool:
            wall = time.perf_counter()
            if wall - last_draw[0] >= 0.25:
                last_draw[0] = wall
                progress.update(delivered_task, completed=len(twin.delivered))
                progress.update(clock_task, completed=now_s // 3600)
                live.update(Group(progress, live_table(now_s, scheduler, twin, len(orders))))
            return True

        result = run(scenario, seed, store=PlanStore(sessions), on_progress=on_progress)
    if result.interrupted:
        console.print("[yellow]interrupted: the report covers what ran[/yellow]")
    k = result.kpis
    console.print(
        f"delivered {k['delivered']}/{k['orders']} {the_catalogue.products}, order-to-delivery p50 "
        f"{k['order_to_delivery_days']['p50']} / p95 {k['order_to_delivery_days']['p95']} / max "
        f"{k['order_to_delivery_days']['max']} days, promises kept {k['promises_kept']:.1%}, "
        f"line stops {k['line_stops']}, AGV collisions {k['agv_collisions']}, wall {k['wall_s']} s"
    )
    write_report(result, report)
    console.print(f"report written to {report}")
    if mqtt is not None:
        until_s = int(mqtt_hours * 3600)
        console.print(mqtt_comparison(parse_broker(mqtt), scenario, seed, until_s, fleet, console))


def mqtt_comparison(
    broker: Broker, scenario: Scenario, seed: int, until_s: int, fleet: str, console: Console
) -> Table:
    """The same run through the broker to `until_s`, KPI by KPI against the in-process run, with the
    wall time each took and the messages the broker carried."""
    hours = until_s // 3600
    with console.status(f"running the plant again through {broker.host}:{broker.port}") as status:

        def progress(run: str, now_s: int) -> None:
            status.update(f"plant hour {now_s // 3600}/{hours} {run} (broker {broker.host}:{broker.port})")

        compared = compare_over_mqtt(broker, scenario, seed, until_s, fleet, progress)
    through = "VDA 5050 vehicles + devices over MQTT" if fleet == "vda5050" else "devices over MQTT"
    table = Table(title=f"In-process against {through}: {hours} plant hours")
    for column in ("KPI", "in-process", "through the broker", "same"):
        table.add_column(column)
    for key, value in compared["in_process"].items():
        other = compared["over_mqtt"].get(key)
        table.add_row(key, str(value), str(other), "yes" if value == other else "[red]no[/red]")
    table.add_section()
    table.add_row("wall time (s)", str(compared["in_process_s"]), str(compared["over_mqtt_s"]), "")
    gateway = compared["gateway"]
    devices = f"{gateway['round_trips']:,} / {gateway['received']:,}"
    table.add_row("devices: clock steps / messages in", "", devices, "")
    vda = compared.get("vda5050")
    if vda is not None:
        table.add_row(
            "VDA 5050: orders + updates / instant actions / states",
            "",
            f"{vda['orders'] + vda['order_updates']:,} / {vda['instant_actions']:,} / {vda['states']:,}",
            "",
        )
        table.add_row(
            "VDA 5050: lost / rejected / invalid / steps off the plan",
            "",
            f"{vda['lost']} / {vda['rejected_orders']} / {vda['invalid']} / {vda['unsettled_steps']}",
            "",
        )
    sparkplug = compared.get("sparkplug")
    if sparkplug is not None:
        said = f"{sparkplug['births']:,} / {sparkplug['messages'] - sparkplug['births']:,}"
        table.add_row("Sparkplug B: births / machine states", "", said, "")
    table.caption = "same KPIs" if compared["same_kpis"] else f"differing: {', '.join(compared['differing'])}"
    return table
