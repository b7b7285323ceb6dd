"""The reference plant run live: the digital twin under the cloud scheduler, paced to the wall clock.

One background thread owns the twin and the scheduler: it advances the simulation at `speed` simulated
seconds per wall second, keeps a ready-made snapshot for the websocket (so readers never touch the
simulation's arrays while it moves), collects alarms from the factory's events, and copies the status
changes of web orders from the scheduler into the order book. Web requests that must change the
plan (placing an order) or read it (a quote, the plan views) take the same lock for a moment.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import threading
import time
from collections import deque
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from mixflow.api.settings import Settings
from mixflow.errors import ValidationError
from mixflow.model import DAY_S, Order, Plant
from mixflow.model.port import (
    AgvBatteryLow,
    AgvDown,
    Command,
    Event,
    LineStopped,
    MachineDown,
    OrderPlaced,
)
from mixflow.plan import Scheduler
from mixflow.store import order_book
from mixflow.twin import Scenario, Twin, prepare
from mixflow.twin.factory import _ORDER

log = logging.getLogger("mixflow.api")

SNAPSHOT_EVERY_S = 0.1
SYNC_EVERY_S = 1.0
STEP_BUDGET_S = 0.01
MAX_ALARMS = 200
# Start the live plant at 07:00 of its third day: the first trucks are on the line and AGVs feed it.
WARM_UP_S = 2 * DAY_S + 7 * 3600
SERVE_DAYS = 30


class _Tap:
    """The factory port with a listener: passes everything through and keeps the alarms it sees."""

    def __init__(self, twin: Twin, alarms: deque[dict[str, Any]]) -> None:
        self.twin = twin
        self.alarms = alarms

    @property
    def now_s(self) -> int:
        return self.twin.now_s

    def submit(self, commands: Sequence[Command]) -> None:
        self.twin.submit(commands)

    def poll(self, until_s: int) -> Sequence[Event]:
        events = self.twin.poll(until_s)
        for e in events:
            if isinstance(e, MachineDown):
                self.alarms.append({"at_s": e.at_s, "kind": "machine down", "source": e.machine_id,
                                    "text": e.reason or "breakdown"})
            elif isinstance(e, LineStopped):
                self.alarms.append({"at_s": e.at_s, "kind": "line stopped", "source": e.station_id,
                                    "text": f"{e.cause} (order {e.order_id})"})
            elif isinstance(e, AgvDown):
                self.alarms.append({"at_s": e.at_s, "kind": "AGV down", "source": e.agv_id, "text": "fault"})
            elif isinstance(e, AgvBatteryLow):
                self.alarms.append({"at_s": e.at_s, "kind": "battery low", "source": e.agv_id,
                                    "text": f"state of charge {e.soc:.0%}"})
        return events


class TwinPlant:
    """A running twin of the reference plant, as the web app sees it (`mixflow.api.live.LivePlant`)."""

    def __init__(self, settings: Settings, warm_up_s: int = WARM_UP_S) -> None:
        scenario = Scenario(scale=settings.scale, days=SERVE_DAYS, drain_days=0)
        plant, catalogue, orders = prepare(scenario, settings.seed)
        self.plant: Plant = plant
        self.catalogue = catalogue
        self.twin = Twin(plant, catalogue, orders, scenario, settings.seed)
        self.scheduler = Scheduler(plant, catalogue, None, seed=settings.seed)
        self._alarms: deque[dict[str, Any]] = deque(maxlen=MAX_ALARMS)
        self._factory = _Tap(self.twin, self._alarms)
        self._end_s = scenario.end_s
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._speed = settings.twin_speed
        self._epoch = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        self._machine_index = {m.id: k for k, m in enumerate(plant.machines)}
        self._web_orders: dict[str, int] = {}  # order id -> history length already in the order book
        self._sessions: sessionmaker[Session] | None = None
        self._views: dict[str, tuple[float, dict[str, Any]]] = {}
        with self._lock:
            self._advance_to(warm_up_s)
            self._snapshot = self._take_snapshot()
        self._anchor()
        self._thread = threading.Thread(target=self._run, name="mixflow-twin", daemon=True)

    @classmethod
    def start(cls, settings: Settings) -> TwinPlant:
        # The twin thread is CPU-bound; hand the GIL over after 1 ms instead of 5 ms so the web server's
        # event loop, which needs it for a moment per request, never waits behind a long simulation slice.
        sys.setswitchinterval(0.001)
        started = time.perf_counter()
        live = cls(settings)
        live._thread.start()
        log.warning("twin of the reference plant running (scale %s, %d AGVs, warm-up %.1f s)",
                    settings.scale, len(live.plant.fleet.agv_ids), time.perf_counter() - started)
        return live

    # -- the LivePlant protocol ----------------------------------------------------------------------
    @property
    def epoch(self) -> datetime:
        return self._epoch

    def now_s(self) -> int:
        return int(self._snapshot["at_s"])

    def snapshot(self) -> dict[str, Any]:
        return self._snapshot

    def set_speed(self, speed: float) -> float:
        if speed < 0:
            raise ValidationError("speed", "must be >= 0")
        with self._lock:
            self._speed = speed
            self._anchor()
        return self._speed

    def attach(self, sessions: sessionmaker[Session]) -> None:
        """Where status changes of web orders are written as the plant moves them along."""
        self._sessions = sessions

    def quote(self, order: Order) -> tuple[int, str]:
        """The promise the scheduler would give `order` now, without booking anything."""
        with self._lock:
            now = self.twin.now_s
            promiser = self.scheduler.promiser
            promiser.load(self.scheduler.shops.backlog_per_machine_s())
            ready, binding = promiser.parts_ready(order, now, book=False)
            wanted = promiser.slots.first_at_or_after(ready)
            slot = promiser.slots.first_free(wanted)
            earliest = promiser.delivery_after(promiser.slots.time_of(slot))
            promised = max(earliest + promiser.rules.safety_s, order.requested_s)
            return promised, f"line slot {slot}; bound by {'line capacity' if slot != wanted else binding}"

    def place(self, order: Order) -> Order:
        """Hand a stored order to the plant: the scheduler promises and sequences it, the twin builds it."""
        with self._lock:
            now = self.twin.now_s
            placed = Order(order.id, order.customer, order.configuration, now, max(order.requested_s, now),
                           order.promised_s, order.priority, order.history)
            self.scheduler.consume([OrderPlaced(now, placed)])
            self._enter_twin(placed)
            planned = self.scheduler.orders[order.id]
            self._web_orders[order.id] = len(planned.history)
            return planned

    def plan_view(self, kind: str) -> dict[str, Any]:
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

    # -- the loop ------------------------------------------------------------------------------------
    def _anchor(self) -> None:
        self._wall0 = time.monotonic()
        self._sim0 = self.twin.now_s

    def _advance_to(self, target_s: int, budget_s: float | None = None) -> None:
        began = time.perf_counter()
        target_s = min(target_s, self._end_s)
        while self.twin.now_s < target_s:
            self.scheduler.cycle(self._factory, target_s)
            if budget_s is not None and time.perf_counter() - began > budget_s:
                break

    def _run(self) -> None:
        last_snapshot = last_sync = 0.0
        while not self._stop.is_set():
            with self._lock:
                if self._speed > 0:
                    target = self._sim0 + int((time.monotonic() - self._wall0) * self._speed)
                    self._advance_to(target, STEP_BUDGET_S)
                    if target - self.twin.now_s > 5 * self._speed:  # cannot keep up: drop the debt
                        self._anchor()
                now = time.monotonic()
                if now - last_snapshot >= SNAPSHOT_EVERY_S:
                    self._snapshot = self._take_snapshot()
                    last_snapshot = now
                changed = self._changed_web_orders() if now - last_sync >= SYNC_EVERY_S else []
            if changed:
                self._store(changed)
                last_sync = time.monotonic()
            elif time.monotonic() - last_sync >= SYNC_EVERY_S:
                last_sync = time.monotonic()
            self._stop.wait(0.01)

    def _take_snapshot(self) -> dict[str, Any]:
        twin = self.twin
        agvs = twin.agvs
        raw = twin.snapshot()
        down, busy = [], []
        for machine_id, state in raw["machines"].items():  # type: ignore[attr-defined]
            if state == "down":
                down.append(self._machine_index[machine_id])
            elif state == "running":
                busy.append(self._machine_index[machine_id])
        line = self.plant.line
        now = twin.now_s
        tod = now % DAY_S
        position = 0
        for start, end in line.calendar.shifts:
            if start <= tod < end:
                position = (tod - start) % line.takt_s
        return {
            "at_s": now,
            "running": self._speed > 0,
            "speed": self._speed,
            "agv_x": agvs.x.tolist(),
            "agv_y": agvs.y.tolist(),
            "agv_soc": agvs.soc.round(3).tolist(),
            "machines_down": down,
            "machines_busy": busy,
            "line_position_s": position,
            "line_stopped": bool(raw["line"]["stopped"]),  # type: ignore[index]
            "alarms": list(self._alarms)[-50:],
        }

    def _changed_web_orders(self) -> list[Order]:
        changed = []
        for order_id, stored in self._web_orders.items():
            order = self.scheduler.orders.get(order_id)
            if order is not None and len(order.history) > stored:
                changed.append(order)
                self._web_orders[order_id] = len(order.history)
        return changed

    def _store(self, orders: list[Order]) -> None:
        if self._sessions is None:
            return
        with self._sessions() as session:
            for order in orders:
                with contextlib.suppress(Exception):  # an order cancelled or removed meanwhile
                    order_book.save_progress(session, order)

    def _enter_twin(self, order: Order) -> None:
        """Let the twin know the order, exactly as its constructor enters its own order stream.

        The twin has no public door for an order arriving while it runs, so this repeats the three
        lines of `Twin.__init__` that register one; a public `Twin.place_order` would replace it.
        """
        twin = self.twin
        twin.orders[order.id] = order
        twin._order_list.append(order)
        twin._pos_of[order.id] = len(twin._order_list) - 1
        twin._push(order.placed_s, _ORDER, len(twin._order_list) - 1)

    # -- plan views ----------------------------------------------------------------------------------
    def _plan_view(self, kind: str) -> dict[str, Any]:
        if kind not in ("sequence", "gantt", "tasks", "kpis"):
            raise ValidationError("view", f"unknown plan view {kind!r}")
        now = self.twin.now_s
        snap = self.scheduler.snapshot(now)
        if kind == "sequence":
            return self._sequence_view(snap)
        if kind == "gantt":
            return {"at_s": now, "rows": snap["gantt"]}
        if kind == "tasks":
            agvs = snap["agvs"]
            states: dict[str, int] = {}
            for s in agvs["state"]:  # type: ignore[index]
                states[s] = states.get(s, 0) + 1
            return {"at_s": now, "agv_states": states, "open_tasks": len(self.scheduler.fleet.open)}
        counters = self.twin.agvs.counters
        kpis = dict(snap["kpis"])  # type: ignore[call-overload]
        kpis["energy_kwh"] = {
            "machines": round(self.twin.machine_counters.energy_kwh, 1),
            "agv_drive": round(counters.drive_kwh, 1),
            "charging": round(counters.charge_kwh, 1),
        }
        kpis["agv_collisions"] = counters.collisions
        return {"at_s": now, "kpis": kpis}

    def _sequence_view(self, snap: dict[str, Any]) -> dict[str, Any]:
        def row(order_id: str, state: str) -> dict[str, Any]:
            order = self.scheduler.orders.get(order_id) or self.twin.orders.get(order_id)
            config = dict(order.configuration) if order is not None else {}
            return {"order": order_id, "state": state, "family": config.get("family", ""),
                    "colour": config.get("colour", ""), "drive": config.get("drive", ""),
                    "cab": config.get("cab", ""), "powertrain": config.get("powertrain", "")}

        released = [row(o, "released") for o in snap["sequence"]]
        upcoming = [row(o, "upcoming") for o in snap["upcoming"]]
        return {"at_s": snap["at_s"], "slots": released + upcoming}
