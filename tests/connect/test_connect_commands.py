from __future__ import annotations

import itertools

import numpy as np
import pytest

from mixflow.connect.commands import SETTLED_KEPT, CommandTracker, from_message, to_messages
from mixflow.connect.payloads import Ack, CommandMessage, PayloadError, decode, encode
from mixflow.model.port import AssignTask, Charge, MoveAgvs, PostTask, ReleaseToLine, StartOperation
from mixflow.model.work import MaterialTask


def test_every_port_command_becomes_device_messages() -> None:
    ids = itertools.count(1)
    task = MaterialTask("t1", "axle", (1, 2), (5, 6), 0, 100, 250.0, "o1", "st3")
    commands = [
        StartOperation("op1", "cab_weld-001", 30, duration_s=120, order_id="o1"),
        ReleaseToLine("o1", 4, spacing=1),
        PostTask(task),
        AssignTask("agv-1", "t1"),
        Charge("agv-1", (9, 9)),
        MoveAgvs(5, ("agv-1", "agv-2"), np.array([1, 2]), np.array([3, 4])),
    ]
    out = [m for c in commands for m in to_messages(c, "line-1", 1000, ids, "gw0")]
    assert [(m.kind, m.device_id, m.message.type) for m in out] == [
        ("machine", "cab_weld-001", "start_operation"),
        ("line", "line-1", "release_to_line"),
        ("line", "line-1", "post_task"),
        ("agv", "agv-1", "assign_task"),
        ("agv", "agv-1", "charge"),
        ("fleet", "fleet", "move"),
    ]
    assert len({m.message.command_id for m in out}) == len(out)
    assert out[0].message.fields["duration_s"] == 120
    assert out[5].message.fields == {"at_s": 5, "agv_ids": ["agv-1", "agv-2"], "x": [1, 2], "y": [3, 4]}
    # and back: what a device agent executes is the command the scheduler sent
    back = [from_message(CommandMessage.parse(decode(encode(m.message.to_map(), True)))) for m in out]
    for original, decoded in zip(commands, back, strict=True):
        if isinstance(original, MoveAgvs):
            assert isinstance(decoded, MoveAgvs) and decoded.agv_ids == original.agv_ids
            assert decoded.x.tolist() == [1, 2] and decoded.y.tolist() == [3, 4]
        else:
            assert decoded == original


def test_malformed_command_fields_are_payload_errors() -> None:
    with pytest.raises(PayloadError, match="cell"):
        from_message(CommandMessage(1, "c1", "charge", {"agv_id": "a", "charger": [1, "x"]}))
    with pytest.raises(PayloadError, match="equal-length"):
        from_message(CommandMessage(1, "c2", "move", {"at_s": 1, "agv_ids": ["a"], "x": [1, 2], "y": [1]}))
    with pytest.raises(PayloadError, match="spacing"):
        from_message(CommandMessage(1, "c3", "release_to_line", {"order_id": "o", "slot": 1, "spacing": -1}))
    assert from_message(CommandMessage(1, "c4", "release_to_line", {"order_id": "o", "slot": 1})).spacing == 0


def test_unacknowledged_commands_are_resent_then_escalated() -> None:
    ids = itertools.count(1)
    tracker = CommandTracker(ack_timeout_ms=100, max_resends=2)
    [first] = to_messages(AssignTask("agv-1", "t1"), "line", 0, ids, "gw")
    [second] = to_messages(AssignTask("agv-2", "t2"), "line", 0, ids, "gw")
    tracker.sent(first, 0)
    tracker.sent(second, 0)
    assert tracker.acknowledge("agv-9", Ack(10, second.message.command_id, "done")) == "unknown"  # not its
    assert tracker.acknowledge("agv-2", Ack(10, second.message.command_id, "done")) == "settled"
    assert tracker.due(50) == ([], [])
    assert tracker.due(100) == ([first], [])
    assert tracker.due(200) == ([first], [])  # re-sent as it was: the same id, so a device runs it once
    assert tracker.due(300) == ([], [first])
    assert tracker.pending == {}
    # answers that come after all: late, not strays; an id never sent stays unknown
    assert tracker.acknowledge("agv-1", Ack(310, first.message.command_id, "done")) == "late"
    assert tracker.acknowledge("agv-2", Ack(320, second.message.command_id, "done")) == "late"
    assert tracker.acknowledge("agv-2", Ack(320, "gw-3", "done")) == "unknown"
    assert (tracker.acknowledged, tracker.late_acks) == (1, 2)


def test_settled_commands_are_remembered_within_a_bound() -> None:
    ids = itertools.count(1)
    tracker = CommandTracker()
    commands = [AssignTask("agv-1", f"t{k}") for k in range(SETTLED_KEPT + 1)]
    sent = [to_messages(command, "line", 0, ids, "gw.3")[0] for command in commands]
    for outgoing in sent:
        tracker.sent(outgoing, 0)
        assert tracker.acknowledge("agv-1", Ack(1, outgoing.message.command_id, "done")) == "settled"
    assert len(tracker.settled) == SETTLED_KEPT
    assert tracker.acknowledge("agv-1", Ack(2, sent[0].message.command_id, "done")) == "unknown"
    assert tracker.acknowledge("agv-1", Ack(2, sent[-1].message.command_id, "done")) == "late"
