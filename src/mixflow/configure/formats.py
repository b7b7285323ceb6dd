"""Readers for public configuration benchmarks, all into the same `mixflow.model.Catalogue` (tables).

- XCSP 2.1 table models (the Renault BR4CP "medium" file): `<domains>`, `<variables>`,
  `<relations semantics="supports|conflicts">`, `<constraints>`; errors name the XML line.
- The JSON table format `mixflow-table-csp-v1` (the Renault Megane CLib file, optionally gzipped):
  variables with symbolic values, positive tables whose tuple entries index the variable's values.
- Sales-history files: a header line of variable names, then one configuration a line.
- `load_model` picks the reader by content, and reads mixflow catalogue files (YAML/JSON) as well.
"""

from __future__ import annotations

import gzip
import itertools
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from xml.parsers import expat

from mixflow.configure.catalogue_file import parse_catalogue
from mixflow.errors import InputFileError, MixflowError
from mixflow.model import Catalogue, Table, Value, Variable

TABLE_FORMAT = "mixflow-table-csp-v1"
# A conflicts table is turned into a supports table by enumeration; beyond this many tuples, refuse.
_MAX_COMPLEMENT = 1_000_000


def _read_bytes(path: Path) -> bytes:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputFileError(str(path), f"cannot read: {exc.strerror or exc}") from exc
    if data[:2] == b"\x1f\x8b":
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError) as exc:
            raise InputFileError(str(path), f"not a valid gzip file: {exc}") from exc
    return data


def load_model(path: str | Path) -> Catalogue:
    """Read a configuration model of any supported format (XCSP 2.1, table JSON, mixflow catalogue)."""
    path = Path(path)
    data = _read_bytes(path)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputFileError(str(path), f"not UTF-8 text (byte {exc.start})") from exc
    head = text.lstrip()[:200]
    if head.startswith("<"):
        return parse_xcsp(text, str(path))
    if head.startswith("{") and TABLE_FORMAT in head:
        return parse_table_json(text, str(path))
    return parse_catalogue(text, str(path))


# -- XCSP 2.1 ---------------------------------------------------------------------------------------
@dataclass
class _Element:
    tag: str
    attrs: dict[str, str]
    line: int
    text: str = ""


def _xml_elements(text: str, source: str) -> list[_Element]:
    """Every element with its attributes, start line and character data (XCSP 2.1 nests no text)."""
    elements: list[_Element] = []
    stack: list[_Element] = []
    chunks: dict[int, list[str]] = {}
    parser = expat.ParserCreate()

    def start(tag: str, attrs: dict[str, str]) -> None:
        element = _Element(tag, attrs, parser.CurrentLineNumber)
        elements.append(element)
        stack.append(element)
        chunks[id(element)] = []

    def end(tag: str) -> None:
        element = stack.pop()
        element.text = "".join(chunks.pop(id(element)))

    def data(chunk: str) -> None:
        if stack:
            chunks[id(stack[-1])].append(chunk)

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = data
    try:
        parser.Parse(text, True)
    except expat.ExpatError as exc:
        raise InputFileError(
            source, f"not well-formed XML: {expat.ErrorString(exc.code)}", exc.lineno
        ) from exc
    return elements


def _domain_values(text: str, source: str, line: int) -> list[str]:
    values: list[str] = []
    for token in text.split():
        if ".." in token:
            low, _, high = token.partition("..")
            try:
                values.extend(str(v) for v in range(int(low), int(high) + 1))
            except ValueError as exc:
                raise InputFileError(source, f"bad range {token!r} in a domain", line) from exc
        else:
            values.append(token)
    return values


def _need(element: _Element, attr: str, source: str) -> str:
    value = element.attrs.get(attr)
    if not value:
        raise InputFileError(source, f"<{element.tag}> needs the attribute {attr!r}", element.line)
    return value


