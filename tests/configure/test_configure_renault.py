"""Renault medium (BR4CP): the published count, every sold configuration accepted, minimal explanations."""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path

import pytest

from mixflow.configure import Engine, History, compile_catalogue, load_model, read_history
from mixflow.configure.replay import replay


@pytest.fixture(scope="module")
def renault(
    shared_benchmarks: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Engine, History]]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MIXFLOW_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
        folder = shared_benchmarks / "config"
        catalogue = load_model(folder / "renault_medium_br4cp.xcsp21.xml")
        engine = compile_catalogue(catalogue)
        yield engine, read_history(folder / "renault_medium_sales_history.txt", catalogue)


def test_count_is_the_published_278744(renault: tuple[Engine, History]) -> None:
    engine, _ = renault
    assert engine.count() == 278_744
    assert len(engine.variables) == 148


def test_every_sold_configuration_is_accepted(renault: tuple[Engine, History]) -> None:
    engine, history = renault
    assert len(history.rows) == 8252
    # a row whose every click is offered is exactly a row the exact engine finds consistent
    assert all(engine.is_consistent(row) for row in history.rows)


def test_replayed_clicks_are_offered_and_never_dead_ends(renault: tuple[Engine, History]) -> None:
    engine, history = renault
    result = replay(engine, history, seed=7, limit=150)
    assert (result.rows, result.accepted, result.dead_ends) == (150, 150, 0)
    assert len(result.click_ms) == 150 * len(history.variables)


def test_explanations_are_subset_minimal(renault: tuple[Engine, History]) -> None:
    engine, history = renault
    rng = random.Random(3)
    checked = 0
    for row in rng.sample(history.rows, 6):
        names = rng.sample(list(row), 12)
        choices = {n: row[n] for n in names}
        result = engine.propagate(choices)
        greyed = [
            (var, code)
            for var, codes in result.valid.items()
            if var not in choices
            for code in engine.catalogue.variable(var).codes
            if code not in codes
        ]
        for var, code in rng.sample(greyed, min(3, len(greyed))):
            why = engine.explain(choices, var, code)
            assert not why.possible and why.rules
            assert not engine.is_consistent({**why.choices, var: code})
            for name in why.choices:
                rest = {k: v for k, v in why.choices.items() if k != name}
                assert engine.is_consistent({**rest, var: code})
            checked += 1
    assert checked >= 6


def test_clashing_choices_report_a_minimal_conflict(renault: tuple[Engine, History]) -> None:
    engine, history = renault
    row = history.rows[0]
    result = engine.propagate({"v1": row["v1"]})
    other = next(c for c in engine.catalogue.variable("v0").codes if c not in result.valid["v0"])
    clash = engine.propagate({"v1": row["v1"], "v0": other, "v2": row["v2"]})
    assert clash.count == 0 and clash.price_min is None
    (conflict,) = clash.conflicts
    assert "v0" in conflict.choices and conflict.rules
    assert not engine.is_consistent(conflict.choices)
