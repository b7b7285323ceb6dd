"""The VDA 5050 models, topics and validation against the official 2.1.0 JSON Schemas.

The models are written by hand; these tests keep them honest: every model's fields, required fields
and enums are compared with the schema, recursively, and a maximal example built from each schema
(every property set) must validate, parse and come back unchanged.
"""

from __future__ import annotations

import json
import re
import types
import typing
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

import pytest
from pydantic import BaseModel

from mixflow.connect.vda5050 import models, topics
from mixflow.connect.vda5050.factsheets import vehicle_types
from mixflow.connect.vda5050.validation import PACKAGE_SCHEMAS, SchemaValidator
from mixflow.errors import ValidationError
from mixflow.model.plant import AgvSpec

SHARED = Path(__file__).resolve().parents[3] / "shared" / "standards" / "vda5050"
SCHEMA_DIR = SHARED / "schemas" if SHARED.is_dir() else PACKAGE_SCHEMAS
# schema-required fields the models fill in themselves: the header of a message we build, and the
# empty action list of a node or edge
FILLED_IN = {"headerId", "timestamp", "version", "actions"}
SCALARS = {"string": str, "integer": int, "number": float, "boolean": bool}
SPEC = AgvSpec(1.5, 3000, 30.0, 60.0, 0.0015, 1.6, 0.25, id="tugger-3t")


