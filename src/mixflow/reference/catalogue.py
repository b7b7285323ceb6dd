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
        # Each limit's attribute per variable and value, and the least and most the variables after
        # each depth can still add: a partial configuration whose total can no longer come back within
        # a limit is cut at once, instead of after every completion of it is tried.
        self.amounts: list[list[dict[str, float]]] = []
        self.rest_min: list[list[float]] = []
        self.rest_max: list[list[float]] = []
        for limit in catalogue.limits:
            per_var = [
                {v.code: v.attributes.get(limit.attribute, 0.0) for v in catalogue.variable(name).values}
                for name in self.order
            ]
            lows, highs = [0.0] * (len(self.order) + 1), [0.0] * (len(self.order) + 1)
            for d in range(len(self.order) - 1, -1, -1):
                lows[d] = lows[d + 1] + min(per_var[d].values())
                highs[d] = highs[d + 1] + max(per_var[d].values())
            self.amounts.append(per_var)
            self.rest_min.append(lows)
            self.rest_max.append(highs)

    def _ok(self, depth: int, config: dict[str, str]) -> bool:
        if not all(holds(f, config) for f in self.formulas[depth]):
            return False
        if not all(t.holds(config) for t in self.tables[depth]):
            return False
        for k, limit in enumerate(self.catalogue.limits):
            per_var = self.amounts[k]
            total = sum(per_var[d][config[name]] for d, name in enumerate(self.order[: depth + 1]))
            if limit.maximum is not None and total + self.rest_min[k][depth + 1] > limit.maximum + 1e-9:
                return False
            if limit.minimum is not None and total + self.rest_max[k][depth + 1] < limit.minimum - 1e-9:
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
    """Demand weight of each buildable model.

    The reference catalogue keeps the reference mix (family share spread over its models, times
    powertrain taste). Any other catalogue gets a generic mix: each value of the first model variable
    (its family, say) an equal share, spread equally over the buildable models that have it.
    """
    names = [v.name for v in catalogue.variables_of(Scope.MODEL)]
    if not has_reference_mix(catalogue, models):
        per_first: dict[str, int] = {}
        for m in models:
            per_first[m[0]] = per_first.get(m[0], 0) + 1
        return [1.0 / (len(per_first) * per_first[m[0]]) for m in models]
    fam, pt = names.index("family"), names.index("powertrain")
    per_family: dict[str, float] = {}
    for m in models:
        per_family[m[fam]] = per_family.get(m[fam], 0.0) + POWERTRAIN_WEIGHT[m[pt]]
    return [FAMILY_MIX[m[fam]] * POWERTRAIN_WEIGHT[m[pt]] / per_family[m[fam]] for m in models]


def has_reference_mix(catalogue: Catalogue, models: tuple[tuple[str, ...], ...]) -> bool:
    """Whether the reference mix covers every model: model variables `family` and `powertrain` whose
    buildable values all have a share in FAMILY_MIX and POWERTRAIN_WEIGHT."""
    names = [v.name for v in catalogue.variables_of(Scope.MODEL)]
    if "family" not in names or "powertrain" not in names:
        return False
    fam, pt = names.index("family"), names.index("powertrain")
    return all(m[fam] in FAMILY_MIX and m[pt] in POWERTRAIN_WEIGHT for m in models)
