"""A self-contained HTML report of a run: KPI table and plotly figures, plotly.js inlined (works offline)."""

from __future__ import annotations

import html
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from mixflow.model import DAY_S
from mixflow.twin.experiment import Result

_STYLE = "body{font-family:sans-serif;max-width:1100px;margin:auto} td{padding:2px 8px} .facts{color:#2d3748}"
_SERIES = ("power_profile_kw",)
"""KPIs too long for the table (one value an hour); their section plots them."""


def _nouns(result: Result) -> tuple[str, str]:
    """What one unit and several units of the run's catalogue are called (truck/trucks by default)."""
    return str(result.extra.get("product", "truck")), str(result.extra.get("products", "trucks"))


@dataclass(frozen=True)
class _Section:
    """One part of the page: a heading, its figures in words, and a plot (None: the words only)."""

    title: str
    figure: go.Figure | None
    facts: tuple[str, ...] = ()


Wording = Sequence[tuple[str, Callable[[Any], str]]]


def _facts(k: Mapping[str, Any], wording: Wording) -> tuple[str, ...]:
    """The KPIs `wording` names, in words, leaving out those the run does not have."""
    return tuple(say(k[key]) for key, say in wording if k.get(key) is not None)


def _percent(share: float) -> str:
    return f"{share:.1%}"


_MATERIALS: Wording = (
    ("inventory_value", lambda v: f"inventory value at the end {v:,.0f}"),
    ("days_of_supply", lambda v: f"{v:.1f} days of supply"),
    ("stockouts", lambda v: f"{v} stock-outs"),
    ("purchase_orders", lambda v: f"{v} purchase orders"),
    ("supplier_on_time", lambda v: f"suppliers on time {_percent(v)}"),
)
_FLEET: Wording = (
    ("agv_utilisation", lambda v: f"utilisation {_percent(v)}"),
    ("agv_empty_travel", lambda v: f"empty travel {_percent(v)}"),
    ("agv_tasks", lambda v: f"{v} tasks"),
    ("agv_tasks_per_hour", lambda v: f"{v:.1f} tasks per hour"),
    (
        "agv_task_wait_s",
        lambda v: f"wait for an AGV p50 {v['p50']:.0f} s, p95 {v['p95']:.0f} s, max {v['max']:.0f} s",
    ),
    (
        "agv_task_wait_causes_h",
        lambda v: (
            f"tasks waited {v['unassigned']:.1f} h with no AGV assigned, "
            f"{v['agv_on_its_way']:.1f} h for the assigned AGV"
        ),
    ),
    ("material_wait_h", lambda v: f"machines waited {v:.1f} h for material"),
)
_FLEET_KEYS = (
    "agv_tasks",
    "agv_tasks_per_hour",
    "agv_tasks_by_kind",
    "agv_task_wait_s",
    "material_wait_h_by_shop",
)
_ENERGY: Wording = (
    ("peak_power_kw", lambda v: f"peak {v:,.0f} kW"),
    ("peak_15min_kw", lambda v: f"15-min peak {v:,.0f} kW"),
)


def _materials(k: Mapping[str, Any]) -> _Section | None:
    """Stock and supply: inventory value by day, with stock-outs, purchase orders and supplier on time."""
    facts = _facts(k, _MATERIALS)
    by_day = k.get("inventory_value_by_day")
    if not facts and by_day is None:
        return None
    figure = None
    if by_day:
        figure = go.Figure(go.Bar(x=list(range(len(by_day))), y=list(by_day), marker_color="#805ad5"))
        figure.update_layout(xaxis_title="day", yaxis_title="inventory value")
    return _Section("Materials", figure, facts)


