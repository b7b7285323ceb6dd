"""The Sparkplug B host without a broker: sessions, aliases, seq gaps, rebirths, deaths, the mapping."""

from __future__ import annotations

import pytest

from mixflow.connect.gateway import GatewayConfig
from mixflow.connect.ingest import Ingest
from mixflow.connect.registry import Registry
from mixflow.connect.sparkplug import EdgeNode, SparkplugHost, codec
from mixflow.connect.sparkplug import sparkplug_b_pb2 as pb
from mixflow.errors import ValidationError
from mixflow.model.port import MachineDown, MachineUp

GROUP = "plant1"
T0 = 1_700_000_000_000
METRICS = {"spindle_kw": (pb.Double, 11.5), "Machine/State": (pb.String, "running"), "parts": (pb.Int32, 3)}


def _host() -> tuple[SparkplugHost, Ingest]:
    registry = Registry(GROUP)
    for device_id, kind in (("press-1", "machine"), ("press-2", "machine"), ("agv-1", "agv")):
        registry.register(device_id, kind, "password-1", b"0123456789ab")
    ingest = Ingest(registry)
    return SparkplugHost(ingest, GROUP, "mixflow-plant1"), ingest


def _feed(host: SparkplugHost, *messages: tuple[str, bytes], now_ms: int = T0) -> list[bool]:
    return [host.handle(topic, payload, now_ms) for topic, payload in messages]


def _born(host: SparkplugHost, node: EdgeNode, *devices: str) -> None:
    accepted = _feed(host, node.birth({}), *(node.device_birth(d, METRICS) for d in devices))
    assert all(accepted)


def _reasons(ingest: Ingest) -> list[str]:
    return [letter.reason for letter in ingest.dead]


def _rebirth_targets(host: SparkplugHost) -> list[str]:
    targets = []
    for topic, payload in host.requests:
        message = pb.Payload.FromString(payload)
        assert [(m.name, m.boolean_value) for m in message.metrics] == [(codec.REBIRTH, True)]
        targets.append(topic)
    return targets


def test_births_and_data_by_alias_become_rows_and_states() -> None:
    host, ingest = _host()
    node = EdgeNode(GROUP, "edge-a")
    _born(host, node, "press-1")
    assert ("press-1", "spindle_kw", ingest.rows[0][2], 11.5) == ingest.rows[0]
    assert {row[1] for row in ingest.rows} == {"spindle_kw", "parts"}  # a string state is no row
    ingest.rows.clear()
    values = {"spindle_kw": 12.0, "parts": -4, "Machine/State": "Fault"}
    assert _feed(host, node.data(values, "press-1", t_ms=T0 + 5)) == [True]
    assert sorted(ingest.rows) == [
        ("press-1", "parts", T0 + 5, -4.0),
        ("press-1", "spindle_kw", T0 + 5, 12.0),
    ]
    assert _feed(host, node.data({"Machine/State": "running"}, "press-1", t_ms=T0 + 9)) == [True]
    events = ingest.take_events()
    assert [type(e) for e in events] == [MachineDown, MachineUp]
    assert isinstance(events[0], MachineDown) and events[0].reason == "Machine/State = Fault"
    assert ingest.dead == [] and host.requests == []


def test_data_before_its_birth_is_answered_with_one_rebirth_request() -> None:
    host, ingest = _host()
    node = EdgeNode(GROUP, "edge-a")
    _feed(host, node.birth({}))
    node.device_birth("press-1", METRICS)
    node.seq = 1  # that DBIRTH was never sent: the device sends data without its birth, seq in step
    ddata = node.data({"spindle_kw": 1.0}, "press-1")
    assert _feed(host, ddata, node.data({"spindle_kw": 2.0}, "press-1")) == [False, False]
    assert _reasons(ingest) == ["not_born", "not_born"]
    assert _rebirth_targets(host) == [f"spBv1.0/{GROUP}/NCMD/edge-a"]  # one request, not one per message
    host.requests.clear()
    assert _feed(host, *node.rebirth(), node.data({"spindle_kw": 3.0}, "press-1")) == [True, True, True]
    assert ingest.rows[-1][1:] == ("spindle_kw", ingest.rows[-1][2], 3.0)
    assert host.requests == []


def test_an_alias_never_born_and_a_seq_jump_ask_for_a_rebirth_and_disturb_nobody_else() -> None:
    host, ingest = _host()
    node, other = EdgeNode(GROUP, "edge-a"), EdgeNode(GROUP, "edge-b")
    _born(host, node, "press-1")
    _born(host, other, "press-2")
    unborn = pb.Payload(timestamp=T0, seq=node.seq)
    node.seq += 1
    codec.set_value(unborn.metrics.add(alias=999), pb.Double, 1.0)
    assert not host.handle(codec.topic(GROUP, "DDATA", "edge-a", "press-1"), unborn.SerializeToString(), T0)
    assert _reasons(ingest) == ["alias"] and _rebirth_targets(host) == [f"spBv1.0/{GROUP}/NCMD/edge-a"]
    host.requests.clear()
    assert _feed(host, *node.rebirth(), now_ms=T0 + 10) == [True, True]

    node.data({"spindle_kw": 1.0}, "press-1")  # lost: seq jumps by one
    before = len(ingest.rows)
    jump = node.data({"spindle_kw": 2.0}, "press-1")
    assert _feed(host, jump, other.data({"parts": 7}, "press-2"), now_ms=T0 + 5_000) == [False, True]
    assert _reasons(ingest)[1:] == ["sequence"] and "expected" in ingest.dead[-1].detail
    assert _rebirth_targets(host) == [f"spBv1.0/{GROUP}/NCMD/edge-a"]
    assert ingest.rows[before:] == [("press-2", "parts", ingest.rows[-1][2], 7.0)]
    assert ingest.counters["gaps"] == 1


