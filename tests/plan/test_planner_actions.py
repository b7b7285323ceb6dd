"""Planner actions reach the plan as the factory's events do: a machine taken down by a planner is a
`MachineDown` like a breakdown (held until a planner's up), and a rush order takes an earlier line slot,
pushing the orders in between one slot on, each re-checked."""

from __future__ import annotations

from mixflow.model import OrderStatus
from mixflow.model.port import (
    HorizonFrozen,
    MachineDown,
    MachineUp,
    OrderExpedited,
    OrderPlaced,
    ReplanRequested,
    StartOperation,
)
from mixflow.plan import PlanOptions, Scheduler
from mixflow.reference import order_stream
from tests.plan.scripted import ScriptedFactory


def _run_with_down(world, down: MachineDown) -> tuple[Scheduler, ScriptedFactory]:  # type: ignore[no-untyped-def]
    plant, catalogue, orders = world
    factory = ScriptedFactory()
    scheduler = Scheduler(plant, catalogue, options=PlanOptions(replan_every_s=10**6))
    t0 = factory.now = orders[7].placed_s
    factory.script = [OrderPlaced(o.placed_s, o) for o in orders[:8]]
    scheduler.run(factory, t0 + 120)
    factory.commands.clear()
    factory.script = [down]
    scheduler.run(factory, t0 + 4 * 3600)
    return scheduler, factory


def test_a_planner_machine_down_reaches_the_plan_like_a_breakdown(world) -> None:  # type: ignore[no-untyped-def]
    plant, _, orders = world
    t = orders[7].placed_s + 200
    machine = plant.machine_groups[0].machines[0].id
    broke, broke_factory = _run_with_down(world, MachineDown(t, machine, "breakdown"))
    planned = MachineDown(t, machine, "maintenance", by="pat", expected_s=3600)
    held, held_factory = _run_with_down(world, planned)
    for scheduler, factory in ((broke, broke_factory), (held, held_factory)):
        assert machine in scheduler.shops.down
        assert scheduler.kpis.faults == 1 and scheduler.kpis.repairs == 1
        assert not [c for c in factory.commands if isinstance(c, StartOperation) and c.machine_id == machine]
    assert held.held[machine].by == "pat" and machine not in broke.held
    # the plant's own "up" does not end a planner's hold; the planner's does
    held.consume([MachineUp(t + 10, machine)])
    assert machine in held.shops.down
    held.consume([MachineUp(t + 20, machine, by="pat")])
    assert machine not in held.shops.down and machine not in held.held


def test_a_rush_order_takes_an_earlier_slot_and_rechecks_the_orders_it_pushes(world) -> None:  # type: ignore[no-untyped-def]
    plant, catalogue, _ = world
    orders = order_stream(plant, catalogue, 10, 0)
    scheduler = Scheduler(plant, catalogue, options=PlanOptions(replan_every_s=10**6))
    burst_orders = orders[:40]
    t0 = burst_orders[-1].placed_s
    burst = [OrderPlaced(t0, o) for o in burst_orders]  # all at once: the later ones wait for line slots
    scheduler.consume(burst)
    book = scheduler.promiser.book_of(plant.lines[0].id)
    promises = scheduler.promises
    candidates = [o.id for o in burst_orders
                  if book.first_at_or_after(promises[o.id].parts_ready_s) < promises[o.id].slot]
    assert candidates, "some order waits for line capacity"
    rush = max(candidates, key=lambda o: scheduler.promises[o].slot)
    before = {o: scheduler.promises[o] for o in scheduler.promises}
    scheduler.consume([OrderExpedited(t0 + 1, rush, 1, by="pat")])
    done = scheduler.expedited[-1]
    assert done.order_id == rush and done.slot < done.was_slot == before[rush].slot
    assert scheduler.orders[rush].priority == 1
    assert scheduler.orders[rush].promised_s <= before[rush].promised_s
    assert done.pushed, "the orders in between move one slot on"
    for pushed in done.pushed:
        promise = scheduler.promises[pushed.order_id]
        assert promise.slot == pushed.slot > before[pushed.order_id].slot
        late = scheduler.promiser.delivery_after(promise.slot_s, promise.line) > promise.promised_s
        assert pushed.at_risk == late and (pushed.order_id in scheduler.kpis.at_risk) >= late
    slots = [scheduler.promises[o].slot for o in scheduler.promises]
    assert len(slots) == len(set(slots)), "no slot is promised twice"
    assert all(scheduler.orders[o].status is not OrderStatus.ON_LINE for o in scheduler.promises)


def test_freeze_and_replan_change_the_plan_options(world) -> None:  # type: ignore[no-untyped-def]
    plant, catalogue, _ = world
    scheduler = Scheduler(plant, catalogue)
    scheduler.consume([HorizonFrozen(10, 7200, by="pat"), ReplanRequested(20, 3 * 3600, by="pat")])
    assert scheduler.options.frozen_s == 7200 and scheduler.options.shop_horizon_s == 3 * 3600
    assert scheduler._next_replan == 20


def test_the_gantt_window_rolls(world) -> None:  # type: ignore[no-untyped-def]
    """The Gantt keeps the last two days of finished operations, not the first two days of the run."""
    plant, catalogue, _ = world
    scheduler = Scheduler(plant, catalogue)
    book = scheduler.kpis
    for day in range(6):
        book.ran("g", "m", f"op{day}", day * 86_400, day * 86_400 + 600)
    assert [op for _, _, op, _, _ in book.gantt] == ["op3", "op4", "op5"]
    assert [r[2] for r in scheduler.gantt_window(5 * 86_400, 6 * 86_400)] == ["op5"]
