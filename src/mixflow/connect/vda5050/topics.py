"""VDA 5050 topics: `<interfaceName>/v2/<manufacturer>/<serialNumber>/<topic>` (spec 6.3, 6.5).

- master control -> vehicle: `order`, `instantActions`
- vehicle -> master control: `state`, `visualization`, `connection`, `factsheet`

Every topic is QoS 0 except `connection` (QoS 1); `connection` is retained (6.14) and so is
`factsheet` (6.15), so a master control that starts later still learns who is there and of what type.
No level may hold `/`, `$`, `+` or `#`; a serial number is `A-Z a-z 0-9 _ . : -` only.
"""

from __future__ import annotations

import re
from typing import Literal, NamedTuple

from mixflow.errors import ValidationError

INTERFACE = "uagv"
MAJOR = "v2"
Subtopic = Literal["order", "instantActions", "state", "visualization", "connection", "factsheet"]
TO_VEHICLE: tuple[Subtopic, ...] = ("order", "instantActions")
FROM_VEHICLE: tuple[Subtopic, ...] = ("state", "visualization", "connection", "factsheet")
SUBTOPICS: tuple[Subtopic, ...] = TO_VEHICLE + FROM_VEHICLE
QOS: dict[str, int] = {name: 1 if name == "connection" else 0 for name in SUBTOPICS}
RETAINED = frozenset({"connection", "factsheet"})

_SERIAL = re.compile(r"^[A-Za-z0-9_.:-]{1,128}$")
_LEVEL = re.compile(r"^[^/$+#]{1,128}$")


def check_serial(serial_number: str) -> str:
    if not _SERIAL.match(serial_number):
        raise ValidationError("VDA 5050 serialNumber", f"{serial_number!r} may hold only A-Z a-z 0-9 _ . : -")
    return serial_number


def check_level(what: str, value: str) -> str:
    if not _LEVEL.match(value):
        raise ValidationError(f"VDA 5050 {what}", f"{value!r} is not a topic level (no / $ + #)")
    return value


class VehicleTopics(NamedTuple):
    """The topic names of one vehicle (build once, use for every message)."""

    interface: str
    manufacturer: str
    serial_number: str

    def __call__(self, subtopic: Subtopic) -> str:
        return f"{self.interface}/{MAJOR}/{self.manufacturer}/{self.serial_number}/{subtopic}"


def vehicle_topics(manufacturer: str, serial_number: str, interface: str = INTERFACE) -> VehicleTopics:
    """The topics of a vehicle, after checking each level."""
    return VehicleTopics(
        check_level("interfaceName", interface),
        check_level("manufacturer", manufacturer),
        check_serial(serial_number),
    )


def topic(manufacturer: str, serial_number: str, subtopic: Subtopic, interface: str = INTERFACE) -> str:
    return vehicle_topics(manufacturer, serial_number, interface)(subtopic)


def fleet_filter(subtopic: Subtopic | Literal["+"], interface: str = INTERFACE) -> str:
    """A subscription for one subtopic of every vehicle (`uagv/v2/+/+/state`)."""
    return f"{interface}/{MAJOR}/+/+/{subtopic}"


class ParsedTopic(NamedTuple):
    interface: str
    manufacturer: str
    serial_number: str
    subtopic: Subtopic


def parse_topic(name: str) -> ParsedTopic:
    """Split a VDA 5050 topic; refuses another major version or an unknown subtopic in one line."""
    parts = name.split("/")
    if len(parts) != 5 or parts[1] != MAJOR:
        shape = f"<interface>/{MAJOR}/<manufacturer>/<serial>/<topic>"
        raise ValidationError("VDA 5050 topic", f"{name!r} is not {shape}")
    if parts[4] not in SUBTOPICS:
        raise ValidationError("VDA 5050 topic", f"{name!r}: unknown topic {parts[4]!r}")
    sub: Subtopic = parts[4]
    return ParsedTopic(parts[0], parts[2], parts[3], sub)
