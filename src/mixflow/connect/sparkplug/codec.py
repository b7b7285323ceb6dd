"""Sparkplug B on the wire: topics, protobuf payloads, metric values, STATE and the rebirth command.

Topics are `spBv1.0/{group}/{type}/{edge_node}[/{device}]` (the device level for DBIRTH, DDATA, DDEATH
and DCMD only) and, for a host application, `spBv1.0/STATE/{host_id}`. Payloads are the `Payload`
message of the Sparkplug 3.0.0 schema (`sparkplug_b_pb2`, generated), except STATE, which is JSON.
"""

from __future__ import annotations

import json
from typing import Any, NamedTuple

from google.protobuf.message import DecodeError

from mixflow.connect.sparkplug import sparkplug_b_pb2 as pb

NAMESPACE = "spBv1.0"
PREFIX = NAMESPACE + "/"
NODE_TYPES = ("NBIRTH", "NDATA", "NDEATH", "NCMD")
DEVICE_TYPES = ("DBIRTH", "DDATA", "DDEATH", "DCMD")
REBIRTH = "Node Control/Rebirth"
BD_SEQ = "bdSeq"

Payload = pb.Payload

# the oneof field that holds a value of each datatype (the payload chapter of Sparkplug 3.0.0)
VALUE_FIELD: dict[int, str] = {
    **dict.fromkeys((pb.Int8, pb.Int16, pb.Int32, pb.UInt8, pb.UInt16, pb.UInt32), "int_value"),
    **dict.fromkeys((pb.Int64, pb.UInt64, pb.DateTime), "long_value"),
    pb.Float: "float_value",
    pb.Double: "double_value",
    pb.Boolean: "boolean_value",
    **dict.fromkeys((pb.String, pb.Text, pb.UUID), "string_value"),
    **dict.fromkeys((pb.Bytes, pb.File), "bytes_value"),
    pb.DataSet: "dataset_value",
    pb.Template: "template_value",
}
NUMERIC = frozenset(
    (pb.Int8, pb.Int16, pb.Int32, pb.Int64, pb.UInt8, pb.UInt16, pb.UInt32, pb.UInt64, pb.Float, pb.Double,
     pb.Boolean)
)
SIGNED_BITS: dict[int, int] = {pb.Int8: 8, pb.Int16: 16, pb.Int32: 32, pb.Int64: 64}
TEXT = frozenset((pb.String, pb.Text))


class SparkplugTopic(NamedTuple):
    """A parsed Sparkplug topic; for STATE, `group` is empty and `edge_node` is the host id."""

    group: str
    message_type: str
    edge_node: str
    device: str


def parse_topic(topic: str) -> SparkplugTopic | None:
    """The parts of a Sparkplug B topic, or None when it is none (wrong namespace, depth or type)."""
    parts = topic.split("/")
    if len(parts) == 3 and parts[0] == NAMESPACE and parts[1] == "STATE" and parts[2]:
        return SparkplugTopic("", "STATE", parts[2], "")
    if len(parts) not in (4, 5) or parts[0] != NAMESPACE or not all(parts[1:]):
        return None
    message_type = parts[2]
    wanted = 4 if message_type in NODE_TYPES else 5 if message_type in DEVICE_TYPES else 0
    if len(parts) != wanted:
        return None
    return SparkplugTopic(parts[1], message_type, parts[3], parts[4] if wanted == 5 else "")


def topic(group: str, message_type: str, edge_node: str, device: str = "") -> str:
    return f"{PREFIX}{group}/{message_type}/{edge_node}" + (f"/{device}" if device else "")


def state_topic(host_id: str) -> str:
    return f"{PREFIX}STATE/{host_id}"


def plant_host_id(plant: str) -> str:
    """The primary host id of a plant's gateway: its STATE topic, which the broker ACL grants."""
    return f"mixflow-{plant}"


def decode(raw: bytes) -> Any:
    """The `Payload` of `raw`; raises ValueError with protobuf's reason when it is none."""
    try:
        return Payload.FromString(raw)
    except DecodeError as error:
        raise ValueError(f"not a Sparkplug B payload: {error}") from None


def numeric(datatype: int, metric: Any) -> float | None:
    """A metric's value as a float when its datatype is a number or a boolean (None for null).

    Signed integers travel as unsigned two's complement (Int8..Int32 in `int_value`, Int64 in
    `long_value`); masking to the type's width first also reads a sender that sign-extended to 32 bits."""
    if metric.is_null:
        return None
    if datatype in (pb.Float, pb.Double):
        return float(metric.float_value if datatype == pb.Float else metric.double_value)
    if datatype == pb.Boolean:
        return 1.0 if metric.boolean_value else 0.0
    bits = SIGNED_BITS.get(datatype)
    raw = metric.long_value if datatype in (pb.Int64, pb.UInt64) else metric.int_value
    if bits is not None:
        raw &= (1 << bits) - 1
        if raw >= 1 << (bits - 1):
            raw -= 1 << bits
    return float(raw)


def set_value(metric: Any, datatype: int, value: float | int | bool | str) -> None:
    """Write `value` into the field its datatype names (negative integers as two's complement)."""
    metric.datatype = datatype
    field = VALUE_FIELD[datatype]
    if field in ("int_value", "long_value") and not isinstance(value, str):
        bits = 64 if field == "long_value" else 32
        value = int(value) & ((1 << bits) - 1)
    setattr(metric, field, value)


def rebirth_request(group: str, edge_node: str, t_ms: int) -> tuple[str, bytes]:
    """The NCMD that asks an edge node to publish its NBIRTH and every DBIRTH again."""
    payload = Payload(timestamp=t_ms)
    metric = payload.metrics.add(name=REBIRTH, timestamp=t_ms)
    set_value(metric, pb.Boolean, True)
    return topic(group, "NCMD", edge_node), payload.SerializeToString()


def state_payload(online: bool, t_ms: int) -> bytes:
    """A primary host's STATE (JSON, not protobuf, in Sparkplug 3.0)."""
    return json.dumps({"online": online, "timestamp": t_ms}, separators=(",", ":")).encode()


def parse_state(raw: bytes) -> tuple[bool, int]:
    """(online, timestamp) of a STATE payload; ValueError when it is not one."""
    data = json.loads(raw)  # a JSONDecodeError is a ValueError
    online, stamp = (data.get("online"), data.get("timestamp")) if isinstance(data, dict) else (None, None)
    if type(online) is not bool or type(stamp) is not int:
        raise ValueError('STATE must be JSON {"online": true|false, "timestamp": ms}')
    return online, stamp
