"""The scheduler against a scripted factory (no twin): promises, dispatch, repair, persistence, restart."""

from __future__ import annotations

from collections import Counter

import pytest

from mixflow.errors import ValidationError
from mixflow.model import DAY_S, OrderStatus
from mixflow.model.port import (
    Factory,
    MachineDown,
    MachineUp,
    OperationDone,
    OperationStarted,
    OrderPlaced,
    StartOperation,
    TruckDelivered,
)
from mixflow.plan import PlanOptions, PlanStore, Scheduler
from mixflow.store import connect
from tests.plan.scripted import ScriptedFactory


def _starts(factory: ScriptedFactory) -> list[StartOperation]:
    return [c for c in factory.commands if isinstance(c, StartOperation)]


def test_an_order_is_promised_and_its_part_jobs_start(world) -> None:  # type: ignore[no-untyped-def]
    plant, catalogue, orders = world
    factory = ScriptedFactory()
    assert isinstance(factory, Factory)
    scheduler = Scheduler(plant, catalogue)
    order = orders[0]
    factory.script = [OrderPlaced(order.placed_s, order)]
    scheduler.run(factory, order.placed_s + 120)
    assert scheduler.orders[order.id].status is OrderStatus.SEQUENCED
    promise = scheduler.promises[order.id]
    assert promise.promised_s >= order.requested_s
    starts = _starts(factory)
    config = order.configuration
    parts = {w.part for w in plant.feeder_operations(config, catalogue.attributes(config))}
    assert {s.part for s in starts} == parts  # the first operation of every part job
    for s in starts:
        assert s.duration_s > 0 and s.order_id == order.id
        assert scheduler.shops.group_of[s.machine_id] == scheduler.shops.busy[s.machine_id].group


def test_the_next_operation_follows_when_one_is_done(world) -> None:  # type: ignore[no-untyped-def]
    plant, catalogue, orders = world
    factory = ScriptedFactory()
    scheduler = Scheduler(plant, catalogue)
    order = orders[0]
    factory.script = [OrderPlaced(order.placed_s, order)]
    scheduler.run(factory, order.placed_s + 60)
    first = next(s for s in _starts(factory) if s.part == "cab")
    t = order.placed_s + 100
    factory.script = [OperationStarted(t, first.operation_id, first.machine_id),
                      OperationDone(t + 50, first.operation_id, first.machine_id)]
    factory.commands.clear()
    scheduler.run(factory, t + 120)
    follow = [s for s in _starts(factory) if s.part == "cab"]
    assert len(follow) == 1 and follow[0].operation_id.endswith("/2")


def test_a_broken_machine_gets_no_work_and_the_order_is_checked(world) -> None:  # type: ignore[no-untyped-def]
    plant, catalogue, orders = world
    factory = ScriptedFactory()
    scheduler = Scheduler(plant, catalogue)
    group = next(g for g in plant.machine_groups if g.operation == "cab_press")
    # every cab_press machine but one breaks before the orders arrive
    downs = [MachineDown(1, m.id) for m in group.machines[1:]]
    factory.script = [*downs, *(OrderPlaced(o.placed_s, o) for o in orders[:5])]
    scheduler.run(factory, orders[4].placed_s + 60)
    presses = {s.machine_id for s in _starts(factory) if s.machine_id.startswith("cab_press")}
    assert presses == {group.machines[0].id}
    assert len(scheduler.shops.queues[group.id]) == 4  # the rest wait for the one machine


def test_a_machine_reported_up_without_being_seen_down_still_runs_one_operation(world) -> None:  # type: ignore[no-untyped-def]
    """After a restart the scheduler may hear a machine come back up that it never saw go down; the
    machine must not count as free twice (it was given a second operation while busy)."""
    plant, catalogue, orders = world
    factory = ScriptedFactory()
    scheduler = Scheduler(plant, catalogue)
    ups = [MachineUp(1, m.id) for m in plant.machines]
    factory.script = [*ups, *(OrderPlaced(o.placed_s, o) for o in orders[:8])]
    scheduler.run(factory, orders[7].placed_s + 60)
    per_machine = Counter(s.machine_id for s in _starts(factory))  # nothing reports done: one each
    assert per_machine and max(per_machine.values()) == 1


def test_promises_survive_a_restart(world, tmp_path) -> None:  # type: ignore[no-untyped-def]
    plant, catalogue, orders = world
    _, sessions = connect(f"sqlite:///{tmp_path / 'plan.db'}")
    factory = ScriptedFactory()
    scheduler = Scheduler(plant, catalogue, PlanStore(sessions))
    factory.script = [OrderPlaced(o.placed_s, o) for o in orders[:6]]
    scheduler.run(factory, orders[5].placed_s + 60)
    del scheduler  # killed

    _, sessions = connect(f"sqlite:///{tmp_path / 'plan.db'}")
    store = PlanStore(sessions)
    saved = store.load()
    restarted = Scheduler(plant, catalogue, store)
    restarted.resume(saved)
    assert set(restarted.orders) == {o.id for o in orders[:6]}
    for o in orders[:6]:
        assert restarted.promises[o.id] == saved.promises[o.id]
        assert restarted.orders[o.id].promised_s == saved.promises[o.id].promised_s
    # a new order cannot take a slot promised before the restart
    factory = ScriptedFactory()
    factory.now = orders[6].placed_s - 1
    factory.script = [OrderPlaced(orders[6].placed_s, orders[6])]
    restarted.run(factory, orders[6].placed_s + 60)
    taken = {p.slot for o, p in restarted.promises.items() if o != orders[6].id}
    assert restarted.promises[orders[6].id].slot not in taken
    assert len(store.load().promises) == 7


