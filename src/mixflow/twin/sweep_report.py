"""What a fleet-sizing sweep found: one row per run, the knee of the "AGVs needed" curve, and its page.

The knee is the smallest fleet that keeps the promise the plant sells, order to delivery within
`TARGET_DAYS` at the 95th percentile, on every seed and breakdown rate swept, and that delivered
every order: a run's p95 counts only the orders it finished, so a fleet that leaves orders behind
would look fast on p95 alone.
"""

from __future__ import annotations

import html
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from mixflow.twin.experiment import Result

TARGET_DAYS = 5
Row = Mapping[str, Any]

_STYLE = "body{font-family:sans-serif;max-width:1200px;margin:auto} td,th{padding:2px 8px;text-align:right}"


def units_per_day(kpis: Mapping[str, Any]) -> float:
    """Units delivered per day of order arrivals: the run drains its orders after the last arrival day,
    so deliveries spill into later days; what was delivered over the days that had orders is the rate
    the plant kept up with its demand, and it falls when a run ends with orders still open."""
    order_days = sum(1 for n in kpis.get("orders_per_day", []) if n > 0)
    return round(kpis["delivered"] / order_days, 2) if order_days else 0.0


def sweep_row(result: Result) -> dict[str, Any]:
    """The figures of one run of the sweep; the KPIs a run may lack (an older twin) are None."""
    k = result.kpis
    lead = k["order_to_delivery_days"]
    return {
        "agvs": k["agvs"],
        "mtbf_factor": result.scenario.mtbf_factor,
        "seed": result.seed,
        "orders": k["orders"],
        "delivered": k["delivered"],
        "units_per_day": units_per_day(k),
        "order_to_delivery_days": lead,
        "order_to_delivery_p95_days": lead["p95"],
        "promises_kept": k.get("promises_kept"),
        "line_stops": k.get("line_stops"),
        "line_stop_minutes": k.get("line_stop_minutes"),
        "agv_utilisation": k.get("agv_utilisation"),
        "agv_task_wait_p95_s": (k.get("agv_task_wait_s") or {}).get("p95"),
        "material_wait_h": k.get("material_wait_h"),
        "wall_s": k.get("wall_s"),
    }


@dataclass(frozen=True)
class Knee:
    """The smallest fleet that passed (None: none did), and why each failing fleet size failed."""

    agvs: int | None
    target_days: float
    failures: Mapping[int, tuple[str, ...]]


def _why_failed(row: Row, target_days: float) -> list[str]:
    run = f"seed {row['seed']}" + (f", MTBF x{row['mtbf_factor']:g}" if row["mtbf_factor"] != 1 else "")
    why = []
    if row["delivered"] < row["orders"]:
        why.append(f"{run}: {row['delivered']} of {row['orders']} orders delivered")
    if row["order_to_delivery_p95_days"] > target_days:
        why.append(
            f"{run}: p95 order to delivery {row['order_to_delivery_p95_days']:.2f} days > {target_days:g}"
        )
    return why


def find_knee(rows: Sequence[Row], target_days: float = TARGET_DAYS) -> Knee:
    """The smallest fleet size all of whose runs delivered every order within `target_days` at p95."""
    failures: dict[int, list[str]] = {}
    for row in rows:
        why = _why_failed(row, target_days)
        failures.setdefault(row["agvs"], []).extend(why)
    passed = [agvs for agvs, why in failures.items() if not why]
    return Knee(
        agvs=min(passed) if passed else None,
        target_days=target_days,
        failures={agvs: tuple(why) for agvs, why in sorted(failures.items()) if why},
    )


def sweep_document(rows: Sequence[Row], knee: Knee) -> dict[str, Any]:
    """What `mixflow simulate sweep --json` prints."""
    return {
        "rows": list(rows),
        "knee_agvs": knee.agvs,
        "target_days": knee.target_days,
        "failures": {str(agvs): list(why) for agvs, why in knee.failures.items()},
    }


def knee_lines(knee: Knee) -> list[str]:
    """The knee and the failing fleets in words, for the text output."""
    target = f"p95 order to delivery <= {knee.target_days:g} days and every order delivered on every run"
    if knee.agvs is None:
        lines = [f"knee: none of the fleets swept kept {target}"]
    else:
        lines = [f"knee: {knee.agvs} AGVs, the smallest fleet that kept {target}"]
    lines += [f"failed: {agvs} AGVs ({'; '.join(why)})" for agvs, why in knee.failures.items()]
    return lines


def _curve(
    rows: Sequence[Row], key: str, pick: Callable[[list[float]], float]
) -> dict[float, list[tuple[int, float]]]:
    """Per breakdown rate, (fleet size, `pick` of `key` over the seeds) in fleet order; runs without
    the KPI are left out."""
    points: dict[tuple[float, int], list[float]] = {}
    for row in rows:
        if row.get(key) is not None:
            points.setdefault((row["mtbf_factor"], row["agvs"]), []).append(float(row[key]))
    curves: dict[float, list[tuple[int, float]]] = {}
    for (factor, agvs), values in sorted(points.items()):
        curves.setdefault(factor, []).append((agvs, pick(values)))
    return curves


