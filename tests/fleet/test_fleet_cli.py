from __future__ import annotations

import json
from pathlib import Path

import pytest

from mixflow.cli import main

KEYS = {
    "agents",
    "steps",
    "tasks_completed",
    "throughput",
    "step_ms_p50",
    "step_ms_p95",
    "step_ms_max",
    "vertex_conflicts",
    "edge_conflicts",
    "solved",
    "sum_of_costs",
    "makespan",
    "warmup_s",
}
LIFELONG_KEYS = {*KEYS, "planner"}


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> dict:
    try:
        main(list(argv))
    except SystemExit as done:
        assert done.code in (0, None)
    return json.loads(capsys.readouterr().out)


def test_lifelong_json_and_paths(capsys: pytest.CaptureFixture[str], data_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "paths.json"
    facts = _run(
        capsys,
        "fleet",
        "run",
        str(data_dir / "aisles.map"),
        "--scen",
        str(data_dir / "aisles.scen"),
        "--agents",
        "3",
        "--steps",
        "60",
        "--paths",
        str(out),
        "--json",
    )
    assert set(facts) == LIFELONG_KEYS | {"guidance"}
    assert facts["planner"] == "guided" and facts["guidance"] in ("plain", "traffic", "lanes")
    assert facts["vertex_conflicts"] == facts["edge_conflicts"] == 0
    doc = json.loads(out.read_text())
    assert len(doc["paths"]) == 3 and len(doc["paths"][0]) == 61
    assert doc["paths"][1][0] == [11, 0]
    assert len(doc["tasks"]) == facts["tasks_completed"] > 0
    first = next(t for t in doc["tasks"] if t["agent"] == 0)
    assert (first["x"], first["y"]) == (11, 7)  # agent 0's first goal: line 0 of the scenario
    second = [t for t in doc["tasks"] if t["agent"] == 0][1:2]
    if second:
        assert (second[0]["x"], second[0]["y"]) == (11, 0)  # then line (0 + 1*3) mod 4 = 3


def test_oneshot_json(capsys: pytest.CaptureFixture[str], data_dir: Path) -> None:
    facts = _run(
        capsys,
        "fleet",
        "run",
        str(data_dir / "aisles.map"),
        "--scen",
        str(data_dir / "aisles.scen"),
        "--agents",
        "4",
        "--steps",
        "100",
        "--mode",
        "oneshot",
        "--json",
    )
    assert facts["solved"] is True and facts["tasks_completed"] == 4
    assert facts["sum_of_costs"] >= facts["makespan"] > 0
    assert facts["first_sum_of_costs"] >= facts["sum_of_costs"]  # refinement never makes it worse
    assert facts["solve_cpu_s"] >= facts["first_solution_cpu_s"] >= 0


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--agents", "9"], "aisles.scen: --agents 9 but the scenario has only 4 lines"),
        (["--agents", "2", "--mode", "sideways"], "--mode"),
        (["--agents", "2", "--planner", "fancy"], "--planner: must be 'plain' or 'guided'"),
    ],
)
def test_bad_input_exits_2(
    capsys: pytest.CaptureFixture[str], data_dir: Path, extra: list[str], message: str
) -> None:
    argv = [
        "fleet",
        "run",
        str(data_dir / "aisles.map"),
        "--scen",
        str(data_dir / "aisles.scen"),
        "--steps",
        "5",
    ]
    with pytest.raises(SystemExit) as done:
        main([*argv, *extra, "--json"])
    assert done.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("mixflow: error:") and message in err


def test_malformed_map_exits_2(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    bad = tmp_path / "bad.map"
    bad.write_text("type octile\nheight 2\nwidth 2\nmap\n..\n.\n")
    with pytest.raises(SystemExit) as done:
        main(["fleet", "run", str(bad), "--agents", "1", "--steps", "3", "--json"])
    assert done.value.code == 2
    assert "bad.map:6" in capsys.readouterr().err


@pytest.mark.parametrize("planner", ["plain", "guided"])
def test_planner_option(capsys: pytest.CaptureFixture[str], data_dir: Path, planner: str) -> None:
    facts = _run(
        capsys,
        *("fleet", "run", str(data_dir / "aisles.map"), "--scen", str(data_dir / "aisles.scen")),
        *("--agents", "4", "--steps", "80", "--planner", planner, "--json"),
    )
    assert facts["planner"] == planner and ("guidance" in facts) == (planner == "guided")
    assert facts["step_ms_max"] >= facts["step_ms_p95"] >= facts["step_ms_p50"] >= 0
    assert facts["warmup_s"] >= 0 and facts["tasks_completed"] > 0
    assert facts["vertex_conflicts"] == facts["edge_conflicts"] == 0


def test_oneshot_without_steps(capsys: pytest.CaptureFixture[str], data_dir: Path) -> None:
    facts = _run(
        capsys,
        *("fleet", "run", str(data_dir / "aisles.map"), "--scen", str(data_dir / "aisles.scen")),
        *("--agents", "4", "--mode", "oneshot", "--json"),
    )
    assert facts["solved"] is True and facts["steps"] == facts["makespan"] > 0
    assert set(facts) >= KEYS


def test_lifelong_without_steps_exits_2(capsys: pytest.CaptureFixture[str], data_dir: Path) -> None:
    with pytest.raises(SystemExit) as done:
        main(["fleet", "run", str(data_dir / "aisles.map"), "--agents", "2", "--json"])
    assert done.value.code == 2
    assert "--steps: is required in lifelong mode" in capsys.readouterr().err
