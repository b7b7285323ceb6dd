"""The live plant behind the pages: what the API needs of a running plant, whatever runs it.

`mixflow serve --twin` runs the reference plant in the digital twin under the cloud scheduler; a
broker-connected plant would implement the same protocol. The API only reads snapshots, forwards new
orders and sets the twin's pace; it never decides anything about the plant.
"""

from __future__ import annotations

from typing import Any, Protocol

from mixflow.model import Order, Plant


class LivePlant(Protocol):
    """A running plant as the web app sees it."""

    plant: Plant

    @property
    def epoch(self) -> Any:
        """The datetime of the plan's second 0."""
        ...

    def now_s(self) -> int:
        """The plant's time now."""
        ...

    def snapshot(self) -> dict[str, Any]:
        """The current plant state, shaped like `schemas.PlantState` (plain lists, JSON-ready)."""
        ...

    def set_speed(self, speed: float) -> float:
        """Set simulated seconds per wall second (0 pauses); returns the speed in force."""
        ...

    def quote(self, order: Order) -> tuple[int, str]:
        """The delivery second the plant would promise `order` now, and why (nothing is booked)."""
        ...

    def place(self, order: Order) -> Order:
        """Hand a stored order to the scheduler; returns it promised and sequenced."""
        ...

    def attach(self, sessions: Any) -> None:
        """The store's session factory, for writing status changes of web orders as they happen."""
        ...

    def plan_view(self, kind: str) -> dict[str, Any]:
        """A read-only view of the plan: `sequence`, `gantt`, `tasks` or `kpis`."""
        ...

    def close(self) -> None:
        """Stop the plant's background work."""
        ...
