"""The configurator over HTTP answers from the engine: valid values, exact count, reasons, completion."""

from __future__ import annotations

from mixflow.configure import compile_catalogue
from mixflow.reference import reference_catalogue


def test_a_click_narrows_the_choices_and_the_count(client) -> None:  # type: ignore[no-untyped-def]
    everything = client.post("/api/configurator/propagate", json={"choices": {}}).json()
    mixer = client.post("/api/configurator/propagate", json={"choices": {"family": "mixer"}}).json()
    engine = compile_catalogue(reference_catalogue())
    assert int(everything["count"]) == engine.count({})
    assert int(mixer["count"]) == engine.count({"family": "mixer"}) < engine.count({})
    assert mixer["valid"]["family"] == ["mixer"]
    assert "4x2" not in mixer["valid"]["drive"]  # a mixer carries its drum on a multi-axle chassis
    assert mixer["price"]["min"] <= mixer["price"]["max"] and mixer["configuration_price"] is None


def test_a_greyed_value_explains_itself(client) -> None:  # type: ignore[no-untyped-def]
    choices = {"family": "mixer"}
    asked = {"choices": choices, "variable": "drive", "value": "4x2"}
    why = client.post("/api/configurator/explain", json=asked)
    answer = why.json()
    assert why.status_code == 200 and answer["possible"] is False
    assert answer["conflicting_choices"] == {"family": "mixer"} and answer["reasons"]
    assert "Concrete mixer" in answer["text"]


def test_complete_cheapest_is_the_cheapest(client) -> None:  # type: ignore[no-untyped-def]
    dump = {"choices": {"family": "dump"}}
    low = client.post("/api/configurator/propagate", json=dump).json()["price"]["min"]
    done = client.post("/api/configurator/complete", json={"choices": {"family": "dump"}}).json()
    assert done["price"] == low
    state = client.post("/api/configurator/propagate", json={"choices": done["configuration"]}).json()
    assert state["complete"] and state["count"] == "1" and state["configuration_price"] == low


def test_clashing_choices_say_why(client) -> None:  # type: ignore[no-untyped-def]
    clash = {"choices": {"family": "mixer", "drive": "4x2"}}
    state = client.post("/api/configurator/propagate", json=clash).json()
    assert state["count"] == "0" and state["conflicts"] and "cannot go together" in state["conflicts"][0]


def test_bad_names_are_4xx(client) -> None:  # type: ignore[no-untyped-def]
    unknown = client.post("/api/configurator/propagate", json={"choices": {"family": "boat"}})
    assert unknown.status_code == 422 and "unknown value of family 'boat'" in unknown.json()["detail"]
    extra = client.post("/api/configurator/propagate", json={"choices": {}, "sql": "drop table"})
    assert extra.status_code == 422
    assert client.post("/api/configurator/complete", json={"objective": "dearest"}).status_code == 422


def test_the_catalogue_says_what_the_plant_builds(new_client, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from pathlib import Path

    reference = new_client().get("/api/catalogue").json()
    assert (reference["product"], reference["products"]) == ("truck", "trucks")
    assert reference["plant"] and reference["name"]
    ebus = Path(__file__).parents[2] / "examples" / "ebus" / "catalogue.yaml"
    buses = new_client(catalogue_file=str(ebus)).get("/api/catalogue").json()
    assert (buses["product"], buses["products"]) == ("bus", "buses")
    assert "family" in {v["name"] for v in buses["variables"]}
