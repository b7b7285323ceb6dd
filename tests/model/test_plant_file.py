"""The plant file: the reference plant survives a round trip, the documented example reads, and every
kind of bad input is one line naming the file, the line and the JSON path."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from mixflow.configure.catalogue_file import load_catalogue
from mixflow.errors import InputFileError
from mixflow.model import Plant
from mixflow.model.plant_file import check_fit, load_plant, parse_plant, plant_data, write_plant
from mixflow.reference import build_plant, reference_catalogue

DOC = Path(__file__).parents[2] / "docs" / "plant-format.md"


def _same(a: object, b: object, where: str = "plant") -> None:
    """Field by field, arrays by value: the error says where two plants differ."""
    if dataclasses.is_dataclass(a) and not isinstance(a, type):
        assert type(a) is type(b), where
        for f in dataclasses.fields(a):
            _same(getattr(a, f.name), getattr(b, f.name), f"{where}.{f.name}")
    elif isinstance(a, np.ndarray):
        assert np.array_equal(a, b), where  # type: ignore[arg-type]
    elif isinstance(a, tuple | list):
        assert len(a) == len(b), where  # type: ignore[arg-type]
        for k, (x, y) in enumerate(zip(a, b, strict=True)):  # type: ignore[call-overload]
            _same(x, y, f"{where}[{k}]")
    elif hasattr(a, "items"):
        assert dict(a) == dict(b), where  # type: ignore[call-overload]
    else:
        assert a == b, where


@pytest.mark.parametrize(("scale", "seed", "suffix"), [(0.1, 3, ".yaml"), (1.0, 0, ".json")])
def test_the_reference_plant_survives_a_round_trip(
    tmp_path: Path, scale: float, seed: int, suffix: str
) -> None:
    plant = build_plant(scale, seed)
    path = tmp_path / f"plant{suffix}"
    write_plant(plant, path)
    again = load_plant(path)
    _same(plant, again)
    assert plant_data(again) == plant_data(plant)
    assert again.materials == plant.materials and again.materials.modelled  # suppliers, stock, raw
    assert again.charging == plant.charging and again.charging is not None
    assert again.routings == plant.routings and any(s.materials for r in again.routings for s in r.steps)


def test_a_step_worked_on_its_agv_survives_a_round_trip(tmp_path: Path) -> None:
    plant = build_plant(0.05, 0)
    on = dataclasses.replace
    marked = tuple(
        on(r, steps=tuple(on(s, on_agv=s.operation == "cab_trim") for s in r.steps)) for r in plant.routings
    )
    plant = dataclasses.replace(plant, routings=marked)
    write_plant(plant, tmp_path / "plant.yaml")
    again = load_plant(tmp_path / "plant.yaml")
    assert again.routings == plant.routings
    assert set(again.agv_docks()) == {m.id for m in again.machines if m.group == "cab_trim"}


def _example() -> str:
    return DOC.read_text().split("## A small complete example")[1].split("```yaml\n")[1].split("```")[0]


def test_the_documented_example_reads_with_its_layout_breaks_and_one_way_lane() -> None:
    plant = parse_plant(_example(), "plant-format.md")
    assert [line.id for line in plant.lines] == ["main"]
    calendar = plant.lines[0].calendar
    assert calendar.shifts[0] == (6 * 3600, 10 * 3600) and calendar.days_off == {6}
    assert calendar.working_s_per_day == pytest.approx((16 * 3600 - 900) * 6 / 7)
    assert plant.floor.blocked[8, 11:22].all() and not plant.floor.blocked[10, 5]
    assert plant.floor.blocked[3, 3]  # a machine's cell
    east_only = plant.floor.exits[6, 10]
    assert east_only & 8 == 0 and east_only & 2  # may not leave westwards, may leave eastwards
    frame = plant.routing("frame")
    assert frame is not None and [s.operation for s in frame.steps] == ["cut", "weld", "weld"]
    ops = plant.feeder_operations({"size": "long"}, {})
    assert [op.work_s for op in ops] == [900, 1800, 1800]


def _broken(change: str, replace: str) -> str:
    text = _example()
    assert change in text, change
    return text.replace(change, replace, 1)


BAD = [
    (
        "groups: [weld]\n    repeat",
        "groups: [weld]\n    on_agv: \"no\"\n    repeat",
        "'no' is not of type 'boolean'",
        "$.routings[0].steps[1].on_agv",
    ),
    (
        "groups: [weld]\n    repeat",
        "groups: [welding]\n    repeat",
        "unknown machine group 'welding'",
        "$.routings[0].steps[1].groups",
    ),
    (
        "- id: weld\n    calendar",
        "- id: cut\n    calendar",
        "machine group id 'cut' is used twice",
        "$.shops[0].groups[1].id",
    ),
    (
        "cells: [[22, 3], [23, 3]]",
        "cells: [[22, 3], [23, 3]]\n    count: -2",
        "-2 is less than the minimum of 1",
        "$.shops[1].groups[0].count",
    ),
    (
        "{id: S3, positions: [3], drop: [20, 7]}",
        "{id: S3, positions: [3], drop: [20, 40]}",
        "outside the 28 x 14 floor",
        "$.lines[0].stations[2].drop",
    ),
    (
        "{id: S3, positions: [3], drop: [20, 7]}",
        "{id: S3, positions: [3], drop: [20, 8]}",
        "is blocked",
        "$.lines[0].stations[2].drop",
    ),
    (
        "chargers: [{cell: [26, 1], power_kw: 40}",
        "chargers: [{cell: [26, 1], power_kw: 40}, {cell: [1, 1]}",
        "",
        "",
    ),
    ("takt_s: 1800", "takt_s: 0", "0 is less than the minimum of 1", "$.lines[0].takt_s"),
    (
        "calendar: day\n  takt_s",
        "calendar: night\n  takt_s",
        "unknown calendar 'night'",
        "$.lines[0].calendar",
    ),
    (
        "  default_position: 3\n",
        "  default_position: 4\n",
        "default position 4 is in no station",
        "$.lines[0].default_position",
    ),
    ("shop: frames\n  steps", "shop: paint\n  steps", "unknown shop 'paint'", "$.routings[0].shop"),
]


@pytest.mark.parametrize(("change", "replace", "message", "path"), BAD)
def test_bad_input_is_one_line_naming_file_line_and_path(
    change: str, replace: str, message: str, path: str
) -> None:
    text = _broken(change, replace)
    if not message:  # a charger walled in by the corner: reachable from nowhere
        walls = "\n    - {name: box, rect: [2, 1, 2, 2]}\n    - {name: box2, rect: [1, 2, 1, 2]}"
        racks = "    - {name: racks, rect: [2, 10, 8, 11]}"
        text = text.replace(racks, racks + walls)
        message, path = "charger (1, 1) cannot be reached", "$.floor.chargers[1].cell"
    with pytest.raises(InputFileError) as caught:
        parse_plant(text, "bad.yaml")
    error = caught.value
    assert str(error).count("\n") == 0
    assert message in str(error) and path in str(error), str(error)
    assert error.path == "bad.yaml" and error.line is not None
    wrong_line = text.splitlines()[error.line - 1]
    tokens = replace.split()[:3] + replace.split()[-1:] + change.split()[:1]
    assert any(token in wrong_line for token in tokens), (error.line, wrong_line)


def test_a_station_behind_a_one_way_lane_the_wrong_way_cannot_be_reached() -> None:
    text = _broken("{rect: [10, 6, 22, 6], direction: east}", "{rect: [1, 1, 26, 12], direction: east}")
    with pytest.raises(InputFileError, match=r"cannot be reached by the AGVs from their homes and back"):
        parse_plant(text, "bad.yaml")


def test_not_yaml_and_a_missing_file_are_named() -> None:
    with pytest.raises(InputFileError, match=r"bad.yaml:\d+: not valid YAML"):
        parse_plant("format: [mixflow", "bad.yaml")
    with pytest.raises(InputFileError, match=r"nowhere\.yaml: cannot read"):
        load_plant("nowhere.yaml")


def test_fit_with_a_catalogue_names_unmade_unfitted_parts_and_unknown_variables(tmp_path: Path) -> None:
    plant = build_plant(0.1)
    path = tmp_path / "plant.yaml"
    data = plant_data(plant)
    data["lines"][0].pop("default_position")
    data["lines"][0]["parts"].pop("kit")
    data["routings"][0]["steps"][0]["when"] = {"cabin": "day"}
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    problems = [str(p) for p in check_fit(load_plant(path), reference_catalogue())]
    assert any("names variable 'cabin'" in p and "$.routings[0].steps[0]" in p for p in problems)
    assert any("part 'kit' of the catalogue is fitted at no position" in p for p in problems)
    assert all(p.startswith(f"{path}:") for p in problems)
    assert check_fit(build_plant(0.1), reference_catalogue()) == []


def test_the_example_bus_catalogue_reads() -> None:
    catalogue = load_catalogue(Path(__file__).parents[2] / "examples" / "ebus" / "catalogue.yaml")
    assert catalogue.product == "bus" and catalogue.products == "buses"


def test_a_plant_needs_a_line() -> None:
    plant = build_plant(0.1)
    with pytest.raises(Exception, match="needs at least one final-assembly line"):
        Plant(plant.name, (), plant.shops, plant.floor, plant.fleet)


def test_a_floor_from_a_movingai_file_beside_the_plant(tmp_path: Path) -> None:
    plant = parse_plant(_example(), "plant-format.md")
    from mixflow.model.floor_map import movingai_text

    blocked = plant.floor.blocked.copy()
    for machine in plant.machines:
        blocked[machine.cell[1], machine.cell[0]] = False
    (tmp_path / "floor.map").write_text(movingai_text(blocked))
    data = plant_data(plant)
    data["floor"].pop("map")
    data["floor"]["map_file"] = "floor.map"
    path = tmp_path / "plant.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    _same(load_plant(path).floor, plant.floor)
    (tmp_path / "floor.map").write_text("type octile\nheight 3\nwidth 4\nmap\n....\n...\n....\n")
    with pytest.raises(InputFileError, match=r"floor.map:6: map row has 3 characters, header says width 4"):
        load_plant(path)


def test_calendar_days_off_pause_work_and_lower_the_average_day() -> None:
    from mixflow.model import DAY_S, Calendar

    calendar = Calendar(((6 * 3600, 14 * 3600),), frozenset({5, 6}))
    assert calendar.working_s_per_day == pytest.approx(8 * 3600 * 5 / 7)
    friday_end = 4 * DAY_S + 14 * 3600
    assert calendar.next_working(friday_end) == 7 * DAY_S + 6 * 3600  # Monday morning
    assert calendar.working_end(4 * DAY_S + 13 * 3600, 2 * 3600) == 7 * DAY_S + 7 * 3600
    assert calendar.working_between(0, 7 * DAY_S) == 5 * 8 * 3600
    assert not calendar.is_working(5 * DAY_S + 8 * 3600)


def test_a_synthetic_plant_of_three_lines_writes_and_reads_back(tmp_path: Path) -> None:
    from mixflow.reference.synthetic import synthetic_plant

    plant = synthetic_plant(machines=400, agvs=60, lines=3)
    assert len(plant.lines) == 3 and len(plant.fleet.agv_ids) == 60
    assert abs(len(plant.machines) - 400) < 30
    path = tmp_path / "synthetic.yaml"
    write_plant(plant, path)
    _same(load_plant(path), plant)
    assert check_fit(plant, reference_catalogue()) == []


def test_a_fleet_of_two_types_reads_with_each_agvs_type(tmp_path: Path) -> None:
    text = _broken(
        "  - {id: tugger, count: 4,",
        "  - {id: carrier, count: 1, speed_m_s: 1.5, payload_kg: 6000, battery_kwh: 40, charge_kw: 80,\n"
        "     drain_kwh_per_m: 0.003}\n  - {id: tugger, count: 3,",
    )
    plant = parse_plant(text, "two-types.yaml")
    fleet = plant.fleet
    assert [t.id for t in fleet.types] == ["carrier", "tugger"] and fleet.type_of == (0, 1, 1, 1)
    assert fleet.spec_of(0).payload_kg == 6000 and fleet.spec_of(3).payload_kg == 1500
    path = tmp_path / "p.yaml"
    write_plant(plant, path)
    _same(load_plant(path).fleet, fleet)
    slow = text.replace("speed_m_s: 1.5, payload_kg: 6000", "speed_m_s: 1.0, payload_kg: 6000")
    with pytest.raises(InputFileError, match=r"\$\.fleet: AGV types move at different speeds"):
        parse_plant(slow, "two-types.yaml")


def test_the_documented_pair_validates_and_runs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from mixflow.twin.experiment import run
    from mixflow.twin.scenario import Scenario
    from tests.cli.test_plant_cli import run as cli

    plant, catalogue = tmp_path / "small.yaml", tmp_path / "small-catalogue.yaml"
    plant.write_text(_example())
    after = DOC.read_text().split("The catalogue (`mixflow-catalogue-v1`")[1]
    catalogue.write_text(after.split("```yaml\n")[1].split("```")[0])
    code, out, err = cli(["plant", "validate", str(plant), "--catalogue", str(catalogue), "--json"], capsys)
    assert code == 0 and json.loads(out)["valid"], err
    kpis = run(Scenario(days=2, plant_file=str(plant), catalogue_file=str(catalogue)), seed=0).kpis
    assert kpis["orders"] > 20 and kpis["delivered"] == kpis["orders"] and kpis["agv_collisions"] == 0
