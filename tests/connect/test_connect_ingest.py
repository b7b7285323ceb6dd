"""The gateway's core on a scripted stream: every bad message rejected and counted, no valid one lost."""

from __future__ import annotations

import itertools
import json
import random
from dataclasses import replace

import numpy as np
import pytest

from mixflow.connect import topics
from mixflow.connect.alarms import AlarmEngine, Offline, Threshold
from mixflow.connect.commands import CommandTracker, to_messages
from mixflow.connect.ingest import Ingest, agv_states_from_map
from mixflow.connect.payloads import MAX_PAYLOAD_BYTES, DeviceEvent, PayloadError, encode
from mixflow.connect.registry import Registry
from mixflow.connect.sim import event_messages
from mixflow.model.port import (
    AgvDown,
    AgvStates,
    AgvUp,
    AssignTask,
    MachineDown,
    MachineUp,
    OperationDone,
    PartDelivered,
)

EPOCH_MS = 1_700_000_000_000


def make_ingest(**kwargs: object) -> Ingest:
    registry = Registry("p", heartbeat_timeout_ms=5_000)
    salt = b"0123456789ab"
    for device_id in ("m1", "m2"):
        registry.register(device_id, "machine", "password-x", salt)
    registry.register("a1", "agv", "password-x", salt)
    return Ingest(registry, epoch_ms=EPOCH_MS, **kwargs)  # type: ignore[arg-type]


def tel(
    device: str, seq: int, t_s: float, kind: str = "machine", boot: int | None = None, **metrics: float
) -> tuple[str, bytes]:
    payload = {"v": 1, "t": EPOCH_MS + int(t_s * 1000), "seq": seq, "m": metrics or {"kw": 1.0}}
    if boot is not None:
        payload["boot"] = boot
    return topics.device_topic("p", kind, device, "telemetry"), encode(payload, binary=seq % 2 == 0)


def test_mixed_stream_rejects_every_bad_message_and_keeps_every_good_one() -> None:
    ingest = make_ingest()
    good = [tel("m1", i, i, kw=float(i)) for i in range(1, 41)] + [tel("m2", i, i) for i in range(1, 41)]
    m1_topic = topics.device_topic("p", "machine", "m1", "telemetry")
    bad = [
        ("mixflow/p/s00/machine", b"{}", "topic"),
        (topics.device_topic("other", "machine", "m1", "telemetry"), tel("m1", 1, 1)[1], "topic"),
        (topics.device_topic("p", "machine", "m1", "cmd"), tel("m1", 1, 1)[1], "topic"),
        (topics.device_topic("p", "machine", "ghost", "telemetry"), tel("m1", 1, 1)[1], "unknown_device"),
        (topics.device_topic("p", "agv", "m1", "telemetry"), tel("m1", 1, 1)[1], "kind"),
        (m1_topic, b"\x00\xff garbage", "malformed"),
        (m1_topic, b"{" + b"x" * MAX_PAYLOAD_BYTES, "oversize"),
        (m1_topic, json.dumps({"v": 9, "t": 1, "seq": 1, "m": {"kw": 1}}).encode(), "version"),
        (m1_topic, json.dumps({"v": 1, "t": 1, "seq": 1, "m": {"kw": "NaN"}}).encode(), "schema"),
        (
            topics.device_topic("p", "machine", "m1", "ack"),
            encode({"v": 1, "t": 1, "id": "nope", "status": "done"}),
            "ack",
        ),
    ]
    stream = good + [(t, p) for t, p, _ in bad] * 3
    random.Random(4).shuffle(stream)
    # keep each device's good messages in order, as one shard connection delivers them
    order = iter(good)
    stream = [next(order) if (t, p) in good else (t, p) for t, p in stream]
    for topic, payload in stream:
        ingest.handle(topic, payload)
    assert ingest.counters["telemetry"] == len(good)
    assert ingest.counters["rejected"] == 3 * len(bad)
    for _, _, reason in bad:
        assert ingest.counters[f"rejected_{reason}"] >= 3
    assert {letter.reason for letter in ingest.dead} == {reason for _, _, reason in bad}
    assert all(len(letter.excerpt) <= 256 for letter in ingest.dead)
    stored = sorted((d, v) for d, m, _, v in ingest.rows if m == "kw" and d == "m1")
    assert stored == [("m1", float(i)) for i in range(1, 41)]


