from __future__ import annotations

from pathlib import Path

import pytest

from mixflow.errors import InputFileError
from mixflow.fleet.formats import read_map, read_robot_runners, read_scen


def test_reads_small_map_and_scen(data_dir: Path) -> None:
    grid = read_map(data_dir / "aisles.map")
    assert (grid.width, grid.height) == (12, 8)
    assert grid.blocked[1, 1] and not grid.blocked[0, 0]
    scen = read_scen(data_dir / "aisles.scen", grid)
    assert len(scen) == 4
    assert scen.starts[1] == grid.cell(11, 0) and scen.goals[1] == grid.cell(0, 7)


def test_map_row_of_wrong_width_names_the_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.map"
    bad.write_text("type octile\nheight 2\nwidth 3\nmap\n...\n..\n")
    with pytest.raises(InputFileError, match=r"bad.map:6: map row has 2 characters"):
        read_map(bad)


def test_map_missing_rows(tmp_path: Path) -> None:
    bad = tmp_path / "short.map"
    bad.write_text("type octile\nheight 3\nwidth 3\nmap\n...\n")
    with pytest.raises(InputFileError, match="height 3 but 1 map rows"):
        read_map(bad)


def test_scen_start_on_a_wall_names_line_and_agent(data_dir: Path, tmp_path: Path) -> None:
    grid = read_map(data_dir / "aisles.map")
    bad = tmp_path / "wall.scen"
    bad.write_text("version 1\n0\taisles.map\t12\t8\t0\t0\t5\t0\t5\n0\taisles.map\t12\t8\t1\t1\t0\t0\t2\n")
    with pytest.raises(InputFileError, match=r"wall.scen:3: agent 1 start \(1, 1\) is not a free cell"):
        read_scen(bad, grid)


def test_scen_malformed_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.scen"
    bad.write_text("version 1\n0\tm.map\t12\t8\tx\t0\t5\t0\t5\n")
    with pytest.raises(InputFileError, match=r"bad.scen:2: non-numeric"):
        read_scen(bad)


def test_reads_the_robot_runners_sample(shared_benchmarks: Path) -> None:
    config = shared_benchmarks / "mapf" / "lorr2023-warehouse_small" / "EI23-warehouse_small_100.json"
    if not config.exists():
        pytest.skip("shared Robot Runners sample not present")
    inst = read_robot_runners(config)
    assert (inst.grid.width, inst.grid.height) == (57, 33)
    assert inst.team_size == len(inst.starts) == 100
    assert len(inst.errands) == 20000
    assert inst.goal_stream(3, 2) == inst.errands[3 + 2 * 100]
    assert all(inst.grid.is_free(int(c)) for c in inst.starts)


def test_robot_runners_bad_start_names_file_and_line(data_dir: Path, tmp_path: Path) -> None:
    (tmp_path / "m.map").write_text((data_dir / "aisles.map").read_text())
    (tmp_path / "a.agents").write_text("2\n0\n13\n")  # cell 13 = (1, 1), a rack
    (tmp_path / "t.tasks").write_text("1\n5\n")
    (tmp_path / "p.json").write_text(
        '{"mapFile": "m.map", "agentFile": "a.agents", "taskFile": "t.tasks", "teamSize": 2}'
    )
    with pytest.raises(InputFileError, match=r"a.agents:3: agent start 1 at cell 13"):
        read_robot_runners(tmp_path / "p.json")
