"""The plant's floor and AGV fleet as the fleet planner sees them (adapter from `mixflow.model`).

The floor's `exits` bits (north, east, south, west) are the grid's one-way lanes as they are; zones
(rectangles on the floor) become the free cells inside them. One step is the time an AGV needs to
cross one cell at full speed (1 s on the reference floor: 1.5 m cells, 1.5 m/s).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from mixflow.errors import ValidationError
from mixflow.fleet.grid import ALL_DIRECTIONS, DIRECTIONS, Grid
from mixflow.fleet.manager import EnergySpec, FleetManager
from mixflow.fleet.planner import PlannerOptions
from mixflow.fleet.tasks import FleetTask
from mixflow.model import AgvSpec, MaterialTask, Plant
from mixflow.model.plant import Cell, FloorGrid


def grid_from_floor(floor: FloorGrid, docks: Mapping[Cell, Cell] | None = None) -> Grid:
    """The fleet grid of a plant floor: walls, one-way lanes and named zones. `docks` maps each machine
    cell an AGV drives into (a part worked on its AGV) to the access cell beside it: the dock is a dead
    end entered and left only through that cell, so no robot passes through a station."""
    zones = {}
    free = ~floor.blocked
    for name, (x0, y0, x1, y1) in floor.zones.items():
        ys, xs = np.nonzero(free[y0 : y1 + 1, x0 : x1 + 1])
        zones[name] = (ys + y0) * floor.width + (xs + x0)
    zones["chargers"] = np.array([y * floor.width + x for x, y in floor.chargers], dtype=np.int64)
    zones["parking"] = np.array([y * floor.width + x for x, y in floor.parking], dtype=np.int64)
    blocked, exits = floor.blocked.copy(), floor.exits.copy()
    zones["docks"] = np.array([y * floor.width + x for x, y in (docks or {})], dtype=np.int64)
    for (x, y), (ax, ay) in (docks or {}).items():
        blocked[y, x] = False
        exits[y, x] = 0
        for d, (dy, dx) in enumerate(DIRECTIONS):
            ny, nx = y + dy, x + dx
            if (nx, ny) == (ax, ay):
                exits[y, x] |= 1 << d
            elif 0 <= ny < floor.height and 0 <= nx < floor.width:
                exits[ny, nx] &= ~(1 << ((d + 2) % 4)) & ALL_DIRECTIONS  # no way in but from its access
        if not exits[y, x]:
            raise ValidationError(f"dock {(x, y)}", f"its access cell {(ax, ay)} is not beside it")
    return Grid(blocked=blocked, exits=exits, zones=zones, name="plant-floor")


def docked_grid(plant: Plant, access: dict[str, Cell]) -> Grid:
    """The plant's fleet grid with a dock in every machine where parts are worked on their AGV, entered
    from that machine's cell of `access` (`access_cells`)."""
    docks = plant.agv_docks()
    for machine, cell in docks.items():
        (x, y), (ax, ay) = cell, access[machine]
        if abs(x - ax) + abs(y - ay) != 1:
            raise ValidationError(f"machine {machine}", "parts are worked on their AGV there, but no cell "
                                  "the AGVs reach lies beside it")
    return grid_from_floor(plant.floor, {cell: access[m] for m, cell in docks.items()})


def access_cells(plant: Plant) -> dict[str, Cell]:
    """The free cell an AGV serves each machine from: the nearest (breadth first over free cells) that
    the fleet reaches from its first home."""
    grid = grid_from_floor(plant.floor)
    start = grid.cell(*plant.fleet.homes[0])
    reach = np.zeros(grid.n_cells, dtype=np.bool_)
    reach[start] = True
    frontier = np.array([start])
    while len(frontier):
        nbr = grid.neighbors[frontier].ravel()
        nbr = np.unique(nbr[nbr >= 0])
        nbr = nbr[~reach[nbr]]
        reach[nbr] = True
        frontier = nbr
    width, height = plant.floor.width, plant.floor.height
    cells: dict[str, Cell] = {}
    for machine in plant.machines:
        cells[machine.id] = _nearest(machine.cell, reach, width, height, machine.id)
    return cells


def _nearest(cell: Cell, reach: np.ndarray, width: int, height: int, what: str) -> Cell:
    seen = {cell}
    ring = [cell]
    for _ in range(max(width, height)):
        nxt = []
        for x, y in ring:
            for nx, ny in ((x, y - 1), (x + 1, y), (x, y + 1), (x - 1, y)):
                if 0 <= nx < width and 0 <= ny < height and (nx, ny) not in seen:
                    seen.add((nx, ny))
                    if reach[ny * width + nx]:
                        return (nx, ny)
                    nxt.append((nx, ny))
        ring = nxt
    raise ValidationError(f"machine {what}", "no free cell the AGVs reach lies anywhere near it")




def step_seconds(plant: Plant) -> float:
    """Seconds one planner step stands for: one cell at the AGV's full speed."""
    return plant.floor.cell_m / plant.fleet.spec.speed_m_s


def energy_from_spec(spec: AgvSpec, cell_m: float, step_s: float) -> EnergySpec:
    """The battery model per step of an AGV spec, and what it carries."""
    return EnergySpec(
        battery_kwh=spec.battery_kwh,
        drain_kwh_per_move=spec.drain_kwh_per_m * cell_m,
        charge_kwh_per_step=spec.charge_kw * step_s / 3600.0,
        loaded_factor=spec.loaded_drain_factor,
        low_soc=spec.low_soc,
        payload_kg=spec.payload_kg,
    )


def fleet_for_plant(
    plant: Plant, options: PlannerOptions | None = None, seed: int = 0, access: dict[str, Cell] | None = None
) -> FleetManager:
    """A fleet manager for the plant's AGVs, starting at their homes with full batteries: each AGV with
    its own type's battery, drain, charging power and payload, each charger with its power limit.
    `access`: the machines' access cells, if the caller has them already (`access_cells`)."""
    grid = docked_grid(plant, access_cells(plant) if access is None else access)
    homes = np.array([grid.cell(x, y) for x, y in plant.fleet.homes], dtype=np.int32)
    chargers = np.array([grid.cell(x, y) for x, y in plant.floor.chargers], dtype=np.int32)
    step_s = step_seconds(plant)
    energy = tuple(energy_from_spec(t, plant.floor.cell_m, step_s) for t in plant.fleet.types)
    charger_limit = np.array(plant.floor.charger_kw, dtype=np.float64) * step_s / 3600.0
    return FleetManager(
        grid,
        homes,
        chargers,
        energy,
        options,
        seed=seed,
        type_of=plant.fleet.type_of,
        charger_kwh_per_step=charger_limit,
    )


def fleet_task(task: MaterialTask, grid: Grid, step_s: float = 1.0) -> FleetTask:
    """A material task in planner units: cell indices and steps (release rounded up, deadline down)."""
    return FleetTask(
        id=task.id,
        pickup=grid.cell(*task.pickup),
        dropoff=grid.cell(*task.dropoff),
        release=int(np.ceil(task.release_s / step_s)),
        deadline=int(np.floor(task.deadline_s / step_s)),
        payload_kg=task.payload_kg,
    )
