"""The catalogue file format (YAML or JSON, `format: mixflow-catalogue-v1`) with line-numbered errors.

The file is checked twice: first against `catalogue.schema.json` (shape), then by building the
`mixflow.model.Catalogue` (meaning: unknown variables, values, parts). Either failure is reported as
`file:line: message`, with the line of the YAML node at fault.

Conditions (`when`, `if`, `then`, `formula`, `excludes` items) are mappings: a key naming a variable
holds a value or a list of values (`drive: [6x4, 8x4]`); the keys `all`, `any` (lists of conditions)
and `not` (a condition) combine them. Several keys in one mapping must all hold.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from mixflow.errors import InputFileError, MixflowError
from mixflow.model import (
    AllOf,
    AnyOf,
    BomLine,
    Catalogue,
    Formula,
    Is,
    Limit,
    Not,
    Part,
    Rule,
    Scope,
    StationWork,
    Surcharge,
    Table,
    Value,
    Variable,
    implies,
)
from mixflow.model.formula import TRUE
from mixflow.model.yaml_file import check_schema, load_yaml, read_input

FORMAT = "mixflow-catalogue-v1"


@cache
def schema() -> dict[str, Any]:
    """The JSON Schema of the catalogue file."""
    text = resources.files("mixflow.configure").joinpath("catalogue.schema.json").read_text()
    return dict(json.loads(text))


def load_catalogue(path: str | Path) -> Catalogue:
    """Read, validate and build a catalogue; raises InputFileError naming file and line."""
    path = Path(path)
    return parse_catalogue(read_input(path), str(path))


def parse_catalogue(text: str, source: str = "<catalogue>") -> Catalogue:
    """Build a catalogue from file text (YAML, of which JSON is a subset)."""
    data = load_yaml(text, source, "catalogue")
    if "feeder_work" in data:
        raise InputFileError(
            source,
            "feeder_work: routings belong to the plant now; move them to the plant file's `routings` "
            "(mixflow-plant-v1, see docs/plant-format.md)",
            getattr(data["feeder_work"], "line", None),
        )
    check_schema(data, schema(), source)
    try:
        return _build(data)
    except _AtLine as exc:
        raise InputFileError(source, exc.message, exc.line) from exc
    except MixflowError as exc:
        raise InputFileError(source, str(exc), getattr(data, "line", None)) from exc


class _AtLine(Exception):
    def __init__(self, message: str, line: int | None) -> None:
        self.message = message
        self.line = line


class _Conditions:
    """Turns condition mappings into formulas, checking every name against the declared variables
    so that a typo is reported at the line of the condition that holds it."""

    def __init__(self, variables: tuple[Variable, ...]) -> None:
        self.known = {v.name: set(v.codes) for v in variables}

    def formula(self, node: Any) -> Formula:
        parts: list[Formula] = []
        for key, value in node.items():
            if key == "all":
                parts.append(AllOf(tuple(self.formula(c) for c in value)))
            elif key == "any":
                parts.append(AnyOf(tuple(self.formula(c) for c in value)))
            elif key == "not":
                parts.append(Not(self.formula(value)))
            else:
                parts.append(self._literal(str(key), value, getattr(node, "line", None)))
        return parts[0] if len(parts) == 1 else AllOf(tuple(parts))

    def _literal(self, name: str, value: Any, line: int | None) -> Is:
        codes = {str(v) for v in (value if isinstance(value, list) else [value])}
        if name not in self.known:
            raise _AtLine(f"condition names unknown variable {name!r}", line)
        unknown = sorted(codes - self.known[name])
        if unknown:
            raise _AtLine(f"condition names unknown value(s) {unknown} of {name}", line)
        return Is(name, frozenset(codes))

    def rule(self, node: Mapping[str, Any]) -> Rule:
        if "formula" in node:
            formula = self.formula(node["formula"])
        elif "excludes" in node:
            formula = Not(AllOf(tuple(self.formula(c) for c in node["excludes"])))
        else:
            formula = implies(self.formula(node["if"]), self.formula(node["then"]))
        return Rule(id=node["id"], formula=formula, text=node.get("text", ""))

    def when(self, node: Mapping[str, Any]) -> Formula:
        return self.formula(node["when"]) if "when" in node else TRUE


def _build(data: Mapping[str, Any]) -> Catalogue:
    def at(node: Any, build: Any) -> Any:
        try:
            return build(node)
        except MixflowError as exc:
            raise _AtLine(str(exc), getattr(node, "line", None)) from exc

    def variable(node: Mapping[str, Any]) -> Variable:
        values = tuple(
            at(
                v,
                lambda v: Value(
                    code=str(v["code"]),
                    label=v.get("label", ""),
                    price=float(v.get("price", 0.0)),
                    attributes={k: float(x) for k, x in v.get("attributes", {}).items()},
                ),
            )
            for v in node["values"]
        )
        return Variable(
            name=node["name"],
            values=values,
            label=node.get("label", ""),
            default=None if node.get("default") is None else str(node["default"]),
            scope=Scope(node.get("scope", "model")),
        )

    variables = tuple(at(v, variable) for v in data["variables"])
    conditions = _Conditions(variables)
    _when = conditions.when
    return Catalogue(
        name=data["name"],
        currency=data.get("currency", "EUR"),
        base_price=float(data.get("base_price", 0.0)),
        product=data.get("product", {}).get("singular", "unit"),
        products=data.get("product", {}).get("plural", "units"),
        variables=variables,
        rules=tuple(at(r, conditions.rule) for r in data.get("rules", [])),
        tables=tuple(
            at(
                t,
                lambda t: Table(
                    id=t["id"],
                    scope=tuple(t["scope"]),
                    allowed=frozenset(tuple(str(x) for x in row) for row in t["allowed"]),
                    text=t.get("text", ""),
                ),
            )
            for t in data.get("tables", [])
        ),
        limits=tuple(
            at(
                x,
                lambda x: Limit(
                    id=x["id"],
                    attribute=x["attribute"],
                    maximum=x.get("maximum"),
                    minimum=x.get("minimum"),
                    text=x.get("text", ""),
                ),
            )
            for x in data.get("limits", [])
        ),
        surcharges=tuple(
            at(
                s,
                lambda s: Surcharge(
                    id=s["id"], when=conditions.formula(s["when"]), amount=float(s["amount"])
                ),
            )
            for s in data.get("surcharges", [])
        ),
        parts=tuple(
            at(
                p,
                lambda p: Part(
                    id=p["id"],
                    name=p.get("name", p["id"]),
                    lead_time_s=int(p.get("lead_time_s", 0)),
                    unit_cost=float(p.get("unit_cost", 0.0)),
                ),
            )
            for p in data.get("parts", [])
        ),
        bom=tuple(
            at(b, lambda b: BomLine(part=b["part"], qty=int(b.get("qty", 1)), when=_when(b)))
            for b in data.get("bom", [])
        ),
        station_work=tuple(
            at(w, lambda w: StationWork(position=int(w["position"]), work_s=int(w["work_s"]), when=_when(w)))
            for w in data.get("station_work", [])
        ),
    )
