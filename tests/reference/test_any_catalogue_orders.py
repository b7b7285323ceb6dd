"""The order stream of any catalogue: the reference mix for the trucks, a generic one otherwise."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from mixflow.configure.catalogue_file import load_catalogue
from mixflow.model import Scope
from mixflow.reference import build_plant, buildable_models, order_stream, reference_catalogue
from mixflow.reference.catalogue import FAMILY_MIX, model_weights

EBUS = Path(__file__).parents[2] / "examples" / "ebus" / "catalogue.yaml"


def test_the_reference_catalogue_keeps_the_reference_mix() -> None:
    catalogue = reference_catalogue()
    models = buildable_models(catalogue)
    weights = model_weights(catalogue, models)
    family = [v.name for v in catalogue.variables_of(Scope.MODEL)].index("family")
    for name, share in FAMILY_MIX.items():
        total = sum(w for m, w in zip(models, weights, strict=True) if m[family] == name)
        assert total == pytest.approx(share)


def test_another_catalogue_gets_every_family_an_equal_share() -> None:
    catalogue = load_catalogue(EBUS)
    models = buildable_models(catalogue)
    weights = model_weights(catalogue, models)
    assert sum(weights) == pytest.approx(1.0)
    orders = order_stream(build_plant(0.25, 0), catalogue, 5, seed=1)
    first = catalogue.variables_of(Scope.MODEL)[0].name
    families = Counter(o.configuration[first] for o in orders)
    assert set(families) == {m[0] for m in models}
    assert all(catalogue.is_valid(o.configuration) for o in orders)
