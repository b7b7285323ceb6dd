"""Boolean formulas over `variable = value` literals: the language of catalogue rules and effects.

A formula is a small immutable tree. `holds` evaluates it on a complete configuration; `partial`
evaluates it three-valued on a partial one (True, False, or None for "not decided yet"), which is
what a search needs to prune early.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from mixflow.errors import ValidationError


@dataclass(frozen=True)
class Is:
    """`var` takes one of `values`."""

    var: str
    values: frozenset[str]

    def __post_init__(self) -> None:
        if not self.var:
            raise ValidationError("formula", "a literal needs a variable name")
        if not self.values:
            raise ValidationError(f"formula {self.var}", "a literal needs at least one value")


@dataclass(frozen=True)
class AllOf:
    """Every part holds (an empty AllOf is true)."""

    parts: tuple[Formula, ...]


@dataclass(frozen=True)
class AnyOf:
    """At least one part holds (an empty AnyOf is false)."""

    parts: tuple[Formula, ...]


@dataclass(frozen=True)
class Not:
    """The part does not hold."""

    part: Formula


Formula = Is | AllOf | AnyOf | Not

TRUE: Formula = AllOf(())


def is_(var: str, *values: str) -> Is:
    """Shorthand: `is_("drive", "8x4", "6x4")`."""
    return Is(var, frozenset(values))


def implies(condition: Formula, consequence: Formula) -> Formula:
    """`condition -> consequence`, written as `not condition or consequence`."""
    return AnyOf((Not(condition), consequence))


def holds(formula: Formula, config: Mapping[str, str]) -> bool:
    """Evaluate on a complete configuration; a variable missing from it makes its literals false."""
    match formula:
        case Is(var, values):
            return config.get(var) in values
        case AllOf(parts):
            return all(holds(p, config) for p in parts)
        case AnyOf(parts):
            return any(holds(p, config) for p in parts)
        case Not(part):
            return not holds(part, config)
    raise TypeError(f"not a formula: {formula!r}")


def partial(formula: Formula, config: Mapping[str, str]) -> bool | None:
    """Three-valued evaluation: None while an unassigned variable could still decide the result."""
    match formula:
        case Is(var, values):
            value = config.get(var)
            return None if value is None else value in values
        case AllOf(parts):
            result: bool | None = True
            for p in parts:
                r = partial(p, config)
                if r is False:
                    return False
                if r is None:
                    result = None
            return result
        case AnyOf(parts):
            result = False
            for p in parts:
                r = partial(p, config)
                if r is True:
                    return True
                if r is None:
                    result = None
            return result
        case Not(part):
            r = partial(part, config)
            return None if r is None else not r
    raise TypeError(f"not a formula: {formula!r}")


def literals(formula: Formula) -> Iterator[Is]:
    """Every literal in the formula, depth first."""
    match formula:
        case Is():
            yield formula
        case AllOf(parts) | AnyOf(parts):
            for p in parts:
                yield from literals(p)
        case Not(part):
            yield from literals(part)


def variables(formula: Formula) -> frozenset[str]:
    """Names of the variables the formula mentions."""
    return frozenset(lit.var for lit in literals(formula))


def describe(formula: Formula) -> str:
    """Readable text, e.g. `drive = 8x4 and not (family in {dump, mixer})`."""
    match formula:
        case Is(var, values):
            if len(values) == 1:
                return f"{var} = {next(iter(values))}"
            return f"{var} in {{{', '.join(sorted(values))}}}"
        case AllOf(parts):
            return "true" if not parts else " and ".join(_wrap(p) for p in parts)
        case AnyOf(parts):
            return "false" if not parts else " or ".join(_wrap(p) for p in parts)
        case Not(part):
            return f"not {_wrap(part)}"
    raise TypeError(f"not a formula: {formula!r}")


def _wrap(formula: Formula) -> str:
    text = describe(formula)
    return f"({text})" if isinstance(formula, AllOf | AnyOf) and len(formula.parts) > 1 else text