def test_a_node_heard_first_mid_session_is_asked_for_its_birth() -> None:
    host, ingest = _host()
    node = EdgeNode(GROUP, "edge-a")
    node.birth({})  # published before this host subscribed
    assert _feed(host, node.data({}, t_ms=T0)) == [False]
    assert _reasons(ingest) == ["not_born"] and _rebirth_targets(host) == [f"spBv1.0/{GROUP}/NCMD/edge-a"]


def test_seq_wraps_after_255() -> None:
    host, ingest = _host()
    node = EdgeNode(GROUP, "edge-a")
    _born(host, node, "press-1")
    accepted = _feed(host, *(node.data({"parts": k}, "press-1") for k in range(300)))
    assert all(accepted) and ingest.dead == [] and node.seq == (2 + 300) % 256


def test_ndeath_matched_by_bdseq_takes_the_machines_down_and_a_stale_one_changes_nothing() -> None:
    host, ingest = _host()
    node = EdgeNode(GROUP, "edge-a", bd_seq=7)
    stale_will = EdgeNode(GROUP, "edge-a", bd_seq=6).death()
    _born(host, node, "press-1", "press-2")
    assert _feed(host, stale_will) == [False] and _reasons(ingest) == ["stale_death"]
    assert ingest.take_events() == []
    assert _feed(host, node.death()) == [True]
    downs = ingest.take_events()
    assert sorted((type(e).__name__, e.machine_id) for e in downs if isinstance(e, MachineDown)) == [
        ("MachineDown", "press-1"),
        ("MachineDown", "press-2"),
    ]
    assert _feed(host, node.data({"parts": 1}, "press-1")) == [False] and _reasons(ingest)[-1] == "not_born"
    node.bd_seq = 8
    assert all(_feed(host, node.birth({}), node.device_birth("press-1")))
    assert [type(e) for e in ingest.take_events()] == [MachineUp]
    assert _feed(host, node.device_death("press-1")) == [True]
    assert [type(e) for e in ingest.take_events()] == [MachineDown]


def test_registry_kind_topic_and_payload_are_checked() -> None:
    host, ingest = _host()
    node = EdgeNode(GROUP, "edge-a")
    _born(host, node, "press-1")
    results = _feed(
        host,
        node.device_birth("ghost", {"kw": (pb.Float, 1.0)}),
        node.device_birth("agv-1", {"kw": (pb.Float, 1.0)}),
        (f"spBv1.0/{GROUP}/DDATA/edge-a/press-1", b"\xff\xff\xff"),
        ("spBv1.0/other/NDATA/edge-a", b""),
        (f"spBv1.0/{GROUP}/NCMD/edge-a", b""),
    )
    assert results == [False] * 5
    assert _reasons(ingest) == ["unknown_device", "kind", "malformed", "topic", "topic"]
    assert host.requests == []  # none of these is answered with a rebirth


def test_own_state_offline_is_noticed() -> None:
    host, _ = _host()
    assert host.handle(host.state_topic, codec.state_payload(True, T0), T0)
    assert not host.state_lost
    assert host.handle(host.state_topic, codec.state_payload(False, T0), T0)
    assert host.state_lost


def test_signed_integers_and_booleans_read_as_numbers() -> None:
    metric = pb.Payload.Metric()
    for datatype, value in ((pb.Int8, -5), (pb.Int16, -300), (pb.Int32, -70000), (pb.Int64, -(2**40)),
                            (pb.UInt32, 2**32 - 1), (pb.Boolean, True), (pb.Float, 0.5)):
        codec.set_value(metric, datatype, value)
        assert codec.numeric(datatype, metric) == float(value)
    metric.int_value = 0xFFFFFFFB  # an Int8 sign-extended to 32 bits by its sender
    assert codec.numeric(pb.Int8, metric) == -5.0


def test_the_gateway_takes_a_sparkplug_group_only_where_one_host_sees_every_node() -> None:
    assert GatewayConfig(sparkplug_group=GROUP).sparkplug_group == GROUP
    with pytest.raises(ValidationError, match="--shared"):
        GatewayConfig(sparkplug_group=GROUP, shared=True)
    with pytest.raises(ValidationError, match="--sparkplug-group"):
        GatewayConfig(sparkplug_group="plant/1")
