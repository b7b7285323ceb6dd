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

from mixflow.errors import ValidationError
from mixflow.model.orders import Order
from mixflow.model.plant import Cell
from mixflow.model.work import MaterialTask

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


OUT_OF_SERVICE = "OutOfService"
NOT_AVAILABLE = "NotAvailable"
DOWN_STATES = (OUT_OF_SERVICE, NOT_AVAILABLE)
"""The OPC 40001-1 MachineryItemStates of a machine that cannot work: OutOfService is a fault or
maintenance, NotAvailable a machine switched off (energy saving, no shift): not plannable, not a fault."""


@dataclass(frozen=True)
class MachineDown:
    """`machine_id` cannot work. `by` names who took it down: "" the machine itself (a breakdown),
    otherwise the planner who did (maintenance, a fault seen on the floor), with the repair time they
    expect (`expected_s`, 0 unknown: the group's mean time to repair). A machine a planner took down
    stays down until a planner brings it up, whatever the machine reports. `state` says which down
    state (`DOWN_STATES`) it is in: the scheduler counts OutOfService as a fault, NotAvailable not."""

    at_s: int
    machine_id: str
    reason: str = ""
    by: str = ""
    expected_s: int = 0
    state: str = OUT_OF_SERVICE

    def __post_init__(self) -> None:
        if self.state not in DOWN_STATES:
            raise ValidationError(
                f"MachineDown of {self.machine_id}", f"state must be one of {DOWN_STATES}, got {self.state!r}"
            )


@dataclass(frozen=True)
class MachineUp:
    at_s: int
    machine_id: str
    by: str = ""


@dataclass(frozen=True, eq=False)
class AgvStates:
    """Positions and battery of many AGVs at once (arrays, one entry per AGV in `agv_ids` order), and
    where the reporter knows them (empty otherwise) the task whose part each carries ("" none) and
    which are down: a restarted scheduler learns from them what is on its way and what cannot move."""

    at_s: int
    agv_ids: tuple[str, ...]
    x: np.ndarray
    y: np.ndarray
    soc: np.ndarray
    load: tuple[str, ...] = ()
    down: tuple[bool, ...] = ()


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
    """Line `line` stopped at its station `station_id` (station ids repeat across lines; "" names the
    plant's first line)."""

    at_s: int
    station_id: str
    order_id: str
    cause: str
    line: str = ""


@dataclass(frozen=True)
class TruckOffLine:
    """The truck of `order_id` left the last station of line `line` ("": the plant's first line)."""

    at_s: int
    order_id: str
    line: str = ""


@dataclass(frozen=True)
class TruckDelivered:
    at_s: int
    order_id: str


# -- planner actions: the planner's word on the plan, taken in like the factory's events -------------


@dataclass(frozen=True)
class OrderExpedited:
    """Planner `by` makes `order_id` a rush order of `priority` (> 0; 0 takes the rush back): it moves to
    the earliest line slot its parts allow, pushing the orders in between one slot later each."""

    at_s: int
    order_id: str
    priority: int
    by: str = ""


@dataclass(frozen=True)
class HorizonFrozen:
    """Planner `by` freezes the next `frozen_s` seconds of the shop plan (0 unfreezes): a repair after a
    breakdown moves nothing that starts inside it."""

    at_s: int
    frozen_s: int
    by: str = ""


@dataclass(frozen=True)
class ReplanRequested:
    """Planner `by` asks for the shop plan of the next `horizon_s` seconds (0: the plan's own horizon)
    to be made again now."""

    at_s: int
    horizon_s: int = 0
    by: str = ""


PlannerAction = OrderExpedited | HorizonFrozen | ReplanRequested

@dataclass(frozen=True)
class DeliveryConfirmed:
    """A supplier confirms when purchase order `po_id` arrives; a date after the one ordered is a delay
    the plan must answer at once (the orders counting on it are at risk)."""

    at_s: int
    po_id: str
    due_s: int


