"""The reference truck catalogue (trucks.yaml) and the buildable models and configurations it allows.

Enumeration here is a plain backtracking search: the catalogue's model space is a few thousand
combinations, so this stays fast and needs nothing of the configurator engine.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Mapping
from functools import cache
from importlib import resources

from mixflow.configure.catalogue_file import parse_catalogue
from mixflow.model import Catalogue, Formula, Scope, Table
from mixflow.model.formula import holds, variables

# Demand mix of the reference plant, by family (shares of all orders).
FAMILY_MIX: Mapping[str, float] = {
    "tractor": 0.36,
    "dump": 0.2,
    "mixer": 0.14,
    "cargo": 0.22,
    "special": 0.08,
}
# Preference weights for powertrains: the plant builds mostly battery-electric trucks.
POWERTRAIN_WEIGHT: Mapping[str, float] = {
    "bev_282": 0.14,
    "bev_423": 0.26,
    "bev_564": 0.2,
    "bev_705": 0.12,
    "fcev": 0.06,
    "lng": 0.14,
    "diesel": 0.08,
}


@cache
def reference_catalogue() -> Catalogue:
    """The reference truck catalogue shipped with mixflow (parsed once per process)."""
    text = resources.files("mixflow.reference").joinpath("trucks.yaml").read_text(encoding="utf-8")
    return parse_catalogue(text, "mixflow/reference/trucks.yaml")


class _Search:
    """Backtracking over variables in catalogue order, checking each rule once all its variables are set."""

    def __init__(self, catalogue: Catalogue) -> None:
        self.catalogue = catalogue
        self.order = [v.name for v in catalogue.variables]
        depth = {name: i for i, name in enumerate(self.order)}
        self.formulas: list[list[Formula]] = [[] for _ in self.order]
        self.tables: list[list[Table]] = [[] for _ in self.order]
        for rule in catalogue.rules:
            self.formulas[max(depth[v] for v in variables(rule.formula))].append(rule.formula)
        for table in catalogue.tables:
            self.tables[max(depth[v] for v in table.scope)].append(table)
        self.limit_depth = len(self.order) - 1

    def _ok(self, depth: int, config: dict[str, str]) -> bool:
        if not all(holds(f, config) for f in self.formulas[depth]):
            return False
        if not all(t.holds(config) for t in self.tables[depth]):
            return False
        if depth == self.limit_depth:
            for limit in self.catalogue.limits:
                total = self.catalogue.attribute_total(config, limit.attribute)
                if (limit.maximum is not None and total > limit.maximum) or (
                    limit.minimum is not None and total < limit.minimum
                ):
                    return False
        return True

    def completions(
        self, fixed: Mapping[str, str], rng: random.Random | None = None
    ) -> Iterator[dict[str, str]]:
        """Valid complete configurations extending `fixed` (random value order when rng is given)."""
        config: dict[str, str] = {}

        def extend(depth: int) -> Iterator[dict[str, str]]:
            if depth == len(self.order):
                yield dict(config)
                return
            name = self.order[depth]
            choices = [fixed[name]] if name in fixed else list(self.catalogue.variable(name).codes)
            if rng is not None and len(choices) > 1:
                rng.shuffle(choices)
            for code in choices:
                config[name] = code
                if self._ok(depth, config):
                    yield from extend(depth + 1)
                del config[name]

        yield from extend(0)


@cache
def _search(catalogue: Catalogue) -> _Search:
    return _Search(catalogue)


@cache
def buildable_models(catalogue: Catalogue | None = None) -> tuple[tuple[str, ...], ...]:
    """Every combination of model variables that at least one valid configuration completes."""
    catalogue = catalogue or reference_catalogue()
    search = _search(catalogue)
    model_vars = [v.name for v in catalogue.variables_of(Scope.MODEL)]
    models = []
    for combo in catalogue.iter_products(Scope.MODEL):
        fixed = dict(zip(model_vars, combo, strict=True))
        if next(search.completions(fixed), None) is not None:
            models.append(combo)
    return tuple(models)


def sample_configuration(
    rng: random.Random, model: Mapping[str, str], catalogue: Catalogue | None = None
) -> dict[str, str]:
    """A random valid configuration of one model (per-order options drawn uniformly among valid ones)."""
    catalogue = catalogue or reference_catalogue()
    found = next(_search(catalogue).completions(model, rng), None)
    if found is None:
        raise ValueError(f"model {dict(model)} has no valid configuration")
    return found


def model_weights(catalogue: Catalogue, models: tuple[tuple[str, ...], ...]) -> list[float]:
    """Demand weight of each buildable model: family share spread over its models, times powertrain taste."""
    names = [v.name for v in catalogue.variables_of(Scope.MODEL)]
    fam, pt = names.index("family"), names.index("powertrain")
    per_family: dict[str, float] = {}
    for m in models:
        per_family[m[fam]] = per_family.get(m[fam], 0.0) + POWERTRAIN_WEIGHT[m[pt]]
    return [FAMILY_MIX[m[fam]] * POWERTRAIN_WEIGHT[m[pt]] / per_family[m[fam]] for m in models]
