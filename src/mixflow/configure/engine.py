"""The configurator engine: every answer from one compiled MDD (see `compile.py` for why an MDD).

An `Engine` is built once per catalogue (`compile_catalogue`, cached in memory and on disk) and is
safe to share between threads: the numba kernels keep no state, and the SAT solver used for the
rule part of explanations sits behind a lock.
"""

from __future__ import annotations

import threading
import time
import weakref
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal

import numpy as np

from mixflow.configure import _kernels as k
from mixflow.configure.compile import CompiledModel, load_or_compile
from mixflow.configure.sat import Constraint, SatModel
from mixflow.errors import InfeasibleError, UnknownNameError, ValidationError
from mixflow.model import Catalogue, FeederWork, Plant

Objective = Literal["cheapest", "default"]
_EXACT_FLOAT = float(1 << 52)  # below this a float path count is an exact integer
_RULE_MEMORY = 10_000  # minimal conflicts whose rules an engine remembers


@dataclass(frozen=True)
class Conflict:
    """Choices that cannot go together, with the rules that forbid them (both subset-minimal)."""

    choices: Mapping[str, str]
    rules: tuple[str, ...]
    rule_ids: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {"choices": dict(self.choices), "rules": list(self.rules), "rule_ids": list(self.rule_ids)}


@dataclass(frozen=True)
class Propagation:
    """What remains possible after `choices`: per variable the values that extend to a full valid truck.

    `valid` holds every catalogue variable in catalogue order (a chosen one lists just its value);
    `count` is exact; the price range covers every remaining configuration (None if none remain);
    `conflicts` is empty unless the choices themselves cannot go together.
    """

    choices: Mapping[str, str]
    valid: Mapping[str, tuple[str, ...]]
    count: int
    price_min: float | None
    price_max: float | None
    conflicts: tuple[Conflict, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "valid": {name: list(codes) for name, codes in self.valid.items()},
            "count": self.count,
            "price": {"min": self.price_min, "max": self.price_max},
            "conflicts": [c.to_json() for c in self.conflicts],
        }


@dataclass(frozen=True)
class Explanation:
    """Why `var = value` is greyed out: a subset-minimal set of the buyer's choices and the rules.

    `possible` is True when the value is still valid (then `choices` and `rules` are empty).
    """

    var: str
    value: str
    possible: bool
    choices: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    rules: tuple[str, ...] = ()
    rule_ids: tuple[str, ...] = ()
    text: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "var": self.var,
            "value": self.value,
            "possible": self.possible,
            "choices": dict(self.choices),
            "rules": list(self.rules),
            "rule_ids": list(self.rule_ids),
            "text": self.text,
        }


@dataclass(frozen=True)
class Adjustment:
    """Switching `var` to `value`: the fewest other choices to change (`changes`: variable -> (old, new)),
    the choices kept, and the buyer's choices after the switch (`choices`)."""

    var: str
    value: str
    changes: Mapping[str, tuple[str, str]]
    kept: Mapping[str, str]
    choices: Mapping[str, str]
    text: str

    def to_json(self) -> dict[str, Any]:
        return {
            "var": self.var,
            "value": self.value,
            "changes": {name: list(pair) for name, pair in self.changes.items()},
            "kept": dict(self.kept),
            "choices": dict(self.choices),
            "text": self.text,
        }


@dataclass(frozen=True)
class Quote:
    """Price, bill of materials and routing of one complete, valid configuration."""

    configuration: Mapping[str, str]
    price: float
    currency: str
    bill_of_materials: Mapping[str, int]
    line_work_s: Mapping[int, int]
    feeder_operations: tuple[FeederWork, ...]


