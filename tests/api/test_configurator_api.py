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


def _brute_force_fewest_changes(engine, choices, variable, value) -> int:  # type: ignore[no-untyped-def]
    """The fewest other choices to drop so that `variable = value` fits: tried subset size by size."""
    from itertools import combinations

    others = [(n, v) for n, v in choices.items() if n != variable]
    for k in range(len(others) + 1):
        for dropped in combinations(others, k):
            kept = {n: v for n, v in others if (n, v) not in dropped}
            if engine.is_consistent({**kept, variable: value}):
                return k
    raise AssertionError("no subset fits")


def test_switch_and_adjust_changes_the_fewest_choices(client) -> None:  # type: ignore[no-untyped-def]
    engine = compile_catalogue(reference_catalogue())
    mixer = client.post("/api/configurator/complete", json={"choices": {"family": "mixer"}}).json()
    asked = {"choices": mixer["configuration"], "variable": "drive", "value": "4x2"}
    answer = client.post("/api/configurator/adjust", json=asked)
    assert answer.status_code == 200, answer.text
    switch = answer.json()
    changed = {c["variable"]: (c["old"], c["new"]) for c in switch["changes"]}
    assert "family" in changed and changed["family"][0] == "mixer"  # no mixer on two axles
    assert len(changed) == _brute_force_fewest_changes(engine, asked["choices"], "drive", "4x2")
    assert switch["choices"]["drive"] == "4x2" and engine.is_consistent(switch["choices"])
    kept = {n: v for n, v in asked["choices"].items() if n not in changed and n != "drive"}
    assert kept.items() <= switch["choices"].items()
    assert all(c["label"] and c["new_label"] for c in switch["changes"])
    assert "Concrete mixer" in switch["text"]
    fits = client.post("/api/configurator/adjust", json={"choices": {"family": "mixer"}, "variable": "drive",
                                                         "value": "6x4"}).json()
    assert fits["changes"] == [] and fits["choices"] == {"family": "mixer", "drive": "6x4"}


def test_switch_and_adjust_on_the_bus_catalogue(new_client) -> None:  # type: ignore[no-untyped-def]
    from pathlib import Path

    from mixflow.configure import load_model

    path = Path(__file__).parents[2] / "examples" / "ebus" / "catalogue.yaml"
    engine = compile_catalogue(load_model(path))
    client = new_client(catalogue_file=str(path))
    tried = 0
    for family in ("city", "articulated", "midibus", "coach", "shuttle"):
        choices = client.post("/api/configurator/complete", json={"choices": {"family": family}}).json()
        choices = choices["configuration"]
        for variable in engine.catalogue.variables:
            for value in variable.values:
                if value.code == choices[variable.name] or engine.is_consistent({**choices, variable.name:
                                                                                 value.code}):
                    continue
                asked = {"choices": choices, "variable": variable.name, "value": value.code}
                answer = client.post("/api/configurator/adjust", json=asked)
                if answer.status_code == 409:  # no bus at all has it (none in this catalogue)
                    continue
                switch = answer.json()
                assert switch["choices"][variable.name] == value.code
                assert engine.is_consistent(switch["choices"]), switch
                assert len(switch["changes"]) == _brute_force_fewest_changes(
                    engine, choices, variable.name, value.code), switch
                tried += 1
    assert tried >= 10


def test_switch_and_adjust_refuses_bad_names(client) -> None:  # type: ignore[no-untyped-def]
    bad = {"choices": {}, "variable": "drive", "value": "9x9"}
    unknown = client.post("/api/configurator/adjust", json=bad)
    assert unknown.status_code == 422 and "9x9" in unknown.json()["detail"]
    missing = client.post("/api/configurator/adjust", json={"choices": {}, "variable": "drive"})
    assert missing.status_code == 422


def test_the_price_is_broken_down_line_by_line(client) -> None:  # type: ignore[no-untyped-def]
    catalogue = reference_catalogue()
    engine = compile_catalogue(catalogue)
    epto = engine.complete({"family": "mixer", "pto": "electric_pto"})
    state = client.post("/api/configurator/propagate", json={"choices": epto}).json()
    lines = state["breakdown"]["lines"]
    assert lines[0]["kind"] == "base" and lines[0]["amount"] == catalogue.base_price
    options = [line["name"] for line in lines if line["kind"] == "option"]
    assert options == [v.name for v in catalogue.variables]
    surcharges = [line for line in lines if line["kind"] == "surcharge"]
    assert [s["name"] for s in surcharges] == ["mixer-epto"] and surcharges[0]["amount"] == 4200
    assert "Concrete mixer" in surcharges[0]["label"]
    assert state["breakdown"]["total"] == state["configuration_price"] == catalogue.price(epto)
    partial = client.post("/api/configurator/propagate", json={"choices": {"family": "mixer"}}).json()
    assert [line["kind"] for line in partial["breakdown"]["lines"]] == ["base", "option"]
    clash = client.post("/api/configurator/propagate", json={"choices": {"family": "mixer", "drive": "4x2"}})
    assert clash.json()["breakdown"] is None


def test_a_chosen_feature_says_which_values_would_conflict(client) -> None:  # type: ignore[no-untyped-def]
    state = client.post("/api/configurator/propagate", json={"choices": {"family": "mixer", "drive": "6x4"}})
    switchable = state.json()["switchable"]
    assert set(switchable) == {"family", "drive"}
    assert "4x2" not in switchable["drive"] and "8x4" in switchable["drive"]  # a mixer stays on 3+ axles
    assert "mixer" in switchable["family"]
