"""The engine against brute force on small random catalogues: valid values, counts, prices, completions."""

from __future__ import annotations

import itertools
import random

import pytest

from mixflow.configure import compile_catalogue
from mixflow.errors import InfeasibleError, UnknownNameError, ValidationError
from mixflow.model import Catalogue, Limit, Rule, Surcharge, Table, Value, Variable, implies, is_
from mixflow.model.formula import AnyOf, Not


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("MIXFLOW_CACHE_DIR", str(tmp_path / "cache"))


def random_catalogue(seed: int) -> Catalogue:
    """Six variables, random rules, a table, a weight limit and two surcharges: small enough to enumerate."""
    rng = random.Random(seed)
    variables = []
    for i in range(6):
        codes = [f"{chr(97 + i)}{j}" for j in range(rng.randint(2, 4))]
        values = tuple(
            Value(code=c, price=float(rng.randint(0, 9) * 100), attributes={"kg": float(rng.randint(0, 5))})
            for c in codes
        )
        variables.append(Variable(name=f"x{i}", values=values, default=rng.choice(codes)))
    pick = lambda v: (v.name, rng.choice(v.codes))  # noqa: E731
    rules = []
    for r in range(5):
        a, b = rng.sample(variables, 2)
        if r % 2:
            formula = implies(is_(*pick(a)), is_(*pick(b)))  # requires
        else:
            formula = AnyOf((Not(is_(*pick(a))), Not(is_(*pick(b)))))  # excludes
        rules.append(Rule(id=f"r{r}", formula=formula, text=f"rule number {r}"))
    t1, t2 = variables[0], variables[5]
    rows = frozenset((p, q) for p in t1.codes for q in t2.codes if rng.random() < 0.7)
    tables = (Table(id="t", scope=(t1.name, t2.name), allowed=rows, text="the table"),)
    limits = (Limit(id="weight", attribute="kg", maximum=18.0, text="too heavy"),)
    surcharges = (
        Surcharge(id="s1", when=is_(*pick(variables[1])), amount=250.0),
        Surcharge(id="s2", when=is_(*pick(variables[2])), amount=-120.0),
    )
    return Catalogue(
        name=f"random {seed}",
        variables=tuple(variables),
        rules=tuple(rules),
        tables=tables,
        limits=limits,
        surcharges=surcharges,
        base_price=1000.0,
    )


def all_valid(catalogue: Catalogue) -> list[dict[str, str]]:
    names = [v.name for v in catalogue.variables]
    configs = (
        dict(zip(names, combo, strict=True))
        for combo in itertools.product(*(v.codes for v in catalogue.variables))
    )
    return [c for c in configs if catalogue.is_valid(c)]


@pytest.mark.parametrize("seed", range(6))
def test_propagation_count_price_and_completion_match_brute_force(seed: int) -> None:
    catalogue = random_catalogue(seed)
    valid = all_valid(catalogue)
    if not valid:
        with pytest.raises(InfeasibleError):
            compile_catalogue(catalogue)
        return
    engine = compile_catalogue(catalogue)
    rng = random.Random(seed)
    for _ in range(12):
        chosen_vars = rng.sample(catalogue.variables, rng.randint(0, 3))
        choices = {v.name: rng.choice(v.codes) for v in chosen_vars}
        matching = [c for c in valid if all(c[k] == x for k, x in choices.items())]
        result = engine.propagate(choices)
        assert result.count == len(matching)
        if not matching:
            assert result.conflicts and result.price_min is None
            conflict = result.conflicts[0]
            assert not engine.is_consistent(conflict.choices)
            for name in conflict.choices:
                assert engine.is_consistent({k: v for k, v in conflict.choices.items() if k != name})
            continue
        for var in catalogue.variables:
            expected = tuple(code for code in var.codes if any(c[var.name] == code for c in matching))
            assert result.valid[var.name] == expected
        prices = [catalogue.price(c) for c in matching]
        assert result.price_min == pytest.approx(min(prices))
        assert result.price_max == pytest.approx(max(prices))
        cheapest = engine.complete(choices, "cheapest")
        assert cheapest in matching and catalogue.price(cheapest) == pytest.approx(min(prices))
        closest = engine.complete(choices, "default")
        misses = lambda c: sum(c[v.name] != v.default for v in catalogue.variables)  # noqa: E731
        assert closest in matching and misses(closest) == min(misses(c) for c in matching)


@pytest.mark.parametrize("seed", range(6))
def test_explanations_are_subset_minimal_in_choices_and_rules(seed: int) -> None:
    catalogue = random_catalogue(seed)
    if not all_valid(catalogue):
        return
    engine = compile_catalogue(catalogue)
    rng = random.Random(100 + seed)
    explained = 0
    for _ in range(30):
        choices = {v.name: rng.choice(v.codes) for v in rng.sample(catalogue.variables, 3)}
        if not engine.is_consistent(choices):
            continue
        result = engine.propagate(choices)
        for var in catalogue.variables:
            if var.name in choices:
                continue
            for code in set(var.codes) - set(result.valid[var.name]):
                why = engine.explain(choices, var.name, code)
                assert not why.possible
                target = {var.name: code}
                assert set(why.choices.items()) <= set(choices.items())
                assert not engine.is_consistent({**why.choices, **target})
                for name in why.choices:  # removing any element makes the conflict disappear
                    rest = {k: v for k, v in why.choices.items() if k != name}
                    assert engine.is_consistent({**rest, **target})
                sat = engine.sat
                kept = [c for c in sat.constraints if c.id in why.rule_ids]
                assert kept and len(kept) == len(why.rules)
                explained += 1
    assert explained > 0


