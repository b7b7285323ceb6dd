"""The plant: final-assembly lines, feeder shops of machine groups, the floor grid and the AGV fleet.

Cells are `(x, y)` with x the column and y the row, both 0-based (the MovingAI convention). The floor
keeps its blocked cells and one-way lanes as numpy arrays because the fleet planner reads them in
tight loops.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

import numpy as np

from mixflow.errors import UnknownNameError, ValidationError
from mixflow.model.energy import ChargingBay
from mixflow.model.formula import TRUE, Formula, holds
from mixflow.model.materials import Materials
from mixflow.model.routing import FeederWork, Routing

Cell = tuple[int, int]
DAY_S = 86_400

# Direction bits of `FloorGrid.exits`: a set bit allows leaving the cell that way.
NORTH, EAST, SOUTH, WEST = 1, 2, 4, 8
ALL_EXITS = NORTH | EAST | SOUTH | WEST


@dataclass(frozen=True)
class Calendar:
    """Working windows of a repeating day, as (start, end) seconds after midnight, and the days of a
    7-day week (0 = the plan epoch's weekday) on which nobody works at all.

    A break is a gap between two windows; a plant file's shifts and breaks are turned into windows
    by its reader, so the solvers only ever see windows.
    """

    shifts: tuple[tuple[int, int], ...]
    days_off: frozenset[int] = frozenset()

    def __post_init__(self) -> None:
        if not self.shifts:
            raise ValidationError("calendar", "needs at least one working window")
        last_end = 0
        for start, end in self.shifts:
            if not 0 <= start < end <= DAY_S or start < last_end:
                raise ValidationError("calendar", f"shift ({start}, {end}) must be ordered within one day")
            last_end = end
        if any(not 0 <= d < 7 for d in self.days_off) or len(self.days_off) >= 7:
            raise ValidationError("calendar", "days off are weekdays 0-6 and at least one day must be worked")

    @property
    def working_s_per_day(self) -> float:
        """Working seconds of an average day (a week's work over seven days)."""
        per_working_day = sum(end - start for start, end in self.shifts)
        if not self.days_off:
            return per_working_day
        return per_working_day * (7 - len(self.days_off)) / 7

    def works_on(self, day: int) -> bool:
        """Whether day `day` (from the epoch) is worked at all."""
        return day % 7 not in self.days_off

    def is_working(self, t: int) -> bool:
        day, tod = divmod(t, DAY_S)
        return self.works_on(day) and any(start <= tod < end for start, end in self.shifts)

    def next_working(self, t: int) -> int:
        """The first working second at or after `t`."""
        day, tod = divmod(t, DAY_S)
        if self.works_on(day):
            for start, end in self.shifts:
                if tod < end:
                    return day * DAY_S + max(tod, start)
        day += 1
        while not self.works_on(day):
            day += 1
        return day * DAY_S + self.shifts[0][0]

    def working_end(self, start_s: int, work_s: int) -> int:
        """When `work_s` seconds of work started at `start_s` end, pausing outside the shifts."""
        t = self.next_working(start_s)
        left = work_s
        while True:
            day, tod = divmod(t, DAY_S)
            end = next(e for s, e in self.shifts if s <= tod < e)
            if left <= end - tod:
                return t + left
            left -= end - tod
            t = self.next_working(day * DAY_S + end)

    def working_between(self, a_s: int, b_s: int) -> int:
        """Working seconds in [a_s, b_s)."""
        total = 0
        day = a_s // DAY_S
        while day * DAY_S < b_s:
            if self.works_on(day):
                base = day * DAY_S
                for s, e in self.shifts:
                    total += max(0, min(b_s, base + e) - max(a_s, base + s))
            day += 1
        return total


ALWAYS = Calendar(((0, DAY_S),))


@dataclass(frozen=True)
class Station:
    """A line station; at reduced scale one station does the work of several full-scale positions."""

    id: str
    index: int
    positions: tuple[int, ...]
    drop_cell: Cell

    def __post_init__(self) -> None:
        if not self.positions:
            raise ValidationError(f"station {self.id}", "covers no line position")


@dataclass(frozen=True)
class LineTest:
    """What happens to a unit after the line: `work_s` on a machine of `group` (the end-of-line test),
    then `handover_s` in the yard before the customer can take it."""

    group: str
    work_s: int
    handover_s: int = 4 * 3600

    def __post_init__(self) -> None:
        if self.work_s <= 0 or self.handover_s < 0:
            raise ValidationError(f"line test on {self.group}", "work_s must be positive, handover_s >= 0")


@dataclass(frozen=True)
class AssemblyLine:
    """A mixed-model final-assembly line: stations in flow order, moving at `takt_s`.

    `base_work_s` is the work every unit needs at each full-scale line position, whatever its options;
    a station that merges several positions does their base work together. `part_positions` says at
    which position each part is fitted (a part it does not name is fitted at `default_position`);
    `builds` says which configurations the line can build at all (a plant with two lines may build
    its city buses on one and its coaches on the other). `batch_by` names the configuration variable
    whose runs the sequencer keeps together (the paint colour: fewer booth flushes), if any.
    """

    id: str
    stations: tuple[Station, ...]
    takt_s: int
    calendar: Calendar
    buffer_size: int = 2
    base_work_s: int = 0
    name: str = ""
    part_positions: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))
    default_position: int | None = None
    test: LineTest | None = None
    builds: Formula = TRUE
    batch_by: str | None = None

    def __post_init__(self) -> None:
        if self.takt_s <= 0:
            raise ValidationError(f"line {self.id}", "takt_s must be positive")
        if not self.stations:
            raise ValidationError(f"line {self.id}", "needs at least one station")
        if self.buffer_size < 0:
            raise ValidationError(f"line {self.id}", "buffer_size must be >= 0")
        lookup: dict[int, int] = {}
        for station in self.stations:
            for pos in station.positions:
                if pos in lookup:
                    raise ValidationError(f"line {self.id}", f"position {pos} is in two stations")
                lookup[pos] = station.index
        object.__setattr__(self, "_position_to_station", MappingProxyType(lookup))
        for part, pos in self.part_positions.items():
            if pos not in lookup:
                raise ValidationError(
                    f"line {self.id}", f"part {part} is fitted at position {pos}, which no station covers"
                )
        if self.default_position is not None and self.default_position not in lookup:
            raise ValidationError(
                f"line {self.id}", f"default position {self.default_position} is in no station"
            )

    @property
    def positions(self) -> tuple[int, ...]:
        """Every full-scale position of the line, in order."""
        return tuple(sorted(self._position_to_station))  # type: ignore[attr-defined]

    @property
    def units_per_day(self) -> float:
        return self.calendar.working_s_per_day / self.takt_s

    @property
    def drift_s(self) -> int:
        """How far into the next takt a station's worker may go on a unit before the line must wait:
        half a takt, the reach of a worker walking along with the moving unit."""
        return self.takt_s // 2

    def can_build(self, config: Mapping[str, str]) -> bool:
        return holds(self.builds, config)

    def position_of(self, part: str) -> int | None:
        """The position `part` is fitted at (None: this line fits it nowhere)."""
        return self.part_positions.get(part, self.default_position)

    def station_for_position(self, position: int) -> Station:
        index = self._position_to_station.get(position)  # type: ignore[attr-defined]
        if index is None:
            raise UnknownNameError("line position", str(position))
        return self.stations[index]

    def station_work(self, position_work: Mapping[int, int]) -> np.ndarray:
        """Per-station work (seconds) of one unit, from full-scale position work plus the base work."""
        work = np.array([self.base_work_s * len(s.positions) for s in self.stations], dtype=np.int64)
        for pos, seconds in position_work.items():
            work[self.station_for_position(pos).index] += seconds
        return work


