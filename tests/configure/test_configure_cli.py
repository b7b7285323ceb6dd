"""`mixflow configure ...`: the JSON contract of the issue and exit code 2 on bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mixflow.cli import main

CATALOGUE = """format: mixflow-catalogue-v1
name: two trucks
base_price: 100
variables:
- name: cab
  default: day
  values:
  - {code: day, price: 0}
  - {code: sleeper, price: 50}
- name: drive
  values:
  - {code: 4x2, price: 0}
  - {code: 6x4, price: 30}
rules:
- id: sleeper-6x4
  text: The sleeper cab comes with 6x4 drive
  if: {cab: sleeper}
  then: {drive: 6x4}
"""


UNSATISFIABLE = """- id: sleeper-only
  formula: {cab: sleeper}
- id: small-drive-only
  formula: {drive: 4x2}
"""


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("MIXFLOW_CACHE_DIR", str(tmp_path / "cache"))


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    try:
        main(list(argv))
        code = 0
    except SystemExit as done:
        code = int(done.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def test_count_propagate_and_explain_print_the_contract(tmp_path: Path, capsys) -> None:
    model = tmp_path / "trucks.yaml"
    model.write_text(CATALOGUE)
    code, out, _ = run(capsys, "configure", "count", str(model), "--json")
    facts = json.loads(out)
    assert code == 0 and facts["configurations"] == 3 and facts["compile_s"] >= 0
    code, out, _ = run(capsys, "configure", "propagate", str(model), "--choose", "drive=4x2", "--json")
    assert json.loads(out) == {
        "valid": {"cab": ["day"], "drive": ["4x2"]},
        "count": 1,
        "price": {"min": 100.0, "max": 100.0},
        "conflicts": [],
    }
    code, out, _ = run(
        capsys,
        "configure",
        "explain",
        str(model),
        "--choose",
        "drive=4x2",
        "--var",
        "cab",
        "--value",
        "sleeper",
        "--json",
    )
    why = json.loads(out)
    assert why["choices"] == {"drive": "4x2"} and why["rules"] == ["The sleeper cab comes with 6x4 drive"]


def test_replay_prints_the_contract(tmp_path: Path, capsys) -> None:
    model = tmp_path / "trucks.yaml"
    model.write_text(CATALOGUE)
    history = tmp_path / "sold.txt"
    history.write_text("cab drive\nday 4x2\nsleeper 6x4\nday 6x4\n")
    code, out, _ = run(capsys, "configure", "replay", str(model), str(history), "--seed", "3", "--json")
    facts = json.loads(out)
    assert code == 0
    assert {k: facts[k] for k in ("rows", "accepted", "dead_ends")} == {
        "rows": 3,
        "accepted": 3,
        "dead_ends": 0,
    }
    assert facts["click_ms_p50"] >= 0 and facts["click_ms_p99"] >= facts["click_ms_p50"]


@pytest.mark.parametrize(
    ("text", "args", "message"),
    [
        (CATALOGUE, ["--choose", "axle=8x4"], "unknown variable 'axle'"),
        (CATALOGUE, ["--choose", "cab=gold"], "unknown value of cab 'gold'"),
        (CATALOGUE, ["--choose", "cab"], "expected VAR=VALUE"),
        (CATALOGUE + UNSATISFIABLE, [], "allow no configuration"),
        (CATALOGUE.replace("  - {code: 4x2, price: 0}", "  - {code: 4x2, price: [0}"), [], "trucks.yaml:12"),
        (CATALOGUE.replace("then: {drive: 6x4}", "then: {drive: 8x8}"), [], "unknown value"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    tmp_path: Path, capsys, text: str, args: list[str], message: str
) -> None:
    model = tmp_path / "trucks.yaml"
    model.write_text(text)
    code, out, err = run(capsys, "configure", "propagate", str(model), *args, "--json")
    assert code == 2 and out == ""
    assert err.startswith("mixflow: error:") and message in err and err.count("\n") == 1
