"""The plant's floor and AGV fleet as the fleet planner sees them (adapter from `mixflow.model`).

The floor's `exits` bits (north, east, south, west) are the grid's one-way lanes as they are; zones
(rectangles on the floor) become the free cells inside them. One step is the time an AGV needs to
cross one cell at full speed (1 s on the reference floor: 1.5 m cells, 1.5 m/s).
"""

from __future__ import annotations

import numpy as np

from mixflow.fleet.grid import Grid
from mixflow.fleet.manager import EnergySpec, FleetManager
from mixflow.fleet.planner import PlannerOptions
from mixflow.fleet.tasks import FleetTask
from mixflow.model import AgvSpec, MaterialTask, Plant
from mixflow.model.plant import FloorGrid


def grid_from_floor(floor: FloorGrid) -> Grid:
    """The fleet grid of a plant floor: walls, one-way lanes and named zones."""
    zones = {}
    free = ~floor.blocked
    for name, (x0, y0, x1, y1) in floor.zones.items():
        ys, xs = np.nonzero(free[y0 : y1 + 1, x0 : x1 + 1])
        zones[name] = (ys + y0) * floor.width + (xs + x0)
    zones["chargers"] = np.array([y * floor.width + x for x, y in floor.chargers], dtype=np.int64)
    zones["parking"] = np.array([y * floor.width + x for x, y in floor.parking], dtype=np.int64)
    return Grid(blocked=floor.blocked.copy(), exits=floor.exits.copy(), zones=zones, name="plant-floor")


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


def fleet_for_plant(plant: Plant, options: PlannerOptions | None = None, seed: int = 0) -> FleetManager:
    """A fleet manager for the plant's AGVs, starting at their homes with full batteries: each AGV with
    its own type's battery, drain, charging power and payload, each charger with its power limit."""
    grid = grid_from_floor(plant.floor)
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