class Engine:
    """Propagate, explain, count, complete and quote over one compiled catalogue."""

    def __init__(self, catalogue: Catalogue, compiled: CompiledModel, load_s: float) -> None:
        self.catalogue = catalogue
        self.compiled = compiled
        self.load_s = load_s
        c = compiled
        self._layer_of = {name: i for i, name in enumerate(c.names)}
        self._value_id = {
            (name, code): int(c.value_start[i]) + j
            for i, name in enumerate(c.names)
            for j, code in enumerate(c.codes[i])
        }
        self._visible = [(v.name, self._layer_of[v.name]) for v in catalogue.variables]
        self._n_values = int(c.value_start[-1])
        self._n_nodes = c.n_nodes
        self._sat: SatModel | None = None
        self._sat_lock = threading.Lock()
        self._rules_seen: dict[frozenset[tuple[str, str]], tuple[Constraint, ...]] = {}

    # -- inputs ---------------------------------------------------------------------------------------
    @property
    def variables(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self._visible)

    def _allowed(self, choices: Mapping[str, str]) -> np.ndarray:
        allowed = np.ones(self._n_values, dtype=np.bool_)
        for name, code in choices.items():
            layer = self._layer_of.get(name)
            if layer is None or self.compiled.hidden[layer]:
                raise UnknownNameError("variable", name, list(self.variables))
            vid = self._value_id.get((name, code))
            if vid is None:
                raise UnknownNameError(f"value of {name}", code, list(self.compiled.codes[layer]))
            allowed[self.compiled.value_start[layer] : self.compiled.value_start[layer + 1]] = False
            allowed[vid] = True
        return allowed

    def _consistent(self, allowed: np.ndarray) -> bool:
        c = self.compiled
        return bool(k.consistent(c.edge_src, c.edge_dst, c.edge_value, allowed, self._n_nodes))

    def prepare_explanations(self) -> None:
        """Build the CNF behind `explain` now (Megane: a few seconds) instead of on the first call."""
        self.sat  # noqa: B018

    @property
    def sat(self) -> SatModel:
        """The CNF model for rule explanations (built on first use)."""
        with self._sat_lock:
            if self._sat is None:
                self._sat = SatModel(self.catalogue)
            return self._sat

    # -- propagation and counting ---------------------------------------------------------------------
    def propagate(self, choices: Mapping[str, str]) -> Propagation:
        """Valid values of every variable, exact count and price range after `choices`."""
        c = self.compiled
        allowed = self._allowed(choices)
        valid_mask, forward, backward, approx, low, high = k.propagate(
            c.edge_src, c.edge_dst, c.edge_value, c.value_price, allowed, self._n_nodes, self._n_values
        )
        count = self._exact_count(allowed, forward, backward, approx)
        if count == 0:
            empty: dict[str, tuple[str, ...]] = {name: () for name, _ in self._visible}
            return Propagation(
                MappingProxyType(dict(choices)),
                MappingProxyType(empty),
                0,
                None,
                None,
                (self.conflict(choices),),
            )
        valid = {}
        flags = valid_mask.tolist()
        for name, layer in self._visible:
            start = int(c.value_start[layer])
            valid[name] = tuple(code for j, code in enumerate(c.codes[layer]) if flags[start + j])
        return Propagation(
            MappingProxyType(dict(choices)),
            MappingProxyType(valid),
            count,
            round(c.base_price + float(low), 2),
            round(c.base_price + float(high), 2),
        )

    def _exact_count(
        self, allowed: np.ndarray, forward: np.ndarray, backward: np.ndarray, approx: float
    ) -> int:
        if approx < _EXACT_FLOAT:
            return round(approx)
        c = self.compiled
        n_limbs = int(np.log2(approx)) // k.LIMB_BITS + 2
        limbs = k.count_limbs(
            c.edge_src, c.edge_dst, c.edge_value, allowed, forward, backward, self._n_nodes, n_limbs
        )
        return sum(int(limb) << (k.LIMB_BITS * i) for i, limb in enumerate(limbs))

    def count(self, choices: Mapping[str, str] | None = None) -> int:
        """Exact number of complete valid configurations that extend `choices`."""
        return self.propagate(choices or {}).count

    def is_consistent(self, choices: Mapping[str, str]) -> bool:
        """Whether some complete valid configuration extends `choices`."""
        return self._consistent(self._allowed(choices))

    # -- explanation ----------------------------------------------------------------------------------
    def _minimal_choices(
        self, choices: list[tuple[str, str]], target: list[tuple[str, str]]
    ) -> list[tuple[str, str]]:
        """Deletion: drop each choice whose removal keeps `choices + target` inconsistent."""
        kept = list(choices)
        i = 0
        while i < len(kept):
            trial = kept[:i] + kept[i + 1 :]
            if self._consistent(self._allowed(dict(trial + target))):
                i += 1
            else:
                kept = trial
        return kept

    def conflict(self, choices: Mapping[str, str]) -> Conflict:
        """A subset-minimal set of `choices` that cannot go together, and the rules that forbid it."""
        kept = self._minimal_choices(list(choices.items()), [])
        rules = self._rules(kept) if kept or not self.is_consistent({}) else ()
        return Conflict(
            MappingProxyType(dict(kept)), tuple(r.text for r in rules), tuple(r.id for r in rules)
        )

    def explain(self, choices: Mapping[str, str], var: str, value: str) -> Explanation:
        """Why `var = value` is not offered after `choices` (subset-minimal choices, minimal rules)."""
        self._allowed({var: value})  # names check
        self._allowed(choices)
        target = [(var, value)]
        others = [(name, code) for name, code in choices.items() if name != var]
        if self._consistent(self._allowed(dict([*others, *target]))):
            if choices.get(var, value) == value:
                return Explanation(var, value, True, text=f"{self._say(var, value)} is possible")
            own = {var: choices[var]}
            return Explanation(
                var,
                value,
                False,
                MappingProxyType(own),
                ("a feature takes one value",),
                (),
                f"{self._say(var, value)} replaces your choice {self._say(var, choices[var])}",
            )
        kept = self._minimal_choices(others, target)
        rules = self._rules([*kept, *target])
        because = " and ".join(self._say(n, v) for n, v in kept) or "the catalogue itself"
        text = f"{self._say(var, value)} is not possible with {because}: " + "; ".join(r.text for r in rules)
        return Explanation(
            var,
            value,
            False,
            MappingProxyType(dict(kept)),
            tuple(r.text for r in rules),
            tuple(r.id for r in rules),
            text,
        )

    def _rules(self, conflict: list[tuple[str, str]]) -> tuple[Constraint, ...]:
        """Minimal rules behind a minimal conflict, remembered: buyers meet the same conflicts again."""
        key = frozenset(conflict)
        found = self._rules_seen.get(key)
        if found is None:
            found = tuple(self.sat.minimal_rules(conflict))
            if len(self._rules_seen) >= _RULE_MEMORY:
                self._rules_seen.clear()
            self._rules_seen[key] = found
        return found

    def _say(self, var: str, code: str) -> str:
        """`Cab = High-roof sleeper` in catalogue labels where it has them."""
        variable = self.catalogue.variable(var)
        return f"{variable.label or var} = {variable.value(code).label or code}"

    # -- completion and quotes ------------------------------------------------------------------------
    def complete(self, choices: Mapping[str, str], objective: Objective = "cheapest") -> dict[str, str]:
        """A complete valid configuration extending `choices`: the cheapest, or the one closest to defaults.

        `cheapest` minimises the list price (ties: fewer non-default values); `default` minimises the
        number of values that differ from the catalogue defaults (ties: lower price).
        """
        c = self.compiled
        allowed = self._allowed(choices)
        if objective == "cheapest":
            primary, secondary = c.value_price, c.value_nondefault
        elif objective == "default":
            primary, secondary = c.value_nondefault, c.value_price
        else:
            raise ValidationError("objective", f"must be 'cheapest' or 'default', not {objective!r}")
        path = k.best_path(
            c.edge_src, c.edge_dst, c.edge_value, allowed, primary, secondary, self._n_nodes, len(c.names)
        )
        if path[0] < 0:
            raise InfeasibleError(f"no valid configuration extends the choices {dict(choices)}")
        config = {}
        for name, layer in self._visible:
            config[name] = c.codes[layer][int(path[layer]) - int(c.value_start[layer])]
        return config

    def adjust(self, choices: Mapping[str, str], var: str, value: str) -> Adjustment:
        """Switch `var` to `value` changing as few of the other `choices` as possible.

        One shortest path over the compiled MDD: every value that differs from a kept choice costs 1,
        the other values of `var` are barred; ties go to the cheapest configuration, whose values the
        changed choices take. The answer is a minimum (not merely minimal) set of changes.
        """
        self._allowed(choices)  # names check
        c = self.compiled
        allowed = self._allowed({var: value})
        changes_cost = np.zeros(self._n_values, dtype=np.float64)
        for name, code in choices.items():
            if name == var:
                continue
            layer = self._layer_of[name]
            changes_cost[c.value_start[layer] : c.value_start[layer + 1]] = 1.0
            changes_cost[self._value_id[(name, code)]] = 0.0
        path = k.best_path(
            c.edge_src, c.edge_dst, c.edge_value, allowed, changes_cost, c.value_price, self._n_nodes,
            len(c.names),
        )
        if path[0] < 0:
            raise InfeasibleError(f"{self._say(var, value)} is not possible in any configuration")
        chosen = {
            name: c.codes[layer][int(path[layer]) - int(c.value_start[layer])]
            for name, layer in self._visible
        }
        changed = {
            name: (code, chosen[name])
            for name, code in choices.items()
            if name != var and chosen[name] != code
        }
        kept = {name: code for name, code in choices.items() if name != var and name not in changed}
        new_choices = {**kept, var: value, **{name: new for name, (_old, new) in changed.items()}}
        if changed:
            said = "; ".join(
                f"{self._say(n, old)} becomes {self._value_label(n, new)}"
                for n, (old, new) in changed.items()
            )
            plural = "s" if len(changed) > 1 else ""
            text = f"{self._say(var, value)} needs {len(changed)} other change{plural}: {said}"
        else:
            text = f"{self._say(var, value)} fits every other choice"
        return Adjustment(
            var, value, MappingProxyType(changed), MappingProxyType(kept), MappingProxyType(new_choices), text
        )

    def _value_label(self, var: str, code: str) -> str:
        return self.catalogue.variable(var).value(code).label or code

    def quote(self, configuration: Mapping[str, str], plant: Plant | None = None) -> Quote:
        """Price, BOM explosion and, in `plant`, routing of a complete valid configuration (else
        ValidationError). The routing is the plant's: without one it is empty."""
        self._allowed(configuration)
        missing = [name for name in self.variables if name not in configuration]
        if missing:
            raise ValidationError("configuration", f"is not complete: {', '.join(missing[:8])} not chosen")
        if not self.is_consistent(configuration):
            conflict = self.conflict(configuration)
            raise ValidationError(
                "configuration", "breaks " + "; ".join(conflict.rules or ("the catalogue",))
            )
        cat = self.catalogue
        return Quote(
            configuration=MappingProxyType(dict(configuration)),
            price=cat.price(configuration),
            currency=cat.currency,
            bill_of_materials=MappingProxyType(cat.bill_of_materials(configuration)),
            line_work_s=MappingProxyType(cat.line_work(configuration)),
            feeder_operations=()
            if plant is None
            else tuple(plant.feeder_operations(configuration, cat.attributes(configuration))),
        )


_ENGINES: weakref.WeakKeyDictionary[Catalogue, Engine] = weakref.WeakKeyDictionary()
_ENGINES_LOCK = threading.Lock()


def compile_catalogue(catalogue: Catalogue, use_disk_cache: bool = True) -> Engine:
    """The engine of a catalogue: compiled once per process and once per catalogue content on disk.

    Raises InfeasibleError, naming a minimal set of rules, when the catalogue allows no configuration.
    """
    with _ENGINES_LOCK:
        engine = _ENGINES.get(catalogue)
        if engine is None:
            started = time.perf_counter()
            try:
                compiled = load_or_compile(catalogue, use_disk=use_disk_cache)
            except InfeasibleError as exc:
                rules = SatModel(catalogue).minimal_rules([])
                if rules:
                    shown = "; ".join(f"{r.kind} {r.id} ({r.text})" for r in rules[:6])
                    raise InfeasibleError(f"{exc}; together these forbid everything: {shown}") from exc
                raise
            engine = Engine(catalogue, compiled, time.perf_counter() - started)
            engine.propagate({})  # loads the numba kernels now, so the first click is not the slow one
            _ENGINES[catalogue] = engine
        return engine