@dataclass(frozen=True)
class Machine:
    """One machine (robot, CNC, booth, rig) of a group, standing at a floor cell."""

    id: str
    group: str
    cell: Cell


@dataclass(frozen=True)
class MachineGroup:
    """Interchangeable machines doing one operation kind.

    A machine pays `setup_s` when the setup family of the work it takes changes: the value of the
    configuration variable `setup_family` (colour in a paint booth, wheelbase at a frame drill); a group
    without one never pays. `buffer` is how many parts may wait at the group (0: no limit).
    """

    id: str
    shop: str
    operation: str
    machines: tuple[Machine, ...]
    calendar: Calendar
    setup_s: int = 0
    mtbf_s: int = 0
    mttr_s: int = 0
    power_kw: float = 0.0
    setup_family: str | None = None
    buffer: int = 0

    def __post_init__(self) -> None:
        if not self.machines:
            raise ValidationError(f"machine group {self.id}", "has no machine")
        for name in ("setup_s", "mtbf_s", "mttr_s", "buffer"):
            if getattr(self, name) < 0:
                raise ValidationError(f"machine group {self.id}", f"{name} must be >= 0")
        if self.power_kw < 0:
            raise ValidationError(f"machine group {self.id}", "power_kw must be >= 0")


@dataclass(frozen=True)
class Shop:
    """A feeder shop (cab, frame, axle, battery, paint, ...): machine groups, the cell its finished
    parts are picked up from and the cell its material is dropped at."""

    id: str
    name: str
    groups: tuple[MachineGroup, ...]
    outbound_cell: Cell
    inbound_cell: Cell | None = None

    @property
    def machine_count(self) -> int:
        return sum(len(g.machines) for g in self.groups)


