"""The contract of the planner's actions, the rolling Gantt window and the staff accounts page."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from mixflow.api.schemas import Alarm, Choices
from mixflow.store.accounts import Role

Reason = Annotated[str, StringConstraints(max_length=500)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class MachineDownIn(Strict):
    reason: Reason = Field("", description="why the machine is taken down (maintenance, a fault seen)")
    expected_h: Annotated[float, Field(ge=0.0, le=24 * 30, description="expected hours down; 0 unknown")] = 0


class MachineStateOut(BaseModel):
    at_s: int
    machine: str
    state: str


class RushOrderIn(Strict):
    configuration: Choices
    priority: Annotated[int, Field(ge=1, le=9, description="1 rush; higher goes first among rush orders")] = 1
    customer: Annotated[str, StringConstraints(max_length=64)] = ""


class PriorityIn(Strict):
    priority: Annotated[int, Field(ge=0, le=9, description="0 a normal order again, >0 a rush order")]


class PushedOutOut(BaseModel):
    order: str
    slot: int
    slot_s: int
    was_slot_s: int
    promised_s: int
    at_risk: bool = Field(description="its promise no longer holds in its new slot: flagged at risk")


class ExpediteOut(BaseModel):
    """A rush order inserted (or an order re-prioritised): its new slot and promise, the orders it
    pushed one slot on, each re-checked, and how long the plan took for it."""

    at_s: int
    order: str
    priority: int
    was_slot: int
    slot: int
    slot_s: int
    promised_s: int
    promised_date: datetime | None = None
    took_ms: float
    pushed: list[PushedOutOut]


class FreezeIn(Strict):
    frozen_h: Annotated[float, Field(ge=0.0, le=24 * 7, description="hours from now kept as planned; 0 none")]


class FreezeOut(BaseModel):
    at_s: int
    frozen_s: int


class ReplanIn(Strict):
    horizon_h: Annotated[float, Field(ge=0.0, le=24 * 14, description="hours ahead to plan; 0 as before")] = 0


class ReplanOut(BaseModel):
    at_s: int
    horizon_s: int


class AlarmsOut(BaseModel):
    at_s: int
    alarms: list[Alarm]


class AuditRow(BaseModel):
    id: int
    at: datetime
    plant_s: int | None
    username: str
    role: str
    action: str
    target: str
    detail: dict[str, Any]
    outcome: str
    reason: str


class AuditOut(BaseModel):
    actions: list[AuditRow]


class GanttWindow(BaseModel):
    """The shop operations and line slots of a window around now. `ops`: [machine index into the layout,
    start_s, end_s, operation id, whether its order is at risk]; an operation still running ends at
    `at_s`. `slots`: [line, order, slot_s, off-line s, status, at risk, rush]."""

    at_s: int
    from_s: int
    to_s: int
    ops: list[list[Any]]
    slots: list[list[Any]]


class StaffAccount(BaseModel):
    id: int
    username: str
    role: Role
    disabled: bool = Field(False, description="disabled by an admin: cannot log in, its tokens are refused")
    plants: list[str] = Field(default_factory=list, description="in a cloud: the plants it works at")


class StaffPlantsIn(Strict):
    plants: list[Annotated[str, StringConstraints(min_length=1, max_length=64)]] = Field(max_length=100)


class StaffRoleIn(Strict):
    role: Literal["planner", "operator", "admin"]


class DisableIn(Strict):
    reason: Reason = Field("", description="why the account is disabled (kept in the audit trail)")


class StaffAccounts(BaseModel):
    accounts: list[StaffAccount]
