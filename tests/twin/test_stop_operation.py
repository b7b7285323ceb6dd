"""The twin carries out StopOperation: the operation's work is lost (its run time and energy count only
what ran), the machine starts nothing until told, and the scheduler's planner down drives it."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from mixflow.errors import ValidationError
from mixflow.model.port import (
    Command,
    Event,
    MachineDown,
    MachineUp,
    OperationDone,
    OperationStarted,
    StartOperation,
    StopOperation,
)
from mixflow.plan import PlanOptions, Scheduler
from mixflow.reference import build_plant, order_stream, reference_catalogue
from mixflow.twin import Scenario, Twin

SHIFT = 6 * 3600
QUIET = Scenario(scale=0.05, mtbf_factor=0, agv_mtbf_h=0, process_noise=0)


def _drain(twin: Twin, until: int) -> list[Event]:
    events: list[Event] = []
    while twin.now_s < until:
        events += twin.poll(until)
    return events


def test_a_stopped_operation_is_lost_and_the_machine_waits_to_be_told() -> None:
    plant = build_plant(0.05, 0)
    twin = Twin(plant, reference_catalogue(), [], QUIET, 0)
    machine = plant.machines[0]
    group = machine.group
    twin.submit([StartOperation("op-1", machine.id, 0, duration_s=600)])
    _drain(twin, SHIFT + 200)
    energy = twin.machine_counters.energy_kwh
    twin.submit([StopOperation("op-2", machine.id), StopOperation("op-1", machine.id, "taken down")])
    twin.submit([StartOperation("op-3", machine.id, SHIFT + 7200, duration_s=300)])  # queued, not started
    twin.submit([StopOperation("op-3", machine.id)])
    events = _drain(twin, SHIFT + 4 * 3600)
    assert not [e for e in events if isinstance(e, OperationDone | OperationStarted)]
    assert twin.machine_counters.run_s[group] == 200  # what ran before the stop
    power = plant.machine_groups[[g.id for g in plant.machine_groups].index(group)].power_kw
    assert twin.machine_counters.energy_kwh == pytest.approx(energy - power * 400 / 3600)
    twin.submit([StartOperation("op-1", machine.id, twin.now_s, duration_s=600)])  # started again, in full
    events = _drain(twin, twin.now_s + 3600)
    [done] = [e for e in events if isinstance(e, OperationDone)]
    assert done.operation_id == "op-1" and twin.machine_counters.run_s[group] == 800
    # a queued operation stopped behind a running one: the running one still ends
    other = plant.machines[1].id
    twin.submit([StartOperation("op-a", other, 0, duration_s=600), StartOperation("op-b", other, 0, 600)])
    twin.submit([StopOperation("op-b", other)])
    events = _drain(twin, twin.now_s + 3600)
    assert [e.operation_id for e in events if isinstance(e, OperationStarted | OperationDone)] == [
        "op-a",
        "op-a",
    ]
    with pytest.raises(ValidationError, match=r"StopOperation.*no machine 'ghost'"):
        twin.submit([StopOperation("op-1", "ghost")])


class Tap:
    """The twin behind the port, with every event and command it saw kept."""

    def __init__(self, twin: Twin) -> None:
        self.twin = twin
        self.events: list[Event] = []
        self.commands: list[Command] = []

    @property
    def now_s(self) -> int:
        return self.twin.now_s

    def submit(self, commands: Sequence[Command]) -> None:
        self.commands += commands
        self.twin.submit(commands)

    def poll(self, until_s: int) -> Sequence[Event]:
        events = self.twin.poll(until_s)
        self.events += events
        return events


def test_a_planner_down_stops_the_twins_operation_and_its_up_runs_it_again() -> None:
    plant = build_plant(0.05, 0)
    catalogue = reference_catalogue()
    orders = order_stream(plant, catalogue, 1, 0)[:6]
    factory = Tap(Twin(plant, catalogue, orders, QUIET, 0))
    scheduler = Scheduler(plant, catalogue, options=PlanOptions(replan_every_s=10**6))
    until = SHIFT
    while not any(isinstance(e, OperationStarted) for e in factory.events):
        until += 300
        scheduler.run(factory, until)
    started = next(e for e in factory.events if isinstance(e, OperationStarted))
    machine, op = started.machine_id, started.operation_id
    [start] = [c for c in factory.commands if isinstance(c, StartOperation) and c.operation_id == op]
    now = factory.now_s
    scheduler.consume([MachineDown(now, machine, "spindle check", by="pat", expected_s=1800)])
    scheduler.run(factory, now + 3600)
    assert StopOperation(op, machine, "taken down by pat: spindle check") in factory.commands
    assert not [e for e in factory.events if isinstance(e, OperationDone) and e.operation_id == op]
    up = factory.now_s
    scheduler.consume([MachineUp(up, machine, by="pat")])
    scheduler.run(factory, up + start.duration_s + 600)
    [done] = [e for e in factory.events if isinstance(e, OperationDone) and e.operation_id == op]
    assert done.machine_id == machine and done.at_s >= up + start.duration_s  # the whole work again
    assert op not in [o.id for o in scheduler.shops.busy.values()]