@dataclass(frozen=True, eq=False)
class FloorGrid:
    """The factory floor as a 4-connected grid.

    `blocked[y, x]` marks walls, machines and racks; `exits[y, x]` holds the direction bits a robot
    may leave a cell by (one-way lanes clear some bits).
    """

    width: int
    height: int
    blocked: np.ndarray
    exits: np.ndarray
    cell_m: float
    warehouse_cells: tuple[Cell, ...]
    chargers: tuple[Cell, ...]
    parking: tuple[Cell, ...]
    zones: Mapping[str, tuple[int, int, int, int]] = field(default_factory=lambda: MappingProxyType({}))
    charger_kw: tuple[float, ...] = ()
    docks: tuple[Cell, ...] = ()

    def __post_init__(self) -> None:
        if not self.charger_kw:
            object.__setattr__(self, "charger_kw", (0.0,) * len(self.chargers))
        if len(self.charger_kw) != len(self.chargers):
            raise ValidationError("floor", "needs one power (kW) per charger, or none")
        if self.blocked.shape != (self.height, self.width) or self.exits.shape != (self.height, self.width):
            raise ValidationError("floor", f"arrays must be {self.height}x{self.width} (rows x columns)")
        if self.cell_m <= 0:
            raise ValidationError("floor", "cell_m must be positive")
        for kind, cells in (
            ("warehouse cell", self.warehouse_cells),
            ("charger", self.chargers),
            ("parking cell", self.parking),
            ("dock", self.docks),
        ):
            for cell in cells:
                if not self.is_free(cell):
                    raise ValidationError("floor", f"{kind} {cell} is outside the floor or blocked")

    def inside(self, cell: Cell) -> bool:
        x, y = cell
        return 0 <= x < self.width and 0 <= y < self.height

    def is_free(self, cell: Cell) -> bool:
        return self.inside(cell) and not bool(self.blocked[cell[1], cell[0]])

    @property
    def free_cells(self) -> int:
        return int((~self.blocked).sum())


@dataclass(frozen=True)
class AgvSpec:
    """What one type of AGV can do; energy in kWh, distances in metres."""

    speed_m_s: float
    payload_kg: float
    battery_kwh: float
    charge_kw: float
    drain_kwh_per_m: float
    loaded_drain_factor: float = 1.5
    low_soc: float = 0.25
    id: str = "agv"

    def __post_init__(self) -> None:
        for name in ("speed_m_s", "payload_kg", "battery_kwh", "charge_kw", "drain_kwh_per_m"):
            if getattr(self, name) <= 0:
                raise ValidationError(f"agv type {self.id}", f"{name} must be positive")
        if not 0 < self.low_soc < 1:
            raise ValidationError(f"agv type {self.id}", "low_soc must lie between 0 and 1")


