"""Commands to devices: the factory port's commands as messages, with ids, acks, re-sends, escalation.

Each message gets an id (`{prefix}-{n}`, the gateway's prefix being `{gateway_id}.{start}` with a
start count that grows with every start, so an id is never used twice, not even after a restart); a
device answers on its `ack` topic with `accepted`, `done` or `rejected`. A command not acknowledged
within `ack_timeout_ms` is sent again with the same id, up to `max_resends` times (a device executes
an id once and answers a repeat with its earlier ack); after that it is escalated: the device is
reported down to the scheduler (a machine or AGV that does not answer cannot be planned on) and an
alarm is raised. An ack for a command already settled (the answer to a re-send, or a second status)
is a late ack: counted, not an error.
"""

from __future__ import annotations

import itertools
import logging
from collections import OrderedDict, deque
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from mixflow.connect.payloads import Ack, CommandMessage, PayloadError, cell_field, integer_field
from mixflow.errors import ValidationError
from mixflow.model.port import (
    AssignTask,
    Charge,
    Command,
    MoveAgvs,
    PostTask,
    PurchaseOrder,
    ReleaseToLine,
    StartOperation,
    StopOperation,
)
from mixflow.model.work import TASK_KINDS, MaterialTask


@dataclass(frozen=True)
class Outgoing:
    """A command message bound for one device."""

    kind: str
    device_id: str
    message: CommandMessage


_log = logging.getLogger("mixflow.connect")
REJECTED_KEPT = 1000
"""Latest rejected commands kept for inspection (each is also logged as it comes)."""
SETTLED_KEPT = 10_000
"""Latest settled (acknowledged or escalated) commands remembered to tell a late ack from a stray one."""
FLEET_ID = "fleet"
RECEIVING_ID = "receiving"
AckOutcome = Literal["settled", "late", "unknown"]


def to_messages(
    command: Command, line_id: str, t_ms: int, ids: itertools.count[int], prefix: str
) -> list[Outgoing]:
    """The device messages that carry one port command.

    Line-side work (release to line, posted material tasks) goes to the controller of the line the
    command names (`ReleaseToLine.line`, `MaterialTask.line`; the device id of a line controller is
    its line's id), or to `line_id` where it names none;
    a fleet step (MoveAgvs) goes as one message to the AGV fleet controller `FLEET_ID`, as AGV
    vendors' fleet managers take it (one message per AGV per second would be 720 msg/s for nothing);
    a purchase order goes to the plant's goods receiving `RECEIVING_ID` (its ERP side, which orders
    from the supplier and reports the supplier's dates and the goods unloaded).
    """

    def make(kind: str, device_id: str, type_: str, /, **fields: object) -> Outgoing:  # a task has a kind
        return Outgoing(kind, device_id, CommandMessage(t_ms, f"{prefix}-{next(ids)}", type_, dict(fields)))

    if isinstance(command, StartOperation):
        return [
            make(
                "machine",
                command.machine_id,
                "start_operation",
                operation_id=command.operation_id,
                machine_id=command.machine_id,
                not_before_s=command.not_before_s,
                duration_s=command.duration_s,
                setup_key=command.setup_key,
                order_id=command.order_id,
                part=command.part,
                final=command.final,
                waits_for=list(command.waits_for),
            )
        ]
    if isinstance(command, StopOperation):
        return [make("machine", command.machine_id, "stop_operation", operation_id=command.operation_id,
                     machine_id=command.machine_id, reason=command.reason)]
    if isinstance(command, ReleaseToLine):
        return [make("line", command.line or line_id, "release_to_line", order_id=command.order_id,
                     slot=command.slot, spacing=command.spacing, line=command.line)]
    if isinstance(command, PostTask):
        task = command.task
        return [
            make(
                "line",
                task.line or line_id,
                "post_task",
                task_id=task.id,
                part=task.part,
                pickup=list(task.pickup),
                dropoff=list(task.dropoff),
                release_s=task.release_s,
                deadline_s=task.deadline_s,
                payload_kg=task.payload_kg,
                order_id=task.order_id,
                station=task.station,
                line=task.line,
                kind=task.kind,
                qty=int(task.qty),
                after_op=task.after_op,
                rides=task.rides,
                same_agv_as=task.same_agv_as,
            )
        ]
    if isinstance(command, AssignTask):
        return [make("agv", command.agv_id, "assign_task", agv_id=command.agv_id, task_id=command.task_id)]
    if isinstance(command, Charge):
        return [make("agv", command.agv_id, "charge", agv_id=command.agv_id, charger=list(command.charger))]
    if isinstance(command, MoveAgvs):
        return [
            make(
                "fleet",
                FLEET_ID,
                "move",
                at_s=command.at_s,
                agv_ids=list(command.agv_ids),
                x=[int(v) for v in command.x.tolist()],
                y=[int(v) for v in command.y.tolist()],
            )
        ]
    if isinstance(command, PurchaseOrder):
        return [
            make(
                "receiving",
                RECEIVING_ID,
                "purchase_order",
                po_id=command.po_id,
                supplier=command.supplier,
                item=command.item,
                qty=int(command.qty),
                due_s=int(command.due_s),
                dock=[int(v) for v in command.dock],
            )
        ]
    raise ValidationError("command", f"unsupported command type {type(command).__name__}")


