"""Persisting the scheduler's decisions through `mixflow.store`, and reading them back on restart."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np
from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from mixflow.errors import StoreUnavailableError
from mixflow.model import Order, OrderStatus, StatusChange
from mixflow.promise import Promise
from mixflow.store.plan_state import PlanClockRow, PlanFleetRow, PlanOperationRow, PlanOrderRow, PlanTaskRow

FINISHED = (OrderStatus.DELIVERED, OrderStatus.CANCELLED)
"""Orders the plant is done with: a restart needs none of their operations or tasks."""
FINISHED_KEPT_S = 30 * 24 * 3600
"""Finished orders a restart reads back: those placed within the last 30 days (the KPIs' window)."""
_CHUNK = 500
"""Order ids per query when reading operations and tasks back (well under SQLite's bound of 32,766)."""


_ORDER_COLUMNS = (
    "customer", "configuration", "placed_s", "requested_s", "priority", "promised_s", "slot", "slot_s",
    "parts_ready_s", "earliest_s", "binding", "line", "at_risk", "status", "history",
)  # fmt: skip
"""The columns `PlanStore.save_order` writes besides the id."""
_INSERT_ORDER = insert(PlanOrderRow)
_UPDATE_ORDER = (
    update(PlanOrderRow)
    .where(PlanOrderRow.id == bindparam("b_id"))
    .values({c: bindparam(c) for c in _ORDER_COLUMNS})
)
_INSERT_OPERATION = insert(PlanOperationRow)
_OPERATION_STARTED = (
    update(PlanOperationRow)
    .where(PlanOperationRow.id == bindparam("b_id"))
    .values(started_s=bindparam("started_s"))
)
_OPERATION_DONE = (
    update(PlanOperationRow)
    .where(PlanOperationRow.id == bindparam("b_id"))
    .values(done_s=bindparam("done_s"))
)
_INSERT_TASK = insert(PlanTaskRow)
_TASK_DELIVERED = (
    update(PlanTaskRow)
    .where(PlanTaskRow.id == bindparam("b_id"))
    .values(agv_id=bindparam("agv_id"), delivered_s=bindparam("delivered_s"))
)
_UPDATE_FLEET = (
    update(PlanFleetRow).where(PlanFleetRow.id == 1).values(at_s=bindparam("at_s"), cells=bindparam("cells"))
)
_INSERT_FLEET = insert(PlanFleetRow).values(id=1, at_s=bindparam("at_s"), cells=bindparam("cells"))


@dataclass(frozen=True)
class SavedPlan:
    """What a restarted scheduler reads back."""

    orders: dict[str, Order]
    promises: dict[str, Promise]
    at_risk: set[str]
    done_operations: dict[str, int]
    delivered_tasks: set[str]
    running_operations: dict[str, tuple[str, int]]
    """Operations started and not reported done: id -> (machine, start)."""
    open_tasks: dict[str, int]
    """Material tasks posted and not reported delivered: id -> deadline."""
    agv_cells: np.ndarray | None = None
    """Where the fleet model last had every AGV (cell indices), if it ever stepped."""
    machine_of: dict[str, str] = field(default_factory=dict)
    """The machine every operation read back was sent to (where its part lies when it is done)."""


class PlanStore:
    """Writes promises at once and operations and tasks in batches; `load` reads everything back."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self.sessions = sessions
        self._orders: dict[str, dict[str, object]] = {}
        self._ops_new: list[dict[str, object]] = []
        self._ops_started: list[dict[str, object]] = []
        self._ops_done: list[dict[str, object]] = []
        self._tasks_new: list[dict[str, object]] = []
        self._tasks_update: list[dict[str, object]] = []
        self._fleet: tuple[int, np.ndarray] | None = None
        self._known_orders: set[str] = set()

    def save_order(self, order: Order, promise: Promise | None, at_risk: bool) -> None:
        """Queue the order's row (the scheduler flushes a new promise at once)."""
        row: dict[str, object] = {
            "id": order.id,
            "customer": order.customer,
            "configuration": json.dumps(dict(order.configuration), sort_keys=True),
            "placed_s": order.placed_s,
            "requested_s": order.requested_s,
            "priority": order.priority,
            "promised_s": order.promised_s,
            "slot": promise.slot if promise else None,
            "slot_s": promise.slot_s if promise else None,
            "parts_ready_s": promise.parts_ready_s if promise else None,
            "earliest_s": promise.earliest_delivery_s if promise else None,
            "binding": promise.binding if promise else "",
            "line": promise.line if promise else "",
            "at_risk": at_risk,
            "status": str(order.status),
            "history": json.dumps([[str(c.status), c.at_s, c.note] for c in order.history]),
        }
        self._orders[order.id] = row

    def operation_dispatched(self, op_id: str, order_id: str, part: str, machine: str, at_s: int) -> None:
        """The operation is sent to `machine` (kept before the machine is told, so a restart finds it
        there even if the machine has not begun it)."""
        self._ops_new.append(
            {
                "id": op_id,
                "order_id": order_id,
                "part": part,
                "machine_id": machine,
                "started_s": at_s,
                "done_s": None,
            }
        )

    def operation_started(self, op_id: str, at_s: int) -> None:
        """The machine reports the operation begun."""
        self._ops_started.append({"b_id": op_id, "started_s": at_s})

    def operation_done(self, op_id: str, at_s: int) -> None:
        self._ops_done.append({"b_id": op_id, "done_s": at_s})

    def task_posted(
        self, task_id: str, order_id: str, part: str, station: int, at_s: int, deadline_s: int
    ) -> None:
        self._tasks_new.append(
            {
                "id": task_id,
                "order_id": order_id,
                "part": part,
                "station": station,
                "agv_id": "",
                "posted_s": at_s,
                "deadline_s": deadline_s,
                "delivered_s": None,
            }
        )

    def fleet_at(self, at_s: int, cells: np.ndarray) -> None:
        """Where the fleet model has every AGV now (the latest call before a flush is written; `cells`
        must not change afterwards, as the fleet's per-step arrays do not)."""
        self._fleet = (at_s, cells)

    def task_delivered(self, task_id: str, agv_id: str, at_s: int) -> None:
        self._tasks_update.append({"b_id": task_id, "agv_id": agv_id, "delivered_s": at_s})

    def flush(self) -> None:
        """Write everything queued in one transaction. If the database refuses it (down, restarting),
        `StoreUnavailableError` is raised and everything stays queued for the next flush."""
        ops = (self._ops_new, self._ops_started, self._ops_done)
        if not (self._orders or any(ops) or self._tasks_new or self._tasks_update or self._fleet):
            return
        new = [r for k, r in self._orders.items() if k not in self._known_orders]
        try:
            self._write(new)
        except SQLAlchemyError as error:
            reason = str(error).splitlines()[0]
            raise StoreUnavailableError(f"plan store: {type(error).__name__}: {reason}") from error
        self._known_orders.update(str(r["id"]) for r in new)
        self._orders.clear()
        self._ops_new.clear()
        self._ops_started.clear()
        self._ops_done.clear()
        self._tasks_new.clear()
        self._tasks_update.clear()
        self._fleet = None

    def _write(self, new: list[dict[str, object]]) -> None:
        """One transaction of executemany calls on statements built once: the broker plant flushes
        every cycle, so building statements and ORM sessions per flush would cost more than the rows."""
        engine = self.sessions.kw["bind"]
        with engine.begin() as connection:
            fresh = {str(r["id"]) for r in new}
            old = [dict(r, b_id=k) for k, r in self._orders.items() if k not in fresh]
            if new:
                connection.execute(_INSERT_ORDER, new)
            if old:
                connection.execute(_UPDATE_ORDER, old)
            if self._ops_new:
                connection.execute(_INSERT_OPERATION, self._ops_new)
            if self._ops_started:
                connection.execute(_OPERATION_STARTED, self._ops_started)
            if self._ops_done:
                connection.execute(_OPERATION_DONE, self._ops_done)
            if self._tasks_new:
                connection.execute(_INSERT_TASK, self._tasks_new)
            if self._tasks_update:
                connection.execute(_TASK_DELIVERED, self._tasks_update)
            if self._fleet is not None:  # one row, rewritten: an update, an insert the first time
                row = {"at_s": self._fleet[0], "cells": np.asarray(self._fleet[1], dtype=np.int32).tobytes()}
                if connection.execute(_UPDATE_FLEET, row).rowcount == 0:
                    connection.execute(_INSERT_FLEET, row)

    def epoch_ms(self, plant_id: str, now_ms: int) -> int:
        """The instant the plan of `plant_id` counts its seconds from: the one stored, or `now_ms`, stored
        for the next start."""
        with self.sessions.begin() as session:
            row = session.get(PlanClockRow, plant_id)
            if row is not None:
                return row.epoch_ms
            session.add(PlanClockRow(plant_id=plant_id, epoch_ms=now_ms))
        return now_ms

    def load(self, now_s: int | None = None, finished_kept_s: int = FINISHED_KEPT_S) -> SavedPlan:
        """The orders and promises the store holds, and the operations and tasks of unfinished orders.
        Given `now_s`, finished orders placed more than `finished_kept_s` before it are left out: a plant
        that has run for years has hundreds of thousands, and a restart needs only the open ones (and
        the recent, for the KPIs)."""
        orders: dict[str, Order] = {}
        promises: dict[str, Promise] = {}
        at_risk: set[str] = set()
        query = select(PlanOrderRow)
        if now_s is not None:
            finished = [str(s) for s in FINISHED]
            query = query.where(
                PlanOrderRow.status.not_in(finished) | (PlanOrderRow.placed_s >= now_s - finished_kept_s)
            )
        with self.sessions() as session:
            for row in session.scalars(query):
                history = tuple(StatusChange(OrderStatus(s), t, n) for s, t, n in json.loads(row.history))
                orders[row.id] = Order(
                    row.id,
                    row.customer,
                    json.loads(row.configuration),
                    row.placed_s,
                    row.requested_s,
                    row.promised_s,
                    row.priority,
                    history,
                )
                if row.slot is not None and row.promised_s is not None:
                    promises[row.id] = Promise(
                        row.id,
                        row.slot,
                        row.slot_s or 0,
                        row.parts_ready_s or 0,
                        row.earliest_s or 0,
                        row.promised_s,
                        row.binding,
                        row.line or "",
                    )
                if row.at_risk:
                    at_risk.add(row.id)
            # the operations and tasks of the orders still in the plant (a plant's history of them grows
            # by tens of thousands a day; those of delivered orders are not needed to resume)
            unfinished = sorted(o for o, order in orders.items() if order.status not in FINISHED)
            done: dict[str, int] = {}
            running: dict[str, tuple[str, int]] = {}
            machine_of: dict[str, str] = {}
            delivered: set[str] = set()
            open_tasks: dict[str, int] = {}
            for k in range(0, len(unfinished), _CHUNK):
                chunk = unfinished[k : k + _CHUNK]
                ops = select(PlanOperationRow).where(PlanOperationRow.order_id.in_(chunk))
                for op in session.scalars(ops):
                    machine_of[op.id] = op.machine_id
                    if op.done_s is None:
                        running[op.id] = (op.machine_id, op.started_s)
                    else:
                        done[op.id] = op.done_s
                for task in session.scalars(select(PlanTaskRow).where(PlanTaskRow.order_id.in_(chunk))):
                    if task.delivered_s is None:
                        open_tasks[task.id] = task.deadline_s
                    else:
                        delivered.add(task.id)
            fleet = session.get(PlanFleetRow, 1)
        cells = None if fleet is None else np.frombuffer(fleet.cells, dtype=np.int32).astype(np.int64)
        self._known_orders = set(orders)
        return SavedPlan(orders, promises, at_risk, done, delivered, running, open_tasks, cells, machine_of)
