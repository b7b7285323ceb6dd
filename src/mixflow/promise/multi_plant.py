"""The multi-plant promise: one order, configured once, quoted by every plant of a cloud.

Each plant quotes the way the live API does, without booking anything: its `Promiser` finds when the
order's parts can be ready (`parts_ready`, not booked) and the free line slot after that (`best_slot`),
with its own bookings as they stand. The delivery the customer sees is that completion plus the hours
of transport from the plant to the customer's region. A plant that cannot take the order says why:
it does not deliver to the region, the configuration is not one of its catalogue, or no line of it
builds the model. `place` books the order at one plant only: the earliest at the region, or the one
the customer chose.

The order's `requested_s` is the date wanted at the region: a plant is asked for it that many hours of
transport earlier (never before the order is placed).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from mixflow.errors import InfeasibleError, UnknownNameError, ValidationError
from mixflow.model import Order
from mixflow.promise.ctp import Promise, Promiser

EARLIEST = "earliest"
"""The choice of `MultiPlantPromiser.place` that takes the plant delivering first at the region."""


@dataclass(frozen=True)
class PlantSite:
    """One plant of the cloud: its promiser (with the bookings it holds) and the hours of transport
    from it to each customer region it delivers to."""

    id: str
    promiser: Promiser
    transport_h: Mapping[str, float]

    def __post_init__(self) -> None:
        for region, hours in self.transport_h.items():
            if hours < 0:
                raise ValidationError(f"plant {self.id}.transport_h.{region}", f"must be >= 0, got {hours:g}")


@dataclass(frozen=True)
class PlantQuote:
    """What one plant offers for the order: completion at the plant, transport and delivery at the
    region, the line slot and what binds it; or, in `why_not`, why it cannot take the order."""

    plant: str
    region: str
    completion_s: int | None = None
    transport_s: int | None = None
    line: str = ""
    slot: int | None = None
    binding: str = ""
    why_not: str = ""

    @property
    def can_build(self) -> bool:
        return not self.why_not

    @property
    def delivery_s(self) -> int | None:
        """When the product reaches the customer's region."""
        if self.completion_s is None or self.transport_s is None:
            return None
        return self.completion_s + self.transport_s

    def to_json(self) -> dict[str, Any]:
        return {
            "plant": self.plant,
            "region": self.region,
            "can_build": self.can_build,
            "completion_s": self.completion_s,
            "transport_s": self.transport_s,
            "delivery_s": self.delivery_s,
            "line": self.line or None,
            "slot": self.slot,
            "binding": self.binding or None,
            "why_not": self.why_not or None,
        }


@dataclass(frozen=True)
class Placement:
    """An order placed at one plant: the promise booked there, its delivery at the region, and the
    quotes of every plant it was chosen among."""

    placed: PlantQuote
    promise: Promise
    quotes: tuple[PlantQuote, ...]


class MultiPlantPromiser:
    """Quotes one order at every plant of a cloud and books it at one."""

    def __init__(self, sites: Sequence[PlantSite]) -> None:
        self.sites: dict[str, PlantSite] = {}
        for site in sites:
            if site.id in self.sites:
                raise ValidationError(f"plant {site.id}", "the plant id is used twice")
            self.sites[site.id] = site
        if not self.sites:
            raise ValidationError("plants", "a cloud needs at least one plant")

    @property
    def regions(self) -> tuple[str, ...]:
        """Every region some plant delivers to."""
        return tuple(dict.fromkeys(r for site in self.sites.values() for r in site.transport_h))

    def quote(self, order: Order, region: str, now_s: int) -> tuple[PlantQuote, ...]:
        """Every plant's offer for `order` at `now_s`, nothing booked: those that can take it by delivery
        at `region` (ties: cloud order), then those that cannot, in cloud order."""
        if region not in self.regions:
            raise UnknownNameError("region", region, list(self.regions))
        quotes = [self._quote(site, order, region, now_s) for site in self.sites.values()]
        able = sorted((q for q in quotes if q.can_build), key=lambda q: q.delivery_s or 0)
        return (*able, *(q for q in quotes if not q.can_build))

    def place(self, order: Order, region: str, now_s: int, choice: str = EARLIEST) -> Placement:
        """Book `order` at one plant: `earliest`, the plant delivering first at `region`, or the plant of
        id `choice`. Only that plant's bookings change."""
        if choice != EARLIEST and choice not in self.sites:
            raise UnknownNameError("plant", choice, list(self.sites))
        quotes = self.quote(order, region, now_s)
        if choice == EARLIEST:
            chosen = next((q for q in quotes if q.can_build), None)
            if chosen is None:
                reasons = "; ".join(f"plant {q.plant} {q.why_not}" for q in quotes)
                raise InfeasibleError(
                    f"order {order.id}: no plant can deliver it to region {region}: {reasons}"
                )
        else:
            chosen = next(q for q in quotes if q.plant == choice)
            if not chosen.can_build:
                raise InfeasibleError(
                    f"order {order.id} cannot be placed at plant {choice}, which {chosen.why_not}"
                )
        assert chosen.transport_s is not None
        promise = self.sites[chosen.plant].promiser.promise(_at_plant(order, chosen.transport_s), now_s)
        placed = PlantQuote(
            chosen.plant,
            region,
            promise.promised_s,
            chosen.transport_s,
            promise.line,
            promise.slot,
            promise.binding,
        )
        return Placement(placed, promise, quotes)

    def _quote(self, site: PlantSite, order: Order, region: str, now_s: int) -> PlantQuote:
        why_not = _why_not(site, order, region)
        if why_not:
            return PlantQuote(site.id, region, why_not=why_not)
        transport_s = round(site.transport_h[region] * 3600)
        asked = _at_plant(order, transport_s)
        offer = site.promiser.quote(asked, now_s)
        return PlantQuote(
            site.id, region, offer.promised_s, transport_s, offer.line, offer.slot, offer.binding
        )


def _why_not(site: PlantSite, order: Order, region: str) -> str:
    """Why `site` cannot take `order` for `region` ("" when it can), in words after "plant X"."""
    if region not in site.transport_h:
        return f"does not deliver to region {region} (it serves {', '.join(site.transport_h)})"
    catalogue, plant = site.promiser.catalogue, site.promiser.plant
    try:
        broken = catalogue.violations(order.configuration)
    except UnknownNameError as exc:
        broken = [str(exc)]
    if broken:
        more = f" (and {len(broken) - 3} more)" if len(broken) > 3 else ""
        return f"cannot build it in catalogue {catalogue.name!r}: {'; '.join(broken[:3])}{more}"
    if not plant.lines_for(order.configuration):
        lines = ", ".join(line.id for line in plant.lines)
        return f"builds its model on no line (lines {lines})"
    return ""


def _at_plant(order: Order, transport_s: int) -> Order:
    """The order as a plant is asked for it: wanted `transport_s` before it is wanted at the region."""
    return replace(order, requested_s=max(order.placed_s, order.requested_s - transport_s))