@dataclass(frozen=True)
class GoodsReceived:
    """A supplier's delivery of `qty` of `item` for `po_id` unloaded at dock `dock`: it must still be
    carried into the warehouse before it can be used."""

    at_s: int
    po_id: str
    item: str
    qty: int
    dock: Cell


@dataclass(frozen=True)
class StockOut:
    """An AGV came for `item` (task `task_id`) and the warehouse had none: it waits at the rack."""

    at_s: int
    item: str
    task_id: str


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
    | OrderExpedited
    | HorizonFrozen
    | ReplanRequested
    | DeliveryConfirmed
    | GoodsReceived
    | StockOut
)

# -- commands: scheduler -> factory ---------------------------------------------------------------


WHOLE_UNIT = "unit"
"""The `part` of an operation on the whole built unit (its end-of-line test), not on one of its parts."""


@dataclass(frozen=True)
class StartOperation:
    """Run `operation_id` on `machine_id` as soon as the machine is free, not before `not_before_s`.

    The work order carries what the machine's program needs: the standard time `duration_s`, the
    `setup_key` (a change costs the group's setup time), and which part of which order it works on;
    `final` marks the part's last operation, after which the part waits at the shop's outbound cell.
    `waits_for` names the material tasks (work in progress from the machine before, raw material from
    the warehouse) whose loads must be at the machine before it may start: until then it waits for
    material, and the plant counts that time.
    """

    operation_id: str
    machine_id: str
    not_before_s: int = 0
    duration_s: int = 0
    setup_key: str = ""
    order_id: str = ""
    part: str = ""
    final: bool = False
    waits_for: tuple[str, ...] = ()


@dataclass(frozen=True)
class StopOperation:
    """Stop `operation_id` on `machine_id` now (why: `reason`); its work is lost, as in a breakdown.

    A planner who takes down a machine that runs an operation (maintenance, a fault seen on the floor)
    needs the machine to stop, not to finish a part nobody will check; the scheduler keeps the operation
    on the machine and sends it again, from the start, when a planner brings the machine up. A machine
    that does not run that operation (it finished it already) leaves it be; a device says so in its ack.
    """

    operation_id: str
    machine_id: str
    reason: str = ""


@dataclass(frozen=True)
class ReleaseToLine:
    """Put the truck of `order_id` on line `line` in slot `slot` (its position in that line's
    sequence), at least `spacing` empty pitches after the truck before it: a spacer lets the worker of a
    station that truck overran catch up instead of stopping the line. `line` "" names the plant's first
    line (what a one-line plant's controller was sent before lines were named)."""

    order_id: str
    slot: int
    spacing: int = 0
    line: str = ""


@dataclass(frozen=True)
class AssignTask:
    agv_id: str
    task_id: str


@dataclass(frozen=True, eq=False)
class MoveAgvs:
    """Next cells (x[i], y[i]) of AGV `agv_ids[i]` for the one-second step starting at `at_s`.

    Arrays, like `AgvStates`, so a fleet of hundreds moves in one command per step; an AGV whose cell
    does not change waits.
    """

    at_s: int
    agv_ids: tuple[str, ...]
    x: np.ndarray
    y: np.ndarray


@dataclass(frozen=True)
class PostTask:
    """Announce a material task (the line-side call); `AssignTask` then hands it to an AGV."""

    task: MaterialTask


@dataclass(frozen=True)
class PurchaseOrder:
    """Buy `qty` of `item` from `supplier`, to arrive at dock `dock` at `due_s` (the supplier answers
    with `DeliveryConfirmed` when it cannot)."""

    po_id: str
    supplier: str
    item: str
    qty: int
    due_s: int
    dock: Cell


@dataclass(frozen=True)
class Charge:
    agv_id: str
    charger: Cell


Command = (
    StartOperation | StopOperation | ReleaseToLine | PostTask | AssignTask | MoveAgvs | Charge | PurchaseOrder
)


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
        """Let the factory run up to `until_s` and return what happened, in time order.

        A factory may return early, as soon as something happened (a real gateway returns when
        messages arrive); `now_s` then tells how far it got, and the caller polls again.
        """
        ...
