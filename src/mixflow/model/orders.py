"""Customer orders: a configuration, the dates asked for and promised, and where the truck is now."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from enum import StrEnum
from types import MappingProxyType

from mixflow.errors import ValidationError


class OrderStatus(StrEnum):
    """The stations of an order's life, in flow order (cancelled stands apart)."""

    PLACED = "placed"
    PROMISED = "promised"
    SEQUENCED = "sequenced"
    PARTS_BUILT = "parts_built"
    ON_LINE = "on_line"
    OFF_LINE = "off_line"
    TESTED = "tested"
    DELIVERED = "delivered"
    CANCELLED = "cancelled"


FLOW = tuple(s for s in OrderStatus if s is not OrderStatus.CANCELLED)


@dataclass(frozen=True)
class StatusChange:
    """An order reached `status` at second `at_s` of the plan's epoch."""

    status: OrderStatus
    at_s: int
    note: str = ""


@dataclass(frozen=True)
class Order:
    """One truck ordered by one customer; times are seconds from the plan's epoch."""

    id: str
    customer: str
    configuration: Mapping[str, str]
    placed_s: int
    requested_s: int
    promised_s: int | None = None
    priority: int = 0
    history: tuple[StatusChange, ...] = ()

    def __post_init__(self) -> None:
        if not self.id:
            raise ValidationError("order", "needs an id")
        if not self.configuration:
            raise ValidationError(f"order {self.id}", "has an empty configuration")
        if self.requested_s < self.placed_s:
            raise ValidationError(f"order {self.id}", "requested date lies before the order was placed")
        if self.promised_s is not None and self.promised_s < self.placed_s:
            raise ValidationError(f"order {self.id}", "promised date lies before the order was placed")
        object.__setattr__(self, "configuration", MappingProxyType(dict(self.configuration)))
        if not self.history:
            object.__setattr__(self, "history", (StatusChange(OrderStatus.PLACED, self.placed_s),))

    @property
    def status(self) -> OrderStatus:
        return self.history[-1].status

    def advanced(self, status: OrderStatus, at_s: int, note: str = "") -> Order:
        """A copy that has reached `status`; times never run backwards."""
        if at_s < self.history[-1].at_s:
            raise ValidationError(f"order {self.id}", f"status {status} at {at_s} precedes the last change")
        return replace(self, history=(*self.history, StatusChange(status, at_s, note)))

    def promised(self, promised_s: int, at_s: int) -> Order:
        order = replace(self, promised_s=promised_s)
        return order.advanced(OrderStatus.PROMISED, at_s, f"promised for {promised_s}")

    def reached(self, status: OrderStatus) -> int | None:
        """When the order first reached `status`, or None."""
        for change in self.history:
            if change.status is status:
                return change.at_s
        return None
