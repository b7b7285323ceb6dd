"""A real plant behind the MQTT broker, under the cloud scheduler: what `mixflow serve --mqtt URL` shows.

The factory is `mixflow.connect`'s `MqttFactory` (devices registered with `mixflow connect provision`
in the same database); time is the wall clock, counted from the plant's plan epoch. The floor map
shows the plant as the scheduler knows it from the devices' reports: AGV positions and charge from
their state messages, machine states from their events, and each AGV's VDA 5050 state (driving, FATAL
error, charging) derived from the fleet model, since the fleet device does not speak VDA 5050.

The scheduler writes every decision to the database before the devices are told of it and every
report as it comes (`PlanStore`, flushed each cycle), and a restart takes the plan up where the plant
stands (`Scheduler.resume`): promises and slots, running operations, trucks on the line, parts on
their way; the web orders' progress goes on into the order book. The AGVs wait for their first
report before they move again.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from mixflow.api.agv_states import AgvVda, Motion, derived
from mixflow.api.planned_plant import PlannedPlant
from mixflow.api.settings import Settings
from mixflow.connect.factory import MqttFactory
from mixflow.connect.gateway import now_ms
from mixflow.connect.registry import Registry
from mixflow.errors import ValidationError
from mixflow.fleet.manager import RobotState
from mixflow.model import Order
from mixflow.plan import PlanOptions, PlanStore, Scheduler
from mixflow.plan.state import FINISHED, FINISHED_KEPT_S
from mixflow.store import connect, order_book, shown_url

log = logging.getLogger("mixflow.api")


class BrokerPlant(PlannedPlant):
    """The reference plant's devices on a broker, driven by the scheduler in real time."""

    thread_name = "mixflow-broker-plant"

    def __init__(self, settings: Settings) -> None:
        if settings.mqtt_url is None:
            raise ValidationError("--mqtt", "needs the broker URL")
        engine, sessions = connect(settings.db_url)
        registry = Registry.load(engine, settings.plant_id)
        if not len(registry):
            raise ValidationError("--plant-id", f"no devices registered for plant {settings.plant_id!r} in "
                                  f"{shown_url(settings.db_url)} (run `mixflow connect provision` first)")
        plant = settings.plant()
        catalogue = settings.catalogue()
        store = PlanStore(sessions)
        epoch_ms = store.epoch_ms(settings.plant_id, now_ms())
        saved = store.load(now_s=max(0, (now_ms() - epoch_ms) // 1000))
        self.mqtt = MqttFactory(settings.broker(), registry, epoch_ms=epoch_ms, engine=engine)
        options = PlanOptions(flush_every_s=0, forget_after_s=FINISHED_KEPT_S)
        scheduler = Scheduler(plant, catalogue, store, options, seed=settings.seed)
        scheduler.resume(saved)
        self._motion = Motion()
        super().__init__(plant, catalogue, scheduler, self.mqtt, datetime.fromtimestamp(epoch_ms / 1000, UTC))
        with sessions() as session:
            unfinished = [o for o, order in saved.orders.items() if order.status not in FINISHED]
            self._web_orders = dict.fromkeys(order_book.known(session, unfinished), 0)
            unheard = [o for o in order_book.only_placed(session) if o.id not in saved.orders]
        for order in unheard:  # stored by the web app while the plant was down: promised now
            self.place(order)
            self._web_orders[order.id] = 1  # the book holds its first step; the sync writes the rest
        if saved.orders or unheard:
            log.warning("took up the plan of plant %r: %d orders, %d of them web orders still in the plant; "
                        "%d web orders placed while it was down", settings.plant_id, len(saved.orders),
                        len(self._web_orders) - len(unheard), len(unheard))
        self._snapshot = self.take_snapshot()

    @classmethod
    def start(cls, settings: Settings) -> BrokerPlant:
        live = cls(settings)
        live._thread.start()
        broker = live.mqtt.gateway.broker.display()  # the password masked
        log.warning("scheduling the plant %r behind %s", settings.plant_id, broker)
        return live

    def step(self) -> None:
        # waits at most a second for the devices, so a web request never waits long for the lock
        self.scheduler.cycle(self.factory, self.factory.now_s + 1)

    def set_speed(self, speed: float) -> float:
        if speed != 1.0:
            raise ValidationError("speed", "a real plant runs in real time (speed 1 only)")
        return 1.0

    def plant_state(self) -> tuple[list[float], list[float], list[float], dict[str, str], dict[str, bool]]:
        snap = self.scheduler.snapshot(self.factory.now_s)
        agvs = snap["agvs"]
        recent = self.factory.now_s - 60
        stopped = {line: at >= recent for line, at in self.scheduler.line_stopped_s.items()}
        return (agvs["x"], agvs["y"], agvs["soc"], snap["machines"], stopped)  # type: ignore[index, return-value]

    def fleet_model_states(self) -> AgvVda:
        """From the scheduler's fleet model, as the fleet device's reports keep it: an AGV that moved since
        the plant second before drives, one whose fault was reported has a FATAL error, one sent to
        charge charges."""
        fleet = self.scheduler.fleet
        driving = self._motion.driving(self.factory.now_s, fleet.positions)
        return derived(driving, fleet.state == RobotState.CHARGING, fleet.state == RobotState.BROKEN)

    def close(self) -> None:
        if self._stop.is_set():
            return  # closed already (closing twice would stop a stopped gateway)
        super().close()
        self.mqtt.close()

    def enter_order(self, order: Order) -> None:
        """Nothing to do: a real plant learns of an order from the scheduler's commands."""
