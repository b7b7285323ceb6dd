"""A seeded generator of the reference plant at any scale.

At scale 1.0: one 60-position line at a 240 s takt over two shifts (240 trucks a day), 2,040 machines
in six shops, 720 AGVs on a 240 x 130 floor of 1.5 m cells. `scale` shrinks machines, AGVs, floor
area and the line's rate in proportion; the line keeps its 60 full-scale positions, merged into
fewer stations (at least two), so a truck's work content is the same at every scale.

Its materials are sized on the reference mix at the plant's order rate, so they scale with it too:
a supplier for every bought part and raw material, able to ship 1.75 times what the orders need,
stock that covers a supplier's lead time and a day more, and MCS chargers at the end of the line
enough for the battery-electric trucks it builds to be charged without queueing.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping
from dataclasses import dataclass, replace
from functools import cache
from importlib import resources

import numpy as np

from mixflow.errors import ValidationError
from mixflow.model import (
    DAY_S,
    AgvSpec,
    AssemblyLine,
    Calendar,
    Catalogue,
    ChargingBay,
    Fleet,
    FloorGrid,
    Machine,
    MachineGroup,
    Materials,
    Plant,
    RawMaterial,
    Scope,
    Shop,
    Station,
    StockPolicy,
    Supplier,
)
from mixflow.model.plant import ALL_EXITS, Cell, LineTest
from mixflow.model.plant_file import routings_from_text
from mixflow.model.routing import Routing
from mixflow.model.supply import bought_items
from mixflow.reference.catalogue import (
    buildable_models,
    model_weights,
    reference_catalogue,
    sample_configuration,
)
from mixflow.reference.orders import orders_per_day

LINE_POSITIONS = 60
FULL_TAKT_S = 240
BASE_WORK_PER_POSITION_S = 170
TWO_SHIFTS = Calendar(((6 * 3600, 14 * 3600), (14 * 3600, 22 * 3600)))
FULL_AGVS = 720
FULL_GRID = (240, 130)
CELL_M = 1.5
# Every truck spends an hour on an end-of-line rig, then four hours in the yard before handover.
LINE_TEST = LineTest(group="eol_test", work_s=3600, handover_s=4 * 3600)
# Full-scale line position where each part of the truck catalogue is fitted; others at position 30.
PART_POSITION: dict[str, int] = {
    "frame": 1,
    "axles": 6,
    "e_drive": 12,
    "engine": 12,
    "fuel_cell": 14,
    "battery_pack": 16,
    "pto_unit": 20,
    "tyre": 28,
    "cab": 34,
    "paint_cab": 34,
    "mcs_inlet": 40,
    "ccs_inlet": 40,
    "kit": 45,
    "adas_kit": 50,
    "body": 55,
}
DEFAULT_POSITION = 30
# The configuration variable a machine group's setups follow (its setup family).
SETUP_FAMILY = {
    "cab_press": "cab",
    "cab_weld": "cab",
    "paint_booth": "colour",
    "frame_cut": "wheelbase",
    "frame_drill": "wheelbase",
    "axle_turning": "drive",
    "axle_grinding": "drive",
    "module_stack": "powertrain",
    "pack_assembly": "powertrain",
}


@cache
def truck_routings() -> tuple[Routing, ...]:
    """The in-house parts' routings, kept as data in the plant format's syntax (`truck_routings.yaml`)."""
    text = resources.files("mixflow.reference").joinpath("truck_routings.yaml").read_text()
    return routings_from_text(text, "truck_routings.yaml")


@dataclass(frozen=True)
class GroupSpec:
    """One machine group of the full-scale plant."""

    shop: str
    operation: str
    machines: int
    setup_s: int
    mtbf_h: float
    mttr_h: float
    power_kw: float

    def group(self, cells: list[Cell], digits: int = 3) -> MachineGroup:
        """The group with one machine on each of `cells` (in cell order), ids `{operation}-001`..."""
        return MachineGroup(
            id=self.operation,
            shop=self.shop,
            operation=self.operation,
            machines=tuple(
                Machine(id=f"{self.operation}-{k + 1:0{digits}d}", group=self.operation, cell=cell)
                for k, cell in enumerate(sorted(cells))
            ),
            calendar=TWO_SHIFTS,
            setup_s=self.setup_s,
            mtbf_s=round(self.mtbf_h * 3600),
            mttr_s=round(self.mttr_h * 3600),
            power_kw=self.power_kw,
            setup_family=SETUP_FAMILY.get(self.operation),
        )


SHOP_NAMES = {
    "cab": "Cab shop (press, weld, hem, trim)",
    "paint": "Paint shop",
    "frame": "Frame shop",
    "axle": "Axle shop",
    "battery": "Battery-pack shop",
    "test": "End-of-line test",
}

GROUPS: tuple[GroupSpec, ...] = (
    GroupSpec("cab", "cab_press", 40, 600, 60, 1.5, 180),
    GroupSpec("cab", "cab_weld", 420, 300, 80, 1.0, 35),
    GroupSpec("cab", "cab_hem", 60, 0, 120, 1.0, 20),
    GroupSpec("cab", "cab_trim", 150, 0, 200, 0.5, 4),
    GroupSpec("paint", "paint_pretreat", 10, 0, 150, 2.0, 90),
    GroupSpec("paint", "paint_ecoat", 10, 0, 150, 2.0, 110),
    GroupSpec("paint", "paint_booth", 36, 900, 100, 1.5, 60),
    GroupSpec("paint", "paint_oven", 24, 0, 200, 2.0, 140),
    GroupSpec("frame", "frame_cut", 40, 300, 90, 1.0, 45),
    GroupSpec("frame", "frame_drill", 160, 120, 100, 1.0, 22),
    GroupSpec("frame", "frame_rivet", 200, 0, 150, 0.5, 15),
    GroupSpec("frame", "frame_assembly", 60, 0, 250, 0.5, 6),
    GroupSpec("axle", "axle_turning", 150, 600, 90, 1.5, 30),
    GroupSpec("axle", "axle_grinding", 90, 600, 90, 1.5, 25),
    GroupSpec("axle", "axle_assembly", 80, 0, 200, 0.5, 8),
    GroupSpec("axle", "axle_test", 30, 0, 250, 1.0, 15),
    GroupSpec("battery", "cell_test", 60, 0, 150, 1.0, 12),
    GroupSpec("battery", "module_stack", 220, 600, 120, 1.0, 18),
    GroupSpec("battery", "pack_assembly", 120, 300, 200, 1.0, 10),
    GroupSpec("battery", "pack_test", 50, 0, 150, 1.5, 60),
    GroupSpec("test", "eol_test", 30, 0, 300, 1.0, 80),
)


def _scaled(count: int, scale: float, minimum: int = 1) -> int:
    return max(minimum, round(count * scale))


class _Floor:
    """Lays out the floor: warehouse racks on the left, the line across the middle, shops above and below,
    parking and chargers along the walls, all joined by aisles."""

    def __init__(self, width: int, height: int) -> None:
        self.width, self.height = width, height
        self.blocked = np.zeros((height, width), dtype=bool)
        self.blocked[0, :] = self.blocked[-1, :] = True
        self.blocked[:, 0] = self.blocked[:, -1] = True
        self.warehouse_x = max(10, round(width * 0.16))
        self.line_y = height // 2
        self.line_x = (self.warehouse_x + 4, width - 4)
        self.parking_top = height - 3

    def warehouse(self) -> list[Cell]:
        """Racks of two-cell depth with pick cells on both sides; rows are broken by cross-aisles."""
        picks: list[Cell] = []
        for x in range(3, self.warehouse_x - 2, 4):
            for y in range(3, self.height - 3):
                if (y - 3) % 12 in (10, 11):
                    continue
                self.blocked[y, x] = self.blocked[y, x + 1] = True
                if y % 3 == 0:
                    picks += [(x - 1, y), (x + 2, y)]
        return picks

    def line(self, stations: int) -> list[Cell]:
        """The line conveyor (two blocked rows) with drop cells above it and crossing gaps."""
        x0, x1 = self.line_x
        y = self.line_y
        self.blocked[y : y + 2, x0:x1] = True
        for gap in range(x0 + 30, x1 - 5, 30):
            self.blocked[y : y + 2, gap : gap + 2] = False
        span = x1 - x0
        drops = []
        for i in range(stations):
            x = x0 + (i * span) // stations + span // (2 * stations)
            while not self.blocked[y, x]:
                x += 1
            drops.append((x, y - 1))
        return drops

    def parking(self, count: int) -> list[Cell]:
        """Parking rows along the bottom wall, every other row, with an aisle column every 10 cells."""
        cells: list[Cell] = []
        y = self.height - 3
        while len(cells) < count and y > self.line_y + 8:
            cells += [(x, y) for x in range(self.warehouse_x + 2, self.width - 2) if x % 10 != 0]
            y -= 2
        if len(cells) < count:
            raise ValidationError("reference floor", f"room for {len(cells)} parked AGVs, {count} needed")
        self.parking_top = y
        return cells[:count]

    def machine_slots(self, needed: int) -> list[Cell]:
        """Cells a machine may stand on: single rows, broken every 9 cells by an aisle, so every machine
        touches an aisle above and below. Rows are spread (3 to 6 rows apart) to fill the shop floor
        between the line and the walls; nearest the line first. Call after `parking`."""
        x0, x1 = self.warehouse_x + 3, self.width - 3
        per_row = sum(1 for x in range(x0, x1) if (x - x0) % 9 != 8)
        rows_needed = -(-needed // per_row)
        room = (self.line_y - 6) + (self.parking_top - 2 - (self.line_y + 5))
        step = max(3, min(6, (2 * room) // max(1, 2 * rows_needed + 2)))
        top = range(self.line_y - 4, 4, -step)
        bottom = range(self.line_y + 5, self.parking_top - 1, step)
        slots: list[Cell] = []
        for y in (y for pair in zip(top, bottom, strict=False) for y in pair):
            slots += [(x, y) for x in range(x0, x1) if (x - x0) % 9 != 8]
        return slots

    def docks(self, count: int) -> list[Cell]:
        """Receiving docks on the outer wall of the warehouse, spread along it."""
        return [(1, round((k + 1) * (self.height - 1) / (count + 1))) for k in range(count)]

    def chargers(self, count: int) -> list[Cell]:
        """Chargers along the top wall right of the warehouse, every other cell where there is room."""
        row = [(x, 1) for x in range(self.warehouse_x + 2, self.width - 2)]
        cells = row[::2] if len(row[::2]) >= count else row
        if len(cells) < count:
            raise ValidationError("reference floor", f"room for {len(cells)} chargers, {count} needed")
        return cells[:count]


def build_plant(scale: float = 1.0, seed: int = 0) -> Plant:
    """The reference plant at `scale` (1.0 = full size); the seed places machines within the shops."""
    if not 0 < scale <= 4:
        raise ValidationError("scale", f"must lie in (0, 4], got {scale}")
    rng = random.Random(seed)
    side = math.sqrt(scale)
    width = max(64, round(FULL_GRID[0] * side))
    height = max(44, round(FULL_GRID[1] * side))
    floor = _Floor(width, height)
    picks = floor.warehouse()

    n_stations = max(2, min(LINE_POSITIONS, round(LINE_POSITIONS * scale)))
    drops = floor.line(n_stations)
    positions = np.array_split(np.arange(1, LINE_POSITIONS + 1), n_stations)
    stations = tuple(
        Station(id=f"S{i + 1:02d}", index=i, positions=tuple(int(p) for p in pos), drop_cell=drops[i])
        for i, pos in enumerate(positions)
    )
    takt_s = max(1, round(FULL_TAKT_S / scale))
    line = AssemblyLine(
        id="final-assembly",
        stations=stations,
        takt_s=takt_s,
        calendar=TWO_SHIFTS,
        buffer_size=2,
        base_work_s=BASE_WORK_PER_POSITION_S,
        name="Final assembly",
        part_positions=PART_POSITION,
        default_position=DEFAULT_POSITION,
        test=LINE_TEST,
        batch_by="colour",
    )

    n_agvs = _scaled(FULL_AGVS, scale, minimum=4)
    homes = floor.parking(n_agvs)
    counts = [_scaled(g.machines, scale) for g in GROUPS]
    slots = floor.machine_slots(sum(counts))
    if sum(counts) > len(slots):
        raise ValidationError("reference floor", f"room for {len(slots)} machines, {sum(counts)} needed")
    shops: list[Shop] = []
    cursor = 0
    shop_order = list(SHOP_NAMES)
    rng.shuffle(shop_order)  # the seed decides which shop stands nearest the line
    for shop_id in shop_order:
        groups = []
        first_cell: Cell | None = None
        for spec, count in zip(GROUPS, counts, strict=True):
            if spec.shop != shop_id:
                continue
            group = spec.group(slots[cursor : cursor + count])
            cursor += count
            for m in group.machines:
                floor.blocked[m.cell[1], m.cell[0]] = True
            first_cell = first_cell or group.machines[0].cell
            groups.append(group)
        assert first_cell is not None
        outbound = (first_cell[0], first_cell[1] + 1)
        shops.append(Shop(id=shop_id, name=SHOP_NAMES[shop_id], groups=tuple(groups), outbound_cell=outbound))

    chargers = floor.chargers(max(2, round(n_agvs / 8)))
    grid = FloorGrid(
        width=width,
        height=height,
        blocked=floor.blocked,
        exits=np.full((height, width), ALL_EXITS, dtype=np.uint8),
        cell_m=CELL_M,
        warehouse_cells=tuple(picks),
        chargers=tuple(chargers),
        parking=tuple(homes),
        docks=tuple(floor.docks(min(4, max(2, round(4 * side))))),
        zones={
            "warehouse": (1, 1, floor.warehouse_x, height - 2),
            "line": (floor.line_x[0], floor.line_y, floor.line_x[1], floor.line_y + 1),
        },
    )
    fleet = Fleet(
        spec=AgvSpec(
            speed_m_s=1.5,
            payload_kg=3000,
            battery_kwh=30.0,
            charge_kw=60.0,
            drain_kwh_per_m=0.0015,
            loaded_drain_factor=1.6,
            low_soc=0.25,
            id="tugger-3t",
        ),
        agv_ids=tuple(f"AGV-{k + 1:03d}" for k in range(n_agvs)),
        homes=tuple(homes),
    )
    plant = Plant(
        name=f"mixflow reference plant (scale {scale:g})",
        lines=(line,),
        shops=tuple(sorted(shops, key=lambda s: list(SHOP_NAMES).index(s.id))),
        floor=grid,
        fleet=fleet,
        scale=scale,
        routings=truck_routings(),
    )
    catalogue = reference_catalogue()
    mix = reference_mix()
    return replace(
        plant,
        materials=reference_materials(plant, catalogue, mix),
        charging=reference_charging_bay(plant, catalogue, mix),
    )


# -- materials and the charging bay ---------------------------------------------------------------

RAW_MATERIALS: tuple[RawMaterial, ...] = (
    RawMaterial("steel_sheet", "Sheet-steel blank (cab panels)", unit_cost=46, kg=20),
    RawMaterial("weld_kit", "Weld wire and stud kit", unit_cost=14, kg=6),
    RawMaterial("sealer", "Hem adhesive and seam-sealer cartridge", unit_cost=9, kg=1.2),
    RawMaterial("trim_set", "Cab trim set (one trim station's panels, seals, harness)", unit_cost=260, kg=35),
    RawMaterial("pretreat_chem", "Pretreatment chemicals, 20 l can", unit_cost=38, kg=22),
    RawMaterial("ecoat_paste", "E-coat paste, 20 kg pail", unit_cost=110, kg=20),
    RawMaterial("paint_kit", "Primer and topcoat, 5 l kit", unit_cost=95, kg=7),
    RawMaterial("side_rail", "Frame side-rail profile (C-channel)", unit_cost=620, kg=340),
    RawMaterial("cross_member", "Frame cross member", unit_cost=85, kg=40),
    RawMaterial("rivet_kit", "Huck-bolt and rivet kit", unit_cost=18, kg=5),
    RawMaterial("axle_forging", "Axle beam, shaft or hub forging", unit_cost=240, kg=85),
    RawMaterial("bearing_set", "Wheel-end bearing set", unit_cost=70, kg=9),
    RawMaterial("gear_set", "Hub-reduction gear set", unit_cost=380, kg=45),
    RawMaterial("battery_cell", "Prismatic LFP cell, 0.88 kWh", unit_cost=62, kg=5.4),
    RawMaterial("pack_housing", "Pack enclosure with BMS and junction box", unit_cost=2600, kg=190),
)


@dataclass(frozen=True)
class Buying:
    """How the reference plant buys one item: from whom, in lots of what (a rack, pallet or truckload),
    delivered how many days after the order (None: the catalogue part's lead time), and whether the
    supplier ships on weekdays only rather than on every day the plant works."""

    supplier: str
    lot_size: int
    lead_days: int | None = None
    weekdays_only: bool = False


BUYING: Mapping[str, Buying] = {
    "e_drive": Buying("E-drive maker (drive units, a rack of 6)", 6),
    "fuel_cell": Buying("Fuel-cell system maker", 2, weekdays_only=True),
    "engine": Buying("Engine and gearbox maker", 4),
    "mcs_inlet": Buying("Charging-inlet maker (MCS)", 10),
    "ccs_inlet": Buying("Charging-inlet maker (CCS)", 20),
    "pto_unit": Buying("PTO maker", 8),
    "tyre": Buying("Tyre and wheel assembler (a rack of 24)", 24),
    "adas_kit": Buying("ADAS sensor-kit maker", 10),
    "body": Buying("Body builder (tipper, drum, box, crane)", 2, weekdays_only=True),
    "kit": Buying("Line-side kitting supplier", 100),
    "steel_sheet": Buying("Steel service centre (blank stacks)", 240, 2),
    "weld_kit": Buying("Welding consumables distributor", 200, 1),
    "sealer": Buying("Adhesives maker", 120, 2),
    "trim_set": Buying("Cab trim supplier", 40, 2),
    "pretreat_chem": Buying("Surface chemicals maker (pretreatment)", 40, 3),
    "ecoat_paste": Buying("Surface chemicals maker (e-coat)", 40, 3),
    "paint_kit": Buying("Paint maker", 60, 2),
    "side_rail": Buying("Rolling mill (side rails, a truckload of 20)", 20, 3),
    "cross_member": Buying("Frame pressings supplier", 60, 2),
    "rivet_kit": Buying("Fastener distributor", 200, 1),
    "axle_forging": Buying("Forge", 40, 3),
    "bearing_set": Buying("Bearing maker", 100, 2),
    "gear_set": Buying("Gear maker", 40, 3),
    "battery_cell": Buying("Cell maker (a truckload of 4,800)", 4800, 3),
    "pack_housing": Buying("Pack enclosure maker", 8, 3),
}
SUPPLY_MARGIN = 1.75
"""What a supplier can ship a day, over what the orders need on an average day."""
BUSY_DAY_SD = 4
"""A supplier can also ship what a day this many standard deviations busier than the average needs:
a rarely bought item (a fuel cell at a small scale) then comes a few more a day than 1.75 times its
fraction of a piece, so that a run of one day's orders never finds its supplier short."""
SAFETY_DAYS = 1
"""Days of demand kept in stock beyond what a supplier's lead time (and days off) need."""
LOTS_ABOVE_REORDER = 3
"""Lots between a stock's reorder point and its maximum: a purchase order is about three lots."""
P_LATE, MEAN_LATE_S = 0.05, 2 * 3600
WEEKDAYS = Calendar(TWO_SHIFTS.shifts, frozenset({5, 6}))
MIX_SAMPLE = 1000
MCS_KW = 1200.0
BAY_BUSY = 0.5
"""Share of the line's working hours the charging bay's chargers may be busy: at half, a truck rarely
waits for a charger, and never for hours."""


@cache
def reference_mix(count: int = MIX_SAMPLE) -> tuple[Mapping[str, str], ...]:
    """`count` trucks drawn (with a fixed seed) from the reference order mix: what the materials and the
    charging bay are sized on, the same at every scale."""
    catalogue = reference_catalogue()
    models = buildable_models(catalogue)
    names = [v.name for v in catalogue.variables_of(Scope.MODEL)]
    draw = random.Random(0)
    return tuple(
        sample_configuration(draw, dict(zip(names, model, strict=True)), catalogue)
        for model in draw.choices(models, model_weights(catalogue, models), k=count)
    )


def reference_materials(plant: Plant, catalogue: Catalogue, mix: tuple[Mapping[str, str], ...]) -> Materials:
    """The raw materials, one supplier per bought item (`BUYING`) and a stock policy per item, sized on
    what `mix` takes a truck at the plant's order rate; each supplier delivers to a dock in turn."""
    per_truck: dict[str, float] = {}
    squared: dict[str, float] = {}
    for config in mix:
        for item, qty in bought_items(plant, catalogue, config).items():
            per_truck[item] = per_truck.get(item, 0.0) + qty / len(mix)
            squared[item] = squared.get(item, 0.0) + qty * qty / len(mix)
    rate = orders_per_day(plant)
    docks = plant.floor.docks
    suppliers: list[Supplier] = []
    stock: list[StockPolicy] = []
    for k, (item, buying) in enumerate(BUYING.items()):
        calendar = WEEKDAYS if buying.weekdays_only else TWO_SHIFTS
        ships = sum(calendar.works_on(day) for day in range(7))
        lead_s = catalogue.part(item).lead_time_s if buying.lead_days is None else buying.lead_days * DAY_S
        demand = per_truck.get(item, 0.0) * rate
        spread = math.sqrt(squared.get(item, 0.0) * rate)  # of a day's demand: orders arrive as Poisson
        need = max(SUPPLY_MARGIN * demand, demand + BUSY_DAY_SD * spread)
        lots = max(1, math.ceil(need * 7 / ships / buying.lot_size))
        suppliers.append(
            Supplier(
                id=f"sup-{item.replace('_', '-')}",
                name=buying.supplier,
                items=(item,),
                lead_time_s=lead_s,
                capacity_per_day=lots * buying.lot_size,
                lot_size=buying.lot_size,
                calendar=calendar,
                dock=docks[k % len(docks)],
                p_late=P_LATE,
                mean_late_s=MEAN_LATE_S,
            )
        )
        reorder = math.ceil(demand * (lead_s / DAY_S + SAFETY_DAYS + 7 - ships))
        most = reorder + LOTS_ABOVE_REORDER * buying.lot_size
        stock.append(StockPolicy(item, on_hand=most, reorder_point=reorder, max_stock=most))
    return Materials(RAW_MATERIALS, tuple(suppliers), tuple(stock))


def reference_charging_bay(
    plant: Plant, catalogue: Catalogue, mix: tuple[Mapping[str, str], ...]
) -> ChargingBay:
    """MCS chargers enough for the line's battery-electric trucks (as many a day as `mix` has, at the
    lines' rate) to be charged within `BAY_BUSY` of the line's working hours."""
    bay = ChargingBay(chargers=1, power_kw=MCS_KW)
    mean_kwh = sum(catalogue.attributes(c).get(bay.battery_attribute, 0.0) for c in mix) / len(mix)
    busy_h = plant.units_per_day * mean_kwh * charge_h_per_kwh(bay)
    line_h = max(line.calendar.working_s_per_day for line in plant.lines) / 3600
    return replace(bay, chargers=max(1, math.ceil(busy_h / (line_h * BAY_BUSY))))


def charge_h_per_kwh(bay: ChargingBay) -> float:
    """Hours one kWh of pack takes from `start_soc` to `target_soc` on one charger of `bay` (the power
    tapers along its curve)."""
    socs = np.linspace(bay.start_soc, bay.target_soc, 401)
    mids = (socs[:-1] + socs[1:]) / 2
    share = np.interp(mids, [s for s, _ in bay.curve], [p for _, p in bay.curve])
    return float(np.sum(np.diff(socs) / share)) / bay.power_kw
