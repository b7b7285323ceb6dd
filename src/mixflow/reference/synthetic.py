"""A synthetic truck plant of any size and any number of lines, for scale tests of the plant format.

The reference generator draws one line (Sany's); a plant twice its size with three lines sharing the
feeder shops is what a plant file must also carry. This lays out `lines` lines of 60 positions, one
above the other, with rows of machines between them (the reference plant's machine groups in their
proportions, scaled to `machines`), the warehouse on the left, chargers along the top wall and
parking rows along the bottom. Every line builds the whole truck catalogue, with the reference
routings, line test and part positions, at a takt that keeps the plant's trucks per machine those of
the reference plant.
"""

from __future__ import annotations

import numpy as np

from mixflow.errors import ValidationError
from mixflow.model import AgvSpec, AssemblyLine, Fleet, FloorGrid, Materials, Plant, Shop, Station
from mixflow.model.plant import ALL_EXITS, Cell
from mixflow.reference.plant import (
    BASE_WORK_PER_POSITION_S,
    CELL_M,
    DEFAULT_POSITION,
    FULL_TAKT_S,
    GROUPS,
    LINE_POSITIONS,
    LINE_TEST,
    PART_POSITION,
    RAW_MATERIALS,
    SHOP_NAMES,
    TWO_SHIFTS,
    truck_routings,
)

REFERENCE_MACHINES = sum(g.machines for g in GROUPS)
ROW_GAP = 3
"""Rows of machines stand this many cells apart: a machine row and two aisle rows."""


def synthetic_plant(machines: int = 5000, agvs: int = 1500, lines: int = 3) -> Plant:
    """A plant of about `machines` machines (each reference group at least one), `agvs` AGVs and
    `lines` final-assembly lines."""
    if machines < len(GROUPS) or agvs < 1 or lines < 1:
        raise ValidationError("synthetic plant", "needs a machine per group, an AGV and a line")
    factor = machines / REFERENCE_MACHINES
    counts = [max(1, round(g.machines * factor)) for g in GROUPS]
    width = 40 + 3 * LINE_POSITIONS + 20
    x0, x1 = 34, width - 3
    per_row = sum(1 for x in range(x0, x1) if (x - x0) % 9 != 8)
    machine_rows = -(-sum(counts) // per_row)
    rows_per_band = -(-machine_rows // (lines + 1))
    band_h = rows_per_band * ROW_GAP
    per_parking_row = sum(1 for x in range(32, width - 2) if x % 10 != 0)
    parking_rows = -(-agvs // per_parking_row) * 2
    height = 4 + (lines + 1) * band_h + lines * 6 + parking_rows + 3
    blocked = np.zeros((height, width), dtype=bool)
    blocked[0, :] = blocked[-1, :] = True
    blocked[:, 0] = blocked[:, -1] = True

    picks: list[Cell] = []
    for x in range(3, 28, 4):
        for y in range(3, height - 3):
            if (y - 3) % 12 in (10, 11):
                continue
            blocked[y, x] = blocked[y, x + 1] = True
            if y % 3 == 0:
                picks += [(x - 1, y), (x + 2, y)]

    slots: list[Cell] = []
    y = 3
    line_rows: list[int] = []
    for band in range(lines + 1):
        for r in range(rows_per_band):
            row_y = y + 1 + r * ROW_GAP
            slots += [(x, row_y) for x in range(x0, x1) if (x - x0) % 9 != 8]
        y += band_h
        if band < lines:
            line_rows.append(y + 2)
            y += 6
    parking_top = y + 1

    assembly: list[AssemblyLine] = []
    takt = max(1, round(FULL_TAKT_S * lines / factor))
    positions = np.array_split(np.arange(1, LINE_POSITIONS + 1), LINE_POSITIONS)
    for k, line_y in enumerate(line_rows):
        blocked[line_y : line_y + 2, x0 : x1 - 1] = True
        for gap in range(x0 + 30, x1 - 5, 30):
            blocked[line_y : line_y + 2, gap : gap + 2] = False
        drops = []
        span = x1 - 1 - x0
        for i in range(LINE_POSITIONS):
            x = x0 + (i * span) // LINE_POSITIONS
            while not blocked[line_y, x]:
                x += 1
            drops.append((x, line_y - 1))
        stations = tuple(
            Station(id=f"L{k + 1}S{i + 1:02d}", index=i, positions=(int(pos[0]),), drop_cell=drops[i])
            for i, pos in enumerate(positions)
        )
        assembly.append(
            AssemblyLine(
                id=f"line-{k + 1}",
                name=f"Final assembly {k + 1}",
                stations=stations,
                takt_s=takt,
                calendar=TWO_SHIFTS,
                base_work_s=BASE_WORK_PER_POSITION_S,
                part_positions=PART_POSITION,
                default_position=DEFAULT_POSITION,
                test=LINE_TEST,
                batch_by="colour",
            )
        )

    if sum(counts) > len(slots):
        raise ValidationError("synthetic floor", f"room for {len(slots)} machines, {sum(counts)} needed")
    shops: list[Shop] = []
    cursor = 0
    for shop_id, name in SHOP_NAMES.items():
        groups = []
        first: Cell | None = None
        for spec, count in zip(GROUPS, counts, strict=True):
            if spec.shop != shop_id:
                continue
            group = spec.group(slots[cursor : cursor + count], digits=4)
            cursor += count
            for m in group.machines:
                blocked[m.cell[1], m.cell[0]] = True
            first = first or group.machines[0].cell
            groups.append(group)
        assert first is not None
        outbound = (first[0], first[1] + 1)
        shops.append(Shop(id=shop_id, name=name, groups=tuple(groups), outbound_cell=outbound))

    homes: list[Cell] = []
    row = parking_top
    while len(homes) < agvs:
        homes += [(x, row) for x in range(32, width - 2) if x % 10 != 0]
        row += 2
    homes = homes[:agvs]
    chargers = [(x, 1) for x in range(32, width - 2)][: max(2, agvs // 8)]
    floor = FloorGrid(
        width=width,
        height=height,
        blocked=blocked,
        exits=np.full((height, width), ALL_EXITS, dtype=np.uint8),
        cell_m=CELL_M,
        warehouse_cells=tuple(picks),
        chargers=tuple(chargers),
        parking=tuple(homes),
    )
    tugger = AgvSpec(1.5, 3000, 30.0, 60.0, 0.0015, 1.6, 0.25, id="tugger-3t")
    fleet = Fleet(tugger, tuple(f"AGV-{k + 1:04d}" for k in range(agvs)), tuple(homes))
    return Plant(
        name=f"synthetic truck plant ({sum(counts)} machines, {agvs} AGVs, {lines} lines)",
        lines=tuple(assembly),
        shops=tuple(shops),
        floor=floor,
        fleet=fleet,
        scale=factor,
        routings=truck_routings(),
        materials=Materials(raw=RAW_MATERIALS),  # what the routings consume; no suppliers: never short
    )
