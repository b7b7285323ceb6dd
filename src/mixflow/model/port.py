"""The factory port: the one boundary between the cloud scheduler and a factory, real or simulated.

`plan` depends on this module and nothing else of the factory. A factory reports `Event`s and
executes `Command`s; the twin implements it in-process, `connect` over MQTT/OPC UA, and tests with a
scripted factory. Times are integer seconds from the plan's epoch.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np

from mixflow.model.orders import Order
from mixflow.model.plant import Cell

# -- events: factory -> scheduler -----------------------------------------------------------------


@dataclass(frozen=True)
class OrderPlaced:
    at_s: int
    order: Order


@dataclass(frozen=True)
class OperationStarted:
    at_s: int
    operation_id: str
    machine_id: str


@dataclass(frozen=True)
class OperationDone:
    at_s: int
    operation_id: str
    machine_id: str


@dataclass(frozen=True)
class MachineDown:
    at_s: int
    machine_id: str
    reason: str = ""


@dataclass(frozen=True)
class MachineUp:
    at_s: int
    machine_id: str


@dataclass(frozen=True, eq=False)
class AgvStates:
    """Positions and battery of many AGVs at once (arrays, one entry per AGV in `agv_ids` order)."""

    at_s: int
    agv_ids: tuple[str, ...]
    x: np.ndarray
    y: np.ndarray
    soc: np.ndarray


@dataclass(frozen=True)
class AgvBatteryLow:
    at_s: int
    agv_id: str
    soc: float


@dataclass(frozen=True)
class AgvDown:
    at_s: int
    agv_id: str


@dataclass(frozen=True)
class AgvUp:
    at_s: int
    agv_id: str


@dataclass(frozen=True)
class PartDelivered:
    at_s: int
    task_id: str
    agv_id: str


@dataclass(frozen=True)
class LineStopped:
    at_s: int
    station_id: str
    order_id: str
    cause: str


@dataclass(frozen=True)
class TruckOffLine:
    at_s: int
    order_id: str


@dataclass(frozen=True)
class TruckDelivered:
    at_s: int
    order_id: str


Event = (
    OrderPlaced
    | OperationStarted
    | OperationDone
    | MachineDown
    | MachineUp
    | AgvStates
    | AgvBatteryLow
    | AgvDown
    | AgvUp
    | PartDelivered
    | LineStopped
    | TruckOffLine
    | TruckDelivered
)

# -- commands: scheduler -> factory ---------------------------------------------------------------


@dataclass(frozen=True)
class StartOperation:
    """Run `operation_id` on `machine_id` as soon as the machine is free, not before `not_before_s`."""

    operation_id: str
    machine_id: str
    not_before_s: int = 0


@dataclass(frozen=True)
class ReleaseToLine:
    """Put the truck of `order_id` on the line in slot `slot` (its position in the line sequence)."""

    order_id: str
    slot: int


@dataclass(frozen=True)
class AssignTask:
    agv_id: str
    task_id: str


@dataclass(frozen=True, eq=False)
class MoveAgvs:
    """Next cells for many AGVs for the step starting at `at_s`."""

    at_s: int
    agv_ids: tuple[str, ...]
    cells: tuple[Cell, ...]


@dataclass(frozen=True)
class Charge:
    agv_id: str
    charger: Cell


Command = StartOperation | ReleaseToLine | AssignTask | MoveAgvs | Charge


@runtime_checkable
class Factory(Protocol):
    """What the scheduler needs of a factory: its clock, its events, and a way to send commands."""

    @property
    def now_s(self) -> int:
        """The factory's current time."""
        ...

    def submit(self, commands: Sequence[Command]) -> None:
        """Hand commands to the factory; they take effect from `now_s` on."""
        ...

    def poll(self, until_s: int) -> Sequence[Event]:
        """Let the factory run up to `until_s` and return what happened, in time order."""
        ...
