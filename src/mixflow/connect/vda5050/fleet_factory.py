"""Any in-process factory (the twin) with its AGVs driven through VDA 5050 vehicles on the broker.

The integration path of `mixflow demo --mqtt` onto VDA 5050: the scheduler talks to this `Factory`
as to the twin; machine and line commands go to the inner factory as they are, the fleet's commands
(`MoveAgvs`, `AssignTask`, `Charge`, `PostTask`) go to the master control, which sends them as orders
and instant actions to the vehicles. Once every vehicle that was sent a base reported standing at its
decision point (`VdaLink.settled`), the inner factory's AGVs are moved to the cells the vehicles
report, so the twin's floor follows the real vehicles: it still decides when a part is ready to pick
and what reaching a station means for the line. Vehicles that follow their orders move exactly as
planned, so the KPIs are the in-process ones. Events are the inner factory's, plus the vehicles'
`AgvDown`/`AgvUp` (a broken connection, a FATAL error, a rejected order); the master's own
`AgvStates` and `PartDelivered` would repeat what the twin reports and are left out. `vda_states`
gives each vehicle's last reported state (driving, paused, errors, mode, battery) to the plant page.

The link runs on an asyncio loop in a background thread, as `MqttFactory`'s gateway does.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np

from mixflow.connect.broker import Broker
from mixflow.connect.loop_thread import LoopThread
from mixflow.connect.vda5050.fleet_link import VdaLink
from mixflow.connect.vda5050.master import MasterControl, StateSummary
from mixflow.model.port import AgvDown, AgvUp, AssignTask, Charge, Command, Event, Factory, MoveAgvs, PostTask

_log = logging.getLogger("mixflow.connect.vda5050")


class VdaFleetFactory:
    """`inner` with its fleet behind `master` on `broker`; a step waits up to `settle_s` for the vehicles."""

    def __init__(self, inner: Factory, master: MasterControl, broker: Broker, settle_s: float = 2.0) -> None:
        self.inner = inner
        self.settle_s = settle_s
        self.unsettled_steps = 0
        self._runner = LoopThread("mixflow-vda5050")
        self.link = VdaLink(master, broker, lambda: self.inner.now_s)
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
        fleet: list[Command] = [
            c for c in commands if isinstance(c, MoveAgvs | AssignTask | Charge | PostTask)
        ]
        self.inner.submit([c for c in commands if not isinstance(c, MoveAgvs)])
        if fleet:
            for move in self._runner.call(self._drive(fleet), None):
                self.inner.submit([move])

    async def _drive(self, commands: list[Command]) -> list[MoveAgvs]:
        """Send, wait for the vehicles, and return each step as the vehicles made it."""
        self.link.submit(commands, self.inner.now_s)
        if not await self.link.settled(self.settle_s):
            self.unsettled_steps += 1
        vehicles = self.link.master.vehicles
        made = []
        for move in (c for c in commands if isinstance(c, MoveAgvs)):
            x, y = move.x.copy(), move.y.copy()
            for k, agv in enumerate(move.agv_ids):
                cell = vehicles[agv].cell
                if cell is not None:
                    x[k], y[k] = cell
            made.append(MoveAgvs(move.at_s, move.agv_ids, np.asarray(x), np.asarray(y)))
        return made

    def poll(self, until_s: int) -> Sequence[Event]:
        events = list(self.inner.poll(until_s))
        vehicle_events = self._runner.call(self._take(), None)
        return sorted(events + vehicle_events, key=lambda event: event.at_s)

    def vda_states(self, agv_ids: Sequence[str]) -> list[tuple[bool, StateSummary | None]]:
        """The vehicles' own word on their condition (`MasterControl.vda_states`), for the plant page."""
        return self.link.master.vda_states(agv_ids)

    async def _take(self) -> list[Event]:
        return [e for e in self.link.take_events() if isinstance(e, AgvDown | AgvUp)]

    def close(self) -> None:
        if self._runner.alive:
            self._runner.call(self.link.stop())
        self._runner.close()

    def __enter__(self) -> VdaFleetFactory:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()
