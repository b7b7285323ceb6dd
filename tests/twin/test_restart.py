"""The cloud scheduler killed in the middle of a run and started again on its store: the plant goes on
as if nothing happened (every truck delivered, no operation, release or part repeated, no AGV move
refused), because the restarted scheduler takes the plant up where it stands."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import numpy as np
import pytest

from mixflow.fleet.manager import RobotState
from mixflow.model import Materials, OrderStatus
from mixflow.model.port import AgvStates, Event
from mixflow.plan import PlanOptions, PlanStore, Scheduler
from mixflow.store import connect, scratch_database
from mixflow.twin import Scenario, Twin, prepare
from mixflow.twin.audit import RepeatAudit


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.services)])
def database(request) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """An empty plan database: a SQLite file, or a schema of its own on the real PostgreSQL server."""
    server = None if request.param == "sqlite" else request.getfixturevalue("postgres_url")
    with scratch_database(server) as url:
        yield url


@pytest.fixture(scope="module")
def restarted(database: str):  # type: ignore[no-untyped-def]
    """A small run whose scheduler is dropped once the plant is busy everywhere (trucks on the line,
    machines running, AGVs carrying parts) and a new one resumes from the store. On SQLite the plant
    has its materials (every flow on AGVs, machines waiting for their loads); on PostgreSQL, whose
    store code is the same, it does not, to keep the suite short."""
    scenario = Scenario(scale=0.05, days=1, drain_days=4)
    plant, catalogue, orders = prepare(scenario, 3)
    if not database.startswith("sqlite"):
        plant = replace(plant, materials=Materials(), charging=None)
    twin = Twin(plant, catalogue, orders, scenario, 3)
    plant_port = RepeatAudit(twin)
    url = database
    first = Scheduler(plant, catalogue, PlanStore(connect(url)[1]), PlanOptions(), seed=3)
    while not first.released_open:  # the quiet start (the first trucks' parts are made): written every 600 s
        first.cycle(plant_port, scenario.end_s)
    # from here on written every cycle, as the broker plant does, so the store holds all the plant was
    # told whenever it is killed; writing every cycle of the quiet start too doubled the fixture's time
    first.options = replace(first.options, flush_every_s=0)
    first.cycle(plant_port, scenario.end_s)  # one such cycle at least before it may be killed
    def on_their_way() -> int:
        return int(twin.agvs.loaded.sum()) - len(twin._holding)

    while not (first.released_open > 1 and first.shops.busy and on_their_way() > 1):
        first.cycle(plant_port, scenario.end_s)
    killed_s = twin.now_s
    before = {o: (p.slot, p.promised_s) for o, p in first.promises.items()}
    # parts on their way (a part worked on its AGV is at its station: a restart starts a new ride for it)
    held = twin._holding
    loads = {twin.agvs.ids[a]: t for a, t in twin._task_of.items() if twin.agvs.loaded[a] and a not in held}
    del first  # killed: nothing more is written
    broken = next(a for a in range(len(twin.agvs.ids)) if not twin.agvs.loaded[a])
    twin._agv_fail(broken, killed_s, [])  # fails while no scheduler listens (repaired later)

    store = PlanStore(connect(url)[1])
    second = Scheduler(plant, catalogue, store, PlanOptions(), seed=3)  # nothing is killed after it
    second.resume(store.load())
    while second.reports.waiting:  # the AGVs stand still until they have reported
        second.cycle(plant_port, scenario.end_s)
    fleet = second.fleet
    on_way = fleet.state == RobotState.TO_DROPOFF
    carried = {second.agv_ids[r]: t for r, t in enumerate(fleet.task_of) if on_way[r]}
    assert fleet.state[broken] == RobotState.BROKEN and fleet.planner.broken[broken]
    second.run(plant_port, scenario.end_s, lambda now: len(twin.delivered) < len(orders))
    return twin, second, orders, killed_s, before, (loads, carried), plant_port


def test_every_truck_is_delivered_after_the_restart(restarted) -> None:  # type: ignore[no-untyped-def]
    twin, second, orders, killed_s, _, _, _ = restarted
    assert killed_s > 0
    assert set(twin.delivered) == {o.id for o in orders}
    assert all(second.orders[o.id].status is OrderStatus.DELIVERED for o in orders)


def test_nothing_the_plant_did_is_done_again(restarted) -> None:  # type: ignore[no-untyped-def]
    _, _, orders, _, _, _, audit = restarted
    assert audit.repeats() == {"operations": 0, "releases": 0, "parts": 0}  # parts on their way included
    assert set(audit.released) == {o.id for o in orders} and audit.started and audit.parts


def test_the_fleet_is_taken_up_where_it_stood(restarted) -> None:  # type: ignore[no-untyped-def]
    """Had the restarted fleet model started the AGVs from their homes, or moved the one that failed
    while it was away, the twin would refuse its moves; had it forgotten the parts on their way, another
    AGV would fetch them again."""
    twin, second, _, _, _, (loads, carried), _ = restarted
    assert len(loads) > 1 and carried == loads  # each part on its way stays with the AGV carrying it
    assert twin.agvs.counters.refused_moves == 0 and twin.agvs.counters.collisions == 0
    assert second.kpis.material_overdue == 0


def test_promises_and_slots_are_kept(restarted) -> None:  # type: ignore[no-untyped-def]
    _, second, _, _, before, _, _ = restarted
    assert {o: (p.slot, p.promised_s) for o, p in second.promises.items() if o in before} == before


class _OneSilent(Twin):
    """The twin, whose reports leave out one AGV until `until_s` (its radio is down)."""

    silent: str = ""
    until_s: int = 0

    def poll(self, until_s: int) -> list[Event]:
        events = super().poll(until_s)
        if self.now_s >= self.until_s or not self.silent:
            return events
        kept: list[Event] = []
        for e in events:
            if isinstance(e, AgvStates) and self.silent in e.agv_ids:
                keep = np.array([a != self.silent for a in e.agv_ids])
                if not keep.any():
                    continue
                e = AgvStates(e.at_s, tuple(a for a in e.agv_ids if a != self.silent), e.x[keep], e.y[keep],
                              e.soc[keep], tuple(np.array(e.load, dtype=object)[keep]) if e.load else (),
                              tuple(np.array(e.down)[keep].tolist()) if e.down else ())
            kept.append(e)
        return kept


def test_an_agv_that_stays_silent_after_a_restart_does_not_hold_the_fleet() -> None:
    """An AGV whose reports do not come after the restart: the others move again after the grace, it
    counts as down meanwhile, and its first report puts it where it stands and back to work."""
    scenario = Scenario(scale=0.05, days=1, drain_days=4)
    plant, catalogue, orders = prepare(scenario, 3)
    plant = replace(plant, materials=Materials(), charging=None)  # AGV reports only: line calls do
    twin = _OneSilent(plant, catalogue, orders, scenario, 3)
    with scratch_database(None) as url:
        first = Scheduler(plant, catalogue, PlanStore(connect(url)[1]), PlanOptions(flush_every_s=0), seed=3)
        while not (first.released_open > 1 and twin.agvs.loaded.sum() > 1):
            first.cycle(twin, scenario.end_s)
        homes = [plant.floor.width * y + x for x, y in plant.fleet.homes]
        away = [a for a in range(len(twin.agvs.ids)) if not twin.agvs.loaded[a]
                and plant.floor.width * int(twin.agvs.y[a]) + int(twin.agvs.x[a]) != homes[a]]
        silent = away[0]
        twin.silent, twin.until_s = twin.agvs.ids[silent], twin.now_s + 1800
        del first
        store = PlanStore(connect(url)[1])
        second = Scheduler(plant, catalogue, store, PlanOptions(flush_every_s=0), seed=3)
        second.resume(store.load())
        second.run(twin, twin.until_s - 60)
        assert not second.reports.waiting and second.fleet.planner.broken[silent]
        assert [n.kind for n in second.notices].count("fleet seated") == 1
        second.run(twin, scenario.end_s, lambda now: len(twin.delivered) < len(orders))
    assert set(twin.delivered) == {o.id for o in orders}
    w = plant.floor.width
    assert int(second.fleet.positions[silent]) == w * int(twin.agvs.y[silent]) + int(twin.agvs.x[silent])
    assert not second.fleet.planner.broken[silent] and twin.agvs.counters.collisions == 0
