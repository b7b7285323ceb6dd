"""The run report's fleet, materials and power sections, each shown only when the run measured it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from mixflow.twin import Result, Scenario
from mixflow.twin.report import write_report

_BASE: dict[str, Any] = {
    "orders": 4,
    "delivered": 4,
    "units_per_day": [0, 4],
    "orders_per_day": [4],
    "energy_kwh": {"machines": 900.0, "agv_drive": 10.0, "charging": 8.0},
    "energy_kwh_per_unit": 227.5,
    "oee": {},
}

_MEASURED: dict[str, Any] = {
    "agv_utilisation": 0.42,
    "agv_empty_travel": 0.31,
    "agv_tasks": 480,
    "agv_tasks_per_hour": 20.0,
    "agv_tasks_by_kind": {"line": 300, "wip": 100, "raw": 60, "receipt": 20},
    "agv_task_wait_s": {"p50": 30, "p95": 240, "max": 900},
    "agv_task_wait_causes_h": {"unassigned": 1.5, "agv_on_its_way": 2.5},
    "material_wait_h": 3.5,
    "material_wait_h_by_shop": {"cab": 2.0, "frame": 1.5},
    "stockouts": 2,
    "purchase_orders": 17,
    "supplier_on_time": 0.88,
    "inventory_value": 1_250_000.0,
    "inventory_value_by_day": [1_400_000.0, 1_300_000.0, 1_250_000.0],
    "days_of_supply": 4.2,
    "peak_power_kw": 5200.0,
    "peak_15min_kw": 4100.0,
    "power_profile_kw": {
        "machines": [900.0] * 24,
        "agv_charging": [20.0] * 24,
        "truck_charging": [0.0] * 12 + [3000.0] * 12,
    },
    "truck_charging": {"units": 4, "kwh_per_unit": 420.0, "wait_min_p95": 35.0},
}


def _result(kpis: dict[str, Any]) -> Result:
    return Result(
        scenario=Scenario(scale=0.05, days=1),
        seed=0,
        kpis=kpis,
        lead_days=np.array([1.0, 2.0, 2.5, 3.0]),
        stops=(),
        gantt=(),
        heat=np.ones((3, 3), dtype=np.int64),
        blocked=np.zeros((3, 3), dtype=np.bool_),
    )


def test_a_run_that_measured_materials_fleet_and_power_shows_them(tmp_path: Path) -> None:
    page = write_report(_result({**_BASE, **_MEASURED}), tmp_path / "r.html").read_text()
    assert "<h2>AGV fleet</h2>" in page and "<h2>Materials</h2>" in page and "<h2>Power by hour</h2>" in page
    assert "utilisation 42.0% · empty travel 31.0% · 480 tasks · 20.0 tasks per hour" in page
    assert "wait for an AGV p50 30 s, p95 240 s, max 900 s" in page
    assert "tasks waited 1.5 h with no AGV assigned, 2.5 h for the assigned AGV" in page
    assert "hours machines waited for material, by shop" in page
    assert "inventory value at the end 1,250,000 · 4.2 days of supply · 2 stock-outs" in page
    assert "17 purchase orders · suppliers on time 88.0%" in page
    assert "peak 5,200 kW · 15-min peak 4,100 kW · 227.5 kWh per truck" in page
    assert "4 trucks charged at the end of the line, 420.0 kWh each, p95 wait for a charger 35 min" in page
    assert '"stackgroup":"power"' in page and "truck_charging" in page
    assert "[900.0, 900.0" not in page  # the hourly profile is plotted, not dumped in the KPI table
    assert page.count("<script src=") == 0 and page.count("plotly.js v") == 1  # plotly.js inlined once


def test_a_run_without_them_renders_as_before(tmp_path: Path) -> None:
    page = write_report(_result(dict(_BASE)), tmp_path / "r.html").read_text()
    assert "Order-to-delivery" in page and "Energy (227.5 kWh per truck)" in page
    for section in ("AGV fleet", "Materials", "Power by hour"):
        assert f"<h2>{section}</h2>" not in page


def test_a_section_shows_what_it_has(tmp_path: Path) -> None:
    kpis = {**_BASE, "stockouts": 0, "supplier_on_time": None, "agv_tasks_by_kind": {"line": 5}}
    page = write_report(_result(kpis), tmp_path / "r.html").read_text()
    assert "<h2>Materials</h2>" in page and "0 stock-outs" in page and "suppliers on time" not in page
    assert "<h2>AGV fleet</h2>" in page and "AGV tasks by kind" in page
    assert "by shop" not in page and "<h2>Power by hour</h2>" not in page