def schema(name: str) -> dict[str, Any]:
    return json.loads((SCHEMA_DIR / f"{name}.schema").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def official() -> SchemaValidator:
    return SchemaValidator(SCHEMA_DIR)


@pytest.mark.skipif(not SHARED.is_dir(), reason="../shared is not beside the checkout")
def test_package_schemas_are_the_official_files_byte_for_byte() -> None:
    for name in topics.SUBTOPICS:
        shipped = (PACKAGE_SCHEMAS / f"{name}.schema").read_bytes()
        assert shipped == (SHARED / "schemas" / f"{name}.schema").read_bytes(), name
    assert (PACKAGE_SCHEMAS / "LICENSE.txt").read_bytes() == (SHARED / "LICENSE.txt").read_bytes()


def _resolve(node: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    ref = node.get("$ref")
    if ref is None:
        return node
    target: Any = root
    for part in ref.lstrip("#/").split("/"):
        target = target[part]
    return typing.cast(dict[str, Any], target)


def _unwrap(annotation: Any) -> tuple[Any, bool]:
    """(inner type, is a list) of `X | None`, `list[X] | None`, ..."""
    if get_origin(annotation) in (typing.Union, types.UnionType):
        args = [a for a in get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            annotation = args[0]
    if get_origin(annotation) is list:
        return get_args(annotation)[0], True
    return annotation, False


def _check_model(model: type[BaseModel], node: dict[str, Any], root: dict[str, Any], path: str) -> int:
    """Compare a model with its schema object, recursively; returns how many models were checked."""
    node = _resolve(node, root)
    properties = node.get("properties", {})
    fields = {(f.alias or name): f for name, f in model.model_fields.items()}
    assert set(fields) == set(properties), f"{path} ({model.__name__}): fields differ from the schema"
    required = set(node.get("required", []))
    model_required = {alias for alias, f in fields.items() if f.is_required()}
    assert model_required <= required, f"{path}: {model_required - required} required only in the model"
    assert required - model_required <= FILLED_IN, (
        f"{path}: {required - model_required} optional in the model"
    )
    checked = 1
    for alias, info in fields.items():
        prop = _resolve(properties[alias], root)
        inner, is_list = _unwrap(info.annotation)
        if is_list and prop.get("type") == "array" and "items" in prop:
            prop = _resolve(prop["items"], root)
        if get_origin(inner) is Literal and "enum" in prop:
            assert set(get_args(inner)) == set(prop["enum"]), f"{path}.{alias}: enum differs"
        elif isinstance(prop.get("type"), str) and prop["type"] in SCALARS:
            assert inner is SCALARS[prop["type"]], f"{path}.{alias}: {inner} for a JSON {prop['type']}"
        if isinstance(inner, type) and issubclass(inner, BaseModel):
            checked += _check_model(inner, prop, root, f"{path}.{alias}")
    return checked


@pytest.mark.parametrize("name", topics.SUBTOPICS)
def test_each_model_matches_its_schema_field_by_field(name: str) -> None:
    root = schema(name)
    assert _check_model(models.MESSAGES[name], root, root, name) >= 1


def _example(node: dict[str, Any], root: dict[str, Any]) -> Any:
    """A value that sets every property the schema describes (the first enum value, a number
    inside the bounds)."""
    node = _resolve(node, root)
    if "enum" in node and node.get("type") != "array":
        return node["enum"][0]
    kind = node.get("type")
    if isinstance(kind, list):
        return "text"
    if kind == "object":
        return {
            key: _example(value, root)
            for key, value in node.get("properties", {}).items()
            # 2.1.0's factsheet puts the blockingTypes enum on the array itself: nothing validates
            if not (value.get("type") == "array" and "enum" in value)
        }
    if kind == "array":
        return [_example(node["items"], root)]
    if kind == "string":
        return "2026-12-07T10:00:03.12Z" if node.get("format") == "date-time" else "text"
    if kind == "integer":
        return max(node.get("minimum", 3), 3)
    if kind == "number":
        return 0.5
    if kind == "boolean":
        return True
    return {}


@pytest.mark.parametrize("name", topics.SUBTOPICS)
def test_a_maximal_example_validates_parses_and_comes_back_unchanged(
    name: str, official: SchemaValidator
) -> None:
    root = schema(name)
    example = _example(root, root)
    assert official.errors(name, example) == []
    model = models.MESSAGES[name].model_validate(example)
    assert model.to_dict() == example
    assert json.loads(model.to_json()) == example


def test_messages_built_in_python_are_valid_on_the_wire(official: SchemaValidator) -> None:
    connection = models.Connection(manufacturer="TugWerk", serial_number="T-001", connection_state="ONLINE")
    wire = connection.to_dict()
    assert wire["serialNumber"] == "T-001" and wire["version"] == "2.1.0"
    assert official.errors("connection", wire) == []
    for kind in vehicle_types(SPEC):
        sheet = kind.factsheet.to_dict()
        assert official.errors("factsheet", sheet) == []
        assert sheet["typeSpecification"]["maxLoadMass"] == 3000
        assert sheet["physicalParameters"]["speedMax"] == 1.5
    first, second = (k.factsheet for k in vehicle_types(SPEC))
    assert first.manufacturer != second.manufacturer
    assert first.physical_parameters.width != second.physical_parameters.width
    assert first.type_specification.agv_class != second.type_specification.agv_class


def test_timestamps_are_iso8601_utc_with_hundredths(official: SchemaValidator) -> None:
    stamp = models.timestamp()
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d\dZ", stamp)
    header = {"headerId": 0, "version": "2.1.0", "manufacturer": "m", "serialNumber": "s"}
    message = {**header, "timestamp": stamp, "connectionState": "OFFLINE"}
    assert official.errors("connection", message) == []
    assert official.errors("connection", {**message, "timestamp": "yesterday"})


def test_wrong_messages_are_refused_naming_the_field(official: SchemaValidator) -> None:
    state = {"headerId": 1, "timestamp": models.timestamp(), "version": "2.1.0"}
    errors = official.errors("state", {**state, "manufacturer": "m", "serialNumber": "s"})
    assert any("orderId" in e for e in errors)
    with pytest.raises(ValidationError, match=r"VDA 5050 connection: connectionState: .*not one of"):
        official.validate(
            "connection",
            {**state, "manufacturer": "m", "serialNumber": "s", "connectionState": "DISCONNECTED"},
        )
    with pytest.raises(ValidationError, match="not JSON"):
        official.parse("order", b"{nope")
    assert official.errors("telemetry", {}) == ["unknown VDA 5050 topic 'telemetry'"]


def test_topics_follow_the_suggested_levels() -> None:
    assert topics.topic("TugWerk", "T-001", "order") == "uagv/v2/TugWerk/T-001/order"
    assert topics.fleet_filter("state") == "uagv/v2/+/+/state"
    parsed = topics.parse_topic("uagv/v2/CarryBot/C-7/state")
    assert (parsed.manufacturer, parsed.serial_number, parsed.subtopic) == ("CarryBot", "C-7", "state")
    assert topics.QOS["connection"] == 1 and topics.QOS["state"] == 0
    with pytest.raises(ValidationError, match="serialNumber"):
        topics.vehicle_topics("TugWerk", "T/001")
    with pytest.raises(ValidationError, match="manufacturer"):
        topics.vehicle_topics("Tug$Werk", "T-001")
    with pytest.raises(ValidationError, match="unknown topic"):
        topics.parse_topic("uagv/v2/TugWerk/T-001/telemetry")
    with pytest.raises(ValidationError, match="is not"):
        topics.parse_topic("uagv/v1/TugWerk/T-001/state")
