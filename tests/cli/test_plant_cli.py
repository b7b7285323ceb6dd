"""The CLI contract: JSON on stdout, one-line errors with exit code 2."""

import json
import subprocess
import sys

import pytest

from mixflow.cli import main


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = 0
    try:
        main(argv)
    except SystemExit as done:
        code = int(done.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def test_describe_full_plant_json(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["plant", "describe", "--scale", "1.0", "--json"], capsys)
    facts = json.loads(out)
    assert code == 0
    assert facts["models"] >= 500 and facts["machines"] >= 2000 and facts["agvs"] >= 700
    assert sum(facts["machines_by_shop"].values()) == facts["machines"]
    assert set(facts) >= {"stations", "grid", "chargers", "orders_per_day"}


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["plant", "describe", "--scale", "-1"], "--scale: must lie in (0, 4]"),
        (["plant", "describe", "--bogus"], "No such option: --bogus"),
        (["demo", "--days", "0"], "--days: must be positive"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(argv, capsys)
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1 and err.startswith("mixflow: error: ") and message in err


def test_python_dash_m_runs_the_same_cli() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "mixflow", "plant", "describe", "--scale", "0.05", "--json"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(done.stdout)["agvs"] >= 4


def test_demo_shows_plant_demand_and_capacity(tmp_path, capsys: pytest.CaptureFixture[str]) -> None:  # type: ignore[no-untyped-def]
    report = tmp_path / "report.html"
    code, out, _ = run(["demo", "--scale", "0.05", "--days", "1", "--report", str(report)], capsys)
    assert code == 0
    assert "Capacity against demand" in out and "Demand mix" in out
    assert "cab_weld" in report.read_text()