def test_boot_and_seq_tell_duplicates_gaps_reboots_and_replays_apart() -> None:
    """Per device: repeats dropped, gaps counted with what they miss, a new boot is a new run counted
    from 1, an older boot is a replay dead-lettered; m2 (no `boot` at all) is untouched by m1's story."""
    ingest = make_ingest()
    stream = [
        (tel("m1", 1, 1, boot=100, kw=1.0), True),
        (tel("m1", 2, 2, boot=100, kw=2.0), True),
        (tel("m1", 2, 2, boot=100, kw=2.0), True),  # QoS 1 re-delivery
        (tel("m1", 1, 1, boot=100, kw=1.0), True),
        (tel("m1", 5, 5, boot=100, kw=5.0), True),  # 3 and 4 lost
        (tel("m1", 1, 6, boot=200, kw=6.0), True),  # rebooted: seq starts again
        (tel("m1", 2, 7, boot=200, kw=7.0), True),
        (tel("m1", 6, 8, boot=100, kw=-1.0), False),  # the old run replayed
        (tel("m1", 4, 9, boot=200, kw=9.0), True),  # 3 lost
        (tel("m2", 1, 1, kw=1.0), True),
        (tel("m2", 2, 2, kw=2.0), True),
        (tel("m2", 2, 2, kw=2.0), True),
    ]
    for message, accepted in stream:
        assert ingest.handle(*message) is accepted
    stored = [(d, v) for d, _, _, v in ingest.rows]
    assert stored == [("m1", v) for v in (1.0, 2.0, 5.0, 6.0, 7.0, 9.0)] + [("m2", 1.0), ("m2", 2.0)]
    assert ingest.device_stats() == {
        "m1": {"gaps": 2, "missing": 3, "duplicates": 2, "reboots": 1, "late": 0},
        "m2": {"gaps": 0, "missing": 0, "duplicates": 1, "reboots": 0, "late": 0},
    }
    figures = ("gaps", "missing", "duplicates", "reboots", "rejected_replay")
    assert [ingest.counters[k] for k in figures] == [2, 3, 3, 1, 1]
    [replay] = ingest.dead
    assert replay.reason == "replay" and "boot 100 seq 6" in replay.detail and "now boot 200" in replay.detail


def test_a_message_that_fills_a_gap_is_stored_late_not_dropped_as_a_duplicate() -> None:
    """After a broker restart a session's queued messages can come after newer ones: a gap is kept
    open, what fills it later is stored (once), and only a true repeat is a duplicate. A gap of an
    earlier run is filled the same way, while the rest of that run stays a replay."""
    ingest = make_ingest()
    order = [
        (100, 1),
        (100, 2),
        (100, 6),
        (100, 4),
        (100, 3),
        (100, 4),
        (200, 1),
        (100, 5),
        (100, 7),
        (200, 2),
    ]
    outcome = [
        ingest.handle(*tel("m1", seq, k + 1, boot=boot, kw=float(seq))) for k, (boot, seq) in enumerate(order)
    ]
    assert outcome == [True] * 8 + [False, True]  # boot 100 seq 7 lies after that run's last: a replay
    stored = [v for d, _, _, v in ingest.rows if d == "m1"]
    assert stored == [1.0, 2.0, 6.0, 4.0, 3.0, 1.0, 5.0, 2.0]  # each once; the repeat of 4 dropped
    assert ingest.device_stats()["m1"] == {"gaps": 1, "missing": 0, "duplicates": 1, "reboots": 1, "late": 3}
    assert ingest.last_seq["m1"] == (200, 2)  # a late message never moves the latest back


def test_a_device_without_boot_keeps_working_and_a_bad_boot_is_refused() -> None:
    ingest = make_ingest()
    for seq in range(1, 4):
        assert ingest.handle(*tel("m1", seq, seq))
    m1 = topics.device_topic("p", "machine", "m1", "telemetry")
    for bad in (-1, "7", 1.5, True, None):
        raw = json.dumps({"v": 1, "t": EPOCH_MS, "boot": bad, "seq": 9, "m": {"kw": 1.0}}).encode()
        assert not ingest.handle(m1, raw)
        assert ingest.dead[-1].reason == "schema" and "'boot'" in ingest.dead[-1].detail
    assert ingest.handle(*tel("m1", 4, 4, boot=1))  # its agent now says boot: a new run
    assert ingest.counters["telemetry"] == 4 and ingest.counters["reboots"] == 1


