"""A plant with two final-assembly lines sharing the feeder shops and the fleet: promises follow each
line's `builds`, every layer (promise, sequence, release, twin, fleet, store) keeps the lines apart."""

from __future__ import annotations

import time
from dataclasses import replace

import pytest

from mixflow.errors import InfeasibleError
from mixflow.model import Materials, Not, Plant, is_
from mixflow.model.port import LineStopped, ReleaseToLine, TruckOffLine
from mixflow.plan import PlanOptions, PlanStore, Scheduler
from mixflow.promise import Promiser
from mixflow.reference import build_plant, order_stream, reference_catalogue
from mixflow.store import connect
from mixflow.twin import Scenario, Twin
from mixflow.twin.audit import RepeatAudit
from mixflow.twin.experiment import collect

HEAVY = is_("family", "tractor", "dump")


def two_line_plant(scale: float = 0.1, seed: int = 0) -> Plant:
    """The reference plant with a second line: a copy of the first with its own id and drop cells (one
    cell below each of line A's, or the nearest free cell no one else uses); A builds tractors and dump
    trucks, B the other families."""
    plant = build_plant(scale, seed)
    line_a = plant.lines[0]
    floor = plant.floor
    taken = {s.drop_cell for s in line_a.stations} | set(floor.chargers) | set(floor.parking)
    taken |= set(plant.fleet.homes) | set(floor.warehouse_cells) | set(floor.docks)
    taken |= {s.outbound_cell for s in plant.shops} | {s.inbound_cell for s in plant.shops if s.inbound_cell}
    stations = []
    for station in line_a.stations:
        x, y = station.drop_cell
        cell = next(
            (x + dx, y + dy)
            for dy in (3, 4, -1, -2, 5)
            for dx in (0, 1, -1, 2)
            if floor.is_free((x + dx, y + dy)) and (x + dx, y + dy) not in taken
        )
        taken.add(cell)
        stations.append(replace(station, drop_cell=cell))
    line_a = replace(line_a, id="A", name="Line A", builds=HEAVY)
    line_b = replace(line_a, id="B", name="Line B", stations=tuple(stations), builds=Not(HEAVY))
    return replace(plant, name="two lines", lines=(line_a, line_b))


@pytest.fixture(scope="module")
def plant() -> Plant:
    return two_line_plant()


def test_promises_follow_what_each_line_builds(plant: Plant) -> None:
    catalogue = reference_catalogue()
    orders = order_stream(plant, catalogue, 2, 0)
    promiser = Promiser(plant, catalogue)
    promises = {o.id: promiser.promise(o, o.placed_s) for o in orders}
    by_line = {"A": 0, "B": 0}
    for order in orders:
        line = promises[order.id].line
        by_line[line] += 1
        assert line == ("A" if order.configuration["family"] in ("tractor", "dump") else "B")
        assert promiser.books[line].slot_of[order.id] == promises[order.id].slot
    assert by_line["A"] > 0 and by_line["B"] > 0
    # each line's slots are its own: the same slot number may be promised on both
    assert len({(p.line, p.slot) for p in promises.values()}) == len(orders)


def test_an_order_no_line_builds_is_refused(plant: Plant) -> None:
    catalogue = reference_catalogue()
    order = order_stream(plant, catalogue, 1, 0)[0]
    only_b = replace(plant, lines=(plant.lines[1],))
    config = dict(order.configuration, family="tractor")
    with pytest.raises(InfeasibleError, match="no line"):
        Promiser(only_b, catalogue).promise(replace(order, configuration=config), order.placed_s)


