"""`mixflow simulate`: run the reference plant with the cloud scheduler in charge and print the KPIs.

`mixflow simulate [--days N] [--scale S | --plant FILE] [--catalogue FILE] [--seed K] --json` prints one
JSON object;
`mixflow simulate sweep --agvs 500,700,900 --mtbf-factor 0.5,1 [--report FILE]` runs a what-if grid in a
process pool (or on Ray: `--ray local` starts one here, `--ray ADDRESS` joins a cluster; an optional extra)
and finds the knee of the fleet size.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from mixflow.cli.options import CATALOGUE, PLANT, SEED, check_scale, check_sources, source_paths
from mixflow.errors import ValidationError
from mixflow.model import DAY_S, Plant
from mixflow.twin import Scenario, Storm, SupplierDelay, run
from mixflow.twin.report import write_report
from mixflow.twin.sweep import sweep as run_sweep
from mixflow.twin.sweep_report import find_knee, knee_lines, sweep_document, sweep_row, write_sweep_report

app = typer.Typer(help="Simulate a plant (twin + cloud scheduler; by default the reference one); print KPIs.")

DEFAULT_SCALE = 0.25
STORM_SHOP = "cab"


def scenario_from(
    days: int,
    scale: float,
    agvs: int | None,
    mtbf_factor: float,
    storm: bool,
    demand: float = 1.0,
    plant_file: Path | None = None,
    catalogue_file: Path | None = None,
    *,
    storm_shop: str = STORM_SHOP,
) -> Scenario:
    """The scenario the options describe; `storm` takes 10% of `storm_shop` (the reference plant's cab
    shop) down for an hour on day 1. The plant and catalogue files travel as absolute paths."""
    check_scale(scale)
    if days <= 0:
        raise ValidationError("--days", f"must be positive, got {days}")
    storms = (Storm(storm_shop, 0.10, DAY_S + 9 * 3600, 3600),) if storm else ()
    plant_path, catalogue_path = source_paths(plant_file, catalogue_file)
    return Scenario(
        scale=scale,
        days=days,
        agvs=agvs,
        mtbf_factor=mtbf_factor,
        storms=storms,
        demand_factor=demand,
        plant_file=plant_path,
        catalogue_file=catalogue_path,
    )


def supplier_delay(text: str) -> SupplierDelay:
    """`ITEM=DAYS[@FROM_DAY]`: the supplier of ITEM delivers DAYS late every order placed from FROM_DAY on."""
    item, _, rest = text.partition("=")
    days_text, _, from_text = rest.partition("@")
    try:
        days, from_day = float(days_text), float(from_text or 0)
    except ValueError:
        raise ValidationError("--late", f"expects ITEM=DAYS[@FROM_DAY], got {text!r}") from None
    if not item or days <= 0 or from_day < 0:
        raise ValidationError("--late", f"expects ITEM=DAYS[@FROM_DAY] with DAYS > 0, got {text!r}")
    return SupplierDelay(item.strip(), round(days * DAY_S), round(from_day * DAY_S))


def storm_shop_of(plant: Plant | None) -> str:
    """The shop a --storm hits: the reference cab shop, or the first shop of a plant without one."""
    shops = [s.id for s in plant.shops] if plant is not None else []
    if STORM_SHOP in shops or not shops:
        return STORM_SHOP
    return shops[0]


@app.callback(invoke_without_command=True)
def simulate(
    ctx: typer.Context,
    days: int = typer.Option(2, "--days", help="Days of order arrivals (the run drains them afterwards)."),
    scale: float = typer.Option(
        DEFAULT_SCALE, "--scale", help="Reference plant size: 1.0 = 2,040 machines, 720 AGVs."
    ),
    seed: int = SEED,
    plant: Path | None = PLANT,
    catalogue: Path | None = CATALOGUE,
    agvs: int | None = typer.Option(None, "--agvs", help="Fleet size (default: the reference fleet)."),
    mtbf_factor: float = typer.Option(1.0, "--mtbf-factor", help="Scale every MTBF; 0 = no breakdowns."),
    storm: bool = typer.Option(
        False, "--storm", help="Breakdown storm: 10% of the cab shop (or the plant's first shop) down 1 h."
    ),
    demand: float = typer.Option(1.0, "--demand", help="Demand factor over the generated order stream."),
    late: list[str] = typer.Option(
        [], "--late", help="A supplier late: ITEM=DAYS[@FROM_DAY], e.g. e_drive=2 (repeatable)."
    ),
    materials: bool = typer.Option(
        True, "--materials/--no-materials", help="Model the plant's supply (off: as if it were perfect)."
    ),
    report: Path | None = typer.Option(None, "--report", help="Also write an HTML report here."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON only, on stdout."),
) -> None:
    """Run one scenario and print its KPIs."""
    if ctx.invoked_subcommand is not None:
        return
    shop = storm_shop_of(check_sources(plant, catalogue, scale, seed, DEFAULT_SCALE))
    scenario = scenario_from(days, scale, agvs, mtbf_factor, storm, demand, plant, catalogue, storm_shop=shop)
    delays = tuple(supplier_delay(text) for text in late)
    scenario = replace(scenario, supplier_delays=delays, materials=materials)
    result = run(scenario, seed)
    if report is not None:
        write_report(result, report)
    if as_json:
        print(json.dumps(result.kpis))
        return
    for key, value in result.kpis.items():
        if key != "oee":
            typer.echo(f"{key}: {value}")


def _floats(text: str, name: str) -> list[float]:
    try:
        return [float(x) for x in text.split(",") if x.strip()]
    except ValueError as bad:
        raise ValidationError(name, f"expects comma-separated numbers, got {text!r}") from bad


@app.command("sweep")
def sweep(
    agvs: str = typer.Option("", "--agvs", help="Comma-separated fleet sizes, e.g. 500,700,900."),
    mtbf_factor: str = typer.Option("1", "--mtbf-factor", help="Comma-separated MTBF factors."),
    days: int = typer.Option(1, "--days"),
    scale: float = typer.Option(DEFAULT_SCALE, "--scale"),
    plant: Path | None = PLANT,
    catalogue: Path | None = CATALOGUE,
    seeds: int = typer.Option(1, "--seeds", help="Seeds 0..n-1 per point."),
    workers: int = typer.Option(
        2, "--workers", help="Processes of the local pool, or CPUs of `--ray local`."
    ),
    ray: str | None = typer.Option(
        None,
        "--ray",
        help="Run on Ray: `local` starts one here with --workers CPUs; `auto` or `ray://HOST:10001` joins "
        "a running cluster (needs `pip install 'mixflow[ray]'`).",
    ),
    report: Path | None = typer.Option(
        None, "--report", help='Also write an HTML page with the "AGVs needed" curve here.'
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON only, on stdout."),
) -> None:
    """Run a grid of scenarios (fleet size x breakdown rate), print one KPI line per run and the knee:
    the smallest fleet that delivered every order within 5 days at p95 on every run."""
    if seeds < 1:
        raise ValidationError("--seeds", f"must be at least 1, got {seeds}")
    fleets: list[int | None] = [int(a) for a in _floats(agvs, "--agvs")] or [None]
    factors = _floats(mtbf_factor, "--mtbf-factor")
    check_sources(plant, catalogue, scale, 0, DEFAULT_SCALE)  # bad files fail here, not in a worker
    scenarios = [
        scenario_from(days, scale, a, f, False, 1.0, plant, catalogue) for a in fleets for f in factors
    ]
    with _progress_bar() as progress:
        bar = progress.add_task(f"runs on {'Ray' if ray else 'the pool'}", total=len(scenarios) * seeds)
        results = run_sweep(
            scenarios, list(range(seeds)), workers, ray, lambda done, _: progress.update(bar, completed=done)
        )
    rows = [sweep_row(r) for r in results]
    knee = find_knee(rows)
    if report is not None:
        write_sweep_report(rows, knee, report)
    if as_json:
        print(json.dumps(sweep_document(rows, knee)))
        return
    for row in rows:
        typer.echo(json.dumps(row))
    for line in knee_lines(knee):
        typer.echo(line)


def _progress_bar() -> Progress:
    """Runs finished of the sweep, on stderr so that --json stays clean, and only on a terminal: a log
    or a pipe gets the rows alone."""
    console = Console(stderr=True)
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
        disable=not console.is_terminal,
    )
