"""Reading the project's YAML file formats with line numbers: every error names the file and line.

The catalogue and plant formats share this: a safe loader whose mappings and lists remember their
1-based line, a JSON Schema check that reports the first failure at the line of the node at fault
and the JSON path to it, and the condition syntax of both formats (a mapping: a key naming a
variable holds a value or a list of values, `drive: [6x4, 8x4]`; the keys `all`, `any` (lists of
conditions) and `not` (a condition) combine them; several keys in one mapping must all hold).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import fastjsonschema
import jsonschema
import yaml

from mixflow.errors import InputFileError
from mixflow.model.formula import AllOf, AnyOf, Formula, Is, Not


def read_input(path: Path) -> str:
    """The text of an input file, or InputFileError naming it and why it cannot be read (missing,
    unreadable, not UTF-8)."""
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputFileError(str(path), f"cannot read: {getattr(exc, 'strerror', None) or exc}") from exc


class LineDict(dict[str, Any]):
    """A mapping that knows its own line and the line of each of its keys."""

    line: int = 0
    key_lines: dict[str, int]


class LineList(list[Any]):
    line: int = 0


class _LineLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """A safe YAML loader whose mappings and lists remember their 1-based line (libyaml's parser
    where PyYAML has it: a 2,000-machine plant file reads about ten times faster)."""


def _construct_mapping(loader: _LineLoader, node: yaml.MappingNode) -> LineDict:
    pairs = loader.construct_pairs(node, deep=True)
    keys = [str(k) for k, _ in pairs]
    result = LineDict({str(k): v for k, v in pairs})
    result.line = node.start_mark.line + 1
    result.key_lines = {str(loader.construct_object(k)): k.start_mark.line + 1 for k, _ in node.value}
    if len(result) != len(keys):
        dupes = sorted({k for k in keys if keys.count(k) > 1})
        raise yaml.MarkedYAMLError(
            problem=f"repeats the key(s) {', '.join(dupes)}", problem_mark=node.start_mark
        )
    return result


def _construct_sequence(loader: _LineLoader, node: yaml.SequenceNode) -> LineList:
    result = LineList(loader.construct_sequence(node, deep=True))
    result.line = node.start_mark.line + 1
    return result


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _construct_sequence)


def load_yaml(text: str, source: str, what: str) -> LineDict:
    """Parse YAML (or JSON) text holding a mapping at the top; `what` names the kind of file."""
    try:
        data = yaml.load(text, Loader=_LineLoader)
    except yaml.MarkedYAMLError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark else None
        raise InputFileError(source, f"not valid YAML: {exc.problem}", line) from exc
    except yaml.YAMLError as exc:  # e.g. a control character the reader refuses before any parsing
        where = getattr(exc, "position", None)
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        at = f" (character {where})" if where is not None else ""
        raise InputFileError(source, f"not valid YAML: {first}{at}") from exc
    if not isinstance(data, LineDict):
        raise InputFileError(source, f"a {what} file holds a mapping at its top level", 1)
    return data


def line_of(data: Any, path: list[str | int]) -> int | None:
    """The line of the deepest node along `path` that knows its line."""
    line = getattr(data, "line", None)
    node = data
    for key in path:
        key_lines = getattr(node, "key_lines", None)
        if key_lines is not None and str(key) in key_lines:
            line = key_lines[str(key)]
        try:
            node = node[key]
        except (KeyError, IndexError, TypeError):
            break
        line = getattr(node, "line", line)
    return line


def json_path(path: list[str | int]) -> str:
    """`$.lines[0].takt_s` style, the way a user finds a place in the file."""
    text = "$"
    for key in path:
        text += f"[{key}]" if isinstance(key, int) else f".{key}"
    return text


_COMPILED: dict[str, Any] = {}


def _fast_check(schema: dict[str, Any]) -> Any:
    """The schema compiled to Python by fastjsonschema, once per schema: it answers "valid" some
    twenty times faster than jsonschema on a 5,000-machine plant file."""
    key = json.dumps(schema, sort_keys=True)
    if key not in _COMPILED:
        _COMPILED[key] = fastjsonschema.compile(schema)
    return _COMPILED[key]


def check_schema(data: Any, schema: dict[str, Any], source: str) -> None:
    """Raise InputFileError for the first place `data` breaks `schema` (the shallowest, then in file
    order), naming its line and JSON path. Valid files take the compiled check only; jsonschema runs
    only on a file the compiled check refuses, for its better message and path."""
    try:
        _fast_check(schema)(data)
        return
    except fastjsonschema.JsonSchemaException:
        pass
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(data), key=lambda e: (len(e.absolute_path), list(map(str, e.path))))
    if errors:
        first = jsonschema.exceptions.best_match(errors) or errors[0]
        path = list(first.absolute_path)
        raise InputFileError(source, f"{json_path(path)}: {first.message}", line_of(data, path))


def condition(node: Any) -> Formula:
    """A condition mapping as a formula (names are not checked here: the caller knows the variables)."""
    parts: list[Formula] = []
    for key, value in node.items():
        if key == "all":
            parts.append(AllOf(tuple(condition(c) for c in value)))
        elif key == "any":
            parts.append(AnyOf(tuple(condition(c) for c in value)))
        elif key == "not":
            parts.append(Not(condition(value)))
        else:
            codes = frozenset(str(v) for v in (value if isinstance(value, list) else [value]))
            parts.append(Is(str(key), codes))
    return parts[0] if len(parts) == 1 else AllOf(tuple(parts))


def condition_data(formula: Formula) -> dict[str, Any]:
    """The condition mapping of a formula: the inverse of `condition`."""
    match formula:
        case Is(var, values):
            codes = sorted(values)
            return {var: codes[0] if len(codes) == 1 else codes}
        case AllOf(parts):
            merged: dict[str, Any] = {}
            for part in parts:
                item = condition_data(part)
                if set(item) & set(merged):
                    return {"all": [condition_data(p) for p in parts]}
                merged.update(item)
            return merged
        case AnyOf(parts):
            return {"any": [condition_data(p) for p in parts]}
        case Not(part):
            return {"not": condition_data(part)}
    raise TypeError(f"not a formula: {formula!r}")
