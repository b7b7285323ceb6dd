"""Capacity against demand: the check that a plant can build what it is asked to."""

from __future__ import annotations

import random
from dataclasses import dataclass

import numpy as np

from mixflow.errors import InfeasibleError, InputFileError
from mixflow.model import AssemblyLine, Catalogue, Order, Plant, Scope
from mixflow.model.plant_file import place_of
from mixflow.model.yaml_file import json_path
from mixflow.reference.catalogue import buildable_models, sample_configuration


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
    for line in assign_lines(plant, orders):
        if line.test is not None:
            demand[line.test.group] = demand.get(line.test.group, 0.0) + line.test.work_s
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


def model_samples(catalogue: Catalogue, seed: int = 0) -> list[dict[str, str]]:
    """One valid configuration of every buildable model (its order options drawn at random)."""
    draw = random.Random(seed)
    names = [v.name for v in catalogue.variables_of(Scope.MODEL)]
    return [
        sample_configuration(draw, dict(zip(names, model, strict=True)), catalogue)
        for model in buildable_models(catalogue)
    ]


def _at(plant: Plant, path: list[str | int], message: str) -> InputFileError:
    """A problem at `path` of the file the plant was read from (`file:line: $.path: message`)."""
    source, line = place_of(plant, path)
    return InputFileError(source, f"{json_path(path)}: {message}", line)


def unbuilt_models(plant: Plant, configs: list[dict[str, str]]) -> list[InputFileError]:
    """A problem for each configuration no line of the plant builds."""
    return [
        _at(plant, ["lines"], f"no line builds the model {config} (check the lines' `builds`)")
        for config in configs
        if not plant.lines_for(config)
    ]


def takt_overloads(
    plant: Plant, catalogue: Catalogue, configs: list[dict[str, str]]
) -> list[InputFileError]:
    """Stations whose work for some configuration a line builds exceeds what its takt can hold (the
    takt plus the drift a worker may run into the next one): no sequence avoids stopping there."""
    problems = []
    for index, line in enumerate(plant.lines):
        built = [c for c in configs if line.can_build(c)]
        if not built:
            continue
        work = np.array([line.station_work(catalogue.line_work(c)) for c in built])
        worst = work.max(axis=0)
        for k, station in enumerate(line.stations):
            if worst[k] > line.takt_s + line.drift_s:
                config = built[int(work[:, k].argmax())]
                problems.append(
                    _at(
                        plant,
                        ["lines", index, "takt_s"],
                        f"line {line.id}: station {station.id} needs {int(worst[k])} s for its heaviest "
                        f"unit ({', '.join(f'{v}={config[v]}' for v in list(config)[:4])}, ...), more "
                        f"than takt {line.takt_s} s plus drift {line.drift_s} s can hold",
                    )
                )
    return problems


def assign_lines(plant: Plant, orders: list[Order]) -> list[AssemblyLine]:
    """The line each order would be built on, for capacity checks: every order to the line that can
    build it and is least loaded so far (units over the line's rate), as the promise balances them."""
    given = {line.id: 0.0 for line in plant.lines}
    chosen = []
    for order in orders:
        able = plant.lines_for(order.configuration)
        if not able:
            raise InfeasibleError(f"no line of {plant.name} can build order {order.id}")
        line = min(able, key=lambda ln: (given[ln.id] + 1) / ln.units_per_day)
        given[line.id] += 1
        chosen.append(line)
    return chosen


def line_loads(plant: Plant, catalogue: Catalogue, orders: list[Order], days: float) -> list[Load]:
    """Each line's bottleneck station: mean work per unit there times units a day, against the line's
    working time; an order several lines can build counts on the one `assign_lines` gives it."""
    loads = []
    chosen = assign_lines(plant, orders)
    for line in plant.lines:
        work = np.zeros(len(line.stations))
        units = 0
        for order, built_on in zip(orders, chosen, strict=True):
            if built_on is line:
                work += line.station_work(catalogue.line_work(order.configuration))
                units += 1
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
