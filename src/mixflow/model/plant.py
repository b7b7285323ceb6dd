"""The plant: one final-assembly line, feeder shops of machine groups, the floor grid and the AGV fleet.

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

Cell = tuple[int, int]
DAY_S = 86_400

# Direction bits of `FloorGrid.exits`: a set bit allows leaving the cell that way.
NORTH, EAST, SOUTH, WEST = 1, 2, 4, 8
ALL_EXITS = NORTH | EAST | SOUTH | WEST


@dataclass(frozen=True)
class Calendar:
    """Working windows of a repeating day, as (start, end) seconds after midnight."""

    shifts: tuple[tuple[int, int], ...]

    def __post_init__(self) -> None:
        last_end = 0
        for start, end in self.shifts:
            if not 0 <= start < end <= DAY_S or start < last_end:
                raise ValidationError("calendar", f"shift ({start}, {end}) must be ordered within one day")
            last_end = end

    @property
    def working_s_per_day(self) -> int:
        return sum(end - start for start, end in self.shifts)

    def is_working(self, t: int) -> bool:
        tod = t % DAY_S
        return any(start <= tod < end for start, end in self.shifts)

    def next_working(self, t: int) -> int:
        """The first working second at or after `t`."""
        day, tod = divmod(t, DAY_S)
        for start, end in self.shifts:
            if tod < end:
                return day * DAY_S + max(tod, start)
        return (day + 1) * DAY_S + self.shifts[0][0]

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
class AssemblyLine:
    """The one mixed-model final-assembly line: stations in flow order, moving at `takt_s`.

    `base_work_s` is the work every truck needs at each full-scale line position, whatever its options;
    a station that merges several positions does their base work together.
    """

    id: str
    stations: tuple[Station, ...]
    takt_s: int
    calendar: Calendar
    buffer_size: int = 2
    base_work_s: int = 0

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
                lookup[pos] = station.index
        object.__setattr__(self, "_position_to_station", MappingProxyType(lookup))

    @property
    def trucks_per_day(self) -> float:
        return self.calendar.working_s_per_day / self.takt_s

    @property
    def drift_s(self) -> int:
        """How far into the next takt a station's worker may go on a truck before the line must wait:
        half a takt, the reach of a worker walking along with the moving truck."""
        return self.takt_s // 2

    def station_for_position(self, position: int) -> Station:
        index = self._position_to_station.get(position)  # type: ignore[attr-defined]
        if index is None:
            raise UnknownNameError("line position", str(position))
        return self.stations[index]

    def station_work(self, position_work: Mapping[int, int]) -> np.ndarray:
        """Per-station work (seconds) of one truck, from full-scale position work plus the base work."""
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
    """Interchangeable machines doing one operation kind; changing `setup key` costs `setup_s`."""

    id: str
    shop: str
    operation: str
    machines: tuple[Machine, ...]
    calendar: Calendar
    setup_s: int = 0
    mtbf_s: int = 0
    mttr_s: int = 0
    power_kw: float = 0.0

    def __post_init__(self) -> None:
        if not self.machines:
            raise ValidationError(f"machine group {self.id}", "has no machine")
        for name in ("setup_s", "mtbf_s", "mttr_s"):
            if getattr(self, name) < 0:
                raise ValidationError(f"machine group {self.id}", f"{name} must be >= 0")
        if self.power_kw < 0:
            raise ValidationError(f"machine group {self.id}", "power_kw must be >= 0")


@dataclass(frozen=True)
class Shop:
    """A feeder shop (cab, frame, axle, battery, paint, ...): machine groups and its outbound cell."""

    id: str
    name: str
    groups: tuple[MachineGroup, ...]
    outbound_cell: Cell

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

    def __post_init__(self) -> None:
        if self.blocked.shape != (self.height, self.width) or self.exits.shape != (self.height, self.width):
            raise ValidationError("floor", f"arrays must be {self.height}x{self.width} (rows x columns)")
        if self.cell_m <= 0:
            raise ValidationError("floor", "cell_m must be positive")
        for kind, cells in (
            ("warehouse cell", self.warehouse_cells),
            ("charger", self.chargers),
            ("parking cell", self.parking),
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
    """What every AGV of the fleet can do; energy in kWh, distances in metres."""

    speed_m_s: float
    payload_kg: float
    battery_kwh: float
    charge_kw: float
    drain_kwh_per_m: float
    loaded_drain_factor: float = 1.5
    low_soc: float = 0.25

    def __post_init__(self) -> None:
        for name in ("speed_m_s", "payload_kg", "battery_kwh", "charge_kw", "drain_kwh_per_m"):
            if getattr(self, name) <= 0:
                raise ValidationError("agv spec", f"{name} must be positive")
        if not 0 < self.low_soc < 1:
            raise ValidationError("agv spec", "low_soc must lie between 0 and 1")


@dataclass(frozen=True)
class Fleet:
    """The AGVs: ids and their home (parking) cells."""

    spec: AgvSpec
    agv_ids: tuple[str, ...]
    homes: tuple[Cell, ...]

    def __post_init__(self) -> None:
        if len(self.agv_ids) != len(self.homes):
            raise ValidationError("fleet", "needs one home cell per AGV")
        if len(set(self.homes)) != len(self.homes):
            raise ValidationError("fleet", "two AGVs share a home cell")


@dataclass(frozen=True)
class Plant:
    """The whole factory the cloud scheduler plans for."""

    name: str
    line: AssemblyLine
    shops: tuple[Shop, ...]
    floor: FloorGrid
    fleet: Fleet
    scale: float = 1.0

    def __post_init__(self) -> None:
        for station in self.line.stations:
            if not self.floor.is_free(station.drop_cell):
                raise ValidationError(f"station {station.id}", f"drop cell {station.drop_cell} is blocked")
        for home in self.fleet.homes:
            if not self.floor.is_free(home):
                raise ValidationError("fleet", f"home cell {home} is blocked")
        for shop in self.shops:
            if not self.floor.is_free(shop.outbound_cell):
                raise ValidationError(f"shop {shop.id}", f"outbound cell {shop.outbound_cell} is blocked")

    @property
    def machine_groups(self) -> tuple[MachineGroup, ...]:
        return tuple(g for shop in self.shops for g in shop.groups)

    @property
    def machines(self) -> tuple[Machine, ...]:
        return tuple(m for g in self.machine_groups for m in g.machines)

    def shop(self, shop_id: str) -> Shop:
        for s in self.shops:
            if s.id == shop_id:
                return s
        raise UnknownNameError("shop", shop_id, [s.id for s in self.shops])

    def group_for(self, shop_id: str, operation: str) -> MachineGroup:
        for group in self.shop(shop_id).groups:
            if group.operation == operation:
                return group
        raise UnknownNameError(f"operation of shop {shop_id}", operation)
