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
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from mixflow.api.agv_states import AgvVda, VdaFleet, from_vehicles
from mixflow.api.live import ActionRefused
from mixflow.api.schemas import MACHINERY_ITEM_STATES
from mixflow.errors import InfeasibleError, UnknownNameError, ValidationError
from mixflow.model import DAY_S, Catalogue, Order, Plant
from mixflow.model.port import (
    NOT_AVAILABLE,
    OUT_OF_SERVICE,
    AgvBatteryLow,
    AgvDown,
    AgvUp,
    Command,
    Event,
    Factory,
    HorizonFrozen,
    LineStopped,
    MachineDown,
    MachineUp,
    OrderExpedited,
    OrderPlaced,
    ReplanRequested,
)
from mixflow.plan import Scheduler
from mixflow.plan.state import FINISHED
from mixflow.store import order_book

log = logging.getLogger("mixflow.api")

SNAPSHOT_EVERY_S = 0.1
SYNC_EVERY_S = 1.0
MAX_ALARMS = 200
VIEWS = ("sequence", "gantt", "tasks", "kpis")
SEVERITY = {"plan error": "critical", "plan store": "critical", "fleet cannot carry": "critical",
            "machine down": "major", "line stopped": "major", "material overdue": "major",
            "AGV down": "minor", "battery low": "minor", "fleet waiting": "minor", "fleet seated": "minor"}
"""How bad each kind of alarm is (critical, major, minor); a kind not named is minor."""
GANTT_MAX_S = 2 * DAY_S
"""The widest Gantt window a page may ask for (the scheduler keeps two days of finished operations)."""


class AlarmList:
    """The plant's alarms, newest last and at most `maxlen`: each gets an id, a severity and a state
    (active, acknowledged, cleared) as it is raised; a planner acknowledges or clears it by id."""

    def __init__(self, maxlen: int) -> None:
        self._items: deque[dict[str, Any]] = deque(maxlen=maxlen)
        self._last_id = 0  # an int, not itertools.count: the list is pickled with a twin's checkpoint

    def append(self, alarm: dict[str, Any]) -> None:
        self._last_id += 1
        self._items.append({**alarm, "id": self._last_id, "severity": SEVERITY.get(alarm["kind"], "minor"),
                            "state": "active", "acked_by": "", "cleared_by": "", "cleared_s": None})

    def __iter__(self) -> Any:
        return iter(list(self._items))

    def __len__(self) -> int:
        return len(self._items)

    def find(self, alarm_id: int) -> dict[str, Any]:
        for alarm in self._items:
            if alarm["id"] == alarm_id:
                return alarm
        raise ActionRefused(404, f"no alarm {alarm_id} (the plant keeps its latest {self._items.maxlen})")

    def change(self, alarm_id: int, **changes: Any) -> dict[str, Any]:
        """Replace alarm `alarm_id` by a copy with `changes` (readers of a snapshot keep the old one)."""
        for k, alarm in enumerate(self._items):
            if alarm["id"] == alarm_id:
                self._items[k] = changed = {**alarm, **changes}
                return changed
        raise ActionRefused(404, f"no alarm {alarm_id}")

    def clear_source(self, kind: str, source: str, at_s: int, by: str) -> None:
        """The condition behind the active alarms of `kind` from `source` has gone: they are cleared."""
        for alarm in list(self._items):
            if alarm["kind"] == kind and alarm["source"] == source and alarm["state"] != "cleared":
                self.change(alarm["id"], state="cleared", cleared_by=by, cleared_s=at_s)


