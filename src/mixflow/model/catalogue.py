"""The product catalogue: variables and values with prices, rules, BOM lines and routing effects.

A configuration is a mapping `variable -> value code` that assigns every variable. The catalogue
itself only *checks* and *evaluates* complete configurations; propagation, counting and explanation
over partial ones belong to `mixflow.configure`, which compiles these same rules.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType

from mixflow.errors import UnknownNameError, ValidationError
from mixflow.model.formula import TRUE, Formula, holds, literals

Configuration = Mapping[str, str]


class Scope(StrEnum):
    """Whether a variable defines the product model or is an option chosen per order on top of it."""

    MODEL = "model"
    ORDER = "order"


@dataclass(frozen=True)
class Value:
    """One choice of a variable, with its list price and numeric attributes (weights, loads...)."""

    code: str
    label: str = ""
    price: float = 0.0
    attributes: Mapping[str, float] = field(default_factory=lambda: MappingProxyType({}))

    def __post_init__(self) -> None:
        if not self.code:
            raise ValidationError("value", "a value needs a code")


@dataclass(frozen=True)
class Variable:
    """A configurable feature, e.g. `drive` with values 4x2, 6x2, 6x4, 8x4."""

    name: str
    values: tuple[Value, ...]
    label: str = ""
    default: str | None = None
    scope: Scope = Scope.MODEL

    def __post_init__(self) -> None:
        if not self.name:
            raise ValidationError("variable", "a variable needs a name")
        if not self.values:
            raise ValidationError(f"variable {self.name}", "needs at least one value")
        codes = [v.code for v in self.values]
        if len(set(codes)) != len(codes):
            dupes = sorted({c for c in codes if codes.count(c) > 1})
            raise ValidationError(f"variable {self.name}", f"repeats value(s) {', '.join(dupes)}")
        if self.default is not None and self.default not in codes:
            raise ValidationError(
                f"variable {self.name}", f"default {self.default!r} is not one of its values"
            )

    @property
    def codes(self) -> tuple[str, ...]:
        return tuple(v.code for v in self.values)

    def value(self, code: str) -> Value:
        for v in self.values:
            if v.code == code:
                return v
        raise UnknownNameError(f"value of {self.name}", code, list(self.codes))


@dataclass(frozen=True)
class Rule:
    """A constraint every valid configuration satisfies; `text` is what a buyer is told."""

    id: str
    formula: Formula
    text: str = ""


@dataclass(frozen=True)
class Table:
    """A compatibility table: the allowed value tuples of `scope` (positive table)."""

    id: str
    scope: tuple[str, ...]
    allowed: frozenset[tuple[str, ...]]
    text: str = ""

    def __post_init__(self) -> None:
        for row in self.allowed:
            if len(row) != len(self.scope):
                raise ValidationError(f"table {self.id}", f"row {row} does not match scope {self.scope}")

    def holds(self, config: Configuration) -> bool:
        return tuple(config.get(v, "") for v in self.scope) in self.allowed


@dataclass(frozen=True)
class Limit:
    """A numeric limit: the sum of `attribute` over the chosen values stays within [minimum, maximum]."""

    id: str
    attribute: str
    maximum: float | None = None
    minimum: float | None = None
    text: str = ""

    def __post_init__(self) -> None:
        if self.maximum is None and self.minimum is None:
            raise ValidationError(f"limit {self.id}", "needs a maximum or a minimum")


@dataclass(frozen=True)
class Surcharge:
    """A price for a combination of values (positive or a discount)."""

    id: str
    when: Formula
    amount: float


@dataclass(frozen=True)
class Part:
    """A component of the product. Whether a plant makes it (a routing in its plant file) or buys it
    (after `lead_time_s`) is the plant's business, not the catalogue's."""

    id: str
    name: str
    lead_time_s: int = 0
    unit_cost: float = 0.0

    def __post_init__(self) -> None:
        if self.lead_time_s < 0:
            raise ValidationError(f"part {self.id}", "lead_time_s must be >= 0")


@dataclass(frozen=True)
class BomLine:
    """`qty` of `part` go into every unit whose configuration satisfies `when`."""

    part: str
    qty: int = 1
    when: Formula = TRUE

    def __post_init__(self) -> None:
        if self.qty <= 0:
            raise ValidationError(f"bom line {self.part}", "qty must be positive")


@dataclass(frozen=True)
class StationWork:
    """Work content (seconds) an option adds at one line position of the full-scale line."""

    position: int
    work_s: int
    when: Formula = TRUE

    def __post_init__(self) -> None:
        if self.work_s < 0:
            raise ValidationError(f"station work at position {self.position}", "work_s must be >= 0")


@dataclass(frozen=True, eq=False)
class Catalogue:
    """A configurable product line; validates that every name a rule or effect uses exists.

    `product` and `products` are what a unit is called (truck, bus, tractor): pages and reports say
    them instead of assuming a product.

    Compared and hashed by identity, so solvers can cache compiled forms per catalogue object.
    """

    name: str
    variables: tuple[Variable, ...]
    rules: tuple[Rule, ...] = ()
    tables: tuple[Table, ...] = ()
    limits: tuple[Limit, ...] = ()
    surcharges: tuple[Surcharge, ...] = ()
    parts: tuple[Part, ...] = ()
    bom: tuple[BomLine, ...] = ()
    station_work: tuple[StationWork, ...] = ()
    currency: str = "EUR"
    base_price: float = 0.0
    product: str = "unit"
    products: str = "units"

    def __post_init__(self) -> None:
        names = [v.name for v in self.variables]
        if len(set(names)) != len(names):
            raise ValidationError(f"catalogue {self.name}", "repeats a variable name")
        index = {v.name: v for v in self.variables}
        object.__setattr__(self, "_index", index)
        formulas: list[tuple[str, Formula]] = [(f"rule {r.id}", r.formula) for r in self.rules]
        formulas += [(f"surcharge {s.id}", s.when) for s in self.surcharges]
        formulas += [(f"bom line {b.part}", b.when) for b in self.bom]
        formulas += [(f"station work {w.position}", w.when) for w in self.station_work]
        for where, formula in formulas:
            for lit in literals(formula):
                var = index.get(lit.var)
                if var is None:
                    raise ValidationError(where, f"names unknown variable {lit.var!r}")
                unknown = lit.values - set(var.codes)
                if unknown:
                    raise ValidationError(where, f"names unknown value(s) {sorted(unknown)} of {lit.var}")
        for table in self.tables:
            for var_name in table.scope:
                if var_name not in index:
                    raise ValidationError(f"table {table.id}", f"names unknown variable {var_name!r}")
        part_ids = {p.id for p in self.parts}
        for line in self.bom:
            if line.part not in part_ids:
                raise ValidationError(f"bom line {line.part}", "names a part the catalogue does not define")

    # -- look-ups ---------------------------------------------------------------------------------
    def variable(self, name: str) -> Variable:
        var = self._index.get(name)  # type: ignore[attr-defined]
        if var is None:
            raise UnknownNameError("variable", name, [v.name for v in self.variables])
        return var

    def part(self, part_id: str) -> Part:
        for p in self.parts:
            if p.id == part_id:
                return p
        raise UnknownNameError("part", part_id, [p.id for p in self.parts])

    def variables_of(self, scope: Scope) -> tuple[Variable, ...]:
        return tuple(v for v in self.variables if v.scope is scope)

    # -- complete configurations ------------------------------------------------------------------
    def check_names(self, config: Configuration) -> None:
        """Raise UnknownNameError for a variable or value the catalogue does not have."""
        for name, code in config.items():
            self.variable(name).value(code)

    def violations(self, config: Configuration) -> list[str]:
        """Texts of the rules, tables and limits a configuration breaks (empty when valid)."""
        self.check_names(config)
        broken = [f"{v.name} is not chosen" for v in self.variables if v.name not in config]
        broken += [r.text or r.id for r in self.rules if not holds(r.formula, config)]
        broken += [t.text or t.id for t in self.tables if not t.holds(config)]
        for limit in self.limits:
            total = self.attribute_total(config, limit.attribute)
            if (limit.maximum is not None and total > limit.maximum) or (
                limit.minimum is not None and total < limit.minimum
            ):
                broken.append(limit.text or limit.id)
        return broken

    def is_valid(self, config: Configuration) -> bool:
        return not self.violations(config)

    def attribute_total(self, config: Configuration, attribute: str) -> float:
        total = 0.0
        for name, code in config.items():
            total += self.variable(name).value(code).attributes.get(attribute, 0.0)
        return total

    def price(self, config: Configuration) -> float:
        """List price: base + every chosen value's price + every surcharge whose condition holds."""
        total = self.base_price
        for name, code in config.items():
            total += self.variable(name).value(code).price
        total += sum(s.amount for s in self.surcharges if holds(s.when, config))
        return round(total, 2)

    def bill_of_materials(self, config: Configuration) -> dict[str, int]:
        """Part id -> quantity for one unit of this configuration."""
        parts: dict[str, int] = {}
        for line in self.bom:
            if holds(line.when, config):
                parts[line.part] = parts.get(line.part, 0) + line.qty
        return parts

    def line_work(self, config: Configuration) -> dict[int, int]:
        """Full-scale line position -> seconds of work this configuration needs there."""
        work: dict[int, int] = {}
        for item in self.station_work:
            if holds(item.when, config):
                work[item.position] = work.get(item.position, 0) + item.work_s
        return work

    def attributes(self, config: Configuration) -> dict[str, float]:
        """Every numeric attribute summed over the chosen values (what routing durations read)."""
        totals: dict[str, float] = {}
        for name, code in config.items():
            for attribute, amount in self.variable(name).value(code).attributes.items():
                totals[attribute] = totals.get(attribute, 0.0) + amount
        return totals

    def product_space(self, scope: Scope | None = None) -> int:
        """Size of the unconstrained cross product (of one scope, or of all variables)."""
        size = 1
        for v in self.variables:
            if scope is None or v.scope is scope:
                size *= len(v.values)
        return size

    def iter_products(self, scope: Scope) -> itertools.product[tuple[str, ...]]:
        """Every combination of the variables of one scope, in catalogue order."""
        return itertools.product(*(v.codes for v in self.variables_of(scope)))