def test_device_events_become_factory_events_in_time_order() -> None:
    ingest = make_ingest()
    event = topics.device_topic("p", "machine", "m1", "event")
    ingest.handle(
        event,
        encode({"v": 1, "t": EPOCH_MS + 9000, "seq": 1, "type": "operation_done", "operation_id": "op7"}),
    )
    agv_event = topics.device_topic("p", "agv", "a1", "event")
    ingest.handle(
        agv_event, encode({"v": 1, "t": EPOCH_MS + 4000, "seq": 1, "type": "part_delivered", "task_id": "t3"})
    )
    ingest.handle(*tel("a1", 2, 5, kind="agv", x=3.0, y=4.0, soc=0.8))
    state = topics.device_topic("p", "machine", "m2", "state")
    ingest.handle(state, encode({"v": 1, "t": EPOCH_MS + 6000, "seq": 1, "status": "down", "reason": "jam"}))
    ingest.handle(state, encode({"v": 1, "t": EPOCH_MS + 8000, "seq": 2, "status": "up"}))
    events = ingest.take_events()
    assert [type(e) for e in events] == [PartDelivered, AgvStates, MachineDown, MachineUp, OperationDone]
    assert [e.at_s for e in events] == [4, 5, 6, 8, 9]
    states = events[1]
    assert isinstance(states, AgvStates)
    assert states.agv_ids == ("a1",) and states.x.tolist() == [3.0] and states.soc.tolist() == [0.8]
    assert ingest.take_events() == []


def test_silence_takes_a_device_down_with_an_alarm_and_a_message_brings_it_back() -> None:
    ingest = make_ingest(alarms=AlarmEngine([Offline(), Threshold("hot", "temp_c", high=80)]))
    ingest.handle(*tel("a1", 1, 1, kind="agv", x=1.0, y=1.0, soc=0.5))
    ingest.handle(*tel("m1", 1, 1, temp_c=95.0))
    ingest.take_events()
    ingest.tick(EPOCH_MS + 7_000)
    assert {(c.device_id, c.rule, c.raised) for c in ingest.alarm_changes} == {
        ("m1", "hot", True),
        ("a1", "offline", True),
        ("m1", "offline", True),
    }
    events = ingest.take_events()
    assert {(type(e), getattr(e, "machine_id", getattr(e, "agv_id", ""))) for e in events} == {
        (AgvDown, "a1"),
        (MachineDown, "m1"),
    }
    ingest.alarm_changes.clear()
    ingest.handle(*tel("a1", 2, 8, kind="agv", x=1.0, y=1.0, soc=0.5))
    assert [(c.rule, c.raised) for c in ingest.alarm_changes] == [("offline", False)]
    assert [type(e) for e in ingest.take_events()] == [AgvUp, AgvStates]


def test_offline_detection_is_on_without_any_rule() -> None:
    """Default settings: a machine seen and then silent past the registry's heartbeat timeout raises
    `offline` and goes down for the scheduler; its next message clears both. A device never seen
    (m2) raises nothing."""
    ingest = make_ingest()
    ingest.handle(*tel("m1", 1, 1))
    ingest.tick(EPOCH_MS + 5_500)  # 4.5 s of silence: within the 5 s timeout
    assert ingest.alarm_changes == [] and ingest.take_events() == []
    ingest.tick(EPOCH_MS + 6_500)
    [raised] = ingest.alarm_changes
    assert (raised.device_id, raised.rule, raised.raised) == ("m1", "offline", True)
    [down] = ingest.take_events()
    assert isinstance(down, MachineDown) and (down.machine_id, down.reason) == ("m1", "offline")
    ingest.tick(EPOCH_MS + 20_000)
    assert len(ingest.alarm_changes) == 1  # raised once
    ingest.handle(*tel("m1", 2, 21))
    assert [(c.rule, c.raised) for c in ingest.alarm_changes[1:]] == [("offline", False)]
    assert [type(e) for e in ingest.take_events()] == [MachineUp]
    assert not AlarmEngine(offline=False).liveness("m1", "machine", False, 1)


