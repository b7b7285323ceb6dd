"""`mixflow plant export | validate | describe FILE`: what a plant engineer runs on a plant file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from tests.cli.test_plant_cli import run


def test_export_then_describe_gives_the_same_json_as_the_reference(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "ref.yaml"
    code, _, err = run(["plant", "export", "--scale", "0.25", "--seed", "2", "-o", str(path)], capsys)
    assert code == 0 and "wrote" in err
    code, from_file, _ = run(["plant", "describe", str(path), "--json"], capsys)
    assert code == 0
    code, reference, _ = run(["plant", "describe", "--scale", "0.25", "--seed", "2", "--json"], capsys)
    assert json.loads(from_file) == json.loads(reference)


def test_validate_prints_capacity_against_demand(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "ref.json"
    run(["plant", "export", "--scale", "0.1", "-o", str(path)], capsys)
    code, out, _ = run(["plant", "validate", str(path), "--json"], capsys)
    report = json.loads(out)
    assert code == 0 and report["valid"] and report["problems"] == []
    resources = {row["resource"] for row in report["capacity"]}
    assert "cab_weld" in resources and any(r.startswith("line final-assembly") for r in resources)
    assert all(0 < row["utilisation"] <= 1 for row in report["capacity"])


def _exported(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[Path, dict]:  # type: ignore[type-arg]
    path = tmp_path / "plant.yaml"
    run(["plant", "export", "--scale", "0.1", "-o", str(path)], capsys)
    return path, yaml.safe_load(path.read_text())


def test_a_takt_no_station_can_hold_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path, data = _exported(tmp_path, capsys)
    data["lines"][0]["takt_s"] = 1000  # ten positions a station: 1,700 s of base work alone
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    code, _, err = run(["plant", "validate", str(path)], capsys)
    assert code == 2 and err.count("\n") == 1
    assert "station S01 needs" in err and "more than takt 1000 s" in err


def test_a_part_no_one_makes_or_sells_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path, data = _exported(tmp_path, capsys)
    data["routings"] = [r for r in data["routings"] if r["part"] != "frame"]
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    code, _, err = run(["plant", "validate", str(path)], capsys)
    assert code == 2 and err.count("\n") == 1
    assert f"{path}:" in err and "part frame: no supplier sells it and no shop makes it" in err


def test_an_unknown_machine_group_in_a_routing_names_its_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path, data = _exported(tmp_path, capsys)
    data["routings"][1]["steps"][0]["groups"] = ["paint_robot"]
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    code, _, err = run(["plant", "validate", str(path)], capsys)
    assert code == 2 and err.count("\n") == 1
    line = int(err.split(f"{path}:")[1].split(":")[0])
    written = path.read_text().splitlines()[line - 1]
    assert "paint_robot" in written or "groups" in written
    assert "$.routings[1].steps[0].groups: unknown machine group 'paint_robot'" in err


def test_a_run_refuses_a_takt_no_station_can_hold(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path, data = _exported(tmp_path, capsys)
    data["lines"][0]["takt_s"] = 1000
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    code, out, err = run(["simulate", "--plant", str(path), "--days", "1", "--json"], capsys)
    assert code == 2 and out == "" and err.count("\n") == 1
    assert "station S01 needs" in err and "more than takt 1000 s" in err
