"""The cloud file: the example reads, and every kind of bad input is one line naming the file, the line
and the JSON path."""

from __future__ import annotations

from pathlib import Path

import pytest

from mixflow.errors import InputFileError
from mixflow.model.cloud_file import load_cloud, parse_cloud

EXAMPLE = Path(__file__).parents[2] / "examples" / "cloud" / "cloud.yaml"

GOOD = """\
format: mixflow-cloud-v1
plants:
- id: north
  scale: 0.05
  seed: 1
  transport_h: {central: 8, south: 30}
- id: south
  plant: plants/south.yaml
  catalogue: buses.yaml
  transport_h: {south: 4.5, west: 12}
"""


def test_the_example_reads_with_paths_relative_to_the_cloud_file() -> None:
    cloud = load_cloud(EXAMPLE)
    assert [p.id for p in cloud.plants] == ["changsha", "kunshan", "chengdu", "ebus"]
    assert cloud.regions == ("central", "south", "east", "west")
    ebus = cloud.entry("ebus")
    assert (
        ebus.plant_file is not None
        and ebus.plant_file.resolve() == EXAMPLE.parents[1] / "ebus" / "plant.yaml"
    )
    assert ebus.scale is None and ebus.transport_h == {"central": 10.0, "east": 14.0}
    assert cloud.entry("kunshan").scale == 0.05 and cloud.entry("kunshan").catalogue_file is None


def test_a_plant_file_or_the_reference_plant_and_the_union_of_regions() -> None:
    cloud = parse_cloud(GOOD, "c.yaml", base_dir=Path("/clouds"))
    north, south = cloud.plants
    assert (north.scale, north.seed, north.plant_file) == (0.05, 1, None)
    assert south.plant_file == Path("/clouds/plants/south.yaml") and south.seed == 0
    assert south.catalogue_file == Path("/clouds/buses.yaml")
    assert cloud.regions == ("central", "south", "west")


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (
            "- id: south",
            "- id: north",
            "c.yaml:7: $.plants[1].id: plant id 'north' is used twice (first at line 3)",
        ),
        (
            "south: 30",
            "south: -3",
            "c.yaml:6: $.plants[0].transport_h.south: -3 is less than the minimum of 0",
        ),
        ("west: 12", "west: many", "c.yaml:10: $.plants[1].transport_h.west: 'many' is not of type 'number'"),
        (
            "  seed: 1",
            "  seed: 1\n  colour: red",
            "c.yaml:3: $.plants[0]: Additional properties are not allowed",
        ),
        (
            "  catalogue: buses.yaml",
            "  scale: 0.1",
            "c.yaml:7: $.plants[1]: plant 'south' names both of `plant`",
        ),
        ("  scale: 0.05\n", "", "c.yaml:3: $.plants[0]: plant 'north' names neither of `plant`"),
        (
            "  scale: 0.05",
            "  scale: 0",
            "c.yaml:4: $.plants[0].scale: 0 is less than or equal to the minimum of 0",
        ),
        ("transport_h: {central: 8, south: 30}", "transport_h: {}", "c.yaml:6: $.plants[0].transport_h: {}"),
        (
            "format: mixflow-cloud-v1",
            "format: mixflow-plant-v1",
            "c.yaml:1: $.format: 'mixflow-cloud-v1' was",
        ),
    ],
)
def test_bad_input_names_file_line_and_path(old: str, new: str, expected: str) -> None:
    assert old in GOOD
    with pytest.raises(InputFileError) as caught:
        parse_cloud(GOOD.replace(old, new, 1), "c.yaml")
    assert str(caught.value).startswith(expected), str(caught.value)
    assert "\n" not in str(caught.value)


def test_a_missing_cloud_file_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(InputFileError, match=r"nowhere\.yaml: cannot read"):
        load_cloud(tmp_path / "nowhere.yaml")