class AlarmTap:
    """The factory port with a listener: passes everything through and keeps the alarms it sees."""

    def __init__(self, factory: Factory, alarms: AlarmList, lines: int = 1) -> None:
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
        self.listen(events)
        return events

    def listen(self, events: Sequence[Event]) -> None:
        """Raise (and clear) the alarms `events` call for."""
        for e in events:
            if isinstance(e, MachineDown):
                text = e.reason or "breakdown"
                if e.by:
                    expected = f", expected {e.expected_s / 3600:.3g} h" if e.expected_s else ""
                    text = f"taken down by {e.by}: {e.reason or 'no reason given'}{expected}"
                self.alarms.append({"at_s": e.at_s, "kind": "machine down", "source": e.machine_id,
                                    "text": text})
            elif isinstance(e, MachineUp):
                self.alarms.clear_source("machine down", e.machine_id, e.at_s, e.by or "plant")
            elif isinstance(e, AgvUp):
                self.alarms.clear_source("AGV down", e.agv_id, e.at_s, "plant")
            elif isinstance(e, LineStopped):
                source = f"{e.line}/{e.station_id}" if e.line and self.lines > 1 else e.station_id
                self.alarms.append({"at_s": e.at_s, "kind": "line stopped", "source": source,
                                    "text": f"{e.cause} (order {e.order_id})"})
            elif isinstance(e, AgvDown):
                self.alarms.append({"at_s": e.at_s, "kind": "AGV down", "source": e.agv_id, "text": "fault"})
            elif isinstance(e, AgvBatteryLow):
                self.alarms.append({"at_s": e.at_s, "kind": "battery low", "source": e.agv_id,
                                    "text": f"state of charge {e.soc:.0%}"})


