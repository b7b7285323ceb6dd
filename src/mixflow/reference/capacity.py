"""Capacity against demand: the check that the reference plant can build what it is asked to."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mixflow.model import Catalogue, Order, Plant
from mixflow.reference.plant import POST_LINE_WORK_S


@dataclass(frozen=True)
class Load:
    """Daily demand and capacity (seconds of work) of one resource."""

    resource: str
    shop: str
    machines: int
    demand_s_per_day: float
    capacity_s_per_day: float

    @property
    def utilisation(self) -> float:
        return self.demand_s_per_day / self.capacity_s_per_day


def feeder_loads(plant: Plant, catalogue: Catalogue, orders: list[Order], days: float) -> list[Load]:
    """Work each machine group must do a day for `orders` against what its machines can do."""
    demand: dict[str, float] = {}
    for order in orders:
        for op in catalogue.feeder_operations(order.configuration):
            demand[op.operation] = demand.get(op.operation, 0.0) + op.work_s
        for operation, seconds in POST_LINE_WORK_S.items():
            demand[operation] = demand.get(operation, 0.0) + seconds
    return [
        Load(
            resource=g.id,
            shop=g.shop,
            machines=len(g.machines),
            demand_s_per_day=demand.get(g.operation, 0.0) / days,
            capacity_s_per_day=len(g.machines) * g.calendar.working_s_per_day,
        )
        for g in plant.machine_groups
    ]


def line_load(plant: Plant, catalogue: Catalogue, orders: list[Order], days: float) -> Load:
    """The line's bottleneck station: mean work per truck there times trucks a day, against takt time."""
    if not orders:
        return Load("line", "line", 0, 0.0, float(plant.line.calendar.working_s_per_day))
    work = np.mean([plant.line.station_work(catalogue.line_work(o.configuration)) for o in orders], axis=0)
    per_day = len(orders) / days
    return Load(
        resource=f"line (station {plant.line.stations[int(np.argmax(work))].id})",
        shop="line",
        machines=len(plant.line.stations),
        demand_s_per_day=float(work.max() * per_day),
        capacity_s_per_day=float(plant.line.calendar.working_s_per_day),
    )
