"""Any in-process factory (the twin) with its AGVs driven through VDA 5050 vehicles on the broker.

The integration path of `mixflow demo --mqtt` onto VDA 5050: the scheduler talks to this `Factory`
as to the twin; machine and line commands go to the inner factory as they are, the fleet's commands
(`MoveAgvs`, `AssignTask`, `Charge`, `PostTask`) go to the master control, which sends them as orders
and instant actions to the vehicles. Once every vehicle that was sent a base reported standing at its
decision point (`VdaLink.settled`), the inner factory gets the batch in its order with each move
to the cells the vehicles report (a `Charge` after the move onto its charger must find the AGV
there), so the twin's floor follows the real vehicles: it still decides when a part is ready to pick
and what reaching a station means for the line. Vehicles that follow their orders move exactly as
planned, so the KPIs are the in-process ones. Events are the inner factory's, plus the vehicles'
`AgvDown`/`AgvUp` (a broken connection, a FATAL error, a rejected order); the master's own
`AgvStates` and `PartDelivered` would repeat what the twin reports and are left out. `vda_states`
gives each vehicle's last reported state (driving, paused, errors, mode, battery) to the plant page.

The link runs on an asyncio loop in a background thread, as `MqttFactory`'s gateway does.

Vehicles on the wall clock (real ones, or `simulator` in real time) drive as soon as they are sent
their step. Simulated vehicles behind a simulated plant run in lock step instead (`lockstep=True`,
see `lockstep`): `submit` only sends, and `poll` lets the vehicles drive the plant's second (the step
they were sent), waits for them, hands the cells they reached to the inner factory and lets it run to
`until_s`; the vehicles then drive whatever more plant time passed (charging while the plant idles).
So their clock is the plant's and a plant day runs as fast as the broker round trips allow. A second
step planned within one plant second (rare) needs another second of driving: the vehicles' clock then
runs ahead of the plant's by it (counted in `clock_slips_s`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np

from mixflow.connect.broker import Broker
from mixflow.connect.loop_thread import LoopThread
from mixflow.connect.vda5050.factsheets import MANUFACTURERS
from mixflow.connect.vda5050.fleet_link import VdaLink
from mixflow.connect.vda5050.master import MasterControl, StateSummary, VehicleId
from mixflow.model import Fleet, Plant
from mixflow.model.port import AgvDown, AgvUp, AssignTask, Charge, Command, Event, Factory, MoveAgvs, PostTask

_log = logging.getLogger("mixflow.connect.vda5050")


def off_the_fleet_model(master: MasterControl, fleet: Fleet) -> list[str]:
    """Vehicles whose factsheet contradicts the AGV type the planner gives them (`Fleet.spec_of`): a
    lower `maxLoadMass` (it would refuse picks the planner assigns it) or another `speedMax` (it would
    lag or outrun the plan). The planner takes each AGV's type from the plant, not from the vehicle,
    so this is what a factsheet can tell the plant's owner; one line per vehicle, also logged."""
    found = []
    for k, agv in enumerate(fleet.agv_ids):
        vehicle = master.vehicles.get(agv)
        kind = vehicle.factsheet if vehicle is not None else None
        if kind is None:
            continue
        spec = fleet.spec_of(k)
        why = []
        if kind.payload_kg + 1e-9 < spec.payload_kg:
            why.append(f"carries {kind.payload_kg:g} kg, its type {spec.id!r} {spec.payload_kg:g} kg")
        if abs(kind.speed_max_m_s - spec.speed_m_s) > 1e-9:
            why.append(f"drives {kind.speed_max_m_s:g} m/s, its type {spec.id!r} {spec.speed_m_s:g} m/s")
        if why:
            found.append(f"AGV {agv} ({kind.series}): {'; '.join(why)}")
            _log.warning("factsheet off the fleet model: %s", found[-1])
    return found


def _with_made(commands: Sequence[Command], made: Sequence[MoveAgvs]) -> list[Command]:
    """`commands` in their order, the k-th move replaced by the k-th of `made`."""
    moves = iter(made)
    return [next(moves) if isinstance(c, MoveAgvs) else c for c in commands]


def plant_fleet_ids(plant: Plant) -> list[VehicleId]:
    """The plant's AGVs as `simulator.plant_vehicles` puts them on the broker: makers alternating,
    each AGV's id its serial number."""
    return [
        VehicleId(agv, MANUFACTURERS[k % 2], agv) for k, agv in enumerate(plant.fleet.agv_ids)
    ]