class PlannedPlant(ABC):
    """The scheduler driving one factory in a background thread; subclasses say how time moves."""

    thread_name = "mixflow-plant"

    def __init__(self, plant: Plant, catalogue: Catalogue, scheduler: Scheduler, factory: Factory,
                 epoch: datetime) -> None:
        self.plant = plant
        self.catalogue = catalogue
        self.scheduler = scheduler
        self._alarms = AlarmList(MAX_ALARMS)
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

    @abstractmethod
    def fleet_model_states(self) -> AgvVda:
        """Each AGV's VDA 5050 state derived from the plant's own fleet model (`agv_states.derived`), for
        a fleet that does not speak VDA 5050 (called with the lock held)."""

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
            offer = promiser.quote(order, now)
            where = f"line {offer.line} slot {offer.slot}" if len(self.scheduler.plant.lines) > 1 else (
                f"line slot {offer.slot}"
            )
            return offer.promised_s, f"{where}; bound by {offer.binding}"

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

    # -- planner actions -----------------------------------------------------------------------------
    def act(self, action: dict[str, Any]) -> dict[str, Any]:
        """Carry out one planner action (see `live.LivePlant.act`); `ActionRefused` says why not."""
        kind = action.get("kind")
        by = str(action.get("by", ""))
        with self._lock:
            now = self.factory.now_s
            if kind in ("machine_down", "machine_up"):
                return self._machine_action(kind, str(action.get("machine", "")), by, now, action)
            if kind == "rush_order":
                return self._rush_order(action["order"], int(action.get("priority", 1)), by, now)
            if kind == "expedite":
                order_id = str(action.get("order", ""))
                if order_id not in self.scheduler.orders:
                    raise ActionRefused(404, f"no order {order_id!r} in the plan")
                try:
                    self.scheduler.check_expedite(order_id)
                except ValidationError as refused:
                    raise ActionRefused(409, str(refused)) from refused
                began = time.perf_counter()
                self._take_in([OrderExpedited(now, order_id, int(action.get("priority", 1)), by)])
                return self._expedite_result(began)
            if kind == "freeze":
                frozen = int(action.get("frozen_s", 0))
                self._take_in([HorizonFrozen(now, frozen, by)])
                return {"at_s": now, "frozen_s": self.scheduler.options.frozen_s}
            if kind == "replan":
                self._take_in([ReplanRequested(now, int(action.get("horizon_s", 0)), by)])
                return {"at_s": now, "horizon_s": self.scheduler.options.shop_horizon_s}
            if kind in ("ack_alarm", "clear_alarm"):
                return self._alarm_action(kind, int(action.get("alarm", -1)), by, now)
        raise ActionRefused(422, f"unknown planner action {kind!r}")

    def _take_in(self, events: Sequence[Event]) -> None:
        """A planner's action enters the plan as the factory's events do: its alarms, then the scheduler."""
        self.factory.listen(events)
        self.scheduler.consume(events)
        self._views.clear()

    def _when(self, at_s: int) -> str:
        """A plant time as a person reads it in a message (the plant's calendar, UTC)."""
        return f"{(self.epoch + timedelta(seconds=at_s)):%d %b %Y, %H:%M} UTC"

    def _machine_action(self, kind: str, machine: str, by: str, now: int,
                        action: dict[str, Any]) -> dict[str, Any]:
        if machine not in self._machine_index:
            raise ActionRefused(404, f"no machine {machine!r} in plant {self.plant.name}")
        held = self.scheduler.held.get(machine)
        broken = machine in self.scheduler.shops.down and held is None
        if kind == "machine_down":
            if held is not None:
                raise ActionRefused(409, f"machine {machine} is down already: taken down by {held.by} "
                                         f"at {self._when(held.at_s)} ({held.reason or 'no reason given'})")
            if broken:
                raise ActionRefused(409, f"machine {machine} is down already (broken down since "
                                         f"{self._when(self.scheduler._down_since.get(machine, now))})")
            expected = int(action.get("expected_s", 0))
            self._take_in([MachineDown(now, machine, str(action.get("reason", "")), by, expected)])
        else:
            if held is None:
                why = "it broke down and comes up when repaired" if broken else "it is not down"
                raise ActionRefused(409, f"machine {machine} was not taken down by a planner: {why}")
            self._take_in([MachineUp(now, machine, by)])
        state = "down" if machine in self.scheduler.shops.down else "up"
        return {"at_s": now, "machine": machine, "state": state}

    def _rush_order(self, wire: Any, priority: int, by: str, now: int) -> dict[str, Any]:
        from mixflow.api.plant_process import order_from_wire

        order = order_from_wire(wire)
        if order.id in self.scheduler.orders:
            raise ActionRefused(409, f"order {order.id} is in the plan already")
        began = time.perf_counter()
        try:
            self.place(order)
        except (InfeasibleError, ValidationError) as refused:
            raise ActionRefused(422, f"the rush order cannot be built: {refused}") from refused
        self._take_in([OrderExpedited(now, order.id, max(1, priority), by)])
        return self._expedite_result(began)

    def _expedite_result(self, began: float) -> dict[str, Any]:
        done = self.scheduler.expedited[-1]
        promise = self.scheduler.promises[done.order_id]
        return {"at_s": self.factory.now_s, "order": done.order_id, "priority": done.priority,
                "was_slot": done.was_slot, "slot": done.slot, "slot_s": done.slot_s,
                "promised_s": promise.promised_s, "took_ms": round((time.perf_counter() - began) * 1000, 2),
                "pushed": [{"order": p.order_id, "slot": p.slot, "slot_s": p.slot_s,
                            "was_slot_s": p.was_slot_s, "at_risk": p.at_risk,
                            "promised_s": self.scheduler.promises[p.order_id].promised_s}
                           for p in done.pushed]}

    def _alarm_action(self, kind: str, alarm_id: int, by: str, now: int) -> dict[str, Any]:
        alarm = self._alarms.find(alarm_id)
        if alarm["state"] == "cleared":
            raise ActionRefused(409, f"alarm {alarm_id} is cleared already (by {alarm['cleared_by']})")
        if kind == "ack_alarm":
            if alarm["state"] == "acknowledged":
                raise ActionRefused(409, f"alarm {alarm_id} is acknowledged already (by {alarm['acked_by']})")
            changed = self._alarms.change(alarm_id, state="acknowledged", acked_by=by, acked_s=now)
        else:
            changed = self._alarms.change(alarm_id, state="cleared", cleared_by=by, cleared_s=now)
        self._snapshot = {**self._snapshot, "alarms": list(self._alarms)[-50:]}
        return changed

    def gantt(self, back_s: int, ahead_s: int) -> dict[str, Any]:
        """The operations of the window [now - back_s, now + ahead_s] by machine, and the line slots in it,
        with the orders at risk marked (see `schemas.GanttWindow`)."""
        back_s, ahead_s = min(max(back_s, 0), GANTT_MAX_S), min(max(ahead_s, 0), GANTT_MAX_S)
        with self._lock:
            now = self.factory.now_s
            scheduler = self.scheduler
            rows = scheduler.gantt_window(now - back_s, now + 1)
            at_risk = scheduler.kpis.at_risk
            slots = []
            lines = {line.id: line for line in self.plant.lines}
            first = self.plant.lines[0].id
            for order_id, promise in scheduler.promises.items():
                line = lines.get(promise.line or first, self.plant.lines[0])
                end = promise.slot_s + len(line.stations) * line.takt_s
                if end < now - back_s or promise.slot_s > now + ahead_s:
                    continue
                order = scheduler.orders.get(order_id)
                slots.append([line.id, order_id, promise.slot_s, end,
                              order.status.value if order is not None else "", order_id in at_risk,
                              order is not None and order.priority > 0])
        index = self._machine_index
        return {"at_s": now, "from_s": now - back_s, "to_s": now + ahead_s,
                "ops": [[index[m], s, e, op, risk] for _, m, op, s, e, risk in rows if m in index],
                "slots": sorted(slots, key=lambda r: (r[0], r[2]))}

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
            self.keep()
            self._stop.wait(0.01)

    def keep(self) -> None:
        """Persist what the plant keeps beyond the order book (called by the plant's thread, without the
        lock, after each step); a real plant keeps its own world, so nothing here."""
        return None

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

    def agv_vda_states(self, soc: list[float]) -> AgvVda:
        """Each AGV's VDA 5050 state: the vehicles' own word where the fleet speaks VDA 5050 (their last
        `state` messages; `soc`, the plant's charge figures, stands for a vehicle not heard yet), else
        derived from the plant's fleet model, so the plant page reads the same whichever runs the plant.
        The factory is looked at each time: a fleet may be put behind VDA 5050 vehicles after the start."""
        fleet = self.factory.factory
        if isinstance(fleet, VdaFleet):
            return from_vehicles(fleet.vda_states(self.plant.fleet.agv_ids), soc)
        return self.fleet_model_states()

    def take_snapshot(self) -> dict[str, Any]:
        self._take_overdue()
        self._take_notices()
        x, y, soc, machines, stopped = self.plant_state()
        vda = self.agv_vda_states(soc)
        down, busy = [], []
        # the standard state of each machine (OPC 40001-1 StateNumber), derived from the scheduler's view
        standard = [MACHINERY_ITEM_STATES.index("NotExecuting")] * len(self._machine_index)
        held = self.scheduler.held  # taken down by a planner: down on the map whatever the machine says
        down_state = self.scheduler.down_state  # a down machine switched off is NotAvailable, not broken
        for machine_id, state in machines.items():
            k = self._machine_index[machine_id]
            if state == "down" or machine_id in held or machine_id in down_state:
                down.append(k)
                switched_off = machine_id not in held and down_state.get(machine_id) == NOT_AVAILABLE
                standard[k] = MACHINERY_ITEM_STATES.index(NOT_AVAILABLE if switched_off else OUT_OF_SERVICE)
            elif state in ("running", "busy"):
                busy.append(k)
                standard[k] = MACHINERY_ITEM_STATES.index("Executing")
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
            "agv_x": x, "agv_y": y, "agv_soc": soc if vda.soc is None else vda.soc,
            "agv_vda": vda.codes, "agv_errors": vda.errors, "machines_down": down, "machines_busy": busy,
            "machine_states": standard,
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
            tasks = self.scheduler.fleet.task_of
            agvs = {a: [state, tasks[k] or ""] for k, (a, state) in
                    enumerate(zip(snap["agvs"]["ids"], snap["agvs"]["state"], strict=True))}  # type: ignore[index]
            return {"at_s": now, "agv_states": states, "open_tasks": len(self.scheduler.fleet.open),
                    "agvs": agvs}
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
