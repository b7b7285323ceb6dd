"""Capable-to-promise: the earliest line slot whose parts can be ready, and the delivery date it gives.

A plant with several lines promises each order on the line that can build it (`AssemblyLine.builds`)
with the earliest delivery (ties: the first such line of the plant); every line keeps its own slot
book, run time, end-of-line test and handover.

Parts made in feeder shops are ready after the part's operation chain has run in working time, after
the current queue in front of it, in the first day whose shop capacity still has room; bought parts
arrive after their lead time, or, with a `MaterialLedger`, when the ledger can have them in the
warehouse, and a made part's chain starts no earlier than the raw materials its steps consume. The
truck then takes the first free takt slot after its latest part (plus a transport margin), runs down
the line, through end-of-line test and handover. Pure and fast: a few array look-ups per order.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from mixflow.errors import InfeasibleError, ValidationError
from mixflow.model import DAY_S, AssemblyLine, Catalogue, Order, Plant
from mixflow.promise.materials import MaterialLedger
from mixflow.promise.slots import SlotBook

TRANSPORT_MARGIN_S = 1800


@dataclass(frozen=True)
class Promise:
    """A delivery promise: the line (its id; "" the plant's first line, as stored before lines were
    named) and its slot, when the parts are ready, and the dates that follow."""

    order_id: str
    slot: int
    slot_s: int
    parts_ready_s: int
    earliest_delivery_s: int
    promised_s: int
    binding: str
    line: str = ""

    def __post_init__(self) -> None:
        if self.promised_s < self.earliest_delivery_s:
            raise ValidationError(f"promise {self.order_id}", "promised before it can be delivered")


@dataclass(frozen=True)
class PromiseRules:
    """Margins the promise keeps: chain slack for noise and setups, a safety margin on delivery."""

    chain_slack: float = 0.15
    safety_s: int = 12 * 3600
    shop_utilisation: float = 0.92

    def __post_init__(self) -> None:
        if self.chain_slack < 0 or self.safety_s < 0:
            raise ValidationError("promise rules", "slack and margins must be >= 0")
        if not 0 < self.shop_utilisation <= 1:
            raise ValidationError("promise rules.shop_utilisation", "must lie in (0, 1]")


class Promiser:
    """Keeps the slot book and each shop's booked work per day; promises one order at a time. With a
    `ledger`, the items it nets come when it says, and a promise reserves them there."""

    def __init__(
        self,
        plant: Plant,
        catalogue: Catalogue,
        rules: PromiseRules | None = None,
        ledger: MaterialLedger | None = None,
    ) -> None:
        self.plant = plant
        self.catalogue = catalogue
        self.rules = rules or PromiseRules()
        self.ledger = ledger
        self.books = {line.id: SlotBook(line) for line in plant.lines}
        self._shop_capacity = {
            s.id: self.rules.shop_utilisation
            * sum(len(g.machines) * g.calendar.working_s_per_day for g in s.groups)
            for s in plant.shops
        }
        self._booked: dict[str, np.ndarray] = {s.id: np.zeros(64) for s in plant.shops}
        self._calendar = {s.id: s.groups[0].calendar for s in plant.shops}
        self.backlog_s: dict[str, float] = {}

    def _book(self, shop: str, day: int, work_s: float) -> None:
        booked = self._booked[shop]
        if day >= len(booked):
            grown = np.zeros(max(day + 1, 2 * len(booked)))
            grown[: len(booked)] = booked
            self._booked[shop] = booked = grown
        booked[day] += work_s

    def _shop_start_day(self, shop: str, day: int, work_s: float) -> int:
        """The first day from `day` on whose booked work leaves room for `work_s` more."""
        booked, cap = self._booked[shop], self._shop_capacity[shop]
        while day < len(booked) and booked[day] + work_s > cap:
            day += 1
        return day

    def parts_ready(self, order: Order, now_s: int, book: bool = False) -> tuple[int, str]:
        """When every part of `order` can be at the line, and which part (or material) binds; `book`
        books the shops' work and, with a ledger, reserves the order's items (see `_reserve`)."""
        chains: dict[str, tuple[str, int]] = {}
        consumed: dict[str, dict[str, int]] = {}  # made part -> raw material the ledger nets -> qty
        config = order.configuration
        for op in self.plant.feeder_operations(config, self.catalogue.attributes(config)):
            shop, total = chains.get(op.part, (op.shop, 0))
            chains[op.part] = (shop, total + op.work_s)
            for item, qty in op.materials:
                if self.ledger is not None and self.ledger.handles(item):
                    per_item = consumed.setdefault(op.part, {})
                    per_item[item] = per_item.get(item, 0) + qty
        ready, binding = now_s, "now"
        start = max(now_s, order.placed_s)
        bom = self.catalogue.bill_of_materials(config)
        bought = {p: q for p, q in bom.items() if not self.plant.makes(p)}
        arrival = self._arrivals(bought, consumed, start)
        for part_id in bought:
            at = arrival.get(part_id, start + self.catalogue.part(part_id).lead_time_s)
            if at > ready:
                ready, binding = at, f"bought part {part_id}"
        chain_start: dict[str, int] = {}
        for part_id, (shop, work) in chains.items():
            gate, item = max(((arrival[i], i) for i in consumed.get(part_id, {})), default=(start, ""))
            day = self._shop_start_day(shop, max(start, gate) // DAY_S, work)
            begin = max(start, day * DAY_S) + int(self.backlog_s.get(shop, 0.0))
            limit = f"{shop} shop ({part_id})" if gate <= begin else f"material {item} for {part_id}"
            chain_start[part_id] = begin = max(begin, gate)
            done = self._calendar[shop].working_end(begin, int(work * (1 + self.rules.chain_slack)))
            if book:
                self._book(shop, day, work)
            if done > ready:
                ready, binding = done, limit
        if book:
            self._reserve(order.id, bought, consumed, ready, chain_start, start)
        return ready + TRANSPORT_MARGIN_S, binding

    def _arrivals(
        self, bought: Mapping[str, int], consumed: Mapping[str, Mapping[str, int]], now_s: int
    ) -> dict[str, int]:
        """When the ledger can have each item it nets of one order in the warehouse: all of the order's
        quantity of it (bought part and raw material of every chain together), so the chains sharing a
        material never count on the same pieces."""
        if self.ledger is None:
            return {}
        totals = {p: q for p, q in bought.items() if self.ledger.handles(p)}
        for per_item in consumed.values():
            for item, qty in per_item.items():
                totals[item] = totals.get(item, 0) + qty
        return {item: self.ledger.earliest(item, qty, now_s) for item, qty in totals.items()}

    def _reserve(
        self,
        order_id: str,
        bought: Mapping[str, int],
        consumed: Mapping[str, Mapping[str, int]],
        ready_s: int,
        chain_start: Mapping[str, int],
        now_s: int,
    ) -> None:
        """Reserve the order's items in the ledger. A raw material is needed when its chain starts; a
        bought part when the order's parts are ready (before the transport to the line): that is the
        date the slot was chosen from, so a delivery later than it is flagged even where the slot the
        line gave would leave slack. Both needs lie at or after `earliest`, so the reservation breaks
        no promise made before."""
        if self.ledger is None:
            return
        needs: dict[str, tuple[int, int]] = {}  # item -> (qty, need_s)
        for part_id, qty in bought.items():
            if self.ledger.handles(part_id):
                needs[part_id] = (qty, ready_s)
        for part_id, per_item in consumed.items():
            for item, qty in per_item.items():
                held, need_s = needs.get(item, (0, chain_start[part_id]))
                needs[item] = (held + qty, min(need_s, chain_start[part_id]))
        for item, (qty, need_s) in needs.items():
            self.ledger.reserve(order_id, item, qty, need_s, now_s)

    def book_of(self, line: str) -> SlotBook:
        """The slot book of line `line` ("": the first line)."""
        return self.books[line or self.plant.lines[0].id]

    def delivery_after(self, slot_s: int, line: str = "") -> int:
        """Earliest delivery of a truck entering line `line` ("": the first) at `slot_s`: down the line,
        through that line's end-of-line test (in its test group's working time) and handover."""
        assembly = self.plant.assembly_line(line)
        off = slot_s + len(assembly.stations) * assembly.takt_s
        test = assembly.test
        if test is None:
            return off
        tested = self.plant.group_index[test.group].calendar.working_end(off, test.work_s)
        return tested + test.handover_s

    def lines_for(self, order: Order) -> tuple[AssemblyLine, ...]:
        """The lines that can build `order`; InfeasibleError if none can."""
        lines = self.plant.lines_for(order.configuration)
        if not lines:
            raise InfeasibleError(
                f"order {order.id}: no line of plant {self.plant.name} can build its configuration "
                f"(lines {', '.join(line.id for line in self.plant.lines)})"
            )
        return lines

    def best_slot(self, order: Order, ready: int) -> tuple[str, int, int]:
        """(line id, slot, earliest delivery) of the free slot after `ready` that delivers `order` first,
        over the lines that can build it (ties: the first line)."""
        best: tuple[int, str, int] | None = None
        for line in self.lines_for(order):
            book = self.books[line.id]
            slot = book.first_free(book.first_at_or_after(ready))
            earliest = self.delivery_after(book.time_of(slot), line.id)
            if best is None or earliest < best[0]:
                best = (earliest, line.id, slot)
        assert best is not None
        return best[1], best[2], best[0]

    def promise(self, order: Order, now_s: int) -> Promise:
        """Book the earliest feasible slot for `order` and return the promise (requested date if later)."""
        promise = self._offer(order, now_s, book=True)
        self.books[promise.line].take(promise.slot, order.id)
        return promise

    def quote(self, order: Order, now_s: int) -> Promise:
        """The promise `order` would get now, booking nothing: a customer's what-if, or one plant's
        offer among several (`multi_plant`)."""
        return self._offer(order, now_s, book=False)

    def _offer(self, order: Order, now_s: int, book: bool) -> Promise:
        self.lines_for(order)  # before anything is booked
        ready, binding = self.parts_ready(order, now_s, book=book)
        line, slot, earliest = self.best_slot(order, ready)
        slots = self.books[line]
        if slot != slots.first_at_or_after(ready):
            binding = "line capacity"
        promised = max(earliest + self.rules.safety_s, order.requested_s)
        return Promise(order.id, slot, slots.time_of(slot), ready, earliest, promised, binding, line)

    def restore(self, promise: Promise) -> None:
        """Re-enter a promise read back from the store (the slot of its line is taken again)."""
        self.book_of(promise.line).take(promise.slot, promise.order_id)

    def release(self, order_id: str, line: str = "") -> None:
        """Free the slot `order_id` holds on line `line`."""
        self.book_of(line).release(order_id)

    def estimate_delivery(self, slot_s: int, parts_ready_s: int, line: str = "") -> int:
        """Delivery estimate after a fault: the later of the booked slot and the parts, down the line
        `line` ("": the first)."""
        book = self.book_of(line)
        slot = book.first_at_or_after(max(slot_s, parts_ready_s))
        return self.delivery_after(book.time_of(slot), line)

    def load(self, shop_work: Mapping[str, float]) -> None:
        """Set each shop's current backlog (seconds of queued work per machine) from the live plan."""
        self.backlog_s = dict(shop_work)
