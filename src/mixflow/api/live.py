"""The live plant behind the pages: what the API needs of a running plant, whatever runs it.

`mixflow serve --twin` runs the reference plant in the digital twin under the cloud scheduler; a
broker-connected plant would implement the same protocol. The API only reads snapshots, forwards new
orders and sets the twin's pace; it never decides anything about the plant.
"""

from __future__ import annotations

from typing import Any, Protocol

from mixflow.errors import MixflowError
from mixflow.model import Order, Plant


class ActionRefused(MixflowError):
    """A planner action the plant cannot take, with the HTTP status that says why (404 unknown machine,
    order or alarm; 409 a state that does not allow it; 422 a rush order that cannot be built)."""

    def __init__(self, status_code: int, message: str) -> None:
        self.status_code = status_code
        self.message = message
        super().__init__(message)


class PlantUnavailable(MixflowError):
    """The plant does not answer now (its process is restarting, or gone): the API says 503."""


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

    def act(self, action: dict[str, Any]) -> dict[str, Any]:
        """Carry out a planner's action, a plain dict with `kind` and `by` (the user): `machine_down`
        (`machine`, `reason`, `expected_s`), `machine_up` (`machine`), `rush_order` (`order` as
        `plant_process.order_to_wire`, `priority`), `expedite` (`order` id, `priority`), `freeze`
        (`frozen_s`), `replan` (`horizon_s`), `ack_alarm` / `clear_alarm` (`alarm` id). It enters the plan
        as the factory's events do, before the call returns; `ActionRefused` says why it cannot."""
        ...

    def gantt(self, back_s: int, ahead_s: int) -> dict[str, Any]:
        """The operations by machine and the line slots of the window [now - back_s, now + ahead_s]."""
        ...

    def close(self) -> None:
        """Stop the plant's background work."""
        ...
