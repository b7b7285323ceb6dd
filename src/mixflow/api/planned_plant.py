"""A plant under the cloud scheduler, as the web app sees it: the part shared by the twin and a real plant.

One background thread owns the scheduler and the factory behind the port: it lets the plant run,
keeps a ready-made snapshot for the websocket (so readers never touch arrays while they move),
collects alarms from the factory's events, and copies the status changes of web orders from the
scheduler into the order book. Web requests that change the plan (placing an order) or read it (a
quote, the plan views) take the same lock for a moment.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import threading
import time
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from mixflow.errors import UnknownNameError, ValidationError
from mixflow.model import DAY_S, Catalogue, Order, Plant
from mixflow.model.port import (
    AgvBatteryLow,
    AgvDown,
    Command,
    Event,
    Factory,
    LineStopped,
    MachineDown,
    OrderPlaced,
)
from mixflow.plan import Scheduler
from mixflow.plan.state import FINISHED
from mixflow.store import order_book

log = logging.getLogger("mixflow.api")

SNAPSHOT_EVERY_S = 0.1
SYNC_EVERY_S = 1.0
MAX_ALARMS = 200
VIEWS = ("sequence", "gantt", "tasks", "kpis")


class AlarmTap:
    """The factory port with a listener: passes everything through and keeps the alarms it sees."""

    def __init__(self, factory: Factory, alarms: deque[dict[str, Any]], lines: int = 1) -> None:
        self.factory = factory
        self.alarms = alarms
        self.lines = lines  # with several, a stop's source names its line (station ids repeat)

    @property
    def now_s(self) -> int:
        return self.factory.now_s

    def submit(self, commands: Sequence[Command]) -> None:
        self.factory.submit(commands)

    def poll(self, until_s: int) -> Sequence[Event]:
        events = self.factory.poll(until_s)
        for e in events:
            if isinstance(e, MachineDown):
                self.alarms.append({"at_s": e.at_s, "kind": "machine down", "source": e.machine_id,
                                    "text": e.reason or "breakdown"})
            elif isinstance(e, LineStopped):
                source = f"{e.line}/{e.station_id}" if e.line and self.lines > 1 else e.station_id
                self.alarms.append({"at_s": e.at_s, "kind": "line stopped", "source": source,
                                    "text": f"{e.cause} (order {e.order_id})"})
            elif isinstance(e, AgvDown):
                self.alarms.append({"at_s": e.at_s, "kind": "AGV down", "source": e.agv_id, "text": "fault"})
            elif isinstance(e, AgvBatteryLow):
                self.alarms.append({"at_s": e.at_s, "kind": "battery low", "source": e.agv_id,
                                    "text": f"state of charge {e.soc:.0%}"})
        return events


class PlannedPlant(ABC):
    """The scheduler driving one factory in a background thread; subclasses say how time moves."""

    thread_name = "mixflow-plant"

    def __init__(self, plant: Plant, catalogue: Catalogue, scheduler: Scheduler, factory: Factory,
                 epoch: datetime) -> None:
        self.plant = plant
        self.catalogue = catalogue
        self.scheduler = scheduler
        self._alarms: deque[dict[str, Any]] = deque(maxlen=MAX_ALARMS)
        self.factory = AlarmTap(factory, self._alarms, len(plant.lines))
        self._overdue_seen = 0
        self._epoch = epoch
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._speed = 1.0
        self._machine_index = {m.id: k for k, m in enumerate(plant.machines)}
        self._web_orders: dict[str, int] = {}  # order id -> history length already in the order book
        self._book_failing = False
        self._sessions: sessionmaker[Session] | None = None
        self._views: dict[str, tuple[float, dict[str, Any]]] = {}
        self._snapshot: dict[str, Any] = {}
        self._thread = threading.Thread(target=self._run, name=self.thread_name, daemon=True)

    # -- what subclasses provide --------------------------------------------------------------------
    @abstractmethod
    def step(self) -> None:
        """Let the plant run a little (called with the lock held)."""

    @abstractmethod
    def plant_state(self) -> tuple[list[float], list[float], list[float], dict[str, str], dict[str, bool]]:
        """AGV x, y, state of charge; machine id -> idle | running | down; line id -> whether it stands
        (a line not named stands not)."""

    def line_units(self) -> dict[str, tuple[list[str | None], int]]:
        """Line id -> (order on each station, in line order, None where empty; units waiting to enter),
        for the lines the plant reports them of (called with the lock held, after `plant_state`)."""
        return {}

    @abstractmethod
    def enter_order(self, order: Order) -> None:
        """Tell the factory about a new order, where it learns of orders other than by commands."""

    @abstractmethod
    def set_speed(self, speed: float) -> float:
        """Set how many plant seconds pass per wall second; returns the speed in force."""

    # -- the LivePlant protocol ----------------------------------------------------------------------
    @property
    def epoch(self) -> datetime:
        return self._epoch

    def now_s(self) -> int:
        return int(self._snapshot["at_s"])

    def snapshot(self) -> dict[str, Any]:
        return self._snapshot

    def attach(self, sessions: sessionmaker[Session]) -> None:
        """Where status changes of web orders are written as the plant moves them along."""
        self._sessions = sessions

    def quote(self, order: Order) -> tuple[int, str]:
        """The promise the scheduler would give `order` now, without booking anything."""
        with self._lock:
            now = self.factory.now_s
            promiser = self.scheduler.promiser
            promiser.load(self.scheduler.shops.backlog_per_machine_s())
            ready, binding = promiser.parts_ready(order, now, book=False)
            line, slot, earliest = promiser.best_slot(order, ready)
            wanted = promiser.books[line].first_at_or_after(ready)
            promised = max(earliest + promiser.rules.safety_s, order.requested_s)
            where = f"line {line} slot {slot}" if len(self.scheduler.plant.lines) > 1 else f"line slot {slot}"
            return promised, f"{where}; bound by {'line capacity' if slot != wanted else binding}"

    def place(self, order: Order) -> Order:
        """Hand a stored order to the plant: the scheduler promises and sequences it."""
        with self._lock:
            now = self.factory.now_s
            placed = Order(order.id, order.customer, order.configuration, now, max(order.requested_s, now),
                           order.promised_s, order.priority, order.history)
            self.scheduler.consume([OrderPlaced(now, placed)])
            self.enter_order(placed)
            planned = self.scheduler.orders[order.id]
            self._web_orders[order.id] = len(planned.history)
            return planned

    def plan_view(self, kind: str) -> dict[str, Any]:
        if kind not in VIEWS:
            raise ValidationError("view", f"unknown plan view {kind!r} (known: {', '.join(VIEWS)})")
        cached = self._views.get(kind)
        if cached is not None and time.monotonic() - cached[0] < 1.0:
            return cached[1]
        with self._lock:
            view = self._plan_view(kind)
        self._views[kind] = (time.monotonic(), view)
        return view

    def close(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
        with self._lock:
            self.scheduler.flush()

    # -- the loop ------------------------------------------------------------------------------------
    def _run(self) -> None:
        last_snapshot = last_sync = 0.0
        while not self._stop.is_set():
            with self._lock:
                try:
                    self.step()
                except Exception as error:  # a failed cycle must not leave the plant unplanned for good
                    log.exception("the plant's cycle failed; trying again in a second")
                    text = f"{type(error).__name__}: {error}"[:200]
                    self._alarms.append({"at_s": self.factory.now_s, "kind": "plan error",
                                         "source": "scheduler", "text": text})
                    self._stop.wait(1.0)
                now = time.monotonic()
                if now - last_snapshot >= SNAPSHOT_EVERY_S:
                    self._snapshot = self.take_snapshot()
                    last_snapshot = now
                due = self._sessions is not None and now - last_sync >= SYNC_EVERY_S  # none before `attach`
                changed = self._changed_web_orders() if due else None
            if changed is not None:
                self._store(changed)
                last_sync = time.monotonic()
            self._stop.wait(0.01)

    def _take_overdue(self) -> None:
        """The scheduler's material andon joins the factory's alarms."""
        count = self.scheduler.kpis.material_overdue
        if count == self._overdue_seen:
            return
        overdue = self.scheduler.overdue
        for late in itertools.islice(overdue, max(len(overdue) - (count - self._overdue_seen), 0), None):
            self._alarms.append({"at_s": late.at_s, "kind": "material overdue", "source": late.station,
                                 "text": late.text()})
        self._overdue_seen = count

    def _take_notices(self) -> None:
        """The scheduler's notices about itself (plan store refusing writes, fleet waiting) join them."""
        notices = self.scheduler.notices
        while notices:
            n = notices.popleft()
            self._alarms.append({"at_s": n.at_s, "kind": n.kind, "source": n.source, "text": n.text})

    def take_snapshot(self) -> dict[str, Any]:
        self._take_overdue()
        self._take_notices()
        x, y, soc, machines, stopped = self.plant_state()
        down, busy = [], []
        for machine_id, state in machines.items():
            if state == "down":
                down.append(self._machine_index[machine_id])
            elif state in ("running", "busy"):
                busy.append(self._machine_index[machine_id])
        now = self.factory.now_s
        tod = now % DAY_S
        units = self.line_units()
        lines = []
        for line in self.plant.lines:
            position = 0
            if line.calendar.works_on(now // DAY_S):
                for start, end in line.calendar.shifts:
                    if start <= tod < end:
                        position = (tod - start) % line.takt_s
            on_line, waiting = units.get(line.id, ([], 0))
            lines.append({"id": line.id, "position_s": position, "stopped": stopped.get(line.id, False),
                          "units": on_line, "waiting": waiting})
        return {
            "at_s": now, "running": self._speed > 0, "speed": self._speed,
            "agv_x": x, "agv_y": y, "agv_soc": soc, "machines_down": down, "machines_busy": busy,
            "line_position_s": lines[0]["position_s"], "line_stopped": any(ln["stopped"] for ln in lines),
            "lines": lines, "alarms": list(self._alarms)[-50:],
        }

    def _changed_web_orders(self) -> list[Order]:
        """The web orders with steps the order book does not hold yet, as they stand now."""
        changed = []
        for order_id, stored in self._web_orders.items():
            order = self.scheduler.orders.get(order_id)
            if order is not None and len(order.history) > stored:
                changed.append(order)
        return changed

    def _store(self, orders: list[Order]) -> None:
        """Write the new steps of `orders` into the order book. An order counts as synced only once
        written (a database that refuses writes is tried again at the next sync, so no step is lost),
        and a finished one is then forgotten (the plant runs for years of web orders)."""
        if self._sessions is None or not orders:
            return
        written: list[Order] = []
        with self._sessions() as session:
            for order in orders:
                try:
                    order_book.save_progress(session, order)
                    written.append(order)
                except UnknownNameError:  # not in the book (deleted meanwhile): nothing to keep in sync
                    log.warning("order %s is no longer in the order book; its progress is not kept", order.id)
                    with self._lock:
                        self._web_orders.pop(order.id, None)
                except Exception as error:  # one bad row must not stop the plant's bookkeeping
                    if not self._book_failing:  # once per outage, not every second of it
                        log.error("could not store the progress of order %s (%s); trying again", order.id,
                                  error)
                    with contextlib.suppress(Exception):
                        session.rollback()
        self._book_failing = len(written) < len(orders)
        with self._lock:
            for order in written:
                if order.status in FINISHED:
                    self._web_orders.pop(order.id, None)
                else:
                    self._web_orders[order.id] = len(order.history)

    # -- plan views ----------------------------------------------------------------------------------
    def _plan_view(self, kind: str) -> dict[str, Any]:
        now = self.factory.now_s
        snap = self.scheduler.snapshot(now)
        if kind == "sequence":
            return self._sequence_view(snap)
        if kind == "gantt":
            return {"at_s": now, "rows": snap["gantt"]}
        if kind == "tasks":
            states: dict[str, int] = {}
            for s in snap["agvs"]["state"]:  # type: ignore[index]
                states[s] = states.get(s, 0) + 1
            return {"at_s": now, "agv_states": states, "open_tasks": len(self.scheduler.fleet.open)}
        return {"at_s": now, "kpis": self.kpis(dict(snap["kpis"]))}  # type: ignore[call-overload]

    def kpis(self, summary: dict[str, Any]) -> dict[str, Any]:
        """The scheduler's KPI summary, plus what the factory itself meters (subclasses add to it)."""
        return summary

    def _sequence_view(self, snap: dict[str, Any]) -> dict[str, Any]:
        def row(order_id: str, state: str) -> dict[str, Any]:
            order = self.scheduler.orders.get(order_id)
            config = dict(order.configuration) if order is not None else {}
            return {"order": order_id, "state": state, "family": config.get("family", ""),
                    "colour": config.get("colour", ""), "drive": config.get("drive", ""),
                    "cab": config.get("cab", ""), "powertrain": config.get("powertrain", ""),
                    "configuration": config}

        released = [row(o, "released") for o in snap["sequence"]]
        upcoming = [row(o, "upcoming") for o in snap["upcoming"]]
        first = self.plant.lines[0].id
        line_ids = {line.id for line in self.plant.lines}
        waiting: dict[str, list[dict[str, Any]]] = {line.id: [] for line in self.plant.lines}
        for slot in upcoming:  # each on the line of its promise ("" the first line)
            promise = self.scheduler.promises.get(slot["order"])
            line_id = promise.line if promise is not None and promise.line in line_ids else first
            waiting[line_id].append(slot)
        sequences = snap.get("sequences") or {}
        lines = [{"id": line.id, "name": line.name or line.id, "takt_s": line.takt_s,
                  "slots": [row(o, "released") for o in sequences.get(line.id, [])] + waiting[line.id]}
                 for line in self.plant.lines]
        return {"at_s": snap["at_s"], "slots": released + upcoming, "lines": lines}