def test_the_shops_follow_the_solved_plan(world) -> None:  # type: ignore[no-untyped-def]
    plant, catalogue, orders = world
    factory = ScriptedFactory()
    scheduler = Scheduler(plant, catalogue, options=PlanOptions(replan_every_s=10**6))
    t0 = factory.now = orders[4].placed_s  # the five orders come in at once
    factory.script = [OrderPlaced(o.placed_s, o) for o in orders[:5]]
    scheduler.run(factory, t0 + 120)
    plan = scheduler.shop_plan
    assert plan is not None and scheduler.kpis.shop_plan_fallbacks == 0
    starts = _starts(factory)
    shops = scheduler.shops
    assert shops.from_plan > 0 and shops.from_plan + shops.by_pull == len(starts)
    for s in starts:  # a planned operation runs where the plan put it, or elsewhere while that one is busy
        planned = plan.machine_of(s.operation_id)
        assert planned is None or planned == s.machine_id or planned in shops.busy
        if planned is None:  # the pull rule takes what lies beyond the plan's horizon
            assert scheduler.promises[s.order_id].slot_s > t0 + scheduler.options.shop_horizon_s


def test_a_machine_down_moves_only_its_planned_operations(world) -> None:  # type: ignore[no-untyped-def]
    plant, catalogue, orders = world
    factory = ScriptedFactory()
    scheduler = Scheduler(plant, catalogue, options=PlanOptions(replan_every_s=10**6))
    t0 = factory.now = orders[7].placed_s
    factory.script = [OrderPlaced(o.placed_s, o) for o in orders[:8]]
    scheduler.run(factory, t0 + 120)
    plan = scheduler.shop_plan
    assert plan is not None
    started = set(scheduler.shops.started)
    t = t0 + 200
    mttr = {m.id: g.mttr_s for g in plant.machine_groups for m in g.machines}

    def waiting_on(machine: str) -> list[str]:  # planned there, not started, due to start before the repair
        return [
            o for o in plan.by_machine[machine]
            if o not in started and plan.result.start[plan.op_ids.index(o)] < t + mttr[machine]
        ]

    victim = next(m for m in sorted(plan.by_machine) if waiting_on(m))
    waiting = waiting_on(victim)
    before = {op: m for m, ops in plan.by_machine.items() for op in ops}
    factory.commands.clear()
    factory.script = [MachineDown(t, victim)]
    scheduler.run(factory, t + 60)
    assert scheduler.kpis.repairs == 1
    after = {op: m for m, ops in plan.by_machine.items() for op in ops}
    moved = {op for op in after if after[op] != before[op] and op not in started}
    assert moved and moved <= set(waiting)  # only the down machine's operations changed machine
    assert all(after[op] != victim for op in moved)
    assert victim not in {s.machine_id for s in _starts(factory)}
    for s in _starts(factory):  # the repaired operations start where the repaired plan put them
        if s.operation_id in moved:
            assert s.machine_id == after[s.operation_id]


def test_an_operation_sent_but_not_yet_begun_is_not_sent_again_after_a_restart(world, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """The machine may not have begun (or reported) an operation when the scheduler dies: the store
    holds it from the moment it is sent, so the restarted scheduler waits for that machine instead of
    sending the operation again (the plant would run it twice and report its end once)."""
    plant, catalogue, orders = world
    url = f"sqlite:///{tmp_path / 'plan.db'}"
    factory = ScriptedFactory()
    scheduler = Scheduler(plant, catalogue, PlanStore(connect(url)[1]), PlanOptions(flush_every_s=0))
    factory.script = [OrderPlaced(o.placed_s, o) for o in orders[:4]]
    scheduler.run(factory, orders[3].placed_s + 60)  # no machine reports anything
    sent = {s.operation_id: s.machine_id for s in _starts(factory)}
    assert sent
    del scheduler

    store = PlanStore(connect(url)[1])
    restarted = Scheduler(plant, catalogue, store, PlanOptions(flush_every_s=0))
    restarted.resume(store.load())
    again = ScriptedFactory()
    again.now = factory.now
    restarted.run(again, factory.now + 600)
    assert not {s.operation_id for s in _starts(again)} & set(sent)
    assert {m: op.id for m, op in restarted.shops.busy.items()} == {m: o for o, m in sent.items()}


def test_a_service_forgets_orders_delivered_long_ago(world) -> None:  # type: ignore[no-untyped-def]
    """With `forget_after_s` the scheduler lets orders delivered longer ago than that go (order, promise,
    slot, KPIs), so a plant served for years does not grow its memory; newer orders stay."""
    plant, catalogue, orders = world
    factory = ScriptedFactory()
    scheduler = Scheduler(plant, catalogue, options=PlanOptions(forget_after_s=DAY_S))
    old, new = orders[:3], orders[3:5]
    delivered_s = new[-1].placed_s + 60
    factory.script = [
        *(OrderPlaced(o.placed_s, o) for o in orders[:5]),
        *(TruckDelivered(delivered_s, o.id) for o in old),
    ]
    scheduler.run(factory, delivered_s + DAY_S - 60)
    assert all(o.id in scheduler.orders and o.id in scheduler.kpis.delivered_s for o in old)
    scheduler.run(factory, delivered_s + DAY_S + 120)
    for o in old:
        assert o.id not in scheduler.orders and o.id not in scheduler.promises
        assert o.id not in scheduler.promiser.book_of("").slot_of and o.id not in scheduler.kpis.delivered_s
    assert all(o.id in scheduler.orders and o.id in scheduler.promises for o in new)
    with pytest.raises(ValidationError, match="forget_after_s"):
        PlanOptions(forget_after_s=60)