def _fleet(k: Mapping[str, Any]) -> _Section | None:
    """What the AGVs carried and who waited for them: tasks by kind, material waits by shop."""
    if not any(key in k for key in _FLEET_KEYS):
        return None
    bars = [
        (title, values)
        for title, values in (
            ("AGV tasks by kind", k.get("agv_tasks_by_kind")),
            ("hours machines waited for material, by shop", k.get("material_wait_h_by_shop")),
        )
        if values
    ]
    figure = None
    if bars:
        figure = make_subplots(rows=1, cols=len(bars), subplot_titles=[title for title, _ in bars])
        for col, (title, values) in enumerate(bars, start=1):
            figure.add_bar(
                x=list(values), y=list(values.values()), name=title, showlegend=False, row=1, col=col
            )
    return _Section("AGV fleet", figure, _facts(k, _FLEET))


def _energy(k: Mapping[str, Any], product: str, products: str) -> _Section | None:
    """The plant's power by hour, stacked by source (machines, AGV charging, truck charging), against
    its peaks: megawatt charging of every truck can set the plant's peak on its own."""
    profile: Mapping[str, Sequence[float]] | None = k.get("power_profile_kw")
    charging = k.get("truck_charging")
    peaks = _facts(k, _ENERGY)
    if profile is None and charging is None and not peaks:
        return None
    facts = list(peaks)
    if "energy_kwh_per_unit" in k:
        facts.append(f"{k['energy_kwh_per_unit']:,.1f} kWh per {product}")
    if charging:
        facts.append(
            f"{charging['units']} {products} charged at the end of the line, "
            f"{charging['kwh_per_unit']:,.1f} kWh each, "
            f"p95 wait for a charger {charging['wait_min_p95']:.0f} min"
        )
    figure = None
    if profile:
        figure = go.Figure()
        for source, kw in profile.items():
            figure.add_scatter(
                x=list(range(len(kw))), y=list(kw), name=source, stackgroup="power", mode="lines"
            )
        for key, label, dash in (("peak_power_kw", "peak", "dash"), ("peak_15min_kw", "15-min peak", "dot")):
            if k.get(key) is not None:
                figure.add_hline(
                    y=k[key], line_dash=dash, line_color="red", annotation_text=f"{label} {k[key]:,.0f} kW"
                )
        figure.update_layout(xaxis_title="hour of the run", yaxis_title="mean kW")
    return _Section("Power by hour", figure, tuple(facts))


def _figures(result: Result) -> list[tuple[str, go.Figure]]:
    k = result.kpis
    product, products = _nouns(result)
    figs: list[tuple[str, go.Figure]] = []
    lead = go.Figure(go.Histogram(x=result.lead_days, nbinsx=40, marker_color="#2b6cb0"))
    lead.add_vline(x=5, line_dash="dash", line_color="red", annotation_text="5 days")
    lead.update_layout(xaxis_title="order to delivery (days)", yaxis_title=products)
    figs.append(("Order-to-delivery", lead))

    out = list(k["units_per_day"])
    demand = list(k["orders_per_day"])
    days = list(range(max(len(out), len(demand))))
    daily = go.Figure()
    daily.add_bar(x=days, y=demand + [0] * (len(days) - len(demand)), name="orders placed")
    daily.add_bar(x=days, y=out + [0] * (len(days) - len(out)), name=f"{products} delivered")
    daily.update_layout(barmode="group", xaxis_title="day", yaxis_title=products)
    figs.append(("Daily output against demand", daily))

    stops = go.Figure()
    causes = sorted({c.split(" (")[0] for *_, c in result.stops})
    for cause in causes:
        rows = [s for s in result.stops if s[3].split(" (")[0] == cause]
        stops.add_scatter(
            x=[s[0] / 3600 for s in rows],
            y=[(s[1] - s[0]) / 60 for s in rows],
            mode="markers",
            name=cause,
            text=[s[2] for s in rows],
        )
    stops.update_layout(xaxis_title="hour of the run", yaxis_title="stop length (min)")
    figs.append((f"Line stops ({len(result.stops)})", stops))

    gantt = go.Figure()
    if result.gantt:
        groups: dict[str, int] = {}
        for g, *_ in result.gantt:
            groups[g] = groups.get(g, 0) + 1
        group = max(groups, key=lambda g: groups[g])
        ops = [r for r in result.gantt if r[0] == group]
        machines = sorted({r[1] for r in ops})[:25]
        first = min(r[3] for r in ops)
        window = [r for r in ops if r[1] in machines and r[3] < first + DAY_S]
        gantt.add_bar(
            y=[r[1] for r in window],
            x=[(r[4] - r[3]) / 3600 for r in window],
            base=[r[3] / 3600 for r in window],
            orientation="h",
            text=[r[2] for r in window],
            marker_color="#38a169",
        )
        gantt.update_layout(title=f"group {group}, first day", xaxis_title="hour", yaxis_title="machine")
    figs.append(("Machine-group Gantt excerpt", gantt))

    heat = result.heat.astype(float)
    heat[result.blocked] = np.nan
    hm = go.Figure(go.Heatmap(z=np.log1p(heat), colorscale="Inferno", colorbar={"title": "log(1+visits)"}))
    hm.update_yaxes(autorange="reversed", scaleanchor="x")
    figs.append(("AGV heat map of the floor", hm))

    energy = k["energy_kwh"]
    en = go.Figure(go.Bar(x=list(energy), y=list(energy.values())))
    en.update_layout(yaxis_title="kWh")
    figs.append((f"Energy ({k['energy_kwh_per_unit']} kWh per {product})", en))
    return figs


