"""The multi-plant promise: every plant quotes without booking, sorted by delivery at the customer's
region; a plant that cannot take the order says why; placing books the chosen plant only."""

from __future__ import annotations

from dataclasses import replace
from functools import cache
from pathlib import Path

import pytest

from mixflow.configure.catalogue_file import load_catalogue
from mixflow.errors import InfeasibleError, UnknownNameError, ValidationError
from mixflow.model import DAY_S, Is, Order, Plant
from mixflow.promise.ctp import Promiser
from mixflow.promise.multi_plant import MultiPlantPromiser, PlantSite
from mixflow.reference import build_plant, order_stream, reference_catalogue

EBUS_CATALOGUE = Path(__file__).parents[2] / "examples" / "ebus" / "catalogue.yaml"


@cache
def _plant() -> Plant:
    return build_plant(0.05, 1)


def _cloud() -> MultiPlantPromiser:
    """Two identical truck plants far apart, one plant selling buses, one whose only line builds
    tractors, one that delivers only west."""
    plant, trucks = _plant(), reference_catalogue()
    tractors_only = replace(
        plant, lines=(replace(plant.lines[0], builds=Is("family", frozenset({"tractor"}))),)
    )
    return MultiPlantPromiser(
        [
            PlantSite("near", Promiser(plant, trucks), {"central": 2, "south": 40}),
            PlantSite("far", Promiser(plant, trucks), {"central": 30, "south": 5}),
            PlantSite("buses", Promiser(plant, load_catalogue(EBUS_CATALOGUE)), {"central": 1}),
            PlantSite("tractors", Promiser(tractors_only, trucks), {"central": 1}),
            PlantSite("island", Promiser(plant, trucks), {"west": 1}),
        ]
    )


def _dump_truck(now_s: int = 0, requested_s: int | None = None) -> Order:
    config = next(
        o.configuration
        for o in order_stream(_plant(), reference_catalogue(), 2, 5)
        if o.configuration["family"] == "dump"
    )
    return Order("W1", "C1", config, now_s, now_s if requested_s is None else requested_s)


def test_quotes_are_sorted_by_delivery_at_the_region_and_those_that_cannot_say_why() -> None:
    cloud = _cloud()
    order = _dump_truck()
    central = cloud.quote(order, "central", 0)
    assert [q.plant for q in central] == ["near", "far", "buses", "tractors", "island"]
    near, far = central[0], central[1]
    assert near.completion_s == far.completion_s  # same plant, same (empty) book: transport decides
    assert near.delivery_s == near.completion_s + 2 * 3600 and far.delivery_s == far.completion_s + 30 * 3600
    assert near.binding and near.line == "final-assembly" and near.slot is not None
    assert [q.plant for q in cloud.quote(order, "south", 0)][:2] == ["far", "near"]
    why = {q.plant: q.why_not for q in central if not q.can_build}
    assert why["buses"].startswith("cannot build it in catalogue 'mixflow example e-bus plant")
    assert "unknown value of family 'dump'" in why["buses"]
    assert why["tractors"] == "builds its model on no line (lines final-assembly)"
    assert why["island"] == "does not deliver to region central (it serves west)"
    assert all(q.completion_s is None and q.delivery_s is None for q in central[2:])
    with pytest.raises(UnknownNameError, match=r"unknown region 'north' \(known: central, south, west\)"):
        cloud.quote(order, "north", 0)


def test_placing_books_only_the_chosen_plant() -> None:
    cloud = _cloud()
    order = _dump_truck()
    before = {q.plant: q for q in cloud.quote(order, "central", 0)}
    placement = cloud.place(order, "central", 0, choice="far")
    assert placement.placed.plant == "far" and placement.promise.order_id == "W1"
    assert placement.placed.slot == before["far"].slot == placement.promise.slot
    assert placement.placed.delivery_s == placement.promise.promised_s + 30 * 3600
    after = {q.plant: q for q in cloud.quote(replace(order, id="W2"), "central", 0)}
    assert after["near"] == before["near"]  # the other plant's book did not move
    assert after["far"].slot is not None and before["far"].slot is not None
    assert after["far"].slot > before["far"].slot
    assert (after["far"].completion_s or 0) >= (before["far"].completion_s or 0)
    earliest = cloud.place(replace(order, id="W3"), "central", 0)
    assert earliest.placed.plant == "near" and earliest.quotes[0].plant == "near"


def test_placing_where_it_cannot_be_built_is_refused() -> None:
    cloud = _cloud()
    order = _dump_truck()
    with pytest.raises(
        InfeasibleError, match="cannot be placed at plant tractors, which builds its model on no line"
    ):
        cloud.place(order, "central", 0, choice="tractors")
    with pytest.raises(UnknownNameError, match="unknown plant 'mars'"):
        cloud.place(order, "central", 0, choice="mars")
    with pytest.raises(
        InfeasibleError, match="no plant can deliver it to region west: plant near does not"
    ) as caught:
        cloud.place(replace(order, configuration={"family": "city"}), "west", 0)
    assert "plant island cannot build it in catalogue" in str(caught.value)


def test_a_date_wanted_at_the_region_is_asked_of_each_plant_earlier_by_its_transport() -> None:
    wanted = 20 * DAY_S
    quotes = _cloud().quote(_dump_truck(requested_s=wanted), "central", 0)
    assert [(q.plant, q.completion_s, q.delivery_s) for q in quotes[:2]] == [
        ("near", wanted - 2 * 3600, wanted),
        ("far", wanted - 30 * 3600, wanted),
    ]  # the same delivery at the region: ties keep the cloud's order


def test_a_loaded_plant_quotes_later_than_an_idle_twin() -> None:
    cloud = _cloud()
    near = cloud.sites["near"].promiser
    for booked in order_stream(near.plant, near.catalogue, 3, 7):
        near.promise(booked, booked.placed_s)
    quotes = {q.plant: q for q in cloud.quote(_dump_truck(2 * DAY_S), "central", 2 * DAY_S)}
    assert (quotes["near"].completion_s or 0) > (quotes["far"].completion_s or 0)


def test_a_plant_id_twice_or_negative_hours_is_refused() -> None:
    plant, trucks = _plant(), reference_catalogue()
    site = PlantSite("a", Promiser(plant, trucks), {"central": 1})
    with pytest.raises(ValidationError, match="plant a: the plant id is used twice"):
        MultiPlantPromiser([site, site])
    with pytest.raises(ValidationError, match=r"plant b.transport_h.central: must be >= 0, got -1"):
        PlantSite("b", Promiser(plant, trucks), {"central": -1})
