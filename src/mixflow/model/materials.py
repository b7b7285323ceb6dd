"""Materials of a plant: raw material, suppliers, and the stock kept of every bought item.

A unit is built from parts (the catalogue's BOM); a part the plant makes consumes raw material at
each step of its routing (`RoutingStep.materials`: sheet, profiles, cells); a part the plant does not
make and every raw material are bought. Who sells an item, how soon, how much a day and in what lots,
and how reliably, is the plant's business (the same truck bought in another country has other
suppliers), so it lives in the plant, not in the catalogue.

`Materials()` (no supplier at all) is a plant that has not described its supply: bought parts then
come after the catalogue's `lead_time_s` from racks that never run empty, as before materials were
modelled. Once a plant names one supplier, every bought item must be sold by one (`check_supply`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from mixflow.errors import ValidationError

if TYPE_CHECKING:
    from mixflow.model.catalogue import Catalogue
    from mixflow.model.plant import Calendar

Cell = tuple[int, int]


@dataclass(frozen=True)
class RawMaterial:
    """An item a routing step consumes (sheet steel, frame profiles, battery cells), bought by the
    piece or unit it is counted in; `kg` is what one weighs on an AGV."""

    id: str
    name: str
    unit_cost: float = 0.0
    kg: float = 1.0

    def __post_init__(self) -> None:
        if self.unit_cost < 0 or self.kg < 0:
            raise ValidationError(f"raw material {self.id}", "unit_cost and kg must be >= 0")


@dataclass(frozen=True)
class Supplier:
    """Sells `items` (part or raw-material ids): delivered `lead_time_s` after a purchase order, at most
    `capacity_per_day` pieces (of all its items together) shipped per day its `calendar` works, in
    multiples of `lot_size`, to dock `dock` (None: the floor's first dock); `calendar` None ships every day.

    Reliability: a share `p_late` of deliveries is late, by an exponential delay of mean
    `mean_late_s`; the plan cannot know which, so it keeps stock against it.
    """

    id: str
    name: str
    items: tuple[str, ...]
    lead_time_s: int
    capacity_per_day: int
    lot_size: int = 1
    calendar: Calendar | None = None
    dock: Cell | None = None
    p_late: float = 0.0
    mean_late_s: int = 0

    def __post_init__(self) -> None:
        where = f"supplier {self.id}"
        if not self.items:
            raise ValidationError(where, "sells nothing: name at least one item")
        if self.lead_time_s < 0:
            raise ValidationError(where, f"lead_time_s must be >= 0, got {self.lead_time_s}")
        if self.capacity_per_day < 1:
            raise ValidationError(where, f"capacity_per_day must be >= 1, got {self.capacity_per_day}")
        if self.lot_size < 1:
            raise ValidationError(where, f"lot_size must be >= 1, got {self.lot_size}")
        if not 0 <= self.p_late <= 1:
            raise ValidationError(where, f"p_late must lie in [0, 1], got {self.p_late}")
        if self.mean_late_s < 0:
            raise ValidationError(where, f"mean_late_s must be >= 0, got {self.mean_late_s}")

    def lots(self, qty: int) -> int:
        """`qty` rounded up to whole lots."""
        return math.ceil(qty / self.lot_size) * self.lot_size


@dataclass(frozen=True)
class StockPolicy:
    """How much of `item` the warehouse holds: `on_hand` at the start; when what is on hand and on order,
    less what is reserved, falls below `reorder_point`, a purchase order brings it back up to
    `max_stock` (a reorder-point / order-up-to rule; a kanban loop is the same rule with `max_stock -
    reorder_point` one container)."""

    item: str
    on_hand: int = 0
    reorder_point: int = 0
    max_stock: int = 0

    def __post_init__(self) -> None:
        where = f"stock of {self.item}"
        if self.on_hand < 0 or self.reorder_point < 0 or self.max_stock < 0:
            raise ValidationError(where, "on_hand, reorder_point and max_stock must be >= 0")
        if self.max_stock < self.reorder_point:
            raise ValidationError(
                where, f"max_stock {self.max_stock} lies below reorder_point {self.reorder_point}"
            )


@dataclass(frozen=True)
class Materials:
    """The plant's raw materials, suppliers and stock policies (each item sold by one supplier)."""

    raw: tuple[RawMaterial, ...] = ()
    suppliers: tuple[Supplier, ...] = ()
    stock: tuple[StockPolicy, ...] = ()
    _supplier_of: Mapping[str, Supplier] = field(default_factory=dict, init=False, repr=False, compare=False)
    _policy_of: Mapping[str, StockPolicy] = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        _unique("raw material", [r.id for r in self.raw])
        _unique("supplier", [s.id for s in self.suppliers])
        _unique("stock item", [p.item for p in self.stock])
        seller: dict[str, Supplier] = {}
        for supplier in self.suppliers:
            for item in supplier.items:
                if item in seller:
                    raise ValidationError(
                        f"item {item}", f"is sold by both {seller[item].id} and {supplier.id}: name one"
                    )
                seller[item] = supplier
        object.__setattr__(self, "_supplier_of", seller)
        object.__setattr__(self, "_policy_of", {p.item: p for p in self.stock})

    @property
    def modelled(self) -> bool:
        """Whether the plant describes its supply at all (else bought parts never run short)."""
        return bool(self.suppliers)

    def supplier_of(self, item: str) -> Supplier | None:
        return self._supplier_of.get(item)

    def policy(self, item: str) -> StockPolicy:
        """The stock policy of `item` (none named: nothing on hand, bought to order)."""
        return self._policy_of.get(item) or StockPolicy(item)

    def raw_material(self, item: str) -> RawMaterial | None:
        return next((r for r in self.raw if r.id == item), None)


def unit_costs(catalogue: Catalogue, materials: Materials) -> dict[str, float]:
    """What one piece of every part and raw material costs (inventory is valued at these)."""
    return {p.id: p.unit_cost for p in catalogue.parts} | {r.id: r.unit_cost for r in materials.raw}


def _unique(kind: str, ids: list[str]) -> None:
    seen: set[str] = set()
    for ident in ids:
        if ident in seen:
            raise ValidationError(f"{kind} {ident}", "is defined twice")
        seen.add(ident)
