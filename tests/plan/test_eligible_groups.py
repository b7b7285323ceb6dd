"""A routing step that names several machine groups: the plan, the pull rule and a whole run use them all.

The reference plant's frame routing gets its frame_rivet steps `groups=("frame_rivet", "frame_drill")`:
a rivet operation may then run on a drill machine, which pays the drill's setup on a wheelbase change.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import replace

import numpy as np
import pytest

from mixflow.model import DAY_S, Plant
from mixflow.model.port import (
    Command,
    MachineDown,
    OperationDone,
    OperationStarted,
    OrderPlaced,
    StartOperation,
)
from mixflow.plan import PlanOptions, PlanStore, Scheduler
from mixflow.plan.shop_plan import plan_shops
from mixflow.plan.shops import PlannedOp, ShopDispatch
from mixflow.reference import build_plant, order_stream, reference_catalogue
from mixflow.schedule import check
from mixflow.schedule.plant import line_slots, plant_day
from mixflow.store import connect
from mixflow.twin import Scenario, Twin, prepare
from mixflow.twin.experiment import collect
from tests.plan.scripted import ScriptedFactory

RIVET, DRILL = "frame_rivet", "frame_drill"
BOTH = (RIVET, DRILL)


def either_group(plant: Plant) -> Plant:
    """`plant` with every frame_rivet step of the frame routing open to frame_drill machines too."""
    routings = tuple(
        replace(r, steps=tuple(replace(s, groups=BOTH) if s.groups == (RIVET,) else s for s in r.steps))
        if r.part == "frame"
        else r
        for r in plant.routings
    )
    return replace(plant, routings=routings)




@pytest.fixture(scope="module")
def world():  # type: ignore[no-untyped-def]
    plant = either_group(build_plant(0.1))
    catalogue = reference_catalogue()
    return plant, catalogue, order_stream(plant, catalogue, 1, 0)


def _group_of(plant: Plant) -> dict[str, str]:
    return {m.id: g.id for g in plant.machine_groups for m in g.machines}


def _is_rivet(plant: Plant, op_id: str) -> bool:
    """Whether a scheduler operation id (order/part/step) is one of the frame routing's rivet steps."""
    fields = op_id.split("/")
    if len(fields) != 3:  # the end-of-line test of a unit
        return False
    _, part, step = fields
    routing = plant.routing(part)
    return routing is not None and routing.steps[int(step) - 1].groups == BOTH


def test_an_operation_may_take_the_machines_of_every_eligible_group(world) -> None:  # type: ignore[no-untyped-def]
    plant, catalogue, orders = world
    slots = line_slots(plant, orders[:8], DAY_S)
    day = plant_day(plant, catalogue, slots)
    group_of = _group_of(plant)
    drill = plant.group_index[DRILL]
    seen = 0
    for job, data_job in zip(day.jobs, day.data.jobs, strict=True):
        if job.part != "frame":
            continue
        for op, data_op in zip(job.operations, data_job.operations, strict=True):
            groups = {group_of[day.machine_ids[mode.machine]] for mode in data_op.modes}
            assert groups == {op.group} or op.group == RIVET
            if op.group == RIVET:
                seen += 1
                assert groups == set(BOTH)
    assert seen > 0
    # a drill machine pays its setup when the wheelbase changes, whichever operation it runs
    config_of = {slot.order.id: slot.order.configuration for slot in slots}
    m = day.machine_ids.index(drill.machines[0].id)
    matrix = day.data.machines[m].setup_times
    assert matrix is not None and drill.setup_family is not None
    family_wheelbase: dict[int, str] = {}
    for job, data_job in zip(day.jobs, day.data.jobs, strict=True):
        for data_op in data_job.operations:
            if any(mode.machine == m for mode in data_op.modes):
                wheelbase = config_of[job.order_id][drill.setup_family]
                assert family_wheelbase.setdefault(data_op.family, wheelbase) == wheelbase
    for a, wa in family_wheelbase.items():
        for b, wb in family_wheelbase.items():
            assert matrix[a][b] == (0 if wa == wb else drill.setup_s)


