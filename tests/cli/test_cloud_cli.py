"""`mixflow cloud validate | quote`: JSON on stdout, one-line errors with exit code 2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli.test_plant_cli import run

EXAMPLE = Path(__file__).parents[2] / "examples" / "cloud" / "cloud.yaml"

SMALL = """\
format: mixflow-cloud-v1
plants:
- id: alpha
  scale: 0.05
  transport_h: {central: 8, south: 30}
"""


@pytest.fixture
def small(tmp_path: Path) -> Path:
    path = tmp_path / "cloud.yaml"
    path.write_text(SMALL)
    return path


def test_validate_prints_every_plant_and_the_regions(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["cloud", "validate", str(EXAMPLE), "--json"], capsys)
    report = json.loads(out)
    assert code == 0 and report["valid"] and report["refused"] == {}
    assert report["regions"] == ["central", "south", "east", "west"]
    plants = {p["id"]: p for p in report["plants"]}
    assert list(plants) == ["changsha", "kunshan", "chengdu", "ebus"]
    assert plants["changsha"]["scale"] == 0.05 and plants["changsha"]["machines"] > 0
    assert len(plants["ebus"]["lines"]) == 2 and plants["ebus"]["transport_h"] == {"central": 10, "east": 14}
    assert plants["ebus"]["plant"].endswith("ebus/plant.yaml")


def test_quote_lists_every_plant_and_places_at_the_earliest(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["cloud", "quote", str(EXAMPLE), "--region", "central", "--choose", "powertrain=bev_423"]
    code, out, err = run([*argv, "--booked-days", "2", "--place", "earliest", "--json"], capsys)
    assert code == 0, err
    report = json.loads(out)
    assert report["configured_in"] == "changsha" and report["configuration"]["powertrain"] == "bev_423"
    assert report["now_s"] == 2 * 86400 and all(n > 0 for n in report["booked_orders"].values())
    quotes = report["quotes"]
    able = [q for q in quotes if q["can_build"]]
    assert [q["plant"] for q in able] != [] and {q["plant"] for q in able} == {
        "changsha",
        "kunshan",
        "chengdu",
    }
    assert [q["delivery_s"] for q in able] == sorted(q["delivery_s"] for q in able)
    assert all(q["delivery_s"] == q["completion_s"] + q["transport_s"] for q in able)
    ebus = next(q for q in quotes if q["plant"] == "ebus")
    assert not ebus["can_build"] and "cannot build it in catalogue" in ebus["why_not"]
    placed = report["placed"]
    assert placed["plant"] == able[0]["plant"] and placed["order"] == "CLOUD-000001"
    assert placed["delivery_s"] >= able[0]["delivery_s"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--region", "mars"], "unknown region 'mars' (known: central, south)"),
        (["--region", "south", "--place", "beta"], "unknown plant 'beta' (known: alpha, earliest)"),
        (
            ["--region", "south", "--choose", "family=rocket"],
            "--choose: no plant's catalogue takes family=rocket",
        ),
        (["--region", "south", "--choose", "colour"], "--choose: expected VAR=VALUE, got 'colour'"),
        (["--region", "south", "--booked-days", "-1"], "--booked-days: must be >= 0, got -1"),
    ],
)
def test_quote_bad_input_is_one_line_and_exit_2(
    small: Path, args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(["cloud", "quote", str(small), *args, "--json"], capsys)
    assert code == 2 and out == "" and err.count("\n") == 1
    assert err.startswith("mixflow: error: ") and message in err


def test_a_broken_cloud_file_or_plant_is_one_line_and_exit_2(
    small: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    small.write_text(SMALL + SMALL.split("plants:\n")[1])
    code, _, err = run(["cloud", "quote", str(small), "--region", "south"], capsys)
    assert (
        code == 2
        and err
        == f"mixflow: error: {small}:6: $.plants[1].id: plant id 'alpha' is used twice (first at line 3)\n"
    )
    (small.parent / "broken.yaml").write_text("format: mixflow-plant-v1\n")
    small.write_text(SMALL + "- id: beta\n  plant: broken.yaml\n  transport_h: {south: 1}\n")
    code, out, err = run(["cloud", "validate", str(small), "--json"], capsys)
    report = json.loads(out)
    assert code == 2 and not report["valid"] and [p["id"] for p in report["plants"]] == ["alpha"]
    assert err.count("\n") == 1 and err.startswith(
        f"mixflow: error: {small}:7: $.plants[1].plant: plant 'beta': "
    )
    code, out, err = run(["cloud", "quote", str(small), "--region", "south", "--place", "beta"], capsys)
    assert code == 2 and err.count("\n") == 1 and "plant 'beta': " in err
