"""The catalogue as CNF with one selector literal per rule, table and limit (python-sat).

Why SAT here as well as the MDD: the MDD conjoins every rule, so it can say *that* a value is ruled
out and (by deletion) *which choices* rule it out, but not *which rules* do. With a selector per rule,
an unsatisfiable core over the selectors names the rules, and deletion makes that set subset-minimal.
The same encoding answers the benchmark baseline: one SAT call per (variable, value) per click.

Encoding: one Boolean per (variable, value) with exactly-one per variable; a table is `selector ->
some row`, a row implies its values, and each value implies one of its rows (arc consistency by unit
propagation); a formula is Tseitin-encoded; a limit walks partial sums (a state literal per reachable
sum, forbidden final sums blocked).
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from pysat.card import CardEnc, EncType
from pysat.formula import IDPool
from pysat.solvers import Solver

from mixflow.model import Catalogue
from mixflow.model.formula import AllOf, AnyOf, Formula, Is, Not, describe
from mixflow.model.formula import variables as formula_vars

SOLVER = "m22"  # MiniSat 2.2: fastest of g4/m22/cd15/mc on Megane explanations (measured)


@dataclass(frozen=True)
class Constraint:
    """One switchable constraint of the catalogue: its id and the sentence a buyer is shown."""

    kind: str
    id: str
    text: str
    scope: frozenset[str] = frozenset()


class SatModel:
    """CNF of a catalogue plus a solver loaded with it; thread-safe (one lock around the solver)."""

    def __init__(self, catalogue: Catalogue) -> None:
        self.catalogue = catalogue
        self.pool = IDPool()
        self.clauses: list[list[int]] = []
        self.constraints: list[Constraint] = []
        self.selectors: list[int] = []
        self._lits: dict[tuple[str, str], int] = {}
        self._true = self.pool.id(("true",))
        self.clauses.append([self._true])
        for var in catalogue.variables:
            lits = [self.lit(var.name, code) for code in var.codes]
            self.clauses.append(lits)
            if len(lits) > 1:
                encoding = EncType.pairwise if len(lits) <= 6 else EncType.seqcounter
                self.clauses.extend(CardEnc.atmost(lits, bound=1, vpool=self.pool, encoding=encoding).clauses)
        for rule in catalogue.rules:
            text = rule.text or f"rule {rule.id}: {describe(rule.formula)}"
            s = self._selector(Constraint("rule", rule.id, text, formula_vars(rule.formula)))
            self.clauses.append([-s, self._formula(rule.formula, {})])
        for table in catalogue.tables:
            text = table.text or f"table {table.id}"
            s = self._selector(Constraint("table", table.id, text, frozenset(table.scope)))
            self._table(s, table.scope, sorted(table.allowed))
        for limit in catalogue.limits:
            bound = " and ".join(
                part
                for part in (
                    None if limit.minimum is None else f"at least {limit.minimum:g}",
                    None if limit.maximum is None else f"at most {limit.maximum:g}",
                )
                if part
            )
            weighed = frozenset(
                v.name for v in catalogue.variables if any(limit.attribute in x.attributes for x in v.values)
            )
            text = limit.text or f"{limit.attribute} must be {bound}"
            s = self._selector(Constraint("limit", limit.id, text, weighed))
            self._limit(s, limit.attribute, limit.minimum, limit.maximum)
        self._lock = threading.Lock()
        self.solver = Solver(name=SOLVER, bootstrap_with=self.clauses)

    # -- encoding -------------------------------------------------------------------------------------
    def lit(self, var: str, code: str) -> int:
        key = (var, code)
        found = self._lits.get(key)
        if found is None:
            found = self._lits[key] = self.pool.id(("is", var, code))
        return found

    def _selector(self, constraint: Constraint) -> int:
        s = self.pool.id(("selector", constraint.kind, constraint.id, len(self.constraints)))
        self.constraints.append(constraint)
        self.selectors.append(s)
        return s

    def _fresh(self) -> int:
        return self.pool.id(("aux", self.pool.top + 1))

    def _formula(self, f: Formula, memo: dict[int, int]) -> int:
        """A literal equivalent to `f` (Tseitin)."""
        key = id(f)
        if key in memo:
            return memo[key]
        match f:
            case Is(var, values):
                parts = [self.lit(var, c) for c in sorted(values)]
                out = parts[0] if len(parts) == 1 else self._or(parts)
            case AllOf(parts_f):
                out = -self._or([-self._formula(p, memo) for p in parts_f])
            case AnyOf(parts_f):
                out = self._or([self._formula(p, memo) for p in parts_f])
            case Not(part):
                out = -self._formula(part, memo)
            case _:
                raise TypeError(f"not a formula: {f!r}")
        memo[key] = out
        return out

    def _or(self, parts: Sequence[int]) -> int:
        if not parts:
            return -self._true
        y = self._fresh()
        self.clauses.append([-y, *parts])
        self.clauses.extend([[y, -p] for p in parts])
        return y

    def _table(self, s: int, scope: tuple[str, ...], rows: Sequence[tuple[str, ...]]) -> None:
        row_lits = []
        supports: dict[tuple[int, str], list[int]] = defaultdict(list)
        for row in rows:
            t = self._fresh()
            row_lits.append(t)
            for i, (var, code) in enumerate(zip(scope, row, strict=True)):
                self.clauses.append([-t, self.lit(var, code)])
                supports[i, code].append(t)
        self.clauses.append([-s, *row_lits])
        for i, var in enumerate(scope):
            for code in self.catalogue.variable(var).codes:
                self.clauses.append([-s, -self.lit(var, code), *supports.get((i, code), [])])

    def _limit(self, s: int, attribute: str, low: float | None, high: float | None) -> None:
        states = {0.0: self._true}
        for var in self.catalogue.variables:
            weights = [(v.code, float(v.attributes.get(attribute, 0.0))) for v in var.values]
            if all(w == 0.0 for _, w in weights):
                continue
            following: dict[float, int] = {}
            for total, state in states.items():
                for code, w in weights:
                    key = round(total + w, 9)
                    if key not in following:
                        following[key] = self._fresh()
                    self.clauses.append([-state, -self.lit(var.name, code), following[key]])
            states = following
        for total, state in states.items():
            if (low is not None and total < low - 1e-9) or (high is not None and total > high + 1e-9):
                self.clauses.append([-s, -state])

    # -- queries --------------------------------------------------------------------------------------
    def assumptions(self, choices: Iterable[tuple[str, str]]) -> list[int]:
        return [self.lit(var, code) for var, code in choices]

    def satisfiable(self, choices: Iterable[tuple[str, str]]) -> bool:
        with self._lock:
            return bool(self.solver.solve(assumptions=[*self.assumptions(choices), *self.selectors]))

    def valid_values(self, choices: Mapping[str, str]) -> dict[str, list[str]]:
        """The baseline propagation: one SAT call per (variable, value) not yet decided."""
        fixed = self.assumptions(choices.items())
        valid: dict[str, list[str]] = {}
        with self._lock:
            for var in self.catalogue.variables:
                if var.name in choices:
                    valid[var.name] = [choices[var.name]]
                    continue
                valid[var.name] = [
                    code
                    for code in var.codes
                    if self.solver.solve(assumptions=[*fixed, self.lit(var.name, code), *self.selectors])
                ]
        return valid

    def _rings(self, variables: set[str]) -> Iterable[list[int]]:
        """Selector sets growing outwards from `variables`: the constraints touching them, then their
        neighbours, and so on, and finally all. Conflicts are usually local, and refuting only the
        near constraints is far faster than refuting with every constraint switched on."""
        reached = set(variables)
        taken: set[int] = set()
        while True:
            grown = [i for i, c in enumerate(self.constraints) if i not in taken and c.scope & reached]
            if not grown:
                break
            taken.update(grown)
            yield [self.selectors[i] for i in sorted(taken)]
            for i in grown:
                reached |= self.constraints[i].scope
        if len(taken) < len(self.selectors):
            yield list(self.selectors)

    def minimal_rules(self, choices: Iterable[tuple[str, str]]) -> list[Constraint]:
        """A subset-minimal set of constraints that, with `choices`, allows nothing (empty if satisfiable).

        Deletion over an unsatisfiable core; the constraints are switched on ring by ring around the
        chosen variables, so the first refutation stays local.
        """
        chosen = list(choices)
        fixed = self.assumptions(chosen)
        index = {s: i for i, s in enumerate(self.selectors)}
        with self._lock:
            needed: list[int] = []
            for ring in self._rings({var for var, _ in chosen}):
                if not self.solver.solve(assumptions=[*fixed, *ring]):
                    core = set(self.solver.get_core() or ())
                    needed = [s for s in ring if s in core]
                    break
            else:
                return []
            i = 0
            while i < len(needed):
                trial = needed[:i] + needed[i + 1 :]
                if self.solver.solve(assumptions=[*fixed, *trial]):
                    i += 1
                else:
                    core = set(self.solver.get_core() or ())
                    needed = [s for s in trial if s in core]
        return [self.constraints[index[s]] for s in needed]