def _sections(result: Result) -> list[_Section]:
    """The figures every run has, then the fleet, materials and power sections of the runs that
    measured them (a run of an older twin, or a plant without suppliers, has none of their KPIs)."""
    k = result.kpis
    measured = [_fleet(k), _materials(k), _energy(k, *_nouns(result))]
    return [_Section(title, fig) for title, fig in _figures(result)] + [s for s in measured if s is not None]


def write_report(result: Result, path: Path) -> Path:
    """Write the report to `path` and return it."""
    k = dict(result.kpis)
    oee = k.pop("oee", {})
    rows = "".join(
        f"<tr><td>{html.escape(str(key))}</td><td>{html.escape(json.dumps(value))}</td></tr>"
        for key, value in k.items()
        if key not in _SERIES
    )
    oee_rows = "".join(
        f"<tr><td>{g}</td><td>{v['availability']:.1%}</td><td>{v['performance']:.1%}</td><td>{v['oee']:.1%}</td></tr>"
        for g, v in oee.items()
    )
    parts = []
    plotly_js = True  # inlined once, with the first figure
    for section in _sections(result):
        parts.append(f"<h2>{html.escape(section.title)}</h2>")
        if section.facts:
            parts.append(f'<p class="facts">{html.escape(" · ".join(section.facts))}</p>')
        if section.figure is not None:
            section.figure.update_layout(height=420, margin={"l": 60, "r": 20, "t": 40, "b": 50})
            parts.append(section.figure.to_html(full_html=False, include_plotlyjs=plotly_js))
            plotly_js = False
    note = ""
    if result.interrupted:
        note = "<p><b>Interrupted:</b> this report covers the part of the run that finished.</p>"
    plant = html.escape(str(result.extra.get("plant", f"reference plant, scale {result.scenario.scale:g}")))
    doc = f"""<!doctype html><html><head><meta charset="utf-8"><title>mixflow run report</title>
<style>{_STYLE}</style>
</head><body><h1>mixflow: {plant}, seed {result.seed}</h1>{note}
<h2>KPIs</h2><table>{rows}</table>
<h2>OEE per machine group</h2>
<table><tr><th>group</th><th>availability</th><th>performance</th><th>OEE</th></tr>
{oee_rows}</table>{"".join(parts)}</body></html>"""
    path.write_text(doc, encoding="utf-8")
    return path
