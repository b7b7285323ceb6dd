"""The feeder shops' problem for one line day: parts for a line sequence, due at their line slots.

For every order in the day's line sequence the catalogue says which feeder operations its truck
needs (cab, paint, frame, axles, battery pack, by part and step). Each part becomes a job
(`mixflow.model.Job`) released at the start of the feeder plan and due at the order's line slot less
a delivery margin; the cab must be built before it is painted (a cross-job precedence). Each job is
routed through one *cell* of every machine group it visits (a handful of machines standing together;
any machine of the cell may take the operation, at its own speed), cells chosen to balance their
load. Machines are down outside their group's shift calendar, and a group's setup time is paid when
the setup key (cab type, colour, drive, wheelbase, powertrain) changes on a machine.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

from mixflow.errors import ValidationError
from mixflow.model import DAY_S, AssemblyLine, Catalogue, Order, Plant
from mixflow.model import Job as PartJob
from mixflow.model import Operation as PartOperation
from mixflow.schedule.data import Job, Machine, Mode, Objective, Operation, ProblemData

CELL_SIZE = 6
"""Machines per cell: a job may use any machine of the one cell it is routed through."""

DELIVERY_MARGIN_S = 1800
"""A part must be done this long before its line slot (the AGV trip and line-side buffer)."""

LEAD_FACTOR = 2.0
"""A job is released this many times its work (stretched by the shift calendar) before it is due, plus
`KITTING_LEAD_S`."""

KITTING_LEAD_S = 8 * 3600
"""Material for a part is kitted one shift ahead of the work itself, so a job may start this much
earlier than `LEAD_FACTOR` x its stretched work before its due date.

Releasing only 2x the stretched work before the due date (the earlier rule) left no room for queueing
at shared machine groups: a part whose routing crosses four busy groups waits longer than its own work
at each, so tardiness was forced by the release rule, not by the schedule. A feeder shop with a
five-day order-to-delivery has the day's material in by the previous shift; one shift of lead is the
realistic release, still well short of releasing the whole day at once (which would hide capacity
problems behind a day of work-in-progress)."""


@dataclass(frozen=True)
class LineSlot:
    """An order's place in the line sequence: the truck enters the line at `slot_s`."""

    order: Order
    slot_s: int


def line_slots(
    plant: Plant, orders: Sequence[Order], day_start_s: int, line: AssemblyLine | None = None
) -> list[LineSlot]:
    """Give `orders`, in sequence, consecutive takt slots of `line`'s working day (default: the plant's
    first line) from `day_start_s`."""
    line = plant.lines[0] if line is None else line
    slots = []
    t = line.calendar.next_working(day_start_s)
    for order in orders:
        slots.append(LineSlot(order, t))
        t = line.calendar.next_working(t + line.takt_s)
    return slots


@dataclass(frozen=True)
class PlantDay:
    """The scheduling problem of a day and the names behind its indices."""

    data: ProblemData
    jobs: tuple[PartJob, ...]
    machine_ids: tuple[str, ...]


def part_jobs(
    plant: Plant, catalogue: Catalogue, slots: Sequence[LineSlot], release_s: int = 0
) -> list[PartJob]:
    """The feeder jobs (one per order and part) that the line sequence `slots` needs.

    A job is due at its slot less the delivery margin (and less the later part's work when another
    part follows it) and released `KITTING_LEAD_S` plus `LEAD_FACTOR` times its calendar-stretched
    work before that, never before the plan's `release_s`.
    """
    if not slots:
        raise ValidationError("slots", "the line sequence is empty")
    groups = plant.group_index
    calendar_s = {g.id: g.calendar.working_s_per_day for g in plant.machine_groups}
    jobs: list[PartJob] = []
    for slot in slots:
        order = slot.order
        if slot.slot_s < release_s:
            raise ValidationError(f"slot of order {order.id}", f"{slot.slot_s} is before release {release_s}")
        by_part: dict[str, list[PartOperation]] = {}
        shops: dict[str, str] = {}
        config = order.configuration
        for work in plant.feeder_operations(config, catalogue.attributes(config)):
            job_id = f"{order.id}/{work.part}"
            ops = by_part.setdefault(work.part, [])
            key = groups[work.group].setup_family
            ops.append(
                PartOperation(
                    id=f"{job_id}/{len(ops) + 1}",
                    job=job_id,
                    group=work.group,
                    duration_s=work.work_s,
                    setup_key=str(order.configuration.get(key, "")) if key else "",
                )
            )
            shops[work.part] = work.shop
        later_work = {part: sum(op.duration_s for op in ops) for part, ops in by_part.items()}
        for part, ops in by_part.items():
            due = slot.slot_s - DELIVERY_MARGIN_S
            for child in by_part:
                routing = plant.routing(child)
                if routing is not None and routing.after == part:
                    due -= later_work[child]
            due = max(due, release_s)
            stretched = later_work[part] * DAY_S / max(calendar_s[ops[0].group], 1)
            jobs.append(
                PartJob(
                    id=f"{order.id}/{part}",
                    order_id=order.id,
                    part=part,
                    shop=shops[part],
                    operations=tuple(ops),
                    release_s=max(release_s, due - int(LEAD_FACTOR * stretched) - KITTING_LEAD_S),
                    due_s=due,
                    weight=5.0 if order.priority else 1.0,
                )
            )
    return jobs


