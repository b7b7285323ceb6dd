from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import msgpack
import pytest

from mixflow.connect import topics
from mixflow.connect.payloads import (
    MAX_PAYLOAD_BYTES,
    Ack,
    CommandMessage,
    DeviceEvent,
    PayloadError,
    State,
    Telemetry,
    decode,
    encode,
)


@pytest.mark.parametrize("binary", [False, True])
def test_payload_round_trips_in_both_encodings(binary: bool) -> None:
    payload = {"v": 1, "t": 1_700_000_000_000, "seq": 7, "m": {"kw": 12.5, "temp_c": 40}}
    raw = encode(payload, binary)
    assert (raw[:1] == b"{") is not binary
    telemetry = Telemetry.parse(decode(raw))
    assert telemetry.metrics == {"kw": 12.5, "temp_c": 40}
    assert (telemetry.t_ms, telemetry.seq) == (1_700_000_000_000, 7)


def test_messagepack_is_smaller_than_json_for_telemetry() -> None:
    payload = {"v": 1, "t": 1_700_000_000_000, "seq": 123456, "m": {"kw": 12.5, "temp_c": 40.25, "x": 12.0}}
    assert len(encode(payload, True)) < len(encode(payload, False))


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"", "malformed"),
        (b"{not json", "malformed"),
        (b"\xc1\xc1", "malformed"),
        (json.dumps([1, 2]).encode(), "malformed"),
        (b"{" + b" " * MAX_PAYLOAD_BYTES + b"}", "oversize"),
        (json.dumps({"v": 2, "t": 1}).encode(), "version"),
        (json.dumps({"v": 1, "t": -5}).encode(), "schema"),
        (json.dumps({"v": 1, "t": "now"}).encode(), "schema"),
        (msgpack.packb({"v": 1}), "schema"),
    ],
)
def test_bad_payloads_are_rejected_with_a_reason(raw: bytes, reason: str) -> None:
    with pytest.raises(PayloadError) as caught:
        decode(raw)
    assert caught.value.reason == reason


@pytest.mark.parametrize(
    "metrics",
    [{}, {"kw": "high"}, {"kw": float("nan")}, {"kw": float("inf")}, {"kw": True}, {"": 1.0}, {"kw": [1]}],
)
def test_telemetry_needs_finite_named_numbers(metrics: dict[str, object]) -> None:
    with pytest.raises(PayloadError, match=r"'m'|measurement"):
        Telemetry.parse({"v": 1, "t": 1, "seq": 1, "m": metrics})


def test_state_event_ack_and_command_validate_their_fields() -> None:
    assert State.parse({"v": 1, "t": 5, "seq": 1, "status": "down", "reason": "jam"}).reason == "jam"
    with pytest.raises(PayloadError, match="status"):
        State.parse({"v": 1, "t": 5, "seq": 1, "status": "sleepy"})
    event = DeviceEvent.parse({"v": 1, "t": 5, "seq": 2, "type": "operation_done", "operation_id": "op-1"})
    assert event.fields == {"operation_id": "op-1"}
    with pytest.raises(PayloadError, match="operation_id"):
        DeviceEvent.parse({"v": 1, "t": 5, "seq": 2, "type": "operation_done"})
    with pytest.raises(PayloadError, match="type"):
        DeviceEvent.parse({"v": 1, "t": 5, "seq": 2, "type": "explode"})
    assert Ack.parse({"v": 1, "t": 5, "id": "c-1", "status": "done"}).command_id == "c-1"
    with pytest.raises(PayloadError, match="status"):
        Ack.parse({"v": 1, "t": 5, "id": "c-1", "status": "maybe"})
    command = CommandMessage(5, "c-2", "charge", {"agv_id": "agv-1", "charger": [3, 4]})
    assert CommandMessage.parse(decode(encode(command.to_map()))) == command
    with pytest.raises(PayloadError, match="lacks"):
        CommandMessage(5, "c-3", "charge", {})


def test_topics_parse_and_shard_stably() -> None:
    topic = topics.device_topic("changsha", "machine", "cab_weld-017", "telemetry")
    parsed = topics.parse(topic)
    assert parsed is not None
    assert (parsed.plant, parsed.kind, parsed.device_id, parsed.channel) == (
        "changsha",
        "machine",
        "cab_weld-017",
        "telemetry",
    )
    assert parsed.shard == topics.shard_of("cab_weld-017") == "s" + topic.split("/")[2][1:]
    wrong_shard = topic.replace(parsed.shard, "s99" if parsed.shard != "s99" else "s98")
    for bad in (wrong_shard, "mixflow/changsha/x", topic.replace("machine", "robot"), "other/" + topic):
        assert topics.parse(bad) is None
    owned = [set(topics.shards_for(i, 3)) for i in range(3)]
    assert set().union(*owned) == {f"s{k:02d}" for k in range(topics.SHARDS)}
    assert sum(len(s) for s in owned) == topics.SHARDS
    assert topics.shard_filters("p", "s03")[0] == "$share/mixflow-p-s03/mixflow/p/s03/+/+/telemetry"


@pytest.mark.parametrize("binary", [False, True])
def test_every_sequenced_channel_carries_boot_and_absent_means_zero(binary: bool) -> None:
    base = {"v": 1, "t": 5, "seq": 3}
    boot = 1_700_000_000_123  # a start time in ms: more than 32 bits, both encodings keep it exact
    parsers: list[tuple[Callable[[dict[str, Any]], Telemetry | State | DeviceEvent], dict[str, Any]]] = [
        (Telemetry.parse, {"m": {"kw": 1.0}}),
        (State.parse, {"status": "up"}),
        (DeviceEvent.parse, {"type": "operation_done", "operation_id": "op-1"}),
    ]
    for parse, fields in parsers:
        assert parse(decode(encode({**base, **fields, "boot": boot}, binary))).boot == boot
        assert parse({**base, **fields}).boot == 0
        for bad in (-1, "1", 2.0, False, None, [1]):
            with pytest.raises(PayloadError, match="'boot'") as caught:
                parse({**base, **fields, "boot": bad})
            assert caught.value.reason == "schema"
    with pytest.raises(PayloadError, match="'boot'"):
        Ack.parse({"v": 1, "t": 5, "id": "c-1", "status": "done", "boot": -3})
    with pytest.raises(PayloadError, match="'seq'"):
        Telemetry.parse({"v": 1, "t": 5, "seq": -1, "boot": 1, "m": {"kw": 1.0}})
