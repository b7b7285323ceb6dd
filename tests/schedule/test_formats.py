"""Readers: our own small files, the shared instances (read only), and malformed input."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from mixflow.errors import InputFileError
from mixflow.schedule.formats import read

DATA = Path(__file__).parent / "data"


def test_jsplib_file() -> None:
    data = read(DATA / "tiny3x3.txt")
    assert (len(data.jobs), len(data.machines), data.num_operations) == (3, 3, 9)
    assert data.jobs[1].operations[1].modes[0].machine == 2
    assert data.jobs[1].operations[1].modes[0].duration == 1


def test_fjs_file_has_one_based_machines() -> None:
    data = read(DATA / "tiny.fjs")
    assert [len(job.operations) for job in data.jobs] == [2, 3, 1]
    first = data.jobs[0].operations[0]
    assert [(m.machine, m.duration) for m in first.modes] == [(0, 3), (1, 4)]


def test_gzipped_file(tmp_path: Path) -> None:
    packed = tmp_path / "tiny.data.gz"
    packed.write_bytes(gzip.compress((DATA / "tiny3x3.txt").read_bytes()))
    assert read(packed).num_operations == 9


def test_shared_instances(shared_benchmarks: Path) -> None:
    folder = shared_benchmarks / "jobshop"
    if not folder.is_dir():
        pytest.skip("shared job-shop instances are not mounted")
    ta01 = read(folder / "taillard" / "ta01")
    assert (len(ta01.jobs), len(ta01.machines), ta01.num_operations) == (15, 15, 225)
    mk01 = read(folder / "brandimarte" / "Mk01.fjs")
    assert (len(mk01.jobs), len(mk01.machines), mk01.num_operations) == (10, 6, 55)


@pytest.mark.parametrize(
    ("name", "text", "line", "message"),
    [
        ("neg.txt", "2 2\n0 5 1 -3\n1 2 0 2\n", 2, "negative duration"),
        ("odd.txt", "1 2\n0 5 1\n", 2, "pairs"),
        ("word.txt", "1 2\n0 x\n", 2, "integers"),
        ("short.txt", "3 2\n0 5 1 3\n", None, "3 jobs"),
        ("machine.txt", "1 2\n0 5 7 3\n", 2, "machine 7"),
        ("none.fjs", "1 2 1\n1 0\n", 2, "no eligible machine"),
        ("cut.fjs", "1 2 1\n2 1 1 4\n", 2, "ends before"),
        ("zero.fjs", "1 2 1\n1 1 0 4\n", 2, "machine 0 outside 1..2"),
        ("neg.fjs", "1 2 1\n1 1 1 -4\n", 2, "negative duration"),
    ],
)
def test_malformed_files_name_file_and_line(
    tmp_path: Path, name: str, text: str, line: int | None, message: str
) -> None:
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(InputFileError, match=message) as failed:
        read(path)
    assert failed.value.path == str(path)
    assert failed.value.line == line


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InputFileError, match="no such file"):
        read(tmp_path / "nothing.txt")
