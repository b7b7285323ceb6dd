"""One whole-plant run as a pure function: `run(scenario, seed) -> Result`, safe for process pools.

This is where the twin meets the cloud scheduler: the reference plant and its order stream are
built, checked for feasibility (refused with a sentence before the run), and `mixflow.plan` drives
the twin through the factory port until the orders are delivered or the horizon ends.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from mixflow.configure import compile_catalogue
from mixflow.errors import InfeasibleError, ValidationError
from mixflow.fleet.grid import Grid
from mixflow.model import DAY_S, Catalogue, Materials, Order, Plant
from mixflow.plan import PlanOptions, PlanStore, Scheduler
from mixflow.reference import feeder_loads, line_loads, order_stream
from mixflow.reference.sources import load_sources
from mixflow.twin.factory import Twin
from mixflow.twin.power import TRUCK_CHARGING
from mixflow.twin.scenario import Scenario


@dataclass(frozen=True, eq=False)
class Result:
    """KPIs of a run plus the series the report plots."""

    scenario: Scenario
    seed: int
    kpis: dict[str, Any]
    lead_days: np.ndarray
    stops: tuple[tuple[int, int, str, str], ...]
    gantt: tuple[tuple[str, str, str, int, int], ...]
    heat: np.ndarray
    blocked: np.ndarray
    interrupted: bool = False
    extra: dict[str, object] = field(default_factory=dict)


def _fleet_of(plant: Plant, agvs: int | None) -> Plant:
    """The plant with `agvs` AGVs (homes taken from the parking rows in order)."""
    if agvs is None or agvs == len(plant.fleet.agv_ids):
        return plant
    parking = plant.floor.parking
    if agvs > len(parking):
        raise InfeasibleError(f"the floor parks {len(parking)} AGVs; {agvs} were asked for")
    return replace(plant, fleet=plant.fleet.with_agvs(agvs, parking))


def check_feasible(plant: Plant, catalogue: Catalogue, orders: list[Order], days: int) -> None:
    """Refuse a scenario that cannot work: demand above capacity (of machines, or of the suppliers once
    the plant names them), or no charger reachable."""
    from mixflow.model.supply import check_supply, daily_demand

    for load in [*line_loads(plant, catalogue, orders, days), *feeder_loads(plant, catalogue, orders, days)]:
        if load.utilisation > 1.0:
            raise InfeasibleError(
                f"demand is above capacity: {load.resource} would need {load.utilisation:.0%} "
                f"of what it can do "
                f"({load.demand_s_per_day:,.0f} s of work a day against {load.capacity_s_per_day:,.0f} s)"
            )
    if plant.materials.modelled:
        check_supply(plant, catalogue, daily_demand(plant, catalogue, orders, days))
    grid = Grid(blocked=plant.floor.blocked.copy())
    if not plant.floor.chargers:
        raise InfeasibleError("the floor has no charger, so no AGV could ever recharge")
    seen = np.zeros(grid.n_cells, dtype=np.bool_)
    frontier = [grid.cell(x, y) for x, y in plant.floor.chargers]
    seen[frontier] = True
    while frontier:
        nbr = grid.neighbors[np.array(frontier)].ravel()
        nbr = np.unique(nbr[(nbr >= 0)])
        nbr = nbr[~seen[nbr]]
        seen[nbr] = True
        frontier = nbr.tolist()
    for agv, (x, y) in zip(plant.fleet.agv_ids, plant.fleet.homes, strict=True):
        if not seen[grid.cell(x, y)]:
            raise InfeasibleError(f"no charger is reachable from the parking cell ({x}, {y}) of {agv}")


def prepare(scenario: Scenario, seed: int) -> tuple[Plant, Catalogue, list[Order]]:
    """The plant, catalogue and orders of a scenario, checked before anything runs."""
    plant, catalogue = load_sources(scenario.plant_file, scenario.catalogue_file, scenario.scale, seed)
    plant = _fleet_of(plant, scenario.agvs)
    if not scenario.materials:
        plant = replace(plant, materials=Materials())
    orders = order_stream(plant, catalogue, scenario.days, seed)
    if scenario.demand_factor != 1.0:
        extra = order_stream(plant, catalogue, scenario.days, seed + 1)
        rng = np.random.default_rng(seed)
        keep = rng.random(len(extra)) < scenario.demand_factor - 1.0
        more = [o for o, k in zip(extra, keep, strict=True) if k] if scenario.demand_factor > 1 else []
        if scenario.demand_factor < 1:
            orders = [o for o in orders if rng.random() < scenario.demand_factor]
        orders = sorted(
            orders + [replace(o, id=f"R{o.id[1:]}") for o in more], key=lambda o: (o.placed_s, o.id)
        )
    check_configured(catalogue, orders)
    check_feasible(plant, catalogue, orders, scenario.days)
    for delay in scenario.supplier_delays:
        if plant.materials.supplier_of(delay.item) is None:
            sold = sorted(i for s in plant.materials.suppliers for i in s.items)
            raise ValidationError(
                f"supplier delay of {delay.item}",
                f"no supplier of plant {plant.name} sells it (sold: {', '.join(sold) or 'nothing'})",
            )
    return plant, catalogue, orders


def check_configured(catalogue: Catalogue, orders: list[Order]) -> None:
    """Refuse an order whose configuration breaks the catalogue's rules: every order is configured
    through the configurator before it arrives, so a generated one must pass it too."""
    engine = compile_catalogue(catalogue)
    for order in orders:
        if not engine.is_consistent(dict(order.configuration)):
            raise ValidationError(f"order {order.id}", "its configuration breaks the catalogue's rules")


def run(
    scenario: Scenario,
    seed: int = 0,
    *,
    store: PlanStore | None = None,
    options: PlanOptions | None = None,
    on_progress: Callable[[int, Scheduler, Twin], bool] | None = None,
) -> Result:
    """Simulate the scenario with the cloud scheduler in charge; deterministic for a seed.

    `on_progress(now_s, scheduler, twin)` is called about once a simulated minute and may return
    False to stop (a Ctrl-C in the CLI does so): the Result then covers what ran.
    """
    began = time.perf_counter()
    cpu_began = time.process_time()
    plant, catalogue, orders = prepare(scenario, seed)
    twin = Twin(plant, catalogue, orders, scenario, seed)
    options = options or PlanOptions()
    scheduler = Scheduler(plant, catalogue, store, options, seed=seed)
    interrupted = False
    arrivals_end = scenario.days * DAY_S

    def progress(now: int) -> bool:
        nonlocal interrupted
        if now >= arrivals_end and len(twin.delivered) >= len(orders):
            return False
        if on_progress is not None and on_progress(now, scheduler, twin) is False:
            interrupted = True
            return False
        return True

    try:
        scheduler.run(twin, scenario.end_s, progress)
    except KeyboardInterrupt:
        interrupted = True
        scheduler.flush()
    result = collect(scenario, seed, plant, scheduler, twin, time.perf_counter() - began, interrupted)
    result.kpis["cpu_s"] = round(time.process_time() - cpu_began, 2)
    return result


def collect(
    scenario: Scenario,
    seed: int,
    plant: Plant,
    scheduler: Scheduler,
    twin: Twin,
    wall_s: float,
    interrupted: bool,
) -> Result:
    """Put the scheduler's KPIs and the twin's own meters together."""
    horizon = max(1, twin.now_s)
    kpis = scheduler.kpis.summary(plant, scenario.days, horizon)
    counters = twin.agvs.counters
    n_agvs = len(plant.fleet.agv_ids)
    moves = counters.moves_empty + counters.moves_loaded
    delivered = max(1, int(kpis["delivered"]))
    machine_kwh = twin.machine_counters.energy_kwh
    twin.power.advance(max(twin.now_s, twin.power.now_s))
    truck_kwh = twin.power.energy_kwh(TRUCK_CHARGING)
    lines = list(twin.lines.values())
    for line in lines:
        line.close_stop(twin.now_s)
    stops = [(line.line.id, stop) for line in lines for stop in line.stops]
    multi = len(lines) > 1
    kpis.update(
        {
            "agv_collisions": counters.collisions,
            "agv_refused_moves": counters.refused_moves,
            "agvs": n_agvs,
            "agv_utilisation": round(twin.agv_busy_until_now() / (n_agvs * horizon), 4) if n_agvs else 0.0,
            "agv_empty_travel": round(counters.moves_empty / moves, 4) if moves else 0.0,
            "agv_steps": counters.steps,
            "machines": len(plant.machines),
            "line_stop_minutes": round(sum(s.end_s - s.start_s for _, s in stops) / 60, 1),
            "line_pitches": {
                "indexed": sum(line.indexes for line in lines),
                "empty": sum(line.empty_slots for line in lines),
                "held_for_first_station_parts": sum(line.held_for_parts for line in lines),
                "spaced": sum(line.spaced for line in lines),
            },
            "energy_kwh": {
                "machines": round(machine_kwh, 1),
                "agv_drive": round(counters.drive_kwh, 1),
                "charging": round(counters.charge_kwh, 1),
                "truck_charging": round(truck_kwh, 1),
            },
            "energy_kwh_per_unit": round((machine_kwh + counters.drive_kwh + truck_kwh) / delivered, 1),
            "faults": scheduler.kpis.faults,
            "scale": plant.scale,
            "seed": seed,
            "interrupted": interrupted,
            "wall_s": round(wall_s, 2),
        }
    )
    kpis.update(_material_kpis(plant, scheduler, twin, horizon))
    kpis.update(_energy_kpis(twin, delivered))
    if multi:  # the totals above count every line; each line's own share
        kpis["lines"] = {
            line.line.id: {
                "entered": line.indexes - line.empty_slots,
                "stop_minutes": round(sum(s.end_s - s.start_s for s in line.stops) / 60, 1),
                "empty_pitches": line.empty_slots,
            }
            for line in lines
        }
    book = scheduler.kpis
    lead = np.array([(book.delivered_s[o] - book.placed_s[o]) / DAY_S for o in book.delivered_s])
    return Result(
        scenario=scenario,
        seed=seed,
        kpis=kpis,
        lead_days=lead,
        stops=tuple(
            (s.start_s, s.end_s, f"{line_id}/{s.station}" if multi else s.station, s.cause)
            for line_id, s in sorted(stops, key=lambda ls: (ls[1].start_s, ls[0]))
        ),
        gantt=tuple(book.gantt),
        heat=twin.agvs.heat.copy(),
        blocked=plant.floor.blocked.copy(),
        interrupted=interrupted,
        extra={
            "plant": plant.name,
            "catalogue": scheduler.catalogue.name,
            "product": scheduler.catalogue.product,
            "products": scheduler.catalogue.products,
        },
    )


def _material_kpis(plant: Plant, scheduler: Scheduler, twin: Twin, horizon_s: int) -> dict[str, Any]:
    """What the fleet carried and what material did: tasks by kind and per hour, how long a task waited
    for an AGV, how long machines waited for material; stock, purchase orders and suppliers."""
    stock = twin.stock.counters
    tasks = sum(stock.tasks_by_kind.values())
    waits = np.array(stock.task_waits_s) if stock.task_waits_s else np.zeros(1)
    shop_of = {g.id: s.id for s in plant.shops for g in s.groups}
    by_shop: dict[str, float] = {}
    for group, seconds in stock.material_wait_s.items():
        by_shop[shop_of[group]] = by_shop.get(shop_of[group], 0.0) + seconds / 3600
    kpis: dict[str, Any] = {
        "agv_tasks": tasks,
        "agv_tasks_per_hour": round(tasks / (horizon_s / 3600), 1),
        "agv_tasks_by_kind": dict(sorted(stock.tasks_by_kind.items())),
        "agv_task_wait_s": {
            "p50": round(float(np.percentile(waits, 50)), 1),
            "p95": round(float(np.percentile(waits, 95)), 1),
            "max": round(float(waits.max()), 1),
        },
        "agv_task_wait_causes_h": {
            "unassigned": round(twin.agvs.counters.wait_unassigned_s / 3600, 2),
            "agv_on_its_way": round(twin.agvs.counters.wait_agv_on_its_way_s / 3600, 2),
        },
        "material_wait_h": round(sum(by_shop.values()), 2),
        "material_wait_h_by_shop": {shop: round(h, 2) for shop, h in sorted(by_shop.items())},
    }
    ledger, flow = scheduler.ledger, scheduler.flow
    value = twin.stock.inventory_value()
    days = max(horizon_s / DAY_S, 1e-9)
    per_day = stock.consumed_value / days
    mean_value = float(np.mean(stock.value_by_day)) if stock.value_by_day else value
    kpis.update(
        {
            "stockouts": flow.counters.stockouts if flow is not None else 0,
            "rack_empty_at_pickup": stock.stockouts,
            "agv_at_pickup_before_load": stock.not_ready_at_pickup,
            "purchase_orders": ledger.purchase_orders if ledger is not None else 0,
            "supplier_on_time": round(ledger.on_time, 4) if ledger is not None and stock.receipts else None,
            "inventory_value": round(value, 0),
            "inventory_value_by_day": [round(v, 0) for v in stock.value_by_day],
            "days_of_supply": round(mean_value / per_day, 2) if per_day > 0 else None,
        }
    )
    return kpis


def _energy_kpis(twin: Twin, delivered: int) -> dict[str, Any]:
    """The plant's power: peak, billed 15-minute peak, hourly profile by source, the trucks' first charge."""
    power = twin.power
    kpis: dict[str, Any] = {
        "peak_power_kw": round(power.peak_kw, 1),
        "peak_15min_kw": round(power.peak_15min_kw, 1),
        "power_profile_kw": {src: [round(v, 1) for v in hours] for src, hours in power.profile().items()},
    }
    if twin.bay is not None:
        bay = twin.bay.kpis(0, max(1, twin.now_s))
        units = max(1, int(bay["units_charged"]))
        kpis["truck_charging"] = {
            "units": int(bay["units_charged"]),
            "kwh_per_unit": round(float(bay["charged_kwh"]) / units, 1),
            "wait_min_p95": round(float(bay["wait_p95_s"]) / 60, 1),
            "charger_utilisation": round(float(bay["utilisation"]), 4),
        }
    return kpis
