"""What the orders need of every bought item a day, and whether the plant's suppliers can ship it.

A supplier whose capacity lies below the demand of all its items together makes every plan fail
sooner or later, however much stock the warehouse starts with, so a run is refused before it starts
(as a machine group over capacity is), naming the supplier, the items and the shortfall.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from mixflow.errors import InfeasibleError, ValidationError
from mixflow.model.catalogue import Catalogue
from mixflow.model.materials import Supplier
from mixflow.model.orders import Order
from mixflow.model.plant import Plant

WEEK = 7


def bought_items(plant: Plant, catalogue: Catalogue, config: Mapping[str, str]) -> dict[str, int]:
    """Pieces of every bought item one unit of `config` takes: the parts of its bill of materials the
    plant does not make, and the raw material of every feeder operation it needs."""
    items: dict[str, int] = {}
    for part, qty in catalogue.bill_of_materials(config).items():
        if not plant.makes(part):
            items[part] = items.get(part, 0) + qty
    for op in plant.feeder_operations(config, catalogue.attributes(config)):
        for item, qty in op.materials:
            items[item] = items.get(item, 0) + qty
    return items


def daily_demand(
    plant: Plant, catalogue: Catalogue, orders: Sequence[Order], days: float
) -> dict[str, float]:
    """Pieces a day of every bought item that `orders`, spread over `days`, take (by item id)."""
    if days <= 0:
        raise ValidationError("daily demand", f"needs a positive number of days, got {days}")
    totals: dict[str, int] = {}
    for order in orders:
        for item, qty in bought_items(plant, catalogue, order.configuration).items():
            totals[item] = totals.get(item, 0) + qty
    return {item: totals[item] / days for item in sorted(totals)}


def shipping_days(supplier: Supplier) -> int:
    """Days of a week the supplier ships on (its calendar works at all that day; none: every day)."""
    if supplier.calendar is None:
        return WEEK
    return sum(supplier.calendar.works_on(day) for day in range(WEEK))


def average_capacity(supplier: Supplier) -> float:
    """Pieces a day the supplier can ship on an average day: its daily capacity on the days it ships."""
    return supplier.capacity_per_day * shipping_days(supplier) / WEEK


def check_supply(plant: Plant, catalogue: Catalogue, demand_per_day: Mapping[str, float]) -> None:
    """Raise InfeasibleError for the first bought item with demand that no supplier sells (a part of
    `catalogue`, a raw material, or an item the plant defines nowhere), else for the first supplier that
    ships fewer pieces on an average day than its items need together."""
    materials = plant.materials
    parts = {p.id for p in catalogue.parts}
    for item, need in demand_per_day.items():
        if need <= 0 or materials.supplier_of(item) is not None:
            continue
        if item in parts:
            unsold = f"part {item}: no supplier sells it and no shop makes it"
        elif materials.raw_material(item) is not None:
            unsold = f"raw material {item}: no supplier sells it"
        else:
            unsold = f"item {item}: neither a part nor a raw material, and no supplier sells it"
        raise InfeasibleError(f"{unsold} ({_pieces(need)} a day needed)")
    short: list[str] = []
    for supplier in materials.suppliers:
        wanted = {item: demand_per_day.get(item, 0.0) for item in supplier.items}
        total = sum(wanted.values())
        capacity = average_capacity(supplier)
        if total > capacity * (1 + 1e-9):
            short.append(_shortfall(supplier, wanted, total, capacity))
    if short:
        more = f" (and {len(short) - 1} more suppliers short)" if len(short) > 1 else ""
        raise InfeasibleError(short[0] + more)


def _shortfall(supplier: Supplier, need: Mapping[str, float], total: float, capacity: float) -> str:
    days = shipping_days(supplier)
    capacity_per_day = supplier.capacity_per_day
    ships = f"ships at most {capacity_per_day:,} piece{'s' if capacity_per_day > 1 else ''} a day"
    if days < WEEK:
        ships += f" on {days} of {WEEK} days ({_pieces(capacity)} a day on average)"
    items = ", ".join(
        f"{item} {_pieces(n)}" for item, n in sorted(need.items(), key=lambda kv: (-kv[1], kv[0])) if n > 0
    )
    return (
        f"supplier {supplier.id} {ships}; the orders need {_pieces(total)} a day ({items}): "
        f"short by {_pieces(total - capacity)} a day"
    )


def _pieces(count: float) -> str:
    """A count of pieces as a person reads it: whole from a hundred up, else to one decimal where it has
    one (so that a shortfall of 1.7 reads against capacities of 14.3, not 14)."""
    return f"{count:,.0f}" if count >= 100 or count == int(count) else f"{count:.1f}"
