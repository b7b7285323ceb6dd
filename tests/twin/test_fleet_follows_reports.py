"""An AGV that did not make a move the fleet model planned (a refused move, a person in the way): the
model takes the AGV's next report as the truth and goes on from where it really stands."""

from __future__ import annotations

import numpy as np

from mixflow.model.port import MoveAgvs
from mixflow.plan import PlanOptions, Scheduler
from mixflow.twin import Scenario, Twin, prepare


class _StuckOnce(Twin):
    """The twin, in which every AGV on an errand stays put once, at one step after `at_s`."""

    def __init__(self, *args, at_s: int) -> None:  # type: ignore[no-untyped-def]
        super().__init__(*args)
        self.at_s = at_s
        self.stuck: list[int] = []

    def _move(self, command: MoveAgvs) -> None:
        if not self.stuck and command.at_s >= self.at_s:
            idx = self.agvs.indices(command.agv_ids)
            moving = np.flatnonzero((command.x != self.agvs.x[idx]) | (command.y != self.agvs.y[idx]))
            if len(moving):
                self.stuck = moving.tolist()
                x, y = command.x.copy(), command.y.copy()
                x[moving], y[moving] = self.agvs.x[idx[moving]], self.agvs.y[idx[moving]]
                command = MoveAgvs(command.at_s, command.agv_ids, x, y)
        super()._move(command)


def test_the_fleet_model_follows_the_agvs_reports() -> None:
    scenario = Scenario(scale=0.05, days=1, drain_days=4, materials=False)
    plant, catalogue, orders = prepare(scenario, 3)
    twin = _StuckOnce(plant, catalogue, orders, scenario, 3, at_s=150_000)
    scheduler = Scheduler(plant, catalogue, None, PlanOptions(), seed=3)
    scheduler.run(twin, scenario.end_s, lambda now: len(twin.delivered) < len(orders))
    assert twin.stuck  # some AGVs did stay put
    assert set(twin.delivered) == {o.id for o in orders}
    assert twin.agvs.counters.collisions == 0
    # each stuck AGV's moves are refused only until its next report (at most a minute of steps)
    assert twin.agvs.counters.refused_moves <= 61 * len(twin.stuck)
    assert scheduler.kpis.agv_resyncs == len(twin.stuck)