def test_the_plan_puts_rivet_work_on_drill_machines_while_the_rivets_are_down(world) -> None:  # type: ignore[no-untyped-def]
    plant, catalogue, orders = world
    group_of = _group_of(plant)
    now = orders[7].placed_s
    scheduler = Scheduler(plant, catalogue, options=PlanOptions(replan_every_s=10**6))
    factory = ScriptedFactory(now)
    rivets = [m.id for m in plant.group_index[RIVET].machines]
    factory.script = [
        *(MachineDown(now, m) for m in rivets),
        *(OrderPlaced(o.placed_s, o) for o in orders[:8]),
    ]
    scheduler.run(factory, now + 120)
    plan = scheduler.shop_plan
    assert plan is not None and scheduler.kpis.shop_plan_fallbacks == 0
    on = {group_of[m] for m, ops in plan.by_machine.items() for op in ops if _is_rivet(plant, op)}
    assert DRILL in on  # every rivet machine is down: the drills take rivet work meanwhile
    repaired_s = now + plant.group_index[RIVET].mttr_s
    for m, ops in plan.by_machine.items():
        for op in ops:
            if _is_rivet(plant, op) and group_of[m] == RIVET:
                assert plan.result.start[plan.op_ids.index(op)] >= repaired_s
    # the same problem with every machine free uses both groups
    chains = {key: [op.id for op in chain] for key, chain in scheduler._chains.items()}
    first = dict.fromkeys(chains, 0)
    slots = [(scheduler.orders[o.id], scheduler.promises[o.id].slot_s) for o in orders[:8]]
    free = plan_shops(plant, catalogue, slots, chains, first, {}, now, "dispatch", 1.0, 0)
    assert free is not None
    assert check(free.data, free.result.machine, free.result.start, free.result.end).feasible
    on_free = {group_of[m] for m, ops in free.by_machine.items() for op in ops if _is_rivet(plant, op)}
    assert RIVET in on_free


def test_the_pull_rule_gives_an_idle_machine_of_the_second_group_the_work(world) -> None:  # type: ignore[no-untyped-def]
    plant, _, _ = world
    shops = ShopDispatch(plant)
    drill = plant.group_index[DRILL]
    rivets = [m.id for m in plant.group_index[RIVET].machines]
    drills = [m.id for m in drill.machines]
    for m in rivets:
        shops.machine_down(m)
    for m in drills[1:]:
        shops.machine_down(m)

    def op(name: str, groups: tuple[str, ...]) -> PlannedOp:
        keys = tuple(f"rivet:{g}" for g in groups)
        return PlannedOp(name, "O1", "frame", groups[0], 60, keys[0], False, groups, keys)

    shops.add(op("drill-late", (DRILL,)), priority=9)
    shops.add(op("rivet-early", BOTH), priority=3)
    shops.add(op("rivet-later", BOTH), priority=3)
    starts = shops.dispatch(0)
    # the one free drill machine takes the earliest slot first, whichever queue holds it
    assert [(s.operation_id, s.machine_id) for s in starts] == [("rivet-early", drills[0])]
    assert starts[0].setup_key == f"rivet:{DRILL}"  # set up as a drill machine sets up
    shops.finished(drills[0])
    assert [s.operation_id for s in shops.dispatch(10)] == ["rivet-later"]  # same slot: first ready
    shops.finished(drills[0])
    assert [s.operation_id for s in shops.dispatch(20)] == ["drill-late"]
    # a rivet machine back up takes rivet work before any drill machine is asked
    shops.add(op("rivet-3", BOTH), priority=1)
    shops.machine_up(rivets[0])
    starts = shops.dispatch(30)
    assert [(s.operation_id, s.machine_id) for s in starts] == [("rivet-3", rivets[0])]
    assert starts[0].setup_key == f"rivet:{RIVET}"
    # with a machine of each group free, the first eligible group's takes the work
    shops.finished(drills[0])
    shops.finished(rivets[0])
    shops.add(op("rivet-4", BOTH), priority=5)
    assert [s.machine_id for s in shops.dispatch(40)] == [rivets[0]]