def _downtime(plant: Plant, group_id: str, horizon_s: int) -> tuple[tuple[int, int], ...]:
    """Non-working windows of a group's calendar over the horizon (nights, breaks)."""
    calendar = next(g.calendar for g in plant.machine_groups if g.id == group_id)
    windows = []
    free_from = 0
    days = horizon_s // DAY_S + 1
    for day in range(days):
        if not calendar.works_on(day):
            continue
        for start, end in calendar.shifts:
            if day * DAY_S + start > free_from:
                windows.append((free_from, day * DAY_S + start))
            free_from = day * DAY_S + end
    if free_from < days * DAY_S:
        windows.append((free_from, days * DAY_S))
    return tuple(windows)


def plant_day(
    plant: Plant, catalogue: Catalogue, slots: Sequence[LineSlot], release_s: int = 0, seed: int = 0
) -> PlantDay:
    """The feeder-shop problem (weighted tardiness against line slots) for the line sequence `slots`."""
    jobs = part_jobs(plant, catalogue, slots, release_s)
    rng = random.Random(seed)
    horizon = max(slot.slot_s for slot in slots) + 2 * DAY_S
    machine_ids: list[str] = []
    machines: list[Machine] = []
    cells: dict[str, list[list[int]]] = {}
    speed: list[float] = []
    families: dict[str, dict[str, int]] = {}
    for group in plant.machine_groups:
        keys = sorted({op.setup_key for job in jobs for op in job.operations if op.group == group.id})
        families[group.id] = {key: k for k, key in enumerate(keys)}
        size = max(len(keys), 1)
        setup = None
        if group.setup_s > 0 and size > 1:
            setup = tuple(tuple(0 if a == b else group.setup_s for b in range(size)) for a in range(size))
        down = _downtime(plant, group.id, horizon)
        indices = []
        for machine in group.machines:
            indices.append(len(machines))
            machine_ids.append(machine.id)
            machines.append(Machine(name=machine.id, downtime=down, setup_times=setup))
            speed.append(rng.uniform(0.9, 1.15))
        n_cells = max(1, round(len(indices) / CELL_SIZE))
        cells[group.id] = [indices[c::n_cells] for c in range(n_cells)]
    load = {group: [0.0] * len(group_cells) for group, group_cells in cells.items()}
    index = {job.id: j for j, job in enumerate(jobs)}
    problem_jobs = []
    for job in jobs:
        chosen: dict[str, int] = {}
        ops = []
        for op in job.operations:
            if op.group not in chosen:
                work = sum(o.duration_s for o in job.operations if o.group == op.group)
                group_cells = cells[op.group]
                per_machine = [load[op.group][c] / len(group_cells[c]) for c in range(len(group_cells))]
                chosen[op.group] = min(range(len(per_machine)), key=per_machine.__getitem__)
                load[op.group][chosen[op.group]] += work
            cell = cells[op.group][chosen[op.group]]
            modes = tuple(Mode(m, max(1, round(op.duration_s * speed[m]))) for m in cell)
            ops.append(Operation(modes, family=families[op.group][op.setup_key], name=op.id))
        problem_jobs.append(
            Job(tuple(ops), job.release_s, job.due_s, weight=max(1, round(job.weight)), name=job.id)
        )
    precedences = []
    for job in jobs:
        routing = plant.routing(job.part)
        parent = None if routing is None else routing.after
        if parent is None:
            continue
        before = index.get(f"{job.order_id}/{parent}")
        if before is not None:
            precedences.append(((before, len(jobs[before].operations) - 1), (index[job.id], 0)))
    data = ProblemData(
        machines=tuple(machines),
        jobs=tuple(problem_jobs),
        precedences=tuple(precedences),
        objective=Objective.WEIGHTED_TARDINESS,
        name=f"{plant.name}: feeder day of {len(slots)} trucks",
    )
    return PlantDay(data, tuple(jobs), tuple(machine_ids))
