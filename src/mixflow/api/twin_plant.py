"""The reference plant run live: the digital twin under the cloud scheduler, paced to the wall clock."""

from __future__ import annotations

import logging
import sys
import time
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import numpy as np
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from mixflow.api.agv_states import AgvVda, Motion, derived
from mixflow.api.planned_plant import PlannedPlant
from mixflow.api.settings import Settings
from mixflow.api.twin_resume import Checkpoints
from mixflow.api.twin_world import TwinWorld
from mixflow.errors import MixflowError, ValidationError
from mixflow.model import DAY_S, Order
from mixflow.plan import Scheduler
from mixflow.reference import order_stream
from mixflow.store import order_book
from mixflow.twin import Scenario, Twin, check_configured, prepare
from mixflow.twin.agvs import CHARGING, DOWN

log = logging.getLogger("mixflow.api")

STEP_BUDGET_S = 0.01
# Start the live plant at 07:00 of its third day: the first trucks are on the line and AGVs feed it.
WARM_UP_S = 2 * DAY_S + 7 * 3600
ORDER_DAYS = 7
"""Days of customer orders the live twin draws at a time. It draws the next days' orders a day before
those it has run out, so a plant left running for weeks never runs dry (it used to freeze at the end of
its 30 days of orders, 12 hours into a demo at the default speed)."""


