"""Materials and the charging bay in the plant file: the documented sections read and survive a round
trip, a file without them reads as before, and every bad input is one line naming file, line and path
(in the reader) or the part and what is missing (with a catalogue)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
import yaml

from mixflow.configure.catalogue_file import parse_catalogue
from mixflow.errors import InfeasibleError, InputFileError
from mixflow.model import Catalogue, ChargingBay, Materials
from mixflow.model.plant_file import check_fit, load_plant, parse_plant, plant_data, write_plant
from mixflow.model.supply import check_supply
from tests.model.test_plant_file import _same

DOC = Path(__file__).parents[2] / "docs" / "plant-format.md"
CUT = "  - {operation: cut, groups: [cut], work_s: 900}"


def _block(after: str) -> str:
    """The first YAML block of the documentation after the heading `after`."""
    return DOC.read_text().split(after)[1].split("```yaml\n")[1].split("```")[0]


def _example() -> str:
    """The documented small plant, its frame cut from steel tube, with the documented materials."""
    plant = _block("## A small complete example")
    assert CUT in plant
    plant = plant.replace(CUT, CUT[:-1] + ", materials: {steel_tube: 2}}")
    return plant + _block("### `materials` (optional)")


def _catalogue() -> Catalogue:
    return parse_catalogue(_block("The catalogue (`mixflow-catalogue-v1`"), "small-catalogue.yaml")


def _broken(change: str, replace: str) -> str:
    text = _example()
    assert text.count(change) == 1, change
    return text.replace(change, replace)


def test_the_documented_materials_read_with_suppliers_stock_and_step_materials() -> None:
    plant = parse_plant(_example(), "small.yaml")
    materials = plant.materials
    assert materials.modelled and [r.id for r in materials.raw] == ["steel_tube", "weld_wire"]
    wheels = materials.supplier_of("wheel")
    assert wheels is not None and wheels.id == "sup-wheels"
    assert (wheels.lead_time_s, wheels.capacity_per_day, wheels.lot_size) == (86_400, 200, 40)
    assert wheels.calendar == plant.lines[0].calendar and wheels.dock == (1, 12)
    assert (wheels.p_late, wheels.mean_late_s) == (0.05, 7200)
    motors = materials.supplier_of("motor")
    assert motors is not None and motors.lead_time_s == 2 * 86_400 and motors.calendar is None
    assert motors.dock is None and motors.p_late == 0 and motors.name == "sup-motors"
    steel = materials.supplier_of("weld_wire")
    assert steel is not None and steel.lead_time_s == 36 * 3600 and steel.items == ("steel_tube", "weld_wire")
    assert materials.policy("wheel").reorder_point == 120 and materials.policy("motor").max_stock == 35
    assert materials.policy("weld_wire").max_stock == 0  # no policy: bought to order
    cut = plant.feeder_operations({"size": "short"}, {})[0]
    assert cut.operation == "cut" and cut.materials == (("steel_tube", 2),)
    assert check_fit(plant, _catalogue()) == []


def test_a_plant_file_without_materials_reads_as_before() -> None:
    plant = parse_plant(_block("## A small complete example"), "small.yaml")
    assert plant.materials == Materials() and not plant.materials.modelled and plant.charging is None
    assert "materials" not in plant_data(plant) and "charging_bay" not in plant_data(plant)


@pytest.mark.parametrize("suffix", [".yaml", ".json"])
def test_materials_and_the_charging_bay_survive_a_round_trip(tmp_path: Path, suffix: str) -> None:
    text = _example() + _block("### `charging_bay` (optional)")
    plant = parse_plant(text, "small.yaml")
    assert plant.charging == ChargingBay(6, 1200.0)  # the documented values are the defaults
    path = tmp_path / f"small{suffix}"
    write_plant(plant, path)
    again = load_plant(path)
    _same(plant, again)
    assert again.materials == plant.materials and again.charging == plant.charging
    assert plant_data(again) == plant_data(plant)
    written = plant_data(plant)["materials"]["suppliers"]
    assert written[0]["lead_time"] == "24h" and written[2]["lead_time"] == "36h"


def test_a_charging_bay_needs_only_chargers_and_power() -> None:
    plant = parse_plant(_example() + "charging_bay: {chargers: 2, power_kw: 350, start_soc: 0.2}\n", "p.yaml")
    assert plant.charging == ChargingBay(chargers=2, power_kw=350.0, start_soc=0.2)


BAD = [
    (
        "capacity_per_day: 200        # pieces of all its items together, on each day it ships\n"
        "    lot_size: 40",
        "capacity_per_day: 200\n    lot_size: 0",
        "$.materials.suppliers[0].lot_size: 0 is less than the minimum of 1",
        "lot_size: 0",
    ),
    (
        "dock: [1, 12]",
        "dock: [2, 12]",
        "$.materials.suppliers[0].dock: (2, 12) is not a dock of the floor (docks: (1, 12))",
        "dock: [2, 12]",
    ),
    (
        "materials: {steel_tube: 2}",
        "materials: {steel_pipe: 2}",
        "$.routings[0].steps[0].materials.steel_pipe: uses 'steel_pipe', which is no raw material of the "
        "file (known: steel_tube, weld_wire)",
        "steel_pipe",
    ),
    (
        "items: [motor]",
        "items: [motor, wheel]",
        "$.materials.suppliers[1].items[1]: item 'wheel' is also sold by supplier sup-wheels "
        "(at $.materials.suppliers[0].items[0]): name one",
        "items: [motor, wheel]",
    ),
    (
        "lead_time: 2d",
        "lead_time: 2 days",
        "$.materials.suppliers[1].lead_time",
        "2 days",
    ),
    (
        "calendar: day                # the days",
        "calendar: weekdays           # the days",
        "$.materials.suppliers[0].calendar: unknown calendar 'weekdays' (known: day)",
        "calendar: weekdays",
    ),
    (
        "{item: motor, on_hand: 30, reorder_point: 20, max_stock: 35}",
        "{item: motor, on_hand: 30, reorder_point: 20, max_stock: 10}",
        "$.materials.stock[1]: max_stock 10 lies below reorder_point 20",
        "max_stock: 10",
    ),
    (
        "{item: steel_tube, on_hand: 80",
        "{item: wheel, on_hand: 80",
        "$.materials.stock[2].item: stock of item 'wheel' is defined twice "
        "(first at $.materials.stock[0].item)",
        "{item: wheel, on_hand: 80",
    ),
    (
        "reliability: {p_late: 0.05, mean_late: 2h}",
        "reliability: {p_late: 1.5, mean_late: 2h}",
        "$.materials.suppliers[0].reliability.p_late: 1.5 is greater than the maximum of 1",
        "p_late: 1.5",
    ),
]


@pytest.mark.parametrize(("change", "replace", "message", "token"), BAD)
def test_bad_materials_are_one_line_naming_file_line_and_path(
    change: str, replace: str, message: str, token: str
) -> None:
    text = _broken(change, replace)
    with pytest.raises(InputFileError) as caught:
        parse_plant(text, "bad.yaml")
    error = caught.value
    assert str(error).count("\n") == 0 and str(error).startswith("bad.yaml:")
    assert message in str(error), str(error)
    assert error.line is not None and token in text.splitlines()[error.line - 1], error.line


def test_a_supplier_needs_a_dock_to_deliver_to() -> None:
    text = _broken("  docks: [[1, 12]]\n", "")
    with pytest.raises(InputFileError, match=r"\$\.materials\.suppliers\[0\]\.dock: \(1, 12\) is not a dock"):
        parse_plant(text, "bad.yaml")
    text = text.replace(
        "    dock: [1, 12]                # one of floor.docks; omitted: the first dock\n", ""
    )
    with pytest.raises(
        InputFileError, match=r"\$\.materials\.suppliers\[0\]: delivers to the floor's first dock"
    ):
        parse_plant(text, "bad.yaml")


def test_a_charging_curve_out_of_order_is_refused_at_the_bay() -> None:
    text = (
        _example()
        + "charging_bay: {chargers: 2, power_kw: 350, curve: [[0, 1], [0.8, 0.5], [0.6, 1], [1, 0.1]]}\n"
    )
    with pytest.raises(InputFileError, match=r"\$\.charging_bay: needs points ordered by soc from 0 to 1"):
        parse_plant(text, "bad.yaml")


def _misfits(text: str) -> list[str]:
    return [str(p) for p in check_fit(parse_plant(text, "small.yaml"), _catalogue())]


def test_fit_names_a_bought_part_no_supplier_sells() -> None:
    motors = "  - {id: sup-motors, items: [motor], lead_time: 2d, capacity_per_day: 30, lot_size: 5}\n"
    problems = _misfits(_broken(motors, ""))
    assert len(problems) == 1 and problems[0].startswith("small.yaml:")
    assert "$.materials.suppliers: part motor: no supplier sells it and no shop makes it" in problems[0]


def test_fit_names_raw_material_unsold_and_items_neither_raw_nor_catalogue_parts() -> None:
    text = _broken("items: [steel_tube, weld_wire]", "items: [weld_wire, gizmo]")
    text = text.replace("{item: motor, on_hand", "{item: widget, on_hand")
    problems = _misfits(text)
    assert any(
        "$.materials.raw[0]: raw material steel_tube: the routings use it, but no supplier sells it" in p
        for p in problems
    ), problems
    assert any(
        "$.materials.suppliers[2].items[1]: sells 'gizmo', which is neither a raw material of the plant "
        "nor a part of catalogue 'Small example carts'" in p
        for p in problems
    ), problems
    assert any("$.materials.stock[1].item: keeps stock of 'widget', which is neither" in p for p in problems)
    assert len(problems) == 3


def test_fit_names_a_battery_attribute_the_catalogue_lacks() -> None:
    problems = _misfits(_example() + "charging_bay: {chargers: 2, power_kw: 350}\n")
    message = "$.charging_bay.battery_attribute: 'pack_kwh' is no attribute of any value of catalogue"
    assert len(problems) == 1 and message in problems[0] and problems[0].startswith("small.yaml:")


def test_without_suppliers_a_bought_part_needs_only_a_lead_time() -> None:
    text = _example().split("  suppliers:\n")[0] + "  stock: []\n"
    plant = parse_plant(text, "small.yaml")
    assert not plant.materials.modelled and len(plant.materials.raw) == 2
    assert check_fit(plant, _catalogue()) == []
    catalogue = _block("The catalogue (`mixflow-catalogue-v1`").replace(
        "lead_time_s: 86400, unit_cost: 40", "unit_cost: 40"
    )
    problems = [str(p) for p in check_fit(plant, parse_catalogue(catalogue, "c.yaml"))]
    assert len(problems) == 1 and "part 'wheel': no routing makes it and it has no lead time" in problems[0]


def test_validate_reports_a_part_no_supplier_sells(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.cli.test_plant_cli import run

    plant, catalogue = tmp_path / "small.yaml", tmp_path / "small-catalogue.yaml"
    data = yaml.safe_load(_example())
    data["materials"]["suppliers"] = [s for s in data["materials"]["suppliers"] if s["id"] != "sup-motors"]
    plant.write_text(yaml.safe_dump(data, sort_keys=False))
    catalogue.write_text(_block("The catalogue (`mixflow-catalogue-v1`"))
    code, out, err = run(["plant", "validate", str(plant), "--catalogue", str(catalogue)], capsys)
    assert code == 2 and out == "" and err.count("\n") == 1
    assert f"{plant}:" in err and "part motor: no supplier sells it and no shop makes it" in err


def test_the_documented_refusals_are_what_the_supply_check_says() -> None:
    plant = parse_plant(_example(), "small.yaml")
    doc = " ".join(DOC.read_text().split())
    with pytest.raises(InfeasibleError) as short:
        check_supply(plant, _catalogue(), {"wheel": 190.0})
    assert f"`{short.value}`" in doc, short.value
    no_motors = replace(plant, materials=replace(plant.materials, suppliers=plant.materials.suppliers[::2]))
    with pytest.raises(InfeasibleError) as unsold:
        check_supply(no_motors, _catalogue(), {"motor": 3.0})
    assert str(unsold.value) == "part motor: no supplier sells it and no shop makes it (3 a day needed)"
    assert "`part motor: no supplier sells it and no shop makes it`" in doc
