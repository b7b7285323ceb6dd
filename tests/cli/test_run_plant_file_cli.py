"""`--plant FILE --catalogue FILE` on the commands that run a plant: a plant file exported from the
reference runs exactly as the reference does; bad files and contradictory options are one-line errors."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

import pytest

from mixflow.model.plant_file import write_plant
from mixflow.reference import build_plant
from tests.cli.test_plant_cli import run

# KPIs that measure the computer the run took, not the plant
MACHINE_DEPENDENT = ("wall_s", "cpu_s", "planner_ms_per_decision")


def _reference_files(tmp_path: Path) -> tuple[Path, Path]:
    plant = tmp_path / "reference-0.05.yaml"
    write_plant(build_plant(0.05, 0), plant)
    catalogue = Path(str(resources.files("mixflow.reference").joinpath("trucks.yaml")))
    return plant, catalogue


def _plant_kpis(out: str) -> dict[str, object]:
    kpis = json.loads(out)
    return {k: v for k, v in kpis.items() if k not in MACHINE_DEPENDENT}


def test_a_plant_file_of_the_reference_runs_as_the_reference(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plant, catalogue = _reference_files(tmp_path)
    argv = ["simulate", "--plant", str(plant), "--catalogue", str(catalogue), "--days", "1", "--json"]
    code, from_file, err = run(argv, capsys)
    assert code == 0, err
    reference_argv = ["simulate", "--scale", "0.05", "--seed", "0", "--days", "1", "--json"]
    code, reference, err = run(reference_argv, capsys)
    assert code == 0, err
    assert _plant_kpis(from_file) == _plant_kpis(reference)
    assert json.loads(from_file)["delivered"] > 0


def test_a_malformed_plant_file_is_one_line_naming_file_and_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plant, _ = _reference_files(tmp_path)
    lines = plant.read_text().splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith("name:"))
    lines.insert(at + 1, "lines: [unclosed")
    plant.write_text("\n".join(lines) + "\n")
    code, out, err = run(["simulate", "--plant", str(plant), "--days", "1", "--json"], capsys)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith(f"mixflow: error: {plant}:")
    assert err.split(f"{plant}:")[1].split(":")[0].isdigit()  # the line


def test_a_missing_plant_file_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "nowhere.yaml"
    code, out, err = run(["demo", "--plant", str(missing), "--days", "1"], capsys)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and str(missing) in err


@pytest.mark.parametrize("command", [["simulate"], ["simulate", "sweep"], ["demo"]])
def test_a_plant_file_with_a_scale_is_refused(
    command: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plant, _ = _reference_files(tmp_path)
    code, out, err = run([*command, "--plant", str(plant), "--scale", "0.5", "--days", "1"], capsys)
    assert code == 2 and out == ""
    assert err.count("\n") == 1
    assert "--scale: cannot go with --plant" in err and "fixes the plant's size" in err


def test_a_plant_that_cannot_build_the_catalogue_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plant, _ = _reference_files(tmp_path)
    ebus = Path(__file__).parents[2] / "examples" / "ebus" / "catalogue.yaml"
    argv = ["simulate", "--plant", str(plant), "--catalogue", str(ebus), "--days", "1", "--json"]
    code, out, err = run(argv, capsys)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and "cannot build the buses" in err and str(plant) in err
