"""Readers: XCSP 2.1 tables, table JSON (gzip), sales histories, and their errors naming file and line."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from mixflow.configure import compile_catalogue, load_model, read_history
from mixflow.errors import InputFileError

XCSP = """<instance>
 <presentation format="XCSP 2.1" name="tiny"/>
 <domains nbDomains="2">
  <domain name="D3" nbValues="3">0..2</domain>
  <domain name="Dopt" nbValues="2">-1 0</domain>
 </domains>
 <variables nbVariables="3">
  <variable name="a" domain="D3"/>
  <variable name="b" domain="D3"/>
  <variable name="c" domain="Dopt"/>
 </variables>
 <relations nbRelations="2">
  <relation name="same" arity="2" nbTuples="3" semantics="supports">0 0|1 1|2 2</relation>
  <relation name="notboth" arity="2" nbTuples="1" semantics="conflicts">2 0</relation>
 </relations>
 <constraints nbConstraints="2">
  <constraint name="c1" arity="2" scope="a b" reference="same"/>
  <constraint name="c2" arity="2" scope="b c" reference="notboth"/>
 </constraints>
</instance>
"""


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("MIXFLOW_CACHE_DIR", str(tmp_path / "cache"))


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_xcsp_tables_with_ranges_and_conflicts(tmp_path: Path) -> None:
    catalogue = load_model(write(tmp_path, "tiny.xml", XCSP))
    assert [v.name for v in catalogue.variables] == ["a", "b", "c"]
    assert catalogue.variable("c").codes == ("-1", "0")
    assert catalogue.tables[1].allowed == frozenset(
        {("0", "-1"), ("0", "0"), ("1", "-1"), ("1", "0"), ("2", "-1")}
    )
    assert compile_catalogue(catalogue).count() == 5


@pytest.mark.parametrize(
    ("broken", "line", "message"),
    [
        (XCSP.replace('domain="Dopt"', 'domain="Dnone"'), 10, "undefined domain 'Dnone'"),
        (XCSP.replace('reference="notboth"', 'reference="gone"'), 18, "undefined relation 'gone'"),
        (XCSP.replace('scope="b c"', 'scope="b z"'), 18, "undefined variable 'z'"),
        (XCSP.replace("0 0|1 1", "0 0|1 1 1"), 13, "does not have arity 2"),
        (XCSP.replace("2 0</relation>", "2 7</relation>"), 14, "outside the domain of c"),
        (XCSP.replace("</relations>", "</relation>"), 15, "not well-formed XML"),
    ],
)
def test_xcsp_errors_name_the_line(tmp_path: Path, broken: str, line: int, message: str) -> None:
    path = write(tmp_path, "bad.xml", broken)
    with pytest.raises(InputFileError, match=message) as caught:
        load_model(path)
    assert caught.value.line == line
    assert str(path) in str(caught.value)


def table_json() -> dict[str, object]:
    return {
        "name": "tiny json",
        "format": "mixflow-table-csp-v1: test",
        "variables": [{"name": "x", "values": ["p", "q"]}, {"name": "y", "values": ["r", "s", "t"]}],
        "constraints": [
            {"name": "t1", "scope": ["x", "y"], "semantics": "supports", "tuples": [[0, 0], [1, 2]]}
        ],
    }


def test_table_json_plain_and_gzipped(tmp_path: Path) -> None:
    plain = write(tmp_path, "m.json", json.dumps(table_json()))
    zipped = tmp_path / "m.json.gz"
    zipped.write_bytes(gzip.compress(json.dumps(table_json()).encode()))
    for path in (plain, zipped):
        catalogue = load_model(path)
        assert catalogue.tables[0].allowed == frozenset({("p", "r"), ("q", "t")})
        assert compile_catalogue(catalogue).count() == 2


def test_table_json_errors(tmp_path: Path) -> None:
    data = table_json()
    data["constraints"][0]["tuples"].append([0, 9])  # type: ignore[index]
    with pytest.raises(
        InputFileError, match=r"constraints\[0\] \(t1\): tuple 2 has an index outside a domain"
    ):
        load_model(write(tmp_path, "bad.json", json.dumps(data)))
    with pytest.raises(InputFileError, match="not valid JSON") as caught:
        load_model(write(tmp_path, "cut.json", '{"format": "mixflow-table-csp-v1",\n "variables": [\n'))
    assert caught.value.line == 3


def test_history_reader_checks_names_values_and_widths(tmp_path: Path) -> None:
    catalogue = load_model(write(tmp_path, "tiny.xml", XCSP))
    history = read_history(write(tmp_path, "h.txt", "a c\n0 -1\n\n2 0\n"), catalogue)
    assert history.variables == ("a", "c")
    assert history.rows == ({"a": "0", "c": "-1"}, {"a": "2", "c": "0"})
    assert history.lines == (2, 4)
    cases = [
        ("a zz\n0 0\n", 1, "unknown variable 'zz'"),
        ("a c\n0\n", 2, "1 values for 2"),
        ("a c\n0 5\n", 2, "'5'"),
    ]
    for text, line, message in cases:
        with pytest.raises(InputFileError, match=message) as caught:
            read_history(write(tmp_path, "bad.txt", text), catalogue)
        assert caught.value.line == line
    with pytest.raises(InputFileError, match="empty"):
        read_history(write(tmp_path, "empty.txt", "\n"), catalogue)


def test_missing_file_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputFileError, match="cannot read"):
        load_model(tmp_path / "absent.xml")


def test_megane_partial_reads_as_published(shared_benchmarks: Path) -> None:
    catalogue = load_model(shared_benchmarks / "config" / "renault_megane_clib_partial.json.gz")
    assert len(catalogue.variables) == 99
    assert len(catalogue.tables) == 111
    assert sum(len(v.values) for v in catalogue.variables) == 396
