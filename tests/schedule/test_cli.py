"""`mixflow schedule solve`: the issue's JSON, and exit 2 with file and line on bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mixflow.cli import main

DATA = Path(__file__).parent / "data"


def test_solve_prints_the_schedule_json(capsys: pytest.CaptureFixture[str]) -> None:
    main(["schedule", "solve", str(DATA / "tiny.fjs"), "--time-limit", "1", "--seed", "2", "--json"])
    payload = json.loads(capsys.readouterr().out)
    assert set(payload) == {"makespan", "lower_bound", "time_s", "schedule"}
    rows = payload["schedule"]
    assert [(row["job"], row["op"]) for row in rows] == [(0, 0), (0, 1), (1, 0), (1, 1), (1, 2), (2, 0)]
    assert max(row["end"] for row in rows) == payload["makespan"] >= payload["lower_bound"]
    assert all(0 <= row["machine"] < 3 for row in rows)


def test_bad_file_exits_2_naming_file_and_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.txt"
    bad.write_text("2 2\n0 5 1 -3\n1 2 0 2\n")
    with pytest.raises(SystemExit) as done:
        main(["schedule", "solve", str(bad), "--time-limit", "1", "--json"])
    assert done.value.code == 2
    err = capsys.readouterr().err
    assert f"{bad}:2" in err and "negative duration" in err
