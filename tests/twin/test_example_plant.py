"""The example e-bus plant (two lines sharing six feeder shops, a floor drawn as a layout) runs as a
user would run it: every order delivered within its promise, no AGV collision, both lines building."""

from __future__ import annotations

from pathlib import Path

import pytest

from mixflow.configure.catalogue_file import load_catalogue
from mixflow.model.plant_file import check_fit, load_plant
from mixflow.reference import buildable_models
from mixflow.twin.experiment import run
from mixflow.twin.scenario import Scenario

EXAMPLE = Path(__file__).parents[2] / "examples" / "ebus"


def test_the_bus_plant_fits_its_catalogue() -> None:
    plant = load_plant(EXAMPLE / "plant.yaml")
    catalogue = load_catalogue(EXAMPLE / "catalogue.yaml")
    assert check_fit(plant, catalogue) == []
    assert len(buildable_models(catalogue)) >= 50
    assert len(plant.lines) == 2 and {len(s.groups) for s in plant.shops} >= {1, 2}
    assert "layout" in (EXAMPLE / "plant.yaml").read_text()


@pytest.mark.parametrize("mtbf_factor", [0.0, 1.0])
def test_the_bus_plant_delivers_every_order_within_its_promise(mtbf_factor: float) -> None:
    scenario = Scenario(
        days=2,
        drain_days=6,
        mtbf_factor=mtbf_factor,
        plant_file=str(EXAMPLE / "plant.yaml"),
        catalogue_file=str(EXAMPLE / "catalogue.yaml"),
    )
    kpis = run(scenario, seed=1).kpis
    assert kpis["orders"] > 40 and kpis["delivered"] == kpis["orders"]
    assert kpis["promises_kept"] == 1.0
    assert kpis["order_to_delivery_days"]["p95"] <= 5.0
    assert kpis["agv_collisions"] == 0
    assert all(line["entered"] > 0 for line in kpis["lines"].values())