class _Recording(Twin):
    def __init__(self, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
        super().__init__(*args, **kwargs)
        self.releases: list[ReleaseToLine] = []
        self.events: list[object] = []

    def submit(self, commands) -> None:  # type: ignore[no-untyped-def]
        self.releases += [c for c in commands if isinstance(c, ReleaseToLine)]
        super().submit(commands)

    def poll(self, until_s: int):  # type: ignore[no-untyped-def]
        events = super().poll(until_s)
        self.events += [e for e in events if isinstance(e, LineStopped | TruckOffLine)]
        return events


def test_a_two_line_plant_delivers_every_order_on_both_lines(plant: Plant, tmp_path) -> None:  # type: ignore[no-untyped-def]
    catalogue = reference_catalogue()
    scenario = Scenario(scale=0.1, days=1, drain_days=4)
    plant = replace(plant, materials=Materials())  # the lines are the point, not the supply
    orders = order_stream(plant, catalogue, scenario.days, 0)
    twin = _Recording(plant, catalogue, orders, scenario, 0)
    store = PlanStore(connect(f"sqlite:///{tmp_path / 'plan.db'}")[1])
    scheduler = Scheduler(plant, catalogue, store)
    began = time.perf_counter()

    def progress(now: int) -> bool:
        return not (now >= DAY and len(twin.delivered) >= len(orders))

    DAY = scenario.days * 86_400
    scheduler.run(twin, scenario.end_s, progress)
    result = collect(scenario, 0, plant, scheduler, twin, time.perf_counter() - began, False)
    kpis = result.kpis
    assert kpis["delivered"] == len(orders) and kpis["agv_collisions"] == 0
    assert kpis["promises_kept"] == 1.0
    line_of = {p.order_id: p.line for p in scheduler.promises.values()}
    assert {r.line for r in twin.releases} == {"A", "B"}
    for release in twin.releases:
        assert release.line == line_of[release.order_id]
        family = scheduler.orders[release.order_id].configuration["family"]
        assert (release.line == "A") == (family in ("tractor", "dump"))
    offs = [e for e in twin.events if isinstance(e, TruckOffLine)]
    assert all(e.line == line_of[e.order_id] for e in offs)
    assert {e.line for e in offs} == {"A", "B"}
    assert kpis["lines"]["A"]["entered"] > 0 and kpis["lines"]["B"]["entered"] > 0
    assert sum(v["entered"] for v in kpis["lines"].values()) == len(orders)
    # the test and handover follow each unit's own line; both sequences are kept apart
    assert set(scheduler.line_sequences["A"]) | set(scheduler.line_sequences["B"]) == set(line_of)
    assert not set(scheduler.line_sequences["A"]) & set(scheduler.line_sequences["B"])
    # the store keeps each promise's line
    saved = store.load()
    assert {o: p.line for o, p in saved.promises.items()} == line_of
    snap = twin.snapshot()
    assert [line["id"] for line in snap["lines"]] == ["A", "B"]  # type: ignore[index]


def test_a_restart_takes_both_lines_up_where_they_stand(plant: Plant, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Killed with trucks on both lines, the scheduler resumes each truck on its own line: nothing is
    released or done twice, every order is delivered, each promise keeps its line and slot. (The lines
    are the point: material across a restart is `test_restart`'s.)"""
    plant = replace(plant, materials=Materials(), charging=None)
    catalogue = reference_catalogue()
    scenario = Scenario(scale=0.1, days=1, drain_days=4)
    orders = order_stream(plant, catalogue, scenario.days, 0)
    twin = Twin(plant, catalogue, orders, scenario, 0)
    audit = RepeatAudit(twin)
    url = f"sqlite:///{tmp_path / 'plan.db'}"
    options = PlanOptions(flush_every_s=0)
    first = Scheduler(plant, catalogue, PlanStore(connect(url)[1]), options)
    while not all(first._open_on[line] > 1 for line in ("A", "B")):
        first.cycle(audit, scenario.end_s)
    before = {o: (p.line, p.slot, p.promised_s) for o, p in first.promises.items()}
    del first
    store = PlanStore(connect(url)[1])
    second = Scheduler(plant, catalogue, store, options)
    second.resume(store.load())
    second.run(audit, scenario.end_s, lambda now: len(twin.delivered) < len(orders))
    assert set(twin.delivered) == {o.id for o in orders}
    assert audit.repeats() == {"operations": 0, "releases": 0, "parts": 0}
    assert {o: (p.line, p.slot, p.promised_s) for o, p in second.promises.items() if o in before} == before
    assert twin.agvs.counters.refused_moves == 0 and twin.agvs.counters.collisions == 0
