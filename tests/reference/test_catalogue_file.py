"""The catalogue format: the reference trucks load, and bad files fail naming the line."""

import pytest

from mixflow.configure.catalogue_file import load_catalogue, parse_catalogue
from mixflow.errors import InputFileError
from mixflow.reference import reference_catalogue

GOOD = """\
format: mixflow-catalogue-v1
name: tiny
variables:
  - name: family
    values: [{code: tractor}, {code: dump, price: 10}]
  - name: drive
    values: [{code: 4x2}, {code: 8x4}]
rules:
  - id: r1
    text: 8x4 only for dumps
    if: {drive: 8x4}
    then: {family: dump}
"""


def test_reference_catalogue_rules_hold_for_its_defaults() -> None:
    cat = reference_catalogue()
    assert {"family", "drive", "powertrain", "cab", "wheelbase", "colour", "charging"} <= {
        v.name for v in cat.variables
    }
    assert len(cat.rules) >= 20 and cat.parts and cat.station_work


def test_good_file_parses_into_rules() -> None:
    cat = parse_catalogue(GOOD)
    assert cat.violations({"family": "tractor", "drive": "8x4"}) == ["8x4 only for dumps"]


@pytest.mark.parametrize(
    ("text", "line", "fragment"),
    [
        (GOOD.replace("    then: {family: dump}", "    then: {family: dumper}"), 12, "unknown value"),
        (GOOD.replace("  - name: drive", "  - nam: drive"), 6, "name"),
        (GOOD + "  - id: r2\n    if: {cab: day}\n    then: {family: dump}\n", 14, "unknown variable 'cab'"),
        (GOOD.replace("values: [{code: 4x2}", "values: [{code: 4x2"), 7, "not valid YAML"),
    ],
)
def test_bad_files_name_the_line(text: str, line: int, fragment: str) -> None:
    with pytest.raises(InputFileError) as caught:
        parse_catalogue(text, "trucks.yaml")
    assert caught.value.line == line, str(caught.value)
    assert fragment in str(caught.value)
    assert str(caught.value).startswith(f"trucks.yaml:{line}: ")


def test_missing_file_is_named(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InputFileError, match=r"nope\.yaml"):
        load_catalogue(tmp_path / "nope.yaml")
