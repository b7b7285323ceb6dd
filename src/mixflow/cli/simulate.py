"""`mixflow simulate`: run the reference plant with the cloud scheduler in charge and print the KPIs.

`mixflow simulate [--days N] [--scale S] [--seed K] --json` prints one JSON object;
`mixflow simulate sweep --agvs 500,700,900 --mtbf-factor 0.5,1` runs a what-if grid in a process pool
(or on Ray with `--ray ADDRESS`, an optional extra).
"""

from __future__ import annotations

import json
from pathlib import Path

import typer

from mixflow.cli.options import SEED, check_scale
from mixflow.errors import ValidationError
from mixflow.model import DAY_S
from mixflow.twin import Scenario, Storm, run
from mixflow.twin.report import write_report
from mixflow.twin.sweep import sweep as run_sweep

app = typer.Typer(help="Simulate the reference plant (twin + cloud scheduler) and report KPIs.")


def scenario_from(
    days: int, scale: float, agvs: int | None, mtbf_factor: float, storm: bool, demand: float = 1.0
) -> Scenario:
    """The scenario the options describe; `storm` takes 10% of the cab shop down for an hour on day 1."""
    check_scale(scale)
    if days <= 0:
        raise ValidationError("--days", f"must be positive, got {days}")
    storms = (Storm("cab", 0.10, DAY_S + 9 * 3600, 3600),) if storm else ()
    return Scenario(
        scale=scale, days=days, agvs=agvs, mtbf_factor=mtbf_factor, storms=storms, demand_factor=demand
    )


@app.callback(invoke_without_command=True)
def simulate(
    ctx: typer.Context,
    days: int = typer.Option(2, "--days", help="Days of order arrivals (the run drains them afterwards)."),
    scale: float = typer.Option(0.25, "--scale", help="Plant size: 1.0 = 2,040 machines, 720 AGVs."),
    seed: int = SEED,
    agvs: int | None = typer.Option(None, "--agvs", help="Fleet size (default: the reference fleet)."),
    mtbf_factor: float = typer.Option(1.0, "--mtbf-factor", help="Scale every MTBF; 0 = no breakdowns."),
    storm: bool = typer.Option(False, "--storm", help="Breakdown storm: 10% of the cab shop down 1 h."),
    demand: float = typer.Option(1.0, "--demand", help="Demand factor over the reference order stream."),
    report: Path | None = typer.Option(None, "--report", help="Also write an HTML report here."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON only, on stdout."),
) -> None:
    """Run one scenario and print its KPIs."""
    if ctx.invoked_subcommand is not None:
        return
    result = run(scenario_from(days, scale, agvs, mtbf_factor, storm, demand), seed)
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
    scale: float = typer.Option(0.25, "--scale"),
    seeds: int = typer.Option(1, "--seeds", help="Seeds 0..n-1 per point."),
    workers: int = typer.Option(2, "--workers", help="Processes of the local pool."),
    ray: str | None = typer.Option(None, "--ray", help="Ray cluster address (needs `pip install ray`)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON only, on stdout."),
) -> None:
    """Run a grid of scenarios (fleet size x breakdown rate) and print one KPI line per point."""
    fleets: list[int | None] = [int(a) for a in _floats(agvs, "--agvs")] or [None]
    factors = _floats(mtbf_factor, "--mtbf-factor")
    scenarios = [scenario_from(days, scale, a, f, False) for a in fleets for f in factors]
    results = run_sweep(scenarios, list(range(seeds)), workers, ray)
    rows = [
        {
            "agvs": r.kpis["agvs"],
            "mtbf_factor": r.scenario.mtbf_factor,
            "seed": r.seed,
            "delivered": r.kpis["delivered"],
            "order_to_delivery_days": r.kpis["order_to_delivery_days"],
            "promises_kept": r.kpis["promises_kept"],
            "line_stops": r.kpis["line_stops"],
            "agv_utilisation": r.kpis["agv_utilisation"],
            "wall_s": r.kpis["wall_s"],
        }
        for r in results
    ]
    if as_json:
        print(json.dumps(rows))
        return
    for row in rows:
        typer.echo(json.dumps(row))