def test_liveness_goes_by_when_the_gateway_hears_a_device_not_by_the_device_clock() -> None:
    """A backlog drained after an outage carries old times: heard now, its devices are alive. And
    while the gateway cannot hear (links down, reading paused for the store), silence is no evidence:
    no offline storm, no escalated command, whatever the outage's length."""
    tracker = CommandTracker(ack_timeout_ms=1_000, max_resends=0)
    ingest = make_ingest(tracker=tracker)
    ingest.received_ms = EPOCH_MS + 600_000  # m1's message from t=1 s arrives 10 minutes late
    ingest.handle(*tel("m1", 1, 1))
    ingest.tick(EPOCH_MS + 603_000)
    assert ingest.alarm_changes == [] and ingest.take_events() == []

    [pending] = to_messages(AssignTask("a1", "t1"), "line", EPOCH_MS, itertools.count(1), "gw")
    tracker.sent(pending, EPOCH_MS + 603_000)
    for t_s in range(604, 900):  # five minutes deaf
        assert ingest.tick(EPOCH_MS + t_s * 1000, hearing=False) == []
    assert ingest.tick(EPOCH_MS + 899_500) == []  # hearing again: a full timeout from the last deaf tick
    assert ingest.alarm_changes == [] and ingest.take_events() == [] and ingest.escalated == []
    ingest.tick(EPOCH_MS + 906_000)  # and then silence counts again
    assert sorted((c.device_id, c.rule) for c in ingest.alarm_changes) == [
        ("a1", "command_unacknowledged"),
        ("m1", "offline"),
    ]


def test_acks_are_matched_and_a_late_one_is_counted_not_dead_lettered() -> None:
    tracker = CommandTracker(ack_timeout_ms=1_000, max_resends=1)
    ingest = make_ingest(tracker=tracker)
    [sent] = to_messages(AssignTask("a1", "t1"), "line", EPOCH_MS, itertools.count(1), "gw.7")
    tracker.sent(sent, EPOCH_MS)
    command_id = sent.message.command_id
    assert command_id == "gw.7-1"

    def ack(device: str, kind: str, ident: str, status: str = "done") -> bool:
        topic = topics.device_topic("p", kind, device, "ack")
        return ingest.handle(topic, encode({"v": 1, "t": EPOCH_MS + 5, "id": ident, "status": status}))

    assert not ack("m1", "machine", command_id)  # not m1's command
    assert ack("a1", "agv", command_id, "accepted")
    assert ack("a1", "agv", command_id, "done")  # a second status
    assert ack("a1", "agv", command_id, "accepted")  # the answer to a re-send
    assert not ack("a1", "agv", "gw.6-1")  # never sent
    assert (ingest.counters["acks"], ingest.counters["late_acks"], tracker.late_acks) == (1, 2, 2)
    assert [(d.reason, d.topic.split("/")[4]) for d in ingest.dead] == [("ack", "m1"), ("ack", "a1")]
    assert "gw.6-1" in ingest.dead[-1].detail


def test_a_command_without_ack_is_resent_then_escalated_as_device_down() -> None:
    tracker = CommandTracker(ack_timeout_ms=1_000, max_resends=1)
    ingest = make_ingest(tracker=tracker)
    ingest.handle(*tel("a1", 1, 1, kind="agv", x=1.0, y=1.0, soc=0.5))
    ingest.take_events()
    ids = itertools.count(1)
    [lost] = to_messages(AssignTask("a1", "t1"), "line", EPOCH_MS, ids, "gw")
    [answered] = to_messages(AssignTask("a1", "t2"), "line", EPOCH_MS, ids, "gw")
    tracker.sent(lost, EPOCH_MS)
    tracker.sent(answered, EPOCH_MS)
    ack = topics.device_topic("p", "agv", "a1", "ack")
    assert ingest.handle(
        ack, encode({"v": 1, "t": EPOCH_MS + 10, "id": answered.message.command_id, "status": "done"})
    )
    assert ingest.tick(EPOCH_MS + 1_000) == [lost]
    assert ingest.tick(EPOCH_MS + 2_000) == []
    assert ingest.escalated == [lost]
    assert [type(e) for e in ingest.take_events()] == [AgvDown]
    assert [c.rule for c in ingest.alarm_changes] == ["command_unacknowledged"]


