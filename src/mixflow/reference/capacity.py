"""Capacity against demand: the check that a plant can build what it is asked to."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from mixflow.model import AssemblyLine, Catalogue, Order, Plant


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
    """Work each machine group must do a day for `orders` (their routings, then each line's end test)
    against what its machines can do; a step several groups may do is shared by machine count."""
    demand: dict[str, float] = {}
    groups = plant.group_index
    for order in orders:
        config = order.configuration
        for op in plant.feeder_operations(config, catalogue.attributes(config)):
            machines = sum(len(groups[g].machines) for g in op.groups)
            for g in op.groups:
                demand[g] = demand.get(g, 0.0) + op.work_s * len(groups[g].machines) / machines
        for line, share in line_shares(plant, config):
            if line.test is not None:
                demand[line.test.group] = demand.get(line.test.group, 0.0) + line.test.work_s * share
    return [
        Load(
            resource=g.id,
            shop=g.shop,
            machines=len(g.machines),
            demand_s_per_day=demand.get(g.id, 0.0) / days,
            capacity_s_per_day=len(g.machines) * g.calendar.working_s_per_day,
        )
        for g in plant.machine_groups
    ]


def line_shares(plant: Plant, config: Mapping[str, str]) -> list[tuple[AssemblyLine, float]]:
    """The lines that can build `config`, each with the share of such orders it takes in the long
    run: in proportion to the lines' rates."""
    able = plant.lines_for(config)
    total = sum(line.units_per_day for line in able)
    return [(line, line.units_per_day / total) for line in able]


def line_loads(plant: Plant, catalogue: Catalogue, orders: list[Order], days: float) -> list[Load]:
    """Each line's bottleneck station: mean work per unit there times units a day, against the line's
    working time; orders that several lines can build are shared by the lines' rates."""
    loads = []
    for line in plant.lines:
        work = np.zeros(len(line.stations))
        units = 0.0
        for order in orders:
            for able, share in line_shares(plant, order.configuration):
                if able is line:
                    work += share * line.station_work(catalogue.line_work(order.configuration))
                    units += share
        capacity = float(line.calendar.working_s_per_day)
        if units == 0:
            loads.append(Load(f"line {line.id}", "line", len(line.stations), 0.0, capacity))
            continue
        mean = work / units
        loads.append(
            Load(
                resource=f"line {line.id} (station {line.stations[int(np.argmax(mean))].id})",
                shop="line",
                machines=len(line.stations),
                demand_s_per_day=float(mean.max() * units / days),
                capacity_s_per_day=capacity,
            )
        )
    return loads