def parse_xcsp(text: str, source: str = "<xcsp>") -> Catalogue:
    """Build a table catalogue from an XCSP 2.1 instance with extensional (table) constraints."""
    elements = _xml_elements(text, source)
    if not elements or elements[0].tag != "instance":
        raise InputFileError(source, "an XCSP 2.1 file has <instance> at its top", 1)
    name = (
        next((e.attrs.get("name", "") for e in elements if e.tag == "presentation"), "") or Path(source).stem
    )
    domains: dict[str, list[str]] = {}
    variables: list[Variable] = []
    relations: dict[str, tuple[_Element, list[tuple[str, ...]]]] = {}
    tables: list[Table] = []
    var_values: dict[str, list[str]] = {}
    for element in elements:
        match element.tag:
            case "domain":
                domains[_need(element, "name", source)] = _domain_values(element.text, source, element.line)
            case "variable":
                var_name = _need(element, "name", source)
                domain = _need(element, "domain", source)
                if domain not in domains:
                    raise InputFileError(
                        source, f"variable {var_name} uses undefined domain {domain!r}", element.line
                    )
                values = domains[domain]
                try:
                    variables.append(Variable(name=var_name, values=tuple(Value(code=v) for v in values)))
                except MixflowError as exc:
                    raise InputFileError(source, str(exc), element.line) from exc
                var_values[var_name] = values
            case "relation":
                rel_name = _need(element, "name", source)
                arity = int(_need(element, "arity", source))
                rows = [tuple(r.split()) for r in element.text.split("|") if r.strip()]
                for row in rows:
                    if len(row) != arity:
                        raise InputFileError(
                            source,
                            f"relation {rel_name}: tuple {' '.join(row)} does not have arity {arity}",
                            element.line,
                        )
                relations[rel_name] = (element, rows)
            case "constraint":
                tables.append(_xcsp_table(element, relations, var_values, source))
            case "predicate" | "function":
                raise InputFileError(
                    source,
                    "intensional constraints (predicates) are not supported, only tables",
                    element.line,
                )
    if not variables:
        raise InputFileError(source, "the instance declares no variables", 1)
    try:
        return Catalogue(name=name, variables=tuple(variables), tables=tuple(tables))
    except MixflowError as exc:
        raise InputFileError(source, str(exc)) from exc


def _xcsp_table(
    element: _Element,
    relations: Mapping[str, tuple[_Element, list[tuple[str, ...]]]],
    var_values: Mapping[str, list[str]],
    source: str,
) -> Table:
    con_name = _need(element, "name", source)
    scope = tuple(_need(element, "scope", source).split())
    reference = _need(element, "reference", source)
    if reference not in relations:
        raise InputFileError(
            source, f"constraint {con_name} uses undefined relation {reference!r}", element.line
        )
    for var_name in scope:
        if var_name not in var_values:
            raise InputFileError(
                source, f"constraint {con_name} names undefined variable {var_name!r}", element.line
            )
    relation, rows = relations[reference]
    if rows and len(rows[0]) != len(scope):
        raise InputFileError(
            source,
            f"constraint {con_name} has {len(scope)} variables but relation {reference} has arity "
            f"{len(rows[0])}",
            element.line,
        )
    semantics = relation.attrs.get("semantics", "supports")
    if semantics == "conflicts":
        space = 1
        for var_name in scope:
            space *= len(var_values[var_name])
        if space > _MAX_COMPLEMENT:
            raise InputFileError(
                source,
                f"constraint {con_name}: a conflicts table over {space} combinations is too large",
                element.line,
            )
        banned = set(rows)
        allowed = frozenset(t for t in itertools.product(*(var_values[v] for v in scope)) if t not in banned)
    elif semantics == "supports":
        allowed = frozenset(rows)
    else:
        raise InputFileError(source, f"relation {reference}: unknown semantics {semantics!r}", relation.line)
    for row in rows:
        for var_name, code in zip(scope, row, strict=True):
            if code not in var_values[var_name]:
                raise InputFileError(
                    source,
                    f"relation {reference} (used by {con_name}) has value {code!r} outside the domain of "
                    f"{var_name}",
                    relation.line,
                )
    text = f"{' and '.join(scope)} must be one of the {len(allowed)} combinations of table {con_name}"
    return Table(id=con_name, scope=scope, allowed=allowed, text=text)


