"""The feeder shops' problem for one line day: parts for a line sequence, due at their line slots.

For every order in the day's line sequence the catalogue says which feeder operations its truck
needs (cab, paint, frame, axles, battery pack, by part and step). Each part becomes a job
(`mixflow.model.Job`) released at the start of the feeder plan and due at the order's line slot less
a delivery margin; the cab must be built before it is painted (a cross-job precedence). Each job is
routed through one *cell* of every machine group it visits (a handful of machines standing together;
any machine of the cell may take the operation, at its own speed), cells chosen to balance their
load. A step that names several eligible groups may run on the job's cell of any of them. Machines
are down outside their group's shift calendar, and a group's setup time is paid when the group's
setup key (cab type, colour, drive, wheelbase, powertrain) changes on a machine.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from mixflow.errors import ValidationError
from mixflow.model import DAY_S, AssemblyLine, Catalogue, MachineGroup, Order, Plant
from mixflow.model import Job as PartJob
from mixflow.model import Operation as PartOperation
from mixflow.model.routing import FeederWork
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
        for part, works in _works_by_part(plant, catalogue, order).items():
            job_id = f"{order.id}/{part}"
            ops = by_part.setdefault(part, [])
            for work in works:
                ops.append(
                    PartOperation(
                        id=f"{job_id}/{len(ops) + 1}",
                        job=job_id,
                        group=work.group,
                        duration_s=work.work_s,
                        setup_key=_setup_value(groups[work.group], order.configuration),
                    )
                )
            shops[part] = works[0].shop
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


def _works_by_part(plant: Plant, catalogue: Catalogue, order: Order) -> dict[str, list[FeederWork]]:
    """The feeder operations `order`'s unit needs, by part in routing order (a part job's operations)."""
    config = order.configuration
    by_part: dict[str, list[FeederWork]] = {}
    for work in plant.feeder_operations(config, catalogue.attributes(config)):
        by_part.setdefault(work.part, []).append(work)
    return by_part


def _setup_value(group: MachineGroup, config: Mapping[str, str]) -> str:
    """What a machine of `group` sets up for: the configuration's value of the group's setup family."""
    key = group.setup_family
    return str(config.get(key, "")) if key else ""


def _linked_groups(plant: Plant, eligible: Sequence[tuple[str, ...]]) -> dict[str, tuple[str, ...]]:
    """Each machine group's set of groups linked by steps that name several of them (a group no such
    step names stands alone), in the plant's order: the operations a machine can take all come from
    its set, so setup families are numbered per set."""
    parent = {g.id: g.id for g in plant.machine_groups}

    def root(g: str) -> str:
        while parent[g] != g:
            g = parent[g]
        return g

    for groups in eligible:
        for other in groups[1:]:
            a, b = root(groups[0]), root(other)
            if a != b:
                parent[b] = a
    members: dict[str, list[str]] = {}
    for group in plant.machine_groups:
        members.setdefault(root(group.id), []).append(group.id)
    return {group.id: tuple(members[root(group.id)]) for group in plant.machine_groups}


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
    groups_of = plant.group_index
    # each operation's eligible groups and its setup key on each group of its linked set
    eligible: list[list[tuple[str, ...]]] = []
    for slot in slots:
        for works in _works_by_part(plant, catalogue, slot.order).values():
            eligible.append([work.groups for work in works])
    linked = _linked_groups(plant, [g for ops in eligible for g in ops])
    configs = {slot.order.id: slot.order.configuration for slot in slots}
    keys_of: list[list[tuple[str, ...]]] = []
    for job, job_groups in zip(jobs, eligible, strict=True):
        config = configs[job.order_id]
        keys_of.append(
            [tuple(_setup_value(groups_of[g], config) for g in linked[gs[0]]) for gs in job_groups]
        )
    rng = random.Random(seed)
    horizon = max(slot.slot_s for slot in slots) + 2 * DAY_S
    machine_ids: list[str] = []
    machines: list[Machine] = []
    cells: dict[str, list[list[int]]] = {}
    speed: list[float] = []
    # setup families are numbered per linked set of groups, so a family index means the same keys on
    # every machine an operation can take; a machine pays its own group's setup when its key changes
    families: dict[tuple[str, ...], dict[tuple[str, ...], int]] = {}
    for group in plant.machine_groups:
        members = linked[group.id]
        if members not in families:
            found = {
                key
                for job_groups, job_keys in zip(eligible, keys_of, strict=True)
                for gs, key in zip(job_groups, job_keys, strict=True)
                if linked[gs[0]] == members
            }
            families[members] = {key: k for k, key in enumerate(sorted(found))}
        keys = sorted(families[members], key=families[members].__getitem__)
        at = members.index(group.id)
        setup = None
        if group.setup_s > 0 and len({key[at] for key in keys}) > 1:
            setup = tuple(tuple(0 if a[at] == b[at] else group.setup_s for b in keys) for a in keys)
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
    for job, job_groups, job_keys in zip(jobs, eligible, keys_of, strict=True):
        chosen: dict[str, int] = {}
        ops = []
        for op, op_groups, key in zip(job.operations, job_groups, job_keys, strict=True):
            modes = []
            for g in op_groups:
                if g not in chosen:
                    work = sum(
                        o.duration_s for o, gs in zip(job.operations, job_groups, strict=True) if g in gs
                    )
                    group_cells = cells[g]
                    per_machine = [load[g][c] / len(group_cells[c]) for c in range(len(group_cells))]
                    chosen[g] = min(range(len(per_machine)), key=per_machine.__getitem__)
                    load[g][chosen[g]] += work
                modes += [Mode(m, max(1, round(op.duration_s * speed[m]))) for m in cells[g][chosen[g]]]
            ops.append(Operation(tuple(modes), family=families[linked[op_groups[0]]][key], name=op.id))
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