def test_explain_possible_and_replaced_values() -> None:
    catalogue = random_catalogue(1)
    engine = compile_catalogue(catalogue)
    config = engine.complete({}, "cheapest")
    first = catalogue.variables[0]
    assert engine.explain({}, first.name, config[first.name]).possible
    other = next(c for c in first.codes if c != config[first.name])
    why = engine.explain({first.name: config[first.name]}, first.name, other)
    if not why.possible:
        assert dict(why.choices) in ({first.name: config[first.name]}, {}) or why.rules


def test_rule_minimality_by_removal_on_the_sat_model() -> None:
    catalogue = random_catalogue(2)
    engine = compile_catalogue(catalogue)
    sat = engine.sat
    for var in catalogue.variables:
        for code in var.codes:
            rules = sat.minimal_rules([(var.name, code)])
            if not rules:
                continue
            chosen = [sat.selectors[sat.constraints.index(r)] for r in rules]
            fixed = sat.assumptions([(var.name, code)])
            assert not sat.solver.solve(assumptions=[*fixed, *chosen])
            for s in chosen:
                assert sat.solver.solve(assumptions=[*fixed, *(x for x in chosen if x != s)])


def test_counts_beyond_float_precision_are_exact() -> None:
    variables = tuple(Variable(name=f"v{i}", values=(Value("a"), Value("b"), Value("c"))) for i in range(45))
    forbid = Rule(id="no-aa", formula=Not(is_("v0", "a")), text="v0 is never a")
    engine = compile_catalogue(
        Catalogue(name="wide", variables=variables, rules=(forbid,)), use_disk_cache=False
    )
    assert engine.count() == 2 * 3**44
    assert engine.count({"v1": "b"}) == 2 * 3**43


def test_quote_gives_price_bom_and_routing() -> None:
    from mixflow.reference import build_plant, reference_catalogue

    catalogue = reference_catalogue()
    engine = compile_catalogue(catalogue)
    config = engine.complete({"family": "mixer", "powertrain": "bev_564"}, "cheapest")
    assert engine.quote(config).feeder_operations == ()
    quote = engine.quote(config, build_plant(0.1))
    assert quote.price == catalogue.price(config)
    assert quote.bill_of_materials["battery_pack"] == 1
    assert quote.line_work_s == catalogue.line_work(config)
    made = {op.part for op in quote.feeder_operations}
    assert made == {"cab", "paint_cab", "frame", "axles", "battery_pack"}
    with pytest.raises(ValidationError):
        engine.quote({"family": "mixer"})
    with pytest.raises(ValidationError):
        engine.quote({**config, "drive": "4x2"})


def test_reference_trucks_price_range_and_explanation_in_buyer_words() -> None:
    from mixflow.reference import reference_catalogue

    engine = compile_catalogue(reference_catalogue())
    result = engine.propagate({"family": "dump"})
    assert "4x2" not in result.valid["drive"]
    assert result.price_min is not None and result.price_max is not None
    assert result.price_min < result.price_max
    why = engine.explain({"family": "dump", "cab": "day"}, "drive", "4x2")
    assert dict(why.choices) == {"family": "dump"}
    assert why.rules == ("Dump trucks and mixers need 6x4 or 8x4",)
    assert "Dump truck" in why.text


def test_unknown_names_and_unsatisfiable_catalogues_are_clear_errors() -> None:
    catalogue = random_catalogue(3)
    engine = compile_catalogue(catalogue)
    with pytest.raises(UnknownNameError, match="unknown variable 'nope'"):
        engine.propagate({"nope": "x"})
    with pytest.raises(UnknownNameError, match="value of x0"):
        engine.propagate({"x0": "zz"})
    with pytest.raises(ValidationError):
        engine.complete({}, "fastest")  # type: ignore[arg-type]
    a = Variable(name="a", values=(Value("1"), Value("2")))
    never = Catalogue(
        name="never",
        variables=(a,),
        rules=(
            Rule(id="one", formula=is_("a", "1"), text="a must be 1"),
            Rule(id="two", formula=is_("a", "2"), text="a must be 2"),
        ),
    )
    with pytest.raises(InfeasibleError, match=r"allow no configuration.*rule one.*rule two"):
        compile_catalogue(never)


def test_compiled_form_is_cached_on_disk(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("MIXFLOW_CACHE_DIR", str(tmp_path / "disk"))
    catalogue = random_catalogue(4)
    first = compile_catalogue(catalogue)
    assert len(list((tmp_path / "disk").glob("*.npz"))) == 1
    again = random_catalogue(4)  # same content, new object: loaded from disk
    second = compile_catalogue(again)
    assert second is not first
    assert second.count() == first.count()
    assert second.compiled.n_edges == first.compiled.n_edges