# -- JSON tables (Megane CLib) ----------------------------------------------------------------------
def parse_table_json(text: str, source: str = "<tables>") -> Catalogue:
    """Build a table catalogue from the `mixflow-table-csp-v1` JSON format."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputFileError(source, f"not valid JSON: {exc.msg}", exc.lineno) from exc
    if not isinstance(data, dict) or not str(data.get("format", "")).startswith(TABLE_FORMAT):
        raise InputFileError(source, f"not a {TABLE_FORMAT} file (no such 'format' field)")

    def field(node: Any, key: str, kind: type, where: str) -> Any:
        if not isinstance(node, dict) or not isinstance(node.get(key), kind):
            raise InputFileError(source, f"{where}: needs '{key}' as a {kind.__name__}")
        return node[key]

    variables: list[Variable] = []
    values_of: dict[str, list[str]] = {}
    for i, node in enumerate(field(data, "variables", list, "top level")):
        var_name = str(field(node, "name", str, f"variables[{i}]"))
        values = [str(v) for v in field(node, "values", list, f"variables[{i}] ({var_name})")]
        try:
            variables.append(Variable(name=var_name, values=tuple(Value(code=v) for v in values)))
        except MixflowError as exc:
            raise InputFileError(source, f"variables[{i}]: {exc}") from exc
        values_of[var_name] = values
    tables: list[Table] = []
    for i, node in enumerate(field(data, "constraints", list, "top level")):
        con_name = str(field(node, "name", str, f"constraints[{i}]"))
        where = f"constraints[{i}] ({con_name})"
        scope = tuple(str(v) for v in field(node, "scope", list, where))
        for var_name in scope:
            if var_name not in values_of:
                raise InputFileError(source, f"{where}: names undefined variable {var_name!r}")
        if node.get("semantics", "supports") != "supports":
            raise InputFileError(source, f"{where}: only 'supports' tables are supported")
        rows: set[tuple[str, ...]] = set()
        for j, row in enumerate(field(node, "tuples", list, where)):
            if not isinstance(row, list) or len(row) != len(scope):
                raise InputFileError(source, f"{where}: tuple {j} does not match the scope of {len(scope)}")
            try:
                rows.add(tuple(values_of[v][int(k)] for v, k in zip(scope, row, strict=True)))
            except (IndexError, ValueError, TypeError) as exc:
                raise InputFileError(source, f"{where}: tuple {j} has an index outside a domain") from exc
        text = f"{' and '.join(scope)} must be one of the {len(rows)} combinations of table {con_name}"
        tables.append(Table(id=con_name, scope=scope, allowed=frozenset(rows), text=text))
    name = str(data.get("name", Path(source).stem))
    try:
        return Catalogue(name=name, variables=tuple(variables), tables=tuple(tables))
    except MixflowError as exc:
        raise InputFileError(source, str(exc)) from exc


# -- sales histories --------------------------------------------------------------------------------
@dataclass(frozen=True)
class History:
    """Sold configurations: `rows[i]` maps each header variable to its value; `lines[i]` is its file line."""

    variables: tuple[str, ...]
    rows: tuple[dict[str, str], ...]
    lines: tuple[int, ...]


def read_history(path: str | Path, catalogue: Catalogue | None = None) -> History:
    """Read a sales history; with a catalogue, every name and value is checked (errors name the line)."""
    path = Path(path)
    source = str(path)
    text = _read_bytes(path).decode("utf-8", errors="replace")
    lines = text.splitlines()
    header_at = next((i for i, line in enumerate(lines) if line.strip()), None)
    if header_at is None:
        raise InputFileError(source, "the history is empty (no header line)")
    names = tuple(lines[header_at].split())
    if len(set(names)) != len(names):
        raise InputFileError(source, "the header repeats a variable", header_at + 1)
    domains: dict[str, frozenset[str]] = {}
    if catalogue is not None:
        known = {v.name: v for v in catalogue.variables}
        for var_name in names:
            if var_name not in known:
                raise InputFileError(source, f"the header names unknown variable {var_name!r}", header_at + 1)
            domains[var_name] = frozenset(known[var_name].codes)
    rows: list[dict[str, str]] = []
    row_lines: list[int] = []
    for i in range(header_at + 1, len(lines)):
        fields = lines[i].split()
        if not fields:
            continue
        if len(fields) != len(names):
            raise InputFileError(source, f"{len(fields)} values for {len(names)} header variables", i + 1)
        row = dict(zip(names, fields, strict=True))
        for var_name, code in row.items() if domains else ():
            if code not in domains[var_name]:
                raise InputFileError(source, f"value {code!r} is not in the domain of {var_name}", i + 1)
        rows.append(row)
        row_lines.append(i + 1)
    return History(variables=names, rows=tuple(rows), lines=tuple(row_lines))
