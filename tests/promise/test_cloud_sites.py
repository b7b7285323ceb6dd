"""Opening a cloud's plants: a plant that fails is refused with its own error behind its entry's line;
the other plants open all the same."""

from __future__ import annotations

from pathlib import Path

from mixflow.model.cloud_file import load_cloud
from mixflow.promise.cloud_sites import open_cloud

EBUS = Path(__file__).parents[2] / "examples" / "ebus"


def test_a_failing_plant_file_and_a_misfit_catalogue_are_refused_the_others_open(tmp_path: Path) -> None:
    (tmp_path / "broken.yaml").write_text("format: mixflow-plant-v1\nname: broken\n")
    (tmp_path / "cloud.yaml").write_text(
        "format: mixflow-cloud-v1\n"
        "plants:\n"
        "- id: good\n"
        "  scale: 0.05\n"
        "  transport_h: {central: 8}\n"
        "- id: broken\n"
        "  plant: broken.yaml\n"
        "  transport_h: {central: 2}\n"
        "- id: trucks-with-buses\n"
        "  scale: 0.05\n"
        f"  catalogue: {EBUS / 'catalogue.yaml'}\n"
        "  transport_h: {south: 3}\n"
    )
    cloud = load_cloud(tmp_path / "cloud.yaml")
    opened = open_cloud(cloud)
    assert [site.id for site in opened.sites] == ["good"]
    assert opened.sites[0].promiser.plant.scale == 0.05
    broken = str(opened.refused["broken"])
    assert broken.startswith(f"{tmp_path / 'cloud.yaml'}:7: $.plants[1].plant: plant 'broken': ")
    assert f"{tmp_path / 'broken.yaml'}:1: $: 'calendars' is a required property" in broken
    misfit = str(opened.refused["trucks-with-buses"])
    assert misfit.startswith(
        f"{tmp_path / 'cloud.yaml'}:11: $.plants[2].catalogue: plant 'trucks-with-buses': "
    )
    assert "the plant cannot build the buses of catalogue" in misfit
    assert "\n" not in broken + misfit
