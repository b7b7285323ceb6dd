"""`mixflow simulate sweep`: the JSON document with the knee, the page, and a worker's error as one line."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import pytest

from mixflow.connect.payloads import PayloadError
from mixflow.errors import InputFileError, UnknownNameError, ValidationError
from mixflow.twin import Scenario
from mixflow.twin.sweep import sweep
from tests.cli.test_plant_cli import run as _run


def test_a_sweep_prints_one_document_and_writes_the_page(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    page = tmp_path / "sweep.html"
    argv = ["simulate", "sweep", "--agvs", "24,36", "--scale", "0.05", "--days", "1"]
    code, out, _ = _run([*argv, "--report", str(page), "--json"], capsys)
    assert code == 0
    doc = json.loads(out)
    assert doc["target_days"] == 5 and set(doc) >= {"rows", "knee_agvs"}
    assert [r["agvs"] for r in doc["rows"]] == [24, 36]
    for row in doc["rows"]:
        assert row["delivered"] == row["orders"] > 0
        assert row["units_per_day"] == row["delivered"]  # one day of orders, all delivered
        assert row["order_to_delivery_p95_days"] == row["order_to_delivery_days"]["p95"]
        assert {"line_stop_minutes", "agv_task_wait_p95_s", "material_wait_h"} <= set(row)
    passed = [r["agvs"] for r in doc["rows"] if r["order_to_delivery_p95_days"] <= 5]
    assert doc["knee_agvs"] == (min(passed) if passed else None)
    text = page.read_text()
    assert "AGVs needed" in text and "<script src=" not in text


def test_a_fleet_the_floor_cannot_park_fails_in_the_worker_as_one_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    argv = ["simulate", "sweep", "--agvs", "100000", "--scale", "0.05", "--days", "1", "--json"]
    code, out, err = _run(argv, capsys)
    assert code == 2 and out == ""
    assert err.startswith("mixflow: error: the floor parks") and err.count("\n") == 1


def test_no_seeds_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _run(["simulate", "sweep", "--seeds", "0", "--json"], capsys)
    assert code == 2 and out == "" and "--seeds: must be at least 1" in err


@pytest.mark.parametrize(
    "error",
    [
        ValidationError("scenario.days", "must be at least 1"),
        InputFileError("plant.yaml", "not valid YAML", 3),
        UnknownNameError("station", "s9", ["s1", "s2"]),
        PayloadError("schema", "no agv_id"),
    ],
)
def test_an_error_survives_the_trip_back_from_a_worker(error: Exception) -> None:
    back = pickle.loads(pickle.dumps(error))
    assert type(back) is type(error) and str(back) == str(error) and vars(back) == vars(error)


def test_a_worker_that_cannot_read_its_plant_file_raises_the_file_error(tmp_path: Path) -> None:
    """The pool used to break ("terminated abruptly") on an error whose __init__ takes more than
    the message; the caller now gets the error the worker raised."""
    bad = tmp_path / "plant.yaml"
    bad.write_text("name: x\nlines: [unclosed\n")
    scenario = Scenario(scale=0.05, days=1, plant_file=str(bad))
    with pytest.raises(InputFileError, match=r"plant\.yaml:3: not valid YAML"):
        sweep([scenario, scenario], workers=2)
