"""A planner who takes down a machine that runs an operation has the plant stop it (StopOperation) and
gets it started again, from the beginning, when the machine comes up; a machine switched off
(NotAvailable) is not planned on but is no fault."""

from __future__ import annotations

from dataclasses import replace

from mixflow.model.port import (
    NOT_AVAILABLE,
    MachineDown,
    MachineUp,
    OperationDone,
    OperationStarted,
    OrderPlaced,
    StartOperation,
    StopOperation,
)
from mixflow.plan import PlanOptions, Scheduler
from tests.plan.scripted import ScriptedFactory


def _running(world) -> tuple[Scheduler, ScriptedFactory, StartOperation]:  # type: ignore[no-untyped-def]
    """A scheduler whose plant reported the first operation it was sent as started."""
    plant, catalogue, orders = world
    factory = ScriptedFactory()
    scheduler = Scheduler(plant, catalogue, options=PlanOptions(replan_every_s=10**6))
    t0 = factory.now = orders[7].placed_s
    factory.script = [OrderPlaced(o.placed_s, o) for o in orders[:8]]
    scheduler.run(factory, t0 + 120)
    start = next(c for c in factory.commands if isinstance(c, StartOperation))
    factory.commands.clear()
    factory.script = [OperationStarted(t0 + 130, start.operation_id, start.machine_id)]
    scheduler.run(factory, t0 + 140)
    return scheduler, factory, start


def _sent_to(factory: ScriptedFactory, machine: str) -> list[object]:
    return [
        c
        for c in factory.commands
        if isinstance(c, StartOperation | StopOperation) and c.machine_id == machine
    ]


def test_a_planner_down_stops_the_operation_and_its_up_starts_it_again(world) -> None:  # type: ignore[no-untyped-def]
    scheduler, factory, start = _running(world)
    machine, t = start.machine_id, factory.now
    factory.script = [MachineDown(t + 10, machine, "spindle check", by="pat", expected_s=3600)]
    scheduler.run(factory, t + 60)
    assert _sent_to(factory, machine) == [
        StopOperation(start.operation_id, machine, "taken down by pat: spindle check")
    ]
    assert scheduler.kpis.faults == 1 and scheduler.shops.busy[machine].id == start.operation_id
    factory.commands.clear()
    factory.script = [MachineUp(t + 900, machine, by="pat")]
    scheduler.run(factory, t + 960)
    # the whole operation again, its loads used when it first started
    assert _sent_to(factory, machine) == [replace(start, not_before_s=t + 900, waits_for=())]
    factory.commands.clear()
    factory.script = [
        OperationStarted(t + 960, start.operation_id, machine),
        OperationDone(t + 960 + start.duration_s, start.operation_id, machine),
    ]
    scheduler.run(factory, t + 960 + start.duration_s + 60)
    assert start.operation_id not in [c.operation_id for c in _sent_to(factory, machine)]  # type: ignore[attr-defined]
    assert machine not in scheduler.shops.busy or scheduler.shops.busy[machine].id != start.operation_id


def test_an_operation_done_before_the_stop_arrived_is_not_started_again(world) -> None:  # type: ignore[no-untyped-def]
    scheduler, factory, start = _running(world)
    machine, t = start.machine_id, factory.now
    factory.script = [
        MachineDown(t + 10, machine, "", by="pat"),
        OperationDone(t + 11, start.operation_id, machine),  # it finished as the stop went out
        MachineUp(t + 600, machine, by="pat"),
    ]
    scheduler.run(factory, t + 660)
    assert [type(c) for c in _sent_to(factory, machine)][:1] == [StopOperation]
    assert start.operation_id not in [
        c.operation_id for c in _sent_to(factory, machine) if isinstance(c, StartOperation)
    ]


def test_a_breakdown_stops_nothing(world) -> None:  # type: ignore[no-untyped-def]
    scheduler, factory, start = _running(world)
    factory.script = [MachineDown(factory.now + 10, start.machine_id, "breakdown")]
    scheduler.run(factory, factory.now + 60)
    assert _sent_to(factory, start.machine_id) == [] and scheduler.kpis.faults == 1


def test_a_machine_switched_off_is_not_planned_on_and_is_no_fault(world) -> None:  # type: ignore[no-untyped-def]
    """Same outage, same expected time, two states: only OutOfService counts a fault and flags the order
    whose part is caught on the machine as at risk."""
    outcomes = {}
    for state in ("OutOfService", NOT_AVAILABLE):
        scheduler, factory, start = _running(world)
        machine, t = start.machine_id, factory.now
        at_risk = set(scheduler.kpis.at_risk)
        factory.script = [MachineDown(t + 10, machine, "night", by="pat", expected_s=30 * 86400, state=state)]
        scheduler.run(factory, t + 60)
        assert machine in scheduler.shops.down and scheduler.down_state.get(machine) == state
        assert not [c for c in factory.commands if isinstance(c, StartOperation) and c.machine_id == machine]
        outcomes[state] = (scheduler.kpis.faults, start.order_id in scheduler.kpis.at_risk - at_risk)
    assert outcomes == {"OutOfService": (1, True), NOT_AVAILABLE: (0, False)}


def test_a_machine_that_breaks_while_switched_off_is_a_fault_then(world) -> None:  # type: ignore[no-untyped-def]
    scheduler, factory, start = _running(world)
    machine, t = start.machine_id, factory.now
    factory.script = [MachineDown(t + 10, machine, "energy saving", state=NOT_AVAILABLE)]
    scheduler.run(factory, t + 60)
    assert scheduler.kpis.faults == 0 and scheduler.kpis.down_s == {}
    factory.script = [MachineDown(t + 100, machine, "jam"), MachineUp(t + 400, machine)]
    scheduler.run(factory, t + 460)
    group = scheduler.shops.group_of[machine]
    assert scheduler.kpis.faults == 1 and scheduler.kpis.down_s == {group: 300}
    assert machine not in scheduler.shops.down and machine not in scheduler.down_state
