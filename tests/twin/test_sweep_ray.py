"""`simulate sweep` on a local Ray started by this module: the same rows as the process pool, and a
task's error or a dead worker as the CLI's one line. Ray is a dev dependency: without it this fails."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import ray

from mixflow.errors import InputFileError, MixflowError
from mixflow.twin import Scenario
from mixflow.twin.sweep import sweep
from mixflow.twin.sweep_ray import collect
from mixflow.twin.sweep_report import sweep_row
from tests.cli.test_plant_cli import run as run_cli

# One plant day without the drain at a scale that still makes an order: a run is about a second, and
# its row (AGV utilisation, task waits, material waits) still differs if the run does.
TINY = Scenario(scale=0.01, days=1, drain_days=0)
TIMES = ("wall_s",)


# First in the file (one worker runs it in order: `--dist loadfile`): a Ray that is up imports parts of
# itself in its own threads, which the hidden module would break.
def test_without_ray_the_cli_says_which_extra_to_install(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # what `import ray` meets where it is not installed
    argv = ["simulate", "sweep", "--agvs", "7", "--scale", "0.01", "--ray", "local", "--json"]
    code, out, err = run_cli(argv, capsys)
    assert code == 2 and out == ""
    assert err == "mixflow: error: --ray needs Ray, an optional extra: pip install 'mixflow[ray]'\n"


@pytest.fixture(scope="module")
def local_ray() -> Iterator[None]:
    """Ray in this process with two CPUs; `sweep` uses a Ray that is already up and leaves it up."""
    ray.init(
        address="local", num_cpus=2, include_dashboard=False, logging_level=logging.ERROR, log_to_driver=False
    )
    yield
    ray.shutdown()


def _rows(results: list[Any]) -> list[dict[str, Any]]:
    return [{k: v for k, v in sweep_row(r).items() if k not in TIMES} for r in results]


def test_ray_gives_the_rows_of_the_process_pool(local_ray: None) -> None:
    grid = [replace(TINY, agvs=agvs, mtbf_factor=f) for agvs in (5, 7) for f in (0.5, 1.0)]
    seen: list[tuple[int, int]] = []
    on_ray = sweep(
        grid, seeds=[0], ray_address="local", on_done=lambda done, total: seen.append((done, total))
    )
    in_pool = sweep(grid, seeds=[0], workers=2)
    assert _rows(on_ray) == _rows(in_pool)
    assert [(r["agvs"], r["mtbf_factor"]) for r in _rows(on_ray)] == [(5, 0.5), (5, 1.0), (7, 0.5), (7, 1.0)]
    assert all(r["orders"] > 0 and r["agv_utilisation"] > 0 for r in _rows(on_ray))
    assert seen == [(1, 4), (2, 4), (3, 4), (4, 4)]


def test_a_task_error_reaches_the_cli_as_one_line_naming_the_run(
    local_ray: None, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["simulate", "sweep", "--agvs", "7,100000", "--mtbf-factor", "0.5", "--scale", "0.01"]
    code, out, err = run_cli([*argv, "--days", "1", "--ray", "local", "--json"], capsys)
    assert code == 2 and out == ""
    assert err.startswith("mixflow: error: the floor parks") and err.count("\n") == 1
    assert err.endswith("(in the run with 100000 AGVs, MTBF x0.5, seed 0)\n")
    assert "RayTaskError" not in err and "Traceback" not in err


def test_a_plant_file_refused_in_a_task_keeps_its_type_and_fields(local_ray: None, tmp_path: Path) -> None:
    bad = tmp_path / "plant.yaml"
    bad.write_text("name: x\nlines: [unclosed\n")
    scenario = replace(TINY, plant_file=str(bad), agvs=6)
    with pytest.raises(
        InputFileError, match=r"plant\.yaml:3: not valid YAML: .* \(in the run with 6 AGVs"
    ) as refused:
        sweep([scenario], seeds=[4], ray_address="local")
    assert refused.value.path == str(bad) and refused.value.line == 3
    assert str(refused.value).endswith("(in the run with 6 AGVs, MTBF x1, seed 4)")


def test_a_worker_that_dies_is_one_error_naming_its_run(local_ray: None) -> None:
    @ray.remote(max_retries=0)
    def killed() -> None:
        import os

        os._exit(9)

    pairs = [(replace(TINY, agvs=12), 3)]
    with pytest.raises(MixflowError) as failed:
        collect([killed.remote()], pairs, lambda done, total: None)
    message = str(failed.value)
    assert message.startswith("Ray could not finish the run with 12 AGVs, MTBF x1, seed 3: ")
    assert "\n" not in message and "died" in message
