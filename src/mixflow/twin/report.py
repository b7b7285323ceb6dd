"""A self-contained HTML report of a run: KPI table and plotly figures, plotly.js inlined (works offline)."""

from __future__ import annotations

import html
import json
from pathlib import Path

import numpy as np
import plotly.graph_objects as go

from mixflow.model import DAY_S
from mixflow.twin.experiment import Result

_STYLE = "body{font-family:sans-serif;max-width:1100px;margin:auto} td{padding:2px 8px}"


def _nouns(result: Result) -> tuple[str, str]:
    """What one unit and several units of the run's catalogue are called (truck/trucks by default)."""
    return str(result.extra.get("product", "truck")), str(result.extra.get("products", "trucks"))


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


def write_report(result: Result, path: Path) -> Path:
    """Write the report to `path` and return it."""
    k = dict(result.kpis)
    oee = k.pop("oee", {})
    rows = "".join(
        f"<tr><td>{html.escape(str(key))}</td><td>{html.escape(json.dumps(value))}</td></tr>"
        for key, value in k.items()
    )
    oee_rows = "".join(
        f"<tr><td>{g}</td><td>{v['availability']:.1%}</td><td>{v['performance']:.1%}</td><td>{v['oee']:.1%}</td></tr>"
        for g, v in oee.items()
    )
    parts = []
    for i, (title, fig) in enumerate(_figures(result)):
        fig.update_layout(height=420, margin={"l": 60, "r": 20, "t": 40, "b": 50})
        parts.append(f"<h2>{html.escape(title)}</h2>" + fig.to_html(full_html=False, include_plotlyjs=i == 0))
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
