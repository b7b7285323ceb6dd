"""Line-side material: at which station of a line each part is fitted, and where AGVs fetch it from.

Both come from the plant: a line names the position each part is fitted at (`AssemblyLine.parts`),
a part with a routing is picked up at its shop's outbound cell, and a bought part or raw material at a
warehouse rack cell (spread over the racks by a fixed hash, so neighbouring items do not share one cell).
"""

from __future__ import annotations

from mixflow.errors import ValidationError
from mixflow.model import AssemblyLine, Catalogue, Plant
from mixflow.model.plant import Cell


class LineFeeding:
    """Station index of every part on every line, and the pickup cell of every part and raw material."""

    def __init__(self, plant: Plant, catalogue: Catalogue) -> None:
        self.plant = plant
        self.station_on: dict[str, dict[str, int]] = {}
        self.pickup_of: dict[str, Cell] = {}
        racks = plant.floor.warehouse_cells
        shops = {s.id: s for s in plant.shops}
        for line in plant.lines:
            stations: dict[str, int] = {}
            for part in catalogue.parts:
                position = line.position_of(part.id)
                if position is not None:
                    stations[part.id] = line.station_for_position(position).index
            self.station_on[line.id] = stations
        for k, part in enumerate(sorted(catalogue.parts, key=lambda p: p.id)):
            routing = plant.routing(part.id)
            if routing is not None:
                self.pickup_of[part.id] = shops[routing.shop].outbound_cell
            elif racks:
                self.pickup_of[part.id] = racks[(k * 7919) % len(racks)]
            elif plant.floor.docks:
                self.pickup_of[part.id] = plant.floor.docks[k % len(plant.floor.docks)]
            else:
                raise ValidationError(
                    f"part {part.id}", "is bought, but the floor has no warehouse cell or dock"
                )
        for k, raw in enumerate(sorted(plant.materials.raw, key=lambda r: r.id)):
            if racks:  # offset past the parts so a raw material does not share a part's rack
                self.pickup_of[raw.id] = racks[((k + len(catalogue.parts)) * 7919) % len(racks)]
            elif plant.floor.docks:
                self.pickup_of[raw.id] = plant.floor.docks[k % len(plant.floor.docks)]
            else:
                raise ValidationError(f"raw material {raw.id}", "the floor has no warehouse cell or dock")

    def station(self, line: AssemblyLine, part: str) -> int:
        """Index of the station of `line` where `part` is fitted."""
        return self.station_on[line.id][part]

    def fits(self, line: AssemblyLine, part: str) -> bool:
        return part in self.station_on[line.id]

    def drop_cell(self, line: AssemblyLine, part: str) -> Cell:
        return line.stations[self.station(line, part)].drop_cell
