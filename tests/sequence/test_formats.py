from __future__ import annotations

from pathlib import Path

import pytest

from mixflow.errors import InputFileError
from mixflow.sequence import evaluate
from mixflow.sequence.formats import read_csplib, read_instance, read_roadef, read_sequence

CSPLIB = "6 2 3\n1 1\n2 3\n0 2 1 0\n1 2 0 1\n2 2 0 0\n"


def _roadef(folder: Path, ratios: str = "1/2;1;HPRC1;\n1/3;0;LPRC1;\n") -> Path:
    folder.mkdir()
    (folder / "ratios.txt").write_text("Ratio;Prio;Ident;\n" + ratios)
    (folder / "paint_batch_limit.txt").write_text("limitation;\n2;")
    (folder / "optimization_objectives.txt").write_text(
        "rank;objective name;\n1;paint_color_batches;\n"
        "2;high_priority_level_and_easy_to_satisfy_ratio_constraints;\n"
    )
    (folder / "vehicles.txt").write_text(
        "Date;SeqRank;Ident;Paint Color;HPRC1;LPRC1;\n"
        "2003 38 2;2;T2;4;1;0;\n2003 38 2;1;T1;3;0;0;\n"
        "2003 38 3;1;V1;4;1;0;\n2003 38 3;2;V2;4;0;1;\n2003 38 3;3;V3;5;1;1;\n"
    )
    return folder


def test_csplib_classes_become_vehicles(tmp_path: Path) -> None:
    path = tmp_path / "tiny.txt"
    path.write_text(CSPLIB)
    data = read_csplib(path)
    assert data.vehicle_ids == ("0", "0", "1", "1", "2", "2")
    assert [(r.p, r.q) for r in data.rules] == [(1, 2), (1, 3)]
    assert data.window_rule == "csplib" and data.objective_order == ("high",)


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("6 2 3\n1 1\n2 x\n", 3, "q must be an integer"),
        ("6 2 3\n3 1\n2 3\n0 2 1 0\n1 2 0 1\n2 2 0 0\n", 3, "q must be >= p"),
        ("6 2 3\n1 1\n2 3\n0 2 1 0\n1 2 0 7\n2 2 0 0\n", 5, "option flags 0 or 1"),
        ("7 2 3\n1 1\n2 3\n0 2 1 0\n1 2 0 1\n2 2 0 0\n", 1, "sum to 6"),
    ],
)
def test_malformed_csplib_names_file_and_line(tmp_path: Path, text: str, line: int, message: str) -> None:
    path = tmp_path / "bad.txt"
    path.write_text(text)
    with pytest.raises(InputFileError, match=message) as raised:
        read_csplib(path)
    assert raised.value.line == line and raised.value.path == str(path)


def test_roadef_folder_gives_tail_day_and_ranking(tmp_path: Path) -> None:
    data = read_instance(_roadef(tmp_path / "inst"))
    assert data.vehicle_ids == ("V1", "V2", "V3")
    assert list(data.tail_colours) == [3, 4]  # sorted by SeqRank
    assert data.objective_order == ("colour_changes", "high", "low")
    assert data.paint_batch_limit == 2
    assert [r.priority for r in data.rules] == ["high", "low"]
    # V1 continues the tail's colour 4; V3 changes to 5
    assert evaluate(data, [0, 1, 2]).criteria["colour_changes"] == 1


def test_roadef_ratio_with_q_below_p_names_the_line(tmp_path: Path) -> None:
    folder = _roadef(tmp_path / "inst", ratios="1/2;1;HPRC1;\n4/3;0;LPRC1;\n")
    with pytest.raises(InputFileError, match=r"ratios\.txt:3: .*q must be >= p"):
        read_roadef(folder)


def test_sequence_file_with_unknown_id_names_the_line(tmp_path: Path) -> None:
    data = read_instance(_roadef(tmp_path / "inst"))
    good = tmp_path / "good.txt"
    good.write_text("V3\nV1\nV2\n")
    assert read_sequence(good, data) == [2, 0, 1]
    bad = tmp_path / "bad.txt"
    bad.write_text("V3\nV1\n\nV9\n")
    with pytest.raises(InputFileError, match=r"bad.txt:4: unknown vehicle id 'V9'"):
        read_sequence(bad, data)


def test_shared_instances_read(shared_benchmarks: Path) -> None:
    classic = read_instance(shared_benchmarks / "carseq" / "csplib" / "classic" / "pb_4_72.txt")
    assert classic.num_vehicles == 100 and classic.num_rules == 5
    roadef = read_instance(shared_benchmarks / "carseq" / "roadef2005" / "A" / "022_3_4_EP_RAF_ENP")
    assert roadef.tail_length == 14 and roadef.num_vehicles == 485
    assert roadef.paint_batch_limit == 450
    assert roadef.objective_order == ("high", "colour_changes", "low")