def test_hostile_payloads_never_raise() -> None:
    """Random maps with wrong types in every field: each is accepted or rejected, none raises."""
    ingest = make_ingest()
    rng = random.Random(11)
    junk: list[object] = [
        None,
        True,
        -1,
        2**63 - 1,
        1.5,
        float("nan"),
        "",
        "x" * 300,
        [],
        [1, "a"],
        {},
        {"a": [1]},
        b"\x00",
    ]
    keys = [
        "v",
        "t",
        "seq",
        "boot",
        "m",
        "status",
        "reason",
        "type",
        "id",
        "soc",
        "operation_id",
        "order",
        "agv_ids",
        "x",
    ]
    channels = [
        ("machine", "m1", "telemetry"),
        ("machine", "m1", "state"),
        ("machine", "m1", "event"),
        ("machine", "m1", "ack"),
        ("agv", "a1", "event"),
    ]
    for n in range(3000):
        payload: dict[object, object] = {"v": 1, "t": 5, "seq": n + 1}
        for key in rng.sample(keys, rng.randint(1, 6)):
            payload[key] = rng.choice(junk)
        if rng.random() < 0.3:
            payload["type"] = rng.choice(["order_placed", "agv_states", "battery_low", "line_stopped", [1]])
        kind, device, channel = rng.choice(channels)
        raw = (
            encode(payload, binary=True) if rng.random() < 0.5 else json.dumps(payload, default=str).encode()
        )
        ingest.handle(topics.device_topic("p", kind, device, channel), raw)
    assert ingest.counters["received"] == 3000
    assert ingest.counters["rejected"] > 0


def test_the_fleet_controller_reports_what_each_agv_carries() -> None:
    """The load of each AGV and whether it is down cross the wire with its cell (a restarted scheduler
    needs them); a list of the wrong length or type is refused as a schema error."""
    cells = np.array([3, 4]), np.array([5, 6])
    sent = AgvStates(7, ("a1", "a2"), *cells, np.array([0.5, 0.9]), ("O1/cab", ""), (False, True))
    ((_, _, _, fields),) = event_messages(sent, "line")
    back = agv_states_from_map(7, DeviceEvent.parse({"v": 1, "t": 1, "seq": 1, **fields}).data)
    assert back.load == sent.load and back.down == sent.down
    assert back.x.tolist() == [3, 4] and back.agv_ids == sent.agv_ids
    unloaded = replace(sent, load=(), down=())
    ((_, _, _, fields),) = event_messages(unloaded, "line")
    assert agv_states_from_map(7, DeviceEvent.parse({"v": 1, "t": 1, "seq": 1, **fields}).data).load == ()
    for name, bad in (("load", ["O1/cab"]), ("load", [1, 2]), ("down", [True]), ("down", [0, 1])):
        payload = {"v": 1, "t": 1, "seq": 1, **fields, name: bad}
        with pytest.raises(PayloadError, match=name):
            agv_states_from_map(7, DeviceEvent.parse(payload).data)


def test_an_agv_says_in_its_heartbeat_what_it_carries() -> None:
    """An AGV reporting on its own (not through a fleet controller) gives its cell in telemetry and its
    load in its heartbeat; the folded AgvStates carry both. A load that is not a task id is refused."""
    ingest = make_ingest()
    state = topics.device_topic("p", "agv", "a1", "state")
    ingest.handle(*tel("a1", 1, 5, kind="agv", x=3.0, y=4.0, soc=0.8))
    (states,) = ingest.take_events()
    assert isinstance(states, AgvStates) and states.load == ()  # no AGV has said what it carries
    ingest.handle(state, encode({"v": 1, "t": EPOCH_MS + 6000, "seq": 2, "status": "up", "load": "O1/cab"}))
    ingest.handle(*tel("a1", 3, 7, kind="agv", x=3.0, y=5.0, soc=0.8))
    (states,) = ingest.take_events()
    assert isinstance(states, AgvStates) and states.load == ("O1/cab",)
    bad = {"v": 1, "t": EPOCH_MS + 8000, "seq": 4, "status": "up", "load": 7}
    assert not ingest.handle(state, encode(bad))
    assert ingest.dead[-1].reason == "schema"