class TwinPlant(PlannedPlant):
    """The twin of the reference plant (with its own order stream) run at `speed` x real time."""

    thread_name = "mixflow-twin"

    def __init__(self, settings: Settings, warm_up_s: int = WARM_UP_S, order_days: int = ORDER_DAYS,
                 checkpoints: Checkpoints | None = None) -> None:
        world = checkpoints.resume() if checkpoints is not None else None
        self.resumed = world is not None  # from the checkpoint in its store, not warmed up anew
        if world is None:
            scenario = Scenario(scale=settings.scale, days=order_days, drain_days=0,
                                plant_file=settings.plant_file, catalogue_file=settings.catalogue_file)
            plant, catalogue, orders = prepare(scenario, settings.seed)
            world = TwinWorld(plant, catalogue, Twin(plant, catalogue, orders, scenario, settings.seed),
                              Scheduler(plant, catalogue, None, seed=settings.seed),
                              datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0),
                              windows=1, next_order=len(orders) + 1)
        self.twin = world.twin
        super().__init__(world.plant, world.catalogue, world.scheduler, world.twin, world.epoch)
        if world.alarms is not None:
            self._alarms = self.factory.alarms = world.alarms
        self._overdue_seen = world.overdue_seen
        self._seed = settings.seed
        self._order_days = order_days
        self._windows = world.windows  # windows of `order_days` days of orders drawn so far
        self._next_order = world.next_order
        self._speed = settings.twin_speed
        self._units: dict[str, tuple[list[str | None], int]] = {}
        self._motion = Motion()
        self._checkpoints = checkpoints
        with self._lock:
            if not self.resumed:
                self._advance_to(warm_up_s)
            self._snapshot = self.take_snapshot()
        self._anchor()

    @classmethod
    def start(cls, settings: Settings) -> TwinPlant:
        # The twin thread is CPU-bound; hand the GIL over after 1 ms instead of 5 ms so the web server's
        # event loop, which needs it for a moment per request, never waits behind a long simulation slice.
        sys.setswitchinterval(0.001)
        started = time.perf_counter()
        live = cls(settings, checkpoints=Checkpoints(settings) if settings.twin_resume else None)
        live._thread.start()
        how = f"resumed at plant second {live.twin.now_s}" if live.resumed else "warmed up"
        log.warning("twin of %s running (scale %s, %d AGVs, %s in %.1f s)", live.plant.name,
                    live.plant.scale, len(live.plant.fleet.agv_ids), how, time.perf_counter() - started)
        return live

    def world(self) -> TwinWorld:
        """The world as it stands (called with the lock held; pickle it before letting go)."""
        return TwinWorld(self.plant, self.catalogue, self.twin, self.scheduler, self._epoch, self._windows,
                         self._next_order, self._alarms, self._overdue_seen)

    def keep(self) -> None:
        if self._checkpoints is not None:
            self._checkpoints.keep(self)

    def close(self) -> None:
        super().close()
        if self._checkpoints is not None:  # a stop on purpose resumes exactly where it stood
            self._checkpoints.keep(self, force=True)

    def attach(self, sessions: sessionmaker[Session]) -> None:
        """Also take up the web orders the order book holds open that this world does not know: stored
        while the plant's process was away (a cloud's plant worker starting again) they are promised
        now, as a broker plant does; promised by an earlier world (before the checkpoint it resumed
        from, or before it started anew) they are planned again and keep their promise."""
        super().attach(sessions)
        try:
            with sessions() as session:
                waiting = order_book.open_orders(session)
        except SQLAlchemyError as unreachable:  # the plant runs without the book; its sync says so too
            log.error("the order book cannot be read to take up waiting web orders: %s", unreachable)
            return
        taken = 0
        with self._lock:
            now = self.twin.now_s  # a twin started again runs from a checkpoint or its warm-up: earlier
            for order in waiting:
                if order.id in self.scheduler.orders:  # in this world: only its new steps go to the book
                    self._web_orders[order.id] = len(order.history)
                    continue
                steps = tuple(replace(step, at_s=min(step.at_s, now)) for step in order.history)
                try:
                    self.place(replace(order, history=steps[:1]) if order.promised_s else
                               replace(order, history=steps))
                except MixflowError as refused:  # one order the plant cannot take must not keep it down
                    log.error("web order %s, stored while the plant was away, cannot be taken up: %s",
                              order.id, refused)
                    continue
                if order.promised_s is not None:
                    self.scheduler.keep_promise(replace(order, history=steps), now)
                self._web_orders[order.id] = len(order.history)  # what the book holds; the sync adds the rest
                taken += 1
        if taken:
            log.warning("took up %d open web orders this world did not hold", taken)

    def set_speed(self, speed: float) -> float:
        if speed < 0:
            raise ValidationError("speed", "must be >= 0")
        with self._lock:
            self._speed = speed
            self._anchor()
        return self._speed

    def _anchor(self) -> None:
        self._wall0 = time.monotonic()
        self._sim0 = self.twin.now_s

    def _orders_until_s(self) -> int:
        """End of the orders drawn so far."""
        return self._windows * self._order_days * DAY_S

    def _draw_orders(self) -> None:
        """The customers' orders of the next `order_days` days, from a random stream of their own."""
        seed = int(np.random.SeedSequence([self._seed, self._windows]).generate_state(1)[0])
        orders = order_stream(self.plant, self.catalogue, self._order_days, seed, self._orders_until_s(),
                              self._next_order)
        check_configured(self.catalogue, orders)
        for order in orders:
            self.twin.place_order(order)
        self._windows += 1
        self._next_order += len(orders)

    def _advance_to(self, target_s: int, budget_s: float | None = None) -> None:
        began = time.perf_counter()
        while target_s + DAY_S > self._orders_until_s():
            self._draw_orders()
        while self.twin.now_s < target_s:
            self.scheduler.cycle(self.factory, target_s)
            if budget_s is not None and time.perf_counter() - began > budget_s:
                break

    def step(self) -> None:
        if self._speed > 0:
            target = self._sim0 + int((time.monotonic() - self._wall0) * self._speed)
            self._advance_to(target, STEP_BUDGET_S)
            if target - self.twin.now_s > 5 * self._speed:  # cannot keep up: drop the debt
                self._anchor()

    def plant_state(self) -> tuple[list[float], list[float], list[float], dict[str, str], dict[str, bool]]:
        agvs = self.twin.agvs
        raw = self.twin.snapshot()
        stopped = {line["id"]: bool(line["stopped"]) for line in raw["lines"]}  # type: ignore[attr-defined]
        self._units = {line["id"]: (list(line["trucks"]), len(line["queue"]))
                       for line in raw["lines"]}  # type: ignore[attr-defined]
        return (agvs.x.tolist(), agvs.y.tolist(), agvs.soc.round(3).tolist(), raw["machines"],  # type: ignore[return-value]
                stopped)

    def fleet_model_states(self) -> AgvVda:
        """From the twin's AGVs: one that moved since the plant second before drives (none while the twin
        is paused), a broken-down one has a FATAL error, and one on a charger charges."""
        agvs = self.twin.agvs
        driving = self._motion.driving(self.twin.now_s, agvs.y * agvs.floor.width + agvs.x)
        driving &= self._speed > 0
        return derived(driving, agvs.state == CHARGING, agvs.state == DOWN)

    def line_units(self) -> dict[str, tuple[list[str | None], int]]:
        """The units on each line's stations and waiting for it, as `plant_state` last saw them."""
        return self._units

    def enter_order(self, order: Order) -> None:
        """The twin builds the order as it builds its own order stream."""
        self.twin.place_order(order)

    def kpis(self, summary: dict[str, Any]) -> dict[str, Any]:
        counters = self.twin.agvs.counters
        summary["energy_kwh"] = {
            "machines": round(self.twin.machine_counters.energy_kwh, 1),
            "agv_drive": round(counters.drive_kwh, 1),
            "charging": round(counters.charge_kwh, 1),
        }
        summary["agv_collisions"] = counters.collisions
        return summary