@dataclass(frozen=True)
class Fleet:
    """The AGVs: ids, their home (parking) cells and the type of each.

    A fleet may mix types (payload, battery, charging power), but every type moves at one speed: the
    planner moves all AGVs one cell a step, in lock step.
    """

    spec: AgvSpec
    agv_ids: tuple[str, ...]
    homes: tuple[Cell, ...]
    types: tuple[AgvSpec, ...] = ()
    type_of: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        if len(self.agv_ids) != len(self.homes):
            raise ValidationError("fleet", "needs one home cell per AGV")
        if len(set(self.homes)) != len(self.homes):
            raise ValidationError("fleet", "two AGVs share a home cell")
        if len(set(self.agv_ids)) != len(self.agv_ids):
            raise ValidationError("fleet", "two AGVs share an id")
        if not self.types:
            object.__setattr__(self, "types", (self.spec,))
        if not self.type_of:
            object.__setattr__(self, "type_of", (0,) * len(self.agv_ids))
        if len(self.type_of) != len(self.agv_ids) or any(not 0 <= k < len(self.types) for k in self.type_of):
            raise ValidationError("fleet", "needs one known type per AGV")
        if self.spec != self.types[0]:
            raise ValidationError("fleet", "spec must be the first of its types")
        slow = {t.speed_m_s for t in self.types}
        if len(slow) > 1:
            raise ValidationError(
                "fleet", f"AGV types move at different speeds {sorted(slow)}; one fleet moves in lock step"
            )

    def spec_of(self, index: int) -> AgvSpec:
        """The type of the AGV at `index` of `agv_ids`."""
        return self.types[self.type_of[index]]

    def with_agvs(self, count: int, parking: tuple[Cell, ...]) -> Fleet:
        """The same types with `count` AGVs parked on the first `count` of `parking` (types cycling in
        their original proportions), for fleet-size what-ifs."""
        if count > len(parking):
            raise ValidationError("fleet", f"the floor parks {len(parking)} AGVs; {count} were asked for")
        n = len(self.agv_ids)
        type_of = tuple(self.type_of[(k * n) // count] if n else 0 for k in range(count))
        return Fleet(
            self.spec,
            tuple(f"AGV-{k + 1:03d}" for k in range(count)),
            tuple(parking[:count]),
            self.types,
            type_of,
        )


@dataclass(frozen=True)
class Plant:
    """The whole factory the cloud scheduler plans for: lines, feeder shops with their routings, the
    floor and the fleet, its materials (suppliers and stock) and its end-of-line charging bay."""

    name: str
    lines: tuple[AssemblyLine, ...]
    shops: tuple[Shop, ...]
    floor: FloorGrid
    fleet: Fleet
    scale: float = 1.0
    routings: tuple[Routing, ...] = ()
    materials: Materials = field(default_factory=Materials)
    charging: ChargingBay | None = None

    def __post_init__(self) -> None:
        if not self.lines:
            raise ValidationError(f"plant {self.name}", "needs at least one final-assembly line")
        _unique("line", [ln.id for ln in self.lines])
        _unique("shop", [s.id for s in self.shops])
        _unique("machine group", [g.id for g in self.machine_groups])
        _unique("machine", [m.id for m in self.machines])
        _unique("routing of part", [r.part for r in self.routings])
        for line in self.lines:
            for station in line.stations:
                if not self.floor.is_free(station.drop_cell):
                    raise ValidationError(
                        f"station {station.id}", f"drop cell {station.drop_cell} is blocked"
                    )
            if line.test is not None and line.test.group not in self.group_index:
                raise ValidationError(
                    f"line {line.id}", f"its test names unknown machine group {line.test.group!r}"
                )
        for home in self.fleet.homes:
            if not self.floor.is_free(home):
                raise ValidationError("fleet", f"home cell {home} is blocked")
        for shop in self.shops:
            if not self.floor.is_free(shop.outbound_cell):
                raise ValidationError(f"shop {shop.id}", f"outbound cell {shop.outbound_cell} is blocked")
            if shop.inbound_cell is not None and not self.floor.is_free(shop.inbound_cell):
                raise ValidationError(f"shop {shop.id}", f"inbound cell {shop.inbound_cell} is blocked")
        shop_ids = {s.id for s in self.shops}
        parts = {r.part for r in self.routings}
        for routing in self.routings:
            if routing.shop not in shop_ids:
                raise UnknownNameError(
                    f"shop of the routing of {routing.part}", routing.shop, sorted(shop_ids)
                )
            if routing.after is not None and routing.after not in parts:
                raise ValidationError(
                    f"routing {routing.part}", f"follows {routing.after!r}, which no routing makes"
                )
            for step in routing.steps:
                for group in step.groups:
                    if group not in self.group_index:
                        raise UnknownNameError(
                            f"machine group of routing {routing.part} step {step.operation}",
                            group,
                            list(self.group_index),
                        )

    @property
    def machine_groups(self) -> tuple[MachineGroup, ...]:
        return tuple(g for shop in self.shops for g in shop.groups)

    @property
    def machines(self) -> tuple[Machine, ...]:
        return tuple(m for g in self.machine_groups for m in g.machines)

    @property
    def group_index(self) -> Mapping[str, MachineGroup]:
        """Machine groups by id."""
        cached = self.__dict__.get("_groups")
        if cached is None:
            cached = MappingProxyType({g.id: g for g in self.machine_groups})
            object.__setattr__(self, "_groups", cached)
        return cached

    @property
    def units_per_day(self) -> float:
        """Units all lines together can build on an average day."""
        return sum(line.units_per_day for line in self.lines)

    def agv_docks(self) -> dict[str, Cell]:
        """The machines where parts are worked on their AGV (of a group some routing step marks
        `on_agv`), each with its dock: its own cell, which the AGV drives into with the part."""
        groups = {g for r in self.routings for step in r.steps if step.on_agv for g in step.groups}
        return {m.id: m.cell for m in self.machines if m.group in groups}

    def shop(self, shop_id: str) -> Shop:
        for s in self.shops:
            if s.id == shop_id:
                return s
        raise UnknownNameError("shop", shop_id, [s.id for s in self.shops])

    def assembly_line(self, line_id: str) -> AssemblyLine:
        """The line `line_id` ("" names the first line: what stores and messages from before lines were
        named carry)."""
        if not line_id:
            return self.lines[0]
        for line in self.lines:
            if line.id == line_id:
                return line
        raise UnknownNameError("line", line_id, [ln.id for ln in self.lines])

    def group_for(self, shop_id: str, operation: str) -> MachineGroup:
        for group in self.shop(shop_id).groups:
            if group.operation == operation:
                return group
        raise UnknownNameError(f"operation of shop {shop_id}", operation)

    def routing(self, part: str) -> Routing | None:
        """How `part` is made in-house (None: it is bought)."""
        cached = self.__dict__.get("_routings")
        if cached is None:
            cached = MappingProxyType({r.part: r for r in self.routings})
            object.__setattr__(self, "_routings", cached)
        return cached.get(part)

    def makes(self, part: str) -> bool:
        return self.routing(part) is not None

    def feeder_operations(
        self, config: Mapping[str, str], attributes: Mapping[str, float]
    ) -> list[FeederWork]:
        """The feeder-shop operations one unit of `config` needs, by part in routing order; `attributes`
        are the configuration's summed value attributes, which durations may depend on.

        Remembered per value of what the routings read (a few variables and attributes), so the
        thousands of orders a promise or a capacity check walks through cost a look-up each."""
        reads: _RoutingReads | None = self.__dict__.get("_routing_reads")
        if reads is None:
            reads = _RoutingReads(
                sorted({v for r in self.routings for v in r.variables()}),
                sorted({a for r in self.routings for a in r.attributes()}),
            )
            object.__setattr__(self, "_routing_reads", reads)
        key = (tuple(config.get(v) for v in reads.names), tuple(attributes.get(a) for a in reads.attributes))
        ops = reads.known.get(key)
        if ops is None:
            found: list[FeederWork] = []
            for routing in sorted(self.routings, key=lambda r: r.part):
                found += routing.operations(config, attributes)
            reads.known[key] = ops = tuple(found)
        return list(ops)

    def lines_for(self, config: Mapping[str, str]) -> tuple[AssemblyLine, ...]:
        """The lines that can build `config`."""
        return tuple(line for line in self.lines if line.can_build(config))


@dataclass
class _RoutingReads:
    """What the routings read of a configuration, and the operations found per value of it."""

    names: list[str]
    attributes: list[str]
    known: dict[tuple[tuple[str | None, ...], tuple[float | None, ...]], tuple[FeederWork, ...]] = field(
        default_factory=dict
    )


def _unique(kind: str, ids: list[str]) -> None:
    seen: set[str] = set()
    for item in ids:
        if item in seen:
            raise ValidationError(kind, f"id {item!r} is used twice")
        seen.add(item)
