"""The fleet sweep's rows, its knee and its page, from hand-made runs (no simulation)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from mixflow.twin import Result, Scenario
from mixflow.twin.sweep_report import (
    find_knee,
    knee_lines,
    sweep_document,
    sweep_figure,
    sweep_row,
    units_per_day,
    write_sweep_report,
)


def _result(
    agvs: int, p95: float, *, seed: int = 0, delivered: int = 32, mtbf: float = 1.0, **kpis: Any
) -> Result:
    """A run of 32 orders over two days with the given fleet, p95 and deliveries."""
    base = {
        "agvs": agvs,
        "orders": 32,
        "delivered": delivered,
        "orders_per_day": [13, 19],
        "units_per_day": [0, 0, 6, 16, delivered - 22],
        "order_to_delivery_days": {"p50": p95 / 2, "p95": p95, "max": p95 + 0.5},
        "promises_kept": 1.0,
        "line_stops": 2,
        "line_stop_minutes": 12.5,
        "agv_utilisation": 0.4,
        "wall_s": 3.0,
    }
    return Result(
        scenario=Scenario(scale=0.1, days=2, agvs=agvs, mtbf_factor=mtbf),
        seed=seed,
        kpis={**base, **kpis},
        lead_days=np.array([p95]),
        stops=(),
        gantt=(),
        heat=np.zeros((2, 2), dtype=np.int64),
        blocked=np.zeros((2, 2), dtype=np.bool_),
    )


def test_a_row_carries_the_figures_of_the_curve() -> None:
    row = sweep_row(
        _result(90, 3.5, seed=1, agv_task_wait_s={"p50": 40, "p95": 310.0, "max": 900}, material_wait_h=2.5)
    )
    assert row["agvs"] == 90 and row["seed"] == 1 and row["mtbf_factor"] == 1.0
    assert row["units_per_day"] == 16.0  # 32 delivered over the 2 days that had orders
    assert row["order_to_delivery_p95_days"] == 3.5 and row["order_to_delivery_days"]["max"] == 4.0
    assert row["line_stop_minutes"] == 12.5
    assert row["agv_task_wait_p95_s"] == 310.0 and row["material_wait_h"] == 2.5
    json.dumps(row)


def test_a_row_of_a_run_without_the_new_kpis_still_renders() -> None:
    row = sweep_row(_result(90, 3.5))
    assert row["agv_task_wait_p95_s"] is None and row["material_wait_h"] is None


def test_units_per_day_fall_when_orders_are_left_open() -> None:
    assert units_per_day({"delivered": 20, "orders_per_day": [10, 0, 10]}) == 10.0
    assert units_per_day({"delivered": 15, "orders_per_day": [10, 0, 10]}) == 7.5
    assert units_per_day({"delivered": 0, "orders_per_day": []}) == 0.0


def _grid() -> list[dict[str, Any]]:
    results = [
        _result(60, 6.2, seed=0),
        _result(60, 5.8, seed=1),
        _result(90, 4.0, seed=0),
        _result(90, 3.9, seed=1, delivered=31),  # fast, but one order never came
        _result(120, 4.9, seed=0),
        _result(120, 3.0, seed=1),
        _result(180, 2.5, seed=0),
        _result(180, 2.4, seed=1),
    ]
    return [sweep_row(r) for r in results]


def test_the_knee_is_the_smallest_fleet_every_seed_of_which_passed() -> None:
    knee = find_knee(_grid())
    assert knee.agvs == 120 and knee.target_days == 5
    assert set(knee.failures) == {60, 90}
    assert len(knee.failures[60]) == 2 and "p95 order to delivery 6.20 days > 5" in knee.failures[60][0]
    assert knee.failures[90] == ("seed 1: 31 of 32 orders delivered",)


def test_a_breakdown_rate_that_breaks_the_promise_fails_the_fleet() -> None:
    rows = [
        sweep_row(_result(120, 4.0)),
        sweep_row(_result(120, 5.5, mtbf=0.5)),
        sweep_row(_result(180, 3.0)),
    ]
    knee = find_knee(rows)
    assert knee.agvs == 180
    assert knee.failures[120] == ("seed 0, MTBF x0.5: p95 order to delivery 5.50 days > 5",)


def test_no_knee_when_every_fleet_fails_and_the_text_says_why() -> None:
    rows = [sweep_row(_result(60, 7.0)), sweep_row(_result(90, 5.01))]
    knee = find_knee(rows)
    assert knee.agvs is None
    lines = knee_lines(knee)
    assert lines[0].startswith("knee: none of the fleets swept")
    assert lines[1].startswith("failed: 60 AGVs (seed 0: p95") and lines[2].startswith("failed: 90 AGVs")


def test_the_json_document_names_rows_knee_and_target() -> None:
    rows = _grid()
    doc = json.loads(json.dumps(sweep_document(rows, find_knee(rows))))
    assert doc["knee_agvs"] == 120 and doc["target_days"] == 5
    assert [r["agvs"] for r in doc["rows"]] == [60, 60, 90, 90, 120, 120, 180, 180]
    assert set(doc["failures"]) == {"60", "90"}


def test_the_curve_is_the_worst_seed_with_the_target_and_the_knee() -> None:
    rows = _grid()
    fig = sweep_figure(rows, find_knee(rows))
    curve = fig.data[0]
    assert list(curve.x) == [60, 90, 120, 180]
    assert list(curve.y) == [6.2, 4.0, 4.9, 2.5]
    undelivered = [t for t in fig.data if t.name == "orders left undelivered"]
    assert len(undelivered) == 1 and list(undelivered[0].x) == [90]
    shapes = fig.layout.shapes
    assert any(s.y0 == 5 and s.y1 == 5 for s in shapes)  # the target
    assert any(s.x0 == 120 and s.x1 == 120 for s in shapes)  # the knee
    utilisation = next(t for t in fig.data if t.xaxis == "x4")
    assert list(utilisation.y) == [40.0] * 4  # percent


def test_the_page_is_self_contained(tmp_path: Path) -> None:
    rows = _grid()
    page = write_sweep_report(rows, find_knee(rows), tmp_path / "sweep.html").read_text()
    assert "AGVs needed" in page and "knee: 120 AGVs" in page and "failed: 90 AGVs" in page
    assert "<script src=" not in page and "plotly" in page.lower()
    assert page.count("<tr>") == 1 + len(rows)
