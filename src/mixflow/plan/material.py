"""Line-side material: which line position each part is fitted at, and where AGVs fetch it from."""

from __future__ import annotations

from mixflow.model import Catalogue, Plant
from mixflow.model.plant import Cell

# Full-scale line position where each part of the reference catalogue is fitted.
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


class LineFeeding:
    """Station index and pickup cell of every part, for one plant and catalogue."""

    def __init__(self, plant: Plant, catalogue: Catalogue) -> None:
        self.plant = plant
        line = plant.line
        self.station_of: dict[str, int] = {}
        self.pickup_of: dict[str, Cell] = {}
        racks = plant.floor.warehouse_cells
        shops = {s.id: s for s in plant.shops}
        for k, part in enumerate(sorted(catalogue.parts, key=lambda p: p.id)):
            position = PART_POSITION.get(part.id, DEFAULT_POSITION)
            self.station_of[part.id] = line.station_for_position(position).index
            if part.shop is not None and part.shop in shops:
                self.pickup_of[part.id] = shops[part.shop].outbound_cell
            else:
                self.pickup_of[part.id] = racks[(k * 7919) % len(racks)]

    def drop_cell(self, part: str) -> Cell:
        return self.plant.line.stations[self.station_of[part]].drop_cell
