"""Validate any VDA 5050 message (a dict) against its official JSON Schema, fast.

The six 2.1.0 schemas ship inside this package (`schemas/`, MIT, see SOURCES.txt there), so a plant
validates without `../shared`; tests point `SchemaValidator` at `../shared/standards/vda5050/schemas`
when it is there. jsonschema_rs compiles each schema once (draft 2020-12, `date-time` checked) and
checks a state message in about a microsecond, cheap enough for every message of 720 vehicles.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema_rs

from mixflow.connect.vda5050.topics import SUBTOPICS
from mixflow.errors import ValidationError

PACKAGE_SCHEMAS = Path(__file__).with_name("schemas")


class SchemaValidator:
    """The six schemas of one directory, compiled."""

    def __init__(self, directory: Path = PACKAGE_SCHEMAS) -> None:
        self.directory = Path(directory)
        self._validators: dict[str, jsonschema_rs.Validator] = {}
        for name in SUBTOPICS:
            path = self.directory / f"{name}.schema"
            try:
                schema = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError) as error:
                raise ValidationError(str(path), f"cannot read the VDA 5050 schema ({error})") from error
            self._validators[name] = jsonschema_rs.validator_for(schema, validate_formats=True)

    def errors(self, subtopic: str, message: Any) -> list[str]:
        """Every violation as `field.path: what is wrong` (empty when the message is valid)."""
        validator = self._validators.get(subtopic)
        if validator is None:
            return [f"unknown VDA 5050 topic {subtopic!r}"]
        if validator.is_valid(message):
            return []
        return [
            f"{'.'.join(str(p) for p in error.instance_path) or '(message)'}: {error.message}"
            for error in validator.iter_errors(message)
        ]

    def validate(self, subtopic: str, message: Any) -> None:
        """Raise ValidationError naming the topic and the first wrong field."""
        errors = self.errors(subtopic, message)
        if errors:
            more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
            raise ValidationError(f"VDA 5050 {subtopic}", errors[0] + more)

    def parse(self, subtopic: str, payload: bytes | str) -> dict[str, Any]:
        """Decode a JSON payload and validate it; a payload that is not a JSON object is refused too."""
        try:
            message: dict[str, Any] = json.loads(payload)
        except ValueError as error:
            raise ValidationError(f"VDA 5050 {subtopic}", f"not JSON ({error})") from error
        self.validate(subtopic, message)
        return message


@cache
def package_validator() -> SchemaValidator:
    """The validator of the schemas shipped in the package (compiled once per process)."""
    return SchemaValidator()


def validate(subtopic: str, message: Any) -> None:
    package_validator().validate(subtopic, message)


def errors(subtopic: str, message: Any) -> list[str]:
    return package_validator().errors(subtopic, message)