class VdaFleetFactory:
    """`inner` with its fleet behind `master` on `broker`; a step waits up to `settle_s` for the vehicles."""

    def __init__(
        self,
        inner: Factory,
        master: MasterControl,
        broker: Broker,
        settle_s: float = 2.0,
        lockstep: bool = False,
    ) -> None:
        self.inner = inner
        self.settle_s = settle_s
        self.lockstep = lockstep
        self.unsettled_steps = 0  # steps the vehicles did not report done within settle_s
        self.unanswered_advances = 0  # lock step: advances the simulator did not confirm within settle_s
        self.vehicles_down = 0  # AgvDown the vehicles' own word caused (a lost connection, an error)
        self.clock_slips_s = 0  # lock step: plant seconds the vehicles drove ahead of the plant
        self._vehicles_s = inner.now_s  # lock step: how far the vehicles' clock has run
        self._held: list[Command] = []  # lock step: the batch sent, for the inner factory once driven
        self._runner = LoopThread("mixflow-vda5050")
        self.link = VdaLink(master, broker, lambda: self.inner.now_s, lockstep=lockstep)
        try:
            self._runner.call(self.link.start())
        except BaseException:
            self._runner.close()
            raise
        if not self._runner.call(self.link.heard(settle_s)):  # the plant runs on; those heard later join
            silent = [agv for agv, v in master.vehicles.items() if v.cell is None]
            _log.warning("%d VDA 5050 vehicles not heard within %.0f s (%s): moves planned for them are not "
                         "sent until they report", len(silent), settle_s, ", ".join(silent[:5]))

    @property
    def now_s(self) -> int:
        return self.inner.now_s

    def submit(self, commands: Sequence[Command]) -> None:
        """Fleet commands to the master; the batch to the inner factory in its order, each move as the
        vehicles made it (a `Charge` after the move onto the charger must find the AGV there). In lock
        step the batch waits for `poll`, where the vehicles drive."""
        fleet: list[Command] = [
            c for c in commands if isinstance(c, MoveAgvs | AssignTask | Charge | PostTask)
        ]
        if self.lockstep:
            if fleet:
                self._runner.call(self._send(fleet), None)
            self._held.extend(commands)
        elif not fleet:
            self.inner.submit(commands)
        else:
            self.inner.submit(_with_made(commands, self._runner.call(self._drive(fleet), None)))

    async def _send(self, commands: list[Command]) -> None:
        self.link.submit(commands, self.inner.now_s)

    async def _drive(self, commands: list[Command]) -> list[MoveAgvs]:
        """Send, wait for the vehicles, and return each step as the vehicles made it."""
        self.link.submit(commands, self.inner.now_s)
        if not await self.link.settled(self.settle_s):
            self.unsettled_steps += 1
        return self._made([c for c in commands if isinstance(c, MoveAgvs)])

    def _made(self, moves: list[MoveAgvs]) -> list[MoveAgvs]:
        """The planned moves with each vehicle's cell as it reported it."""
        vehicles = self.link.master.vehicles
        made = []
        for move in moves:
            x, y = move.x.copy(), move.y.copy()
            for k, agv in enumerate(move.agv_ids):
                cell = vehicles[agv].cell
                if cell is not None:
                    x[k], y[k] = cell
            made.append(MoveAgvs(move.at_s, move.agv_ids, np.asarray(x), np.asarray(y)))
        return made

    def poll(self, until_s: int) -> Sequence[Event]:
        if self.lockstep:
            if self._held:
                held, self._held = self._held, []
                moves = [c for c in held if isinstance(c, MoveAgvs)]
                made = self._runner.call(self._drive_step(moves), None) if moves else []
                self.inner.submit(_with_made(held, made))
            events = list(self.inner.poll(until_s))
            if self.inner.now_s > self._vehicles_s:
                self._runner.call(self._advance(self.inner.now_s - self._vehicles_s), None)
        else:
            events = list(self.inner.poll(until_s))
        vehicle_events = self._runner.call(self._take(), None)
        return sorted(events + vehicle_events, key=lambda event: event.at_s)

    async def _drive_step(self, moves: list[MoveAgvs]) -> list[MoveAgvs]:
        """Lock step: the vehicles drive the plant second their step takes (one more, counted, when a
        second step falls in the same plant second), then their cells."""
        dt_s = self.inner.now_s + 1 - self._vehicles_s
        if dt_s < 1:
            self.clock_slips_s += 1 - dt_s
            dt_s = 1
        await self._advance(dt_s)
        if not await self.link.settled(self.settle_s):
            self.unsettled_steps += 1
        return self._made(moves)

    async def _advance(self, dt_s: int) -> None:
        self._vehicles_s += dt_s
        if not await self.link.advance(float(dt_s), self.settle_s):
            self.unanswered_advances += 1

    def vda_states(self, agv_ids: Sequence[str]) -> list[tuple[bool, StateSummary | None]]:
        """The vehicles' own word on their condition (`MasterControl.vda_states`), for the plant page."""
        return self.link.master.vda_states(agv_ids)

    async def _take(self) -> list[Event]:
        events: list[Event] = [e for e in self.link.take_events() if isinstance(e, AgvDown | AgvUp)]
        self.vehicles_down += sum(isinstance(e, AgvDown) for e in events)
        return events

    def close(self) -> None:
        if self._runner.alive:
            self._runner.call(self.link.stop())
        self._runner.close()

    def __enter__(self) -> VdaFleetFactory:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()
