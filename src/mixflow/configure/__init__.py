"""Configurator: the catalogue format, and exact propagation, explanation, counting, completion and pricing.

Public API (stable; the web configurator builds on it):

- `load_model(path) -> Catalogue`: a mixflow catalogue (YAML/JSON), an XCSP 2.1 table model or a
  `mixflow-table-csp-v1` JSON (gzip or not); `read_history(path, catalogue) -> History`.
- `compile_catalogue(catalogue) -> Engine`: compiled once per catalogue object in this process and
  once per catalogue content on disk ($MIXFLOW_CACHE_DIR, default ~/.cache/mixflow/configure).
  Raises InfeasibleError (naming the rules) if the catalogue allows no configuration.
- `Engine.propagate(choices: Mapping[str, str]) -> Propagation`: `valid` (variable -> values that
  still extend to a complete valid configuration, every variable in catalogue order), `count` (exact
  int), `price_min` / `price_max`, `conflicts` (non-empty only when the choices clash), `to_json()`.
- `Engine.explain(choices, var, value) -> Explanation`: `possible`, `choices` (subset-minimal set of
  the buyer's choices that rule the value out), `rules` (texts) and `rule_ids`, `text`, `to_json()`.
- `Engine.complete(choices, objective="cheapest" | "default") -> dict[str, str]`.
- `Engine.adjust(choices, var, value) -> Adjustment`: switch `var` to `value` changing the fewest
  other choices (`changes`: variable -> (old, new), `kept`, the new `choices`, `text`).
- `Engine.count(choices=None) -> int`, `Engine.is_consistent(choices) -> bool`,
  `Engine.conflict(choices) -> Conflict`, `Engine.quote(configuration) -> Quote` (price, BOM,
  line work per station in seconds, feeder operations), `Engine.variables`.
- `Engine.prepare_explanations()`: build the CNF behind `explain` at start-up (else on first use).
- Unknown variables or values raise `UnknownNameError`; every error is a `MixflowError`.

An Engine is thread-safe and answers a click in well under a millisecond on Renault medium.
"""

from mixflow.configure.engine import (
    Adjustment,
    Conflict,
    Engine,
    Explanation,
    Objective,
    Propagation,
    Quote,
    compile_catalogue,
)
from mixflow.configure.formats import History, load_model, read_history

__all__ = [
    "Adjustment",
    "Conflict",
    "Engine",
    "Explanation",
    "History",
    "Objective",
    "Propagation",
    "Quote",
    "compile_catalogue",
    "load_model",
    "read_history",
]
