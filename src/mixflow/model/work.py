"""Work the plant does for orders: feeder-shop jobs of operations, and material tasks for AGVs."""

from __future__ import annotations

from dataclasses import dataclass

from mixflow.errors import ValidationError
from mixflow.model.plant import Cell


@dataclass(frozen=True)
class Operation:
    """One step of a job on one machine of `group`; `setup_key` changes cost the group's setup time."""

    id: str
    job: str
    group: str
    duration_s: int
    setup_key: str = ""

    def __post_init__(self) -> None:
        if self.duration_s <= 0:
            raise ValidationError(f"operation {self.id}", "duration_s must be positive")


@dataclass(frozen=True)
class Job:
    """Making one part for one order: operations in sequence, between release and the line's need."""

    id: str
    order_id: str
    part: str
    shop: str
    operations: tuple[Operation, ...]
    release_s: int
    due_s: int
    weight: float = 1.0

    def __post_init__(self) -> None:
        if not self.operations:
            raise ValidationError(f"job {self.id}", "has no operation")
        if self.due_s < self.release_s:
            raise ValidationError(f"job {self.id}", "is due before its release")
        if self.weight <= 0:
            raise ValidationError(f"job {self.id}", "weight must be positive")

    @property
    def work_s(self) -> int:
        return sum(op.duration_s for op in self.operations)


TASK_KINDS = ("line", "wip", "raw", "receipt")


@dataclass(frozen=True)
class MaterialTask:
    """Carry `part` from `pickup` to `dropoff` no later than `deadline_s` (an AGV's errand); `station`
    is the index of the station of line `line` ("": the plant's first line) the part is called to.

    `kind` says which flow it is: "line" (a part to its line station), "wip" (a part between two
    machines of its routing, ready once operation `after_op` is done), "raw" (`qty` of a raw material
    from the warehouse to a machine), "receipt" (`qty` of a delivery from a dock into the warehouse).

    Parts worked on their AGV (`RoutingStep.on_agv`): `rides` says the AGV stays with the part at the
    dropoff while it is worked on (busy, not free for other errands); `same_agv_as` names the task
    whose AGV holds the part and carries it on (empty: any AGV).
    """

    id: str
    part: str
    pickup: Cell
    dropoff: Cell
    release_s: int
    deadline_s: int
    payload_kg: float
    order_id: str = ""
    station: str = ""
    line: str = ""
    kind: str = "line"
    qty: int = 1
    after_op: str = ""
    rides: bool = False
    same_agv_as: str = ""

    def __post_init__(self) -> None:
        if self.deadline_s < self.release_s:
            raise ValidationError(f"material task {self.id}", "deadline lies before release")
        if self.payload_kg < 0:
            raise ValidationError(f"material task {self.id}", "payload_kg must be >= 0")
        if self.kind not in TASK_KINDS:
            raise ValidationError(f"material task {self.id}", f"kind {self.kind!r} is none of {TASK_KINDS}")
        if self.qty < 1:
            raise ValidationError(f"material task {self.id}", "qty must be >= 1")
        if self.pickup == self.dropoff:
            raise ValidationError(f"material task {self.id}", "pickup and dropoff are the same cell")