def _mean(values: list[float]) -> float:
    return sum(values) / len(values)


def _worst(values: list[float]) -> float:
    return max(values)


def sweep_figure(rows: Sequence[Row], knee: Knee) -> go.Figure:
    """The "AGVs needed" curve (worst p95 over the seeds against fleet size, with the target and the
    knee) beside units per day, line-stop minutes and AGV utilisation (means over the seeds)."""
    fig = make_subplots(
        rows=2,
        cols=2,
        subplot_titles=(
            "AGVs needed: p95 order to delivery (worst seed)",
            "units per day",
            "line-stop minutes",
            "AGV utilisation",
        ),
        horizontal_spacing=0.1,
        vertical_spacing=0.14,
    )
    several = len({row["mtbf_factor"] for row in rows}) > 1
    colours = ["#2b6cb0", "#dd6b20", "#38a169", "#805ad5", "#d53f8c"]
    panels: list[tuple[str, Callable[[list[float]], float], int, int, float]] = [
        ("order_to_delivery_p95_days", _worst, 1, 1, 1.0),
        ("units_per_day", _mean, 1, 2, 1.0),
        ("line_stop_minutes", _mean, 2, 1, 1.0),
        ("agv_utilisation", _mean, 2, 2, 100.0),
    ]
    for key, pick, r, c, times in panels:
        for i, (factor, points) in enumerate(_curve(rows, key, pick).items()):
            fig.add_scatter(
                x=[a for a, _ in points],
                y=[v * times for _, v in points],
                mode="lines+markers",
                name=f"MTBF x{factor:g}",
                legendgroup=f"{factor:g}",
                showlegend=several and key == "order_to_delivery_p95_days",
                line={"color": colours[i % len(colours)]},
                row=r,
                col=c,
            )
    fig.add_scatter(
        x=[row["agvs"] for row in rows],
        y=[row["order_to_delivery_p95_days"] for row in rows],
        mode="markers",
        marker={"color": "#a0aec0", "size": 6},
        name="one run",
        text=[f"seed {row['seed']}, MTBF x{row['mtbf_factor']:g}" for row in rows],
        showlegend=False,
        row=1,
        col=1,
    )
    short = [row for row in rows if row["delivered"] < row["orders"]]
    if short:
        fig.add_scatter(
            x=[row["agvs"] for row in short],
            y=[row["order_to_delivery_p95_days"] for row in short],
            mode="markers",
            marker={"symbol": "x", "color": "red", "size": 11},
            name="orders left undelivered",
            text=[f"seed {row['seed']}: {row['delivered']} of {row['orders']}" for row in short],
            row=1,
            col=1,
        )
    fig.add_hline(
        y=knee.target_days,
        line_dash="dash",
        line_color="red",
        annotation_text=f"{knee.target_days:g} days",
        row=1,
        col=1,
    )
    if knee.agvs is not None:
        fig.add_vline(
            x=knee.agvs,
            line_dash="dot",
            line_color="#38a169",
            annotation_text=f"knee: {knee.agvs} AGVs",
            row=1,
            col=1,
        )
    fig.update_xaxes(title_text="AGVs")
    fig.update_yaxes(title_text="days", row=1, col=1, rangemode="tozero")
    fig.update_yaxes(title_text="units", row=1, col=2, rangemode="tozero")
    fig.update_yaxes(title_text="minutes", row=2, col=1, rangemode="tozero")
    fig.update_yaxes(title_text="%", row=2, col=2, rangemode="tozero")
    fig.update_layout(height=760, margin={"l": 60, "r": 20, "t": 50, "b": 50})
    return fig


_TABLE_KEYS = (
    "agvs",
    "mtbf_factor",
    "seed",
    "orders",
    "delivered",
    "units_per_day",
    "order_to_delivery_p95_days",
    "promises_kept",
    "line_stops",
    "line_stop_minutes",
    "agv_utilisation",
    "agv_task_wait_p95_s",
    "material_wait_h",
)


def write_sweep_report(rows: Sequence[Row], knee: Knee, path: Path) -> Path:
    """Write the sweep's page (the figure, the knee in words, every run's row) to `path`; plotly.js is
    inlined so the page works offline."""
    words = "".join(f"<p>{html.escape(line)}</p>" for line in knee_lines(knee))
    head = "".join(f"<th>{html.escape(key)}</th>" for key in _TABLE_KEYS)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(json.dumps(row.get(key)))}</td>" for key in _TABLE_KEYS) + "</tr>"
        for row in sorted(rows, key=lambda r: (r["agvs"], r["mtbf_factor"], r["seed"]))
    )
    figure = sweep_figure(rows, knee).to_html(full_html=False, include_plotlyjs=True)
    doc = f"""<!doctype html><html><head><meta charset="utf-8"><title>mixflow fleet sizing</title>
<style>{_STYLE}</style>
</head><body><h1>mixflow: how many AGVs the plant needs</h1>{words}{figure}
<h2>Runs</h2><table><tr>{head}</tr>{body}</table></body></html>"""
    path.write_text(doc, encoding="utf-8")
    return path
