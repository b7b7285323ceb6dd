"""The material ledger: time-phased netting (MRP) of every bought item against the orders promised.

Per item the ledger knows what is physically in the warehouse, the open purchase orders (each with
the date its supplier confirmed) and the reservations of the orders promised (each with the time the
item must be in the warehouse). Netting covers the reservations in the order of their needs with the
supply in the order it arrives: stock on hand first, then the open purchase orders by date. A
reservation is `ready_s` when the last piece covering it is there; it is endangered when that is after
its need. Whenever what is on hand and on order, less what is reserved, falls below the item's
reorder point (below zero at the least: a reservation with nothing to cover it), a purchase order
brings it back up to the policy's `max_stock`, in the supplier's lots, on the first days the
supplier works and still has capacity for: so every reservation is always covered, and the only
question is when.

Why a new order never breaks an older one: it is booked with a need no earlier than `earliest`
(the Promiser makes sure of it), and `earliest` is when the last piece of all supply now reserved plus
the new quantity is there, so the older reservations it overtakes in need order move at most to that
time, which is no later than their own needs.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from operator import attrgetter

from mixflow.errors import ValidationError
from mixflow.model import ALWAYS, DAY_S, Catalogue, Cell, Materials, Plant, Supplier
from mixflow.model.materials import unit_costs


@dataclass(frozen=True)
class PlannedPurchase:
    """A purchase order the ledger raised: to be sent to the plant as a `PurchaseOrder` command."""

    po_id: str
    supplier: str
    item: str
    qty: int
    due_s: int
    raised_s: int
    dock: Cell


@dataclass(frozen=True)
class Endangered:
    """Order `order_id` needs `item` in the warehouse at `need_s`, but it is there only at `ready_s`."""

    order_id: str
    item: str
    need_s: int
    ready_s: int


@dataclass(slots=True)
class _OpenPurchase:
    po_id: str
    supplier: str
    item: str
    qty: int
    due_s: int
    first_due_s: int


@dataclass(slots=True)
class _Reservation:
    order_id: str
    item: str
    qty: int
    need_s: int
    seq: int

    @property
    def key(self) -> tuple[int, int]:
        return (self.need_s, self.seq)


class _ItemStock:
    """One item's stock, open purchase orders by date and reservations by need (parallel sorted lists,
    so a reservation is placed with one bisect and its cumulative demand is one C-level sum)."""

    def __init__(self, on_hand: int) -> None:
        self.on_hand = on_hand
        self.on_order = 0
        self.reserved = 0
        self.purchases: list[_OpenPurchase] = []
        self.keys: list[tuple[int, int]] = []
        self.qtys: list[int] = []
        self.reservations: list[_Reservation] = []

    @property
    def position(self) -> int:
        return self.on_hand + self.on_order - self.reserved

    def insert(self, reservation: _Reservation) -> int:
        """Place `reservation` in need order; returns the demand up to and including it."""
        index = bisect.bisect_right(self.keys, reservation.key)
        self.keys.insert(index, reservation.key)
        self.qtys.insert(index, reservation.qty)
        self.reservations.insert(index, reservation)
        self.reserved += reservation.qty
        return sum(self.qtys[: index + 1])

    def shrink(self, reservation: _Reservation, qty: int) -> None:
        """Take `qty` (at most its quantity) off `reservation`, dropping it when nothing is left."""
        index = bisect.bisect_left(self.keys, reservation.key)
        self.reserved -= qty
        reservation.qty -= qty
        if reservation.qty:
            self.qtys[index] = reservation.qty
        else:
            del self.keys[index], self.qtys[index], self.reservations[index]

    def ready_of(self, demand: int, now_s: int, planned: Sequence[tuple[int, int]] = ()) -> int:
        """When the first `demand` pieces of supply are there: now if on hand, else the date of the
        purchase (open, or `planned` as (due_s, qty)) that completes them, never before now."""
        if demand <= self.on_hand:
            return now_s
        supply = sorted([(p.due_s, p.qty) for p in self.purchases] + list(planned))
        total = self.on_hand
        for due_s, qty in supply:
            total += qty
            if total >= demand:
                return max(due_s, now_s)
        raise AssertionError(f"demand {demand} exceeds all supply {total}: the reorder rule should cover it")

    def cover_times(self, now_s: int) -> Iterator[tuple[_Reservation, int | None]]:
        """Each reservation in need order with the arrival of its last covering piece (None: on hand);
        the reorder rule keeps on hand plus on order at or above what is reserved, so supply never ends
        before the reservations do."""
        supply = iter(self.purchases)
        covered, demand, arrival = self.on_hand, 0, None
        for reservation in self.reservations:
            demand += reservation.qty
            while demand > covered:
                purchase = next(supply)
                covered += purchase.qty
                arrival = max(purchase.due_s, now_s)
            yield reservation, arrival


class _SupplierDays:
    """What a supplier already ships on each day, so purchase orders of all its items share its capacity."""

    def __init__(self, supplier: Supplier) -> None:
        self.supplier = supplier
        self.calendar = supplier.calendar or ALWAYS
        self.booked: dict[int, int] = {}
        self.late_s = 0  # how late the supplier said it delivers, on top of its lead time

    def shipments(self, qty: int, now_s: int) -> list[tuple[int, int]]:
        """(due_s, qty) of `qty` (whole lots) ordered at `now_s`, without booking: after the lead time,
        on the first working days with room left, in whole lots (a lot larger than a day's capacity
        ships alone on a day with nothing else)."""
        supplier, lot = self.supplier, self.supplier.lot_size
        due_s = self.calendar.next_working(now_s + supplier.lead_time_s + self.late_s)
        plan: list[tuple[int, int]] = []
        while qty > 0:
            day = due_s // DAY_S
            booked = self.booked.get(day, 0)
            room = (supplier.capacity_per_day - booked) // lot * lot
            if booked == 0:
                room = max(room, lot)
            if room > 0:
                plan.append((due_s, min(qty, room)))
                qty -= min(qty, room)
            due_s = self.calendar.next_working((day + 1) * DAY_S)
        return plan

    def move(self, qty: int, from_s: int | None, to_s: int | None) -> None:
        """Book `qty` off the day of `from_s` and onto the day of `to_s` (None: neither)."""
        if from_s is not None:
            self.booked[from_s // DAY_S] -= qty
        if to_s is not None:
            self.booked[to_s // DAY_S] = self.booked.get(to_s // DAY_S, 0) + qty


_DUE = attrgetter("due_s")


class MaterialLedger:
    """One plant's material position: stock, purchase orders and the orders' reservations, per item.

    It nets only the items some supplier sells (`handles`); everything else (every item of a plant
    whose materials are not modelled) comes after the catalogue's lead time, as the Promiser says.
    `unit_cost` values the stock (raw materials' own `unit_cost` where it names none); `default_dock`
    receives the deliveries of suppliers that name no dock. Purchase orders are numbered
    `{po_prefix}-<n>`: a scheduler that starts again names its orders apart from those still on their way.
    """

    def __init__(
        self, materials: Materials, unit_cost: Mapping[str, float], default_dock: Cell | None
    ) -> None:
        self.materials = materials
        self._suppliers = {s.id: _SupplierDays(s) for s in materials.suppliers}
        self._seller = {item: self._suppliers[s.id] for s in materials.suppliers for item in s.items}
        self._cost = {r.id: r.unit_cost for r in materials.raw} | dict(unit_cost)
        self._dock: dict[str, Cell] = {}
        for supplier in materials.suppliers:
            dock = supplier.dock or default_dock
            if dock is None:
                raise ValidationError(f"supplier {supplier.id}", "names no dock and the plant has none")
            self._dock[supplier.id] = dock
            for item in supplier.items:
                if item not in self._cost:
                    raise ValidationError(f"item {item}", f"sold by {supplier.id} has no unit cost")
        self._stock = {
            item: _ItemStock(materials.policy(item).on_hand) for s in materials.suppliers for item in s.items
        }
        self._open: dict[str, _OpenPurchase] = {}
        self._by_order: dict[str, list[_Reservation]] = {}
        self._raised: list[PlannedPurchase] = []
        self._seq = 0
        self.po_prefix = "PO"
        self.purchase_orders = 0
        self._received = 0
        self._received_on_time = 0
        self.stockouts = 0

    @classmethod
    def for_plant(cls, plant: Plant, catalogue: Catalogue) -> MaterialLedger | None:
        """The ledger of `plant`'s supply (None when the plant does not model it), its stock valued at
        the catalogue's prices and deliveries without a dock of their own at the plant's first dock."""
        if not plant.materials.modelled:
            return None
        dock = plant.floor.docks[0] if plant.floor.docks else None
        return cls(plant.materials, unit_costs(catalogue, plant.materials), dock)

    # -- looking ---------------------------------------------------------------------------------
    def handles(self, item: str) -> bool:
        """Whether a supplier sells `item`, so the ledger nets it (else the catalogue lead time holds)."""
        return item in self._stock

    def on_hand(self, item: str) -> int:
        return self._item(item).on_hand

    def on_order(self, item: str) -> int:
        return self._item(item).on_order

    def reserved(self, item: str) -> int:
        return self._item(item).reserved

    def earliest(self, item: str, qty: int, now_s: int) -> int:
        """When `qty` more of `item` could be in the warehouse if reserved at `now_s`, booking nothing:
        now from free stock, else when free quantity on order arrives, else when the purchase order
        `reserve` would raise arrives; `reserve` never returns later than this."""
        stock = self._item(item)
        _check_qty(item, qty)
        planned = self._replenishment(item, stock.position - qty, now_s)
        return stock.ready_of(stock.reserved + qty, now_s, planned)

    def endangered(self, now_s: int) -> list[Endangered]:
        """Every reservation (all items) whose last covering piece arrives after its need."""
        return [e for item in self._stock for e in self._endangered(item, now_s)]

    # -- booking ---------------------------------------------------------------------------------
    def reserve(self, order_id: str, item: str, qty: int, need_s: int, now_s: int) -> int:
        """Book `qty` of `item` for `order_id`, needed in the warehouse at `need_s` (a need in the past
        is a need now), raising the purchase orders it takes; returns when the reservation is ready."""
        stock = self._item(item)
        _check_qty(item, qty)
        self._seq += 1
        reservation = _Reservation(order_id, item, qty, max(need_s, now_s), self._seq)
        demand = stock.insert(reservation)
        self._by_order.setdefault(order_id, []).append(reservation)
        self._replenish(item, now_s)
        return stock.ready_of(demand, now_s)

    def take_raised(self) -> list[PlannedPurchase]:
        """The purchase orders raised since the last call (each handed out once), to send to the plant."""
        raised, self._raised = self._raised, []
        return raised

    def consume(self, order_id: str, item: str, qty: int, now_s: int) -> bool:
        """The plant picks `qty` of `item` for `order_id` from the warehouse. With fewer on hand nothing
        is picked (the AGV waits at the rack), a stock-out is counted and False returned."""
        stock = self._item(item)
        _check_qty(item, qty)
        picked = stock.on_hand >= qty
        if picked:
            stock.on_hand -= qty
            left = qty
            for reservation in [r for r in self._by_order.get(order_id, ()) if r.item == item]:
                take = min(left, reservation.qty)
                stock.shrink(reservation, take)
                left -= take
            self._forget_empty(order_id)
        else:
            self.stockouts += 1
        self._replenish(item, now_s)
        return picked

    def knows(self, po_id: str) -> bool:
        """Whether `po_id` is an open purchase order of this ledger."""
        return po_id in self._open

    def put_away(self, item: str, qty: int, at_s: int) -> None:
        """`qty` of `item` went on the racks that no open order of this ledger brought (a delivery for an
        order raised before a restart): on hand grows all the same."""
        _check_qty(item, qty)
        self._item(item).on_hand += qty
        self._replenish(item, at_s)

    def received(self, po_id: str, qty: int, at_s: int) -> None:
        """Purchase order `po_id`'s delivery of `qty` was put away at `at_s`: on hand grows and the
        order closes (on time if no later than the date first asked for; a short delivery is
        made up by the reorder rule)."""
        purchase = self._purchase(po_id)
        if qty < 0:
            raise ValidationError(f"purchase order {po_id}", f"received {qty}: must be >= 0")
        stock = self._stock[purchase.item]
        stock.purchases.remove(purchase)
        del self._open[po_id]
        stock.on_order -= purchase.qty
        stock.on_hand += qty
        self._received += 1
        self._received_on_time += at_s <= purchase.first_due_s
        self._replenish(purchase.item, at_s)

    def confirmed(self, po_id: str, due_s: int, now_s: int) -> list[Endangered]:
        """The supplier moves `po_id` to `due_s`: returns the reservations of its item whose need that
        leaves uncovered (their orders are at risk at once); later reservations see the new date, and
        orders placed with the supplier from now on are planned as late as it said this one is."""
        purchase = self._purchase(po_id)
        seller = self._suppliers[purchase.supplier]
        seller.late_s = max(0, due_s - purchase.first_due_s)
        seller.move(purchase.qty, purchase.due_s, due_s)
        purchase.due_s = due_s
        self._stock[purchase.item].purchases.sort(key=_DUE)
        return self._endangered(purchase.item, now_s)

    def release(self, order_id: str) -> None:
        """Forget what is still reserved for `order_id` (delivered or cancelled)."""
        for reservation in self._by_order.pop(order_id, []):
            self._stock[reservation.item].shrink(reservation, reservation.qty)

    # -- KPIs ------------------------------------------------------------------------------------
    def inventory_value(self) -> float:
        """The value of the stock on hand."""
        return sum(stock.on_hand * self._cost[item] for item, stock in self._stock.items())

    def days_of_supply(self, demand_per_day: Mapping[str, float]) -> float:
        """How many days of demand the stock on hand is worth (value over a day's demand's value)."""
        daily = 0.0
        for item, qty in demand_per_day.items():
            if item not in self._cost:
                raise ValidationError(f"demand of {item}", "the ledger knows no unit cost for it")
            daily += qty * self._cost[item]
        if daily <= 0:
            raise ValidationError("days of supply", "a day's demand is worth nothing: no days can be counted")
        return self.inventory_value() / daily

    @property
    def on_time(self) -> float:
        """The share of received purchase orders that came on time (1.0 before the first receipt)."""
        return self._received_on_time / self._received if self._received else 1.0

    # -- inside ----------------------------------------------------------------------------------
    def _item(self, item: str) -> _ItemStock:
        stock = self._stock.get(item)
        if stock is None:
            raise ValidationError(f"item {item}", "no supplier sells it: the material ledger does not net it")
        return stock

    def _purchase(self, po_id: str) -> _OpenPurchase:
        purchase = self._open.get(po_id)
        if purchase is None:
            raise ValidationError(f"purchase order {po_id}", "is not open (unknown or already received)")
        return purchase

    def _forget_empty(self, order_id: str) -> None:
        left = [r for r in self._by_order.get(order_id, ()) if r.qty]
        if left:
            self._by_order[order_id] = left
        else:
            self._by_order.pop(order_id, None)

    def _replenishment(self, item: str, position: int, now_s: int) -> list[tuple[int, int]]:
        """(due_s, qty) shipments the reorder rule would order at `position`; none above the reorder point."""
        policy = self.materials.policy(item)
        if position >= policy.reorder_point:
            return []
        seller = self._seller[item]
        return seller.shipments(seller.supplier.lots(policy.max_stock - position), now_s)

    def _replenish(self, item: str, now_s: int) -> None:
        stock = self._stock[item]
        seller = self._seller[item]
        supplier_id = seller.supplier.id
        for due_s, qty in self._replenishment(item, stock.position, now_s):
            self.purchase_orders += 1
            po_id = f"{self.po_prefix}-{self.purchase_orders}"
            purchase = _OpenPurchase(po_id, supplier_id, item, qty, due_s, due_s)
            self._open[po_id] = purchase
            bisect.insort(stock.purchases, purchase, key=_DUE)
            stock.on_order += qty
            seller.move(qty, None, due_s)
            dock = self._dock[supplier_id]
            self._raised.append(PlannedPurchase(po_id, supplier_id, item, qty, due_s, now_s, dock))

    def _endangered(self, item: str, now_s: int) -> list[Endangered]:
        return [
            Endangered(r.order_id, item, r.need_s, arrival)
            for r, arrival in self._stock[item].cover_times(now_s)
            if arrival is not None and arrival > r.need_s
        ]


def _check_qty(item: str, qty: int) -> None:
    if qty < 1:
        raise ValidationError(f"item {item}", f"quantity {qty} must be >= 1")