def test_rivet_work_waits_on_a_drill_machine_through_a_restart(world, tmp_path) -> None:  # type: ignore[no-untyped-def]
    plant, catalogue, orders = world
    group_of = _group_of(plant)
    url = f"sqlite:///{tmp_path / 'plan.db'}"
    options = PlanOptions(flush_every_s=0, shop_solver="none")
    scheduler = Scheduler(plant, catalogue, PlanStore(connect(url)[1]), options)
    now = orders[0].placed_s
    factory = ScriptedFactory(now - 1)
    rivets = [m.id for m in plant.group_index[RIVET].machines]
    frames = [o for o in orders if "frame" in {w.part for w in _works(plant, catalogue, o)}][:3]
    downs = [MachineDown(now - 1, m) for m in rivets]
    factory.script = [*downs, *(OrderPlaced(o.placed_s, o) for o in frames)]
    end = frames[-1].placed_s + 60
    scheduler.run(factory, end)
    # walk each frame job up to its first rivet step: report the earlier operations done
    for _ in range(40):
        started = [s for s in factory.commands if isinstance(s, StartOperation) and s.part == "frame"]
        if any(_is_rivet(plant, s.operation_id) for s in started):
            break
        end += 60
        busy = {op.id for op in scheduler.shops.busy.values()}
        factory.script = [
            e
            for s in started
            if s.operation_id in busy
            for e in (
                OperationStarted(end - 50, s.operation_id, s.machine_id),
                OperationDone(end - 40, s.operation_id, s.machine_id),
            )
        ]
        scheduler.run(factory, end)
    sent = {
        s.operation_id: s.machine_id
        for s in factory.commands
        if isinstance(s, StartOperation) and _is_rivet(plant, s.operation_id)
    }
    assert sent and {group_of[m] for m in sent.values()} == {DRILL}
    running = {m: op.id for m, op in scheduler.shops.busy.items()}
    del scheduler

    store = PlanStore(connect(url)[1])
    restarted = Scheduler(plant, catalogue, store, options)
    restarted.resume(store.load())
    again = ScriptedFactory(end)
    restarted.run(again, end + 600)
    assert {m: op.id for m, op in restarted.shops.busy.items()} == running
    sent_again = {s.operation_id for s in again.commands if isinstance(s, StartOperation)}
    assert not sent_again & set(running.values())


def _works(plant, catalogue, order):  # type: ignore[no-untyped-def]
    config = order.configuration
    return plant.feeder_operations(config, catalogue.attributes(config))


def test_a_short_run_delivers_every_order_with_its_promise() -> None:
    scenario = Scenario(scale=0.1, days=1, drain_days=4, materials=False)
    seed = 3
    plant, catalogue, orders = prepare(scenario, seed)
    plant = either_group(plant)
    twin = Twin(plant, catalogue, orders, scenario, seed)
    scheduler = Scheduler(plant, catalogue, None, PlanOptions(), seed=seed)
    ran_on: dict[str, set[str]] = {RIVET: set(), DRILL: set()}
    group_of = _group_of(plant)
    submit = twin.submit

    def watch(commands: Sequence[Command]) -> None:
        for c in commands:
            if isinstance(c, StartOperation) and _is_rivet(plant, c.operation_id):
                ran_on[group_of[c.machine_id]].add(c.operation_id)
        submit(commands)

    twin.submit = watch  # type: ignore[method-assign]

    def progress(now: int) -> bool:
        return not (now >= scenario.days * DAY_S and len(twin.delivered) >= len(orders))

    began = time.perf_counter()
    scheduler.run(twin, scenario.end_s, progress)
    k = collect(scenario, seed, plant, scheduler, twin, time.perf_counter() - began, False).kpis
    assert k["orders"] > 0 and k["delivered"] == k["orders"] == len(orders)
    assert k["promises_kept"] == 1.0
    assert ran_on[RIVET] or ran_on[DRILL]
    run_s = scheduler.kpis.run_s
    assert run_s.get(RIVET, 0) > 0  # OEE counts the group of the machine that ran the work
    assert np.isfinite(float(run_s.get(DRILL, 0)))