def _name(value: Any, name: str) -> str:
    if not isinstance(value, str) or not value:
        raise PayloadError("schema", f"field {name!r} must be a non-empty string, got {value!r}")
    return value


def _task_ids(value: Any, name: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise PayloadError("schema", f"field {name!r} must be a list of task ids, got {value!r}")
    return tuple(value)


def _flag(value: Any, name: str) -> bool:
    if not isinstance(value, bool):
        raise PayloadError("schema", f"field {name!r} must be true or false, got {value!r}")
    return value


def _task_kind(value: Any) -> str:
    if not isinstance(value, str) or value not in TASK_KINDS:
        raise PayloadError("schema", f"field 'kind' must be one of {TASK_KINDS}, got {value!r}")
    return value


def from_message(message: CommandMessage) -> Command:
    """The port command a device agent executes for a command message (inverse of `to_messages`)."""
    f = message.fields
    try:
        if message.type == "start_operation":
            return StartOperation(
                str(f["operation_id"]),
                str(f["machine_id"]),
                int(f.get("not_before_s", 0)),
                int(f.get("duration_s", 0)),
                str(f.get("setup_key", "")),
                str(f.get("order_id", "")),
                str(f.get("part", "")),
                bool(f.get("final", False)),
                _task_ids(f.get("waits_for", []), "waits_for"),
            )
        if message.type == "stop_operation":
            return StopOperation(
                _name(f["operation_id"], "operation_id"), _name(f["machine_id"], "machine_id"),
                str(f.get("reason", "")),
            )
        if message.type == "release_to_line":
            spacing = int(f.get("spacing", 0))
            if spacing < 0:
                raise PayloadError("schema", f"release_to_line spacing must be >= 0, got {spacing}")
            return ReleaseToLine(str(f["order_id"]), int(f["slot"]), spacing, str(f.get("line", "")))
        if message.type == "post_task":
            task = MaterialTask(
                str(f["task_id"]),
                str(f["part"]),
                cell_field(f["pickup"], "pickup"),
                cell_field(f["dropoff"], "dropoff"),
                int(f["release_s"]),
                int(f["deadline_s"]),
                float(f["payload_kg"]),
                str(f.get("order_id", "")),
                str(f.get("station", "")),
                str(f.get("line", "")),
                _task_kind(f.get("kind", "line")),
                integer_field(f.get("qty", 1), "qty", 1),
                str(f.get("after_op", "")),
                _flag(f.get("rides", False), "rides"),
                str(f.get("same_agv_as", "")),
            )
            return PostTask(task)
        if message.type == "assign_task":
            return AssignTask(str(f["agv_id"]), str(f["task_id"]))
        if message.type == "charge":
            return Charge(str(f["agv_id"]), cell_field(f["charger"], "charger"))
        if message.type == "purchase_order":
            return PurchaseOrder(
                _name(f["po_id"], "po_id"),
                _name(f["supplier"], "supplier"),
                _name(f["item"], "item"),
                integer_field(f["qty"], "qty", 1),
                integer_field(f["due_s"], "due_s"),
                cell_field(f["dock"], "dock"),
            )
        ids, x, y = f["agv_ids"], f["x"], f["y"]
        if not (
            isinstance(ids, list)
            and isinstance(x, list)
            and isinstance(y, list)
            and len(ids) == len(x) == len(y)
        ):
            raise PayloadError("schema", "move needs equal-length lists agv_ids, x, y")
        return MoveAgvs(
            int(f["at_s"]), tuple(map(str, ids)), np.array(x, dtype=np.int64), np.array(y, dtype=np.int64)
        )
    except PayloadError:
        raise
    except (KeyError, TypeError, ValueError, ValidationError) as error:  # a model object refusing it, too
        raise PayloadError("schema", f"command {message.type!r}: {error}") from None


@dataclass
class Pending:
    outgoing: Outgoing
    deadline_ms: int
    sends: int = 1


class CommandTracker:
    """Commands sent and not yet acknowledged; tells the gateway what to re-send and what to escalate."""

    def __init__(self, ack_timeout_ms: int = 2_000, max_resends: int = 2) -> None:
        if ack_timeout_ms <= 0 or max_resends < 0:
            raise ValidationError("command tracker", "ack_timeout_ms must be > 0 and max_resends >= 0")
        self.ack_timeout_ms = ack_timeout_ms
        self.max_resends = max_resends
        self.pending: dict[str, Pending] = {}
        self.settled: OrderedDict[str, Outgoing] = OrderedDict()
        self.acknowledged = 0
        self.late_acks = 0
        self.rejected: deque[tuple[Outgoing, str]] = deque(maxlen=REJECTED_KEPT)

    def sent(self, outgoing: Outgoing, now_ms: int) -> None:
        self.pending[outgoing.message.command_id] = Pending(outgoing, now_ms + self.ack_timeout_ms)

    def _settle(self, outgoing: Outgoing) -> None:
        self.settled[outgoing.message.command_id] = outgoing
        if len(self.settled) > SETTLED_KEPT:
            self.settled.popitem(last=False)

    def acknowledge(self, device_id: str, ack: Ack) -> AckOutcome:
        """`settled` when the ack settles a pending command, `late` when its command was settled
        already, `unknown` when no command of that id went to `device_id` (or too long ago)."""
        pending = self.pending.get(ack.command_id)
        if pending is None:
            settled = self.settled.get(ack.command_id)
            if settled is None or settled.device_id != device_id:
                return "unknown"
            self.late_acks += 1
            return "late"
        if pending.outgoing.device_id != device_id:
            return "unknown"
        del self.pending[ack.command_id]
        self._settle(pending.outgoing)
        self.acknowledged += 1
        if ack.status == "rejected":
            _log.warning("device %s rejected command %s: %s", device_id, ack.command_id, ack.reason)
            self.rejected.append((pending.outgoing, ack.reason))
        return "settled"

    def postpone(self, now_ms: int) -> None:
        """No command falls due before a full ack timeout from `now_ms` (the gateway could not read
        acks until now)."""
        floor = now_ms + self.ack_timeout_ms
        for pending in self.pending.values():
            pending.deadline_ms = max(pending.deadline_ms, floor)

    def due(self, now_ms: int) -> tuple[list[Outgoing], list[Outgoing]]:
        """(to re-send, to escalate) at `now_ms`; escalated commands leave the tracker."""
        resend: list[Outgoing] = []
        escalate: list[Outgoing] = []
        for command_id, pending in list(self.pending.items()):
            if pending.deadline_ms > now_ms:
                continue
            if pending.sends > self.max_resends:
                escalate.append(pending.outgoing)
                del self.pending[command_id]
                self._settle(pending.outgoing)
            else:
                pending.sends += 1
                pending.deadline_ms = now_ms + self.ack_timeout_ms
                resend.append(pending.outgoing)
        return resend, escalate
