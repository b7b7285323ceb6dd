from __future__ import annotations

import json
from pathlib import Path

import pytest

from mixflow.cli import main

CSPLIB = "10 2 3\n1 2\n2 5\n0 3 1 0\n1 3 0 1\n2 4 0 0\n"


def test_solve_prints_the_contract_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "tiny.txt"
    path.write_text(CSPLIB)
    main(["sequence", "solve", str(path), "--time-limit", "60", "--seed", "2", "--json"])  # stops at 0
    out = json.loads(capsys.readouterr().out)
    assert set(out) == {"objective", "criteria", "violations", "sequence", "time_s"}
    assert set(out["criteria"]) == {"high", "low", "colour_changes"}
    assert sorted(out["sequence"]) == sorted(["0"] * 3 + ["1"] * 3 + ["2"] * 4)
    assert out["violations"] == 0


def test_bad_instance_is_one_line_and_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "bad.txt"
    path.write_text("10 2 3\n1 2\n2 1\n")
    with pytest.raises(SystemExit) as done:
        main(["sequence", "solve", str(path), "--time-limit", "1", "--json"])
    assert done.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("mixflow: error: ") and "bad.txt:3" in err and "\n" not in err
