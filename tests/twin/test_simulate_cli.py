"""`mixflow simulate --json`: the KPI contract on stdout, one-line refusals with exit code 2."""

from __future__ import annotations

import json

import pytest

from tests.cli.test_plant_cli import run as _run


def test_simulate_prints_the_kpis_as_json(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["simulate", "--days", "1", "--scale", "0.05", "--seed", "2", "--no-materials", "--json"]
    code, out, _ = _run(argv, capsys)
    assert code == 0
    kpis = json.loads(out)
    assert set(kpis) >= {
        "days",
        "orders",
        "delivered",
        "order_to_delivery_days",
        "promises_kept",
        "line_stops",
        "agv_collisions",
        "wall_s",
        "oee",
        "energy_kwh_per_unit",
        "planner_ms_per_decision",
        "line_pitches",
    }
    assert set(kpis["order_to_delivery_days"]) == {"p50", "p95", "max"}
    pitches = kpis["line_pitches"]
    assert pitches["indexed"] >= pitches["empty"] >= pitches["held_for_first_station_parts"] >= 0
    assert kpis["days"] == 1 and kpis["agv_collisions"] == 0
    assert kpis["purchase_orders"] == 0 and kpis["stockouts"] == 0  # --no-materials: supply as if perfect


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["simulate", "--days", "0", "--json"], "--days: must be positive"),
        (["simulate", "--scale", "0.05", "--demand", "3", "--json"], "demand is above capacity"),
        (["simulate", "--scale", "9", "--json"], "--scale"),
        (["simulate", "--scale", "0.05", "--no-materials", "--late", "e_drive=2", "--json"], "no supplier"),
    ],
)
def test_impossible_scenarios_are_refused_in_one_line(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = _run(argv, capsys)
    assert code == 2 and out == ""
    assert err.startswith("mixflow: error:") and message in err and err.count("\n") == 1
