"""The API's contract: pydantic models of every request and answer (the OpenAPI document comes from them)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from mixflow.api.agv_states import AGV_FLAGS, MODE_STEP, OPERATING_MODES
from mixflow.model import OrderStatus
from mixflow.store.accounts import MIN_PASSWORD_LENGTH, Role

# OPC 40001-1 (OPC UA for Machinery) MachineryItemState names, each at its StateNumber, as
# `mixflow.connect.opcua_model` has them (not imported: that would load asyncua into the web app)
MACHINERY_ITEM_STATES = ("NotAvailable", "OutOfService", "NotExecuting", "Executing")

Name = Annotated[str, StringConstraints(min_length=1, max_length=64)]
Choices = Annotated[dict[Name, Name], Field(max_length=200, description="variable -> chosen value code")]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


# -- accounts ---------------------------------------------------------------------------------------
class Credentials(Strict):
    username: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    password: Annotated[str, StringConstraints(min_length=1, max_length=256)]


class NewUser(Strict):
    username: Annotated[str, StringConstraints(min_length=3, max_length=64, pattern=r"^[A-Za-z0-9._@-]+$")]
    password: Annotated[str, StringConstraints(min_length=MIN_PASSWORD_LENGTH, max_length=256)] = Field(
        description=f"at least {MIN_PASSWORD_LENGTH} characters, not a common or leaked password")
    role: Role = Role.CUSTOMER
    plants: list[Name] = Field(default_factory=list, max_length=100,
                               description="in a cloud: the plants a planner or operator works at")


class Token(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_at: datetime
    role: Role
    username: str
    csrf_token: str = Field(description="send as X-CSRF-Token with requests that change data when logged in "
                                        "by the session cookie (also in the mixflow_csrf cookie)")


class Registered(BaseModel):
    detail: str


class UserOut(BaseModel):
    id: int
    username: str
    role: Role


# -- catalogue and configurator -----------------------------------------------------------------------
class ValueOut(BaseModel):
    code: str
    label: str
    price: float


class VariableOut(BaseModel):
    name: str
    label: str
    scope: str
    default: str | None
    values: list[ValueOut]


class CatalogueOut(BaseModel):
    name: str
    currency: str
    base_price: float
    variables: list[VariableOut]
    product: str = Field("unit", description="what one unit is called (truck, bus): pages say it")
    products: str = Field("units", description="what several units are called (trucks, buses)")
    plant: str = Field("", description="name of the plant that builds the catalogue's products")


class ConfigureRequest(Strict):
    choices: Choices = Field(default_factory=dict)


class PriceRange(BaseModel):
    min: float | None = Field(description="None when no configuration remains")
    max: float | None


class PriceLine(BaseModel):
    """One line of a price: the base price, a chosen value's price, or a surcharge that applies."""

    kind: Literal["base", "option", "surcharge"]
    name: str = Field(description="variable name (option), surcharge id (surcharge) or 'base'")
    label: str = Field(description="what the line is, in catalogue labels")
    value: str | None = Field(default=None, description="the chosen value's code (option lines)")
    amount: float


class PriceBreakdown(BaseModel):
    """The list price line by line: base, every chosen value, every surcharge whose condition holds.
    `total` is their sum (the price when the configuration is complete, the price so far otherwise)."""

    currency: str
    lines: list[PriceLine]
    total: float


class ConfigurationState(BaseModel):
    """What remains possible after the user's choices: the answer to one click."""

    valid: dict[str, list[str]] = Field(
        description="per variable the values still leading to a valid configuration"
    )
    count: str = Field(description="exact number of complete valid configurations left (decimal string)")
    price: PriceRange
    complete: bool = Field(description="every variable is chosen")
    configuration_price: float | None = Field(description="list price when the configuration is complete")
    conflicts: list[str] = Field(description="when the choices cannot go together: which and why, in words")
    breakdown: PriceBreakdown | None = Field(
        default=None, description="the price of the choices so far, line by line (None when they clash)"
    )
    switchable: dict[str, list[str]] = Field(
        default_factory=dict,
        description="per chosen variable the values it could switch to without changing any other choice "
        "(the others conflict: `/api/configurator/adjust` says what to change)",
    )


class ExplainRequest(Strict):
    choices: Choices = Field(default_factory=dict)
    variable: Name
    value: Name


class Explanation(BaseModel):
    """Why a value is greyed: a minimal set of the user's choices ruling it out, and the rules, in words."""

    variable: str
    value: str
    possible: bool
    conflicting_choices: dict[str, str]
    reasons: list[str]
    text: str


class AdjustRequest(Strict):
    choices: Choices = Field(default_factory=dict)
    variable: Name
    value: Name


class ChoiceChange(BaseModel):
    variable: str
    label: str = Field(description="the variable's label")
    old: str
    old_label: str
    new: str
    new_label: str


class Adjustment(BaseModel):
    """Switch and adjust: choosing `variable = value` while changing the fewest other choices (a minimum
    set, not merely a minimal one); `choices` are the buyer's choices after the switch."""

    variable: str
    value: str
    changes: list[ChoiceChange]
    choices: dict[str, str]
    text: str


class CompleteRequest(Strict):
    choices: Choices = Field(default_factory=dict)
    objective: Literal["cheapest", "default"] = "cheapest"


class Completion(BaseModel):
    configuration: dict[str, str]
    price: float


# -- orders -------------------------------------------------------------------------------------------
class OrderRequest(Strict):
    configuration: Annotated[dict[Name, Name], Field(min_length=1, max_length=200)]
    requested_date: datetime | None = Field(default=None, description="when the customer wants the product")


class Promise(BaseModel):
    available: bool
    promised_date: datetime | None
    promised_s: int | None
    detail: str
    earliest_date: datetime | None = Field(
        default=None, description="the earliest delivery the plant could promise now, whatever is requested"
    )
    requested_date: datetime | None = Field(
        default=None, description="the requested date the promise honours"
    )
    quoted_at: datetime | None = Field(
        default=None, description="plant time of the quote: placed later, the promise may move with the plant"
    )


class StatusStep(BaseModel):
    status: OrderStatus
    at: datetime
    at_s: int
    note: str
    promised_date: datetime | None = Field(
        default=None, description="the date promised by this step, if it promised"
    )


class OrderOut(BaseModel):
    id: str
    customer: str
    configuration: dict[str, str]
    price: float
    placed_date: datetime
    requested_date: datetime
    promised_date: datetime | None
    status: OrderStatus
    history: list[StatusStep]
    flow: list[OrderStatus] = Field(description="the statuses of the flow, in order")


# -- plant --------------------------------------------------------------------------------------------
class StationOut(BaseModel):
    id: str
    index: int
    x: int
    y: int
    line: str = Field("", description="the line the station belongs to (station ids repeat across lines)")


class LineOut(BaseModel):
    """One final-assembly line: its stations are those of `Layout.stations` naming it."""

    id: str
    name: str
    takt_s: int
    stations: int


class LineStateOut(BaseModel):
    id: str
    position_s: int = Field(description="seconds into the line's current takt")
    stopped: bool
    units: list[str | None] = Field(
        default_factory=list,
        description="per station of the line, in line order, the order of the unit on it (null: empty); "
        "empty when the plant does not report it",
    )
    waiting: int = Field(0, description="units released to the line, not on its first station yet")


class MachineGroupOut(BaseModel):
    id: str
    shop: str
    operation: str
    machines: int


class Layout(BaseModel):
    """The static floor: grid size, blocked cells (run-length rows), machines, stations, chargers."""

    name: str
    width: int
    height: int
    cell_m: float
    blocked_rle: list[list[int]] = Field(description="per row: alternating run lengths, starting with free")
    machine_ids: list[str]
    machine_xy: list[int] = Field(description="flat x0, y0, x1, y1, ... of every machine")
    machine_group: list[int] = Field(description="index into groups of every machine")
    groups: list[MachineGroupOut]
    stations: list[StationOut]
    chargers: list[int] = Field(description="flat x, y of every charger")
    agv_ids: list[str]
    zones: dict[str, list[int]]
    takt_s: int = Field(description="the first line's takt (`lines` has every line's)")
    lines: list[LineOut] = Field(default_factory=list)


class Alarm(BaseModel):
    at_s: int
    kind: str
    source: str
    text: str
    id: int = Field(0, description="the alarm's number, to acknowledge or clear it")
    severity: Literal["critical", "major", "minor"] = "minor"
    state: Literal["active", "acknowledged", "cleared"] = "active"
    acked_by: str = ""
    cleared_by: str = ""
    cleared_s: int | None = None


class PlantState(BaseModel):
    """One snapshot of the live plant (the websocket streams these)."""

    at_s: int
    at: datetime
    running: bool
    speed: float
    agv_x: list[float]
    agv_y: list[float]
    agv_soc: list[float] = Field(
        description="each AGV's state of charge, 0..1 (VDA 5050 batteryState.batteryCharge / 100 where the "
        "fleet speaks VDA 5050)"
    )
    agv_vda: list[int] = Field(
        default_factory=list,
        description="each AGV's VDA 5050 state in the layout's AGV order, one int: flag k (bit k) set for "
        "each of agv_vda_flags that holds (driving, paused, charging, an error of level WARNING, one of "
        f"level FATAL, offline), plus {MODE_STEP} x the index of its operatingMode in agv_operating_modes",
    )
    agv_vda_flags: list[str] = Field(default_factory=lambda: list(AGV_FLAGS))
    agv_operating_modes: list[str] = Field(default_factory=lambda: list(OPERATING_MODES))
    agv_errors: list[tuple[int, list[str]]] = Field(
        default_factory=list, description="[AGV index, [errorType, ...]] of each AGV with active errors"
    )
    machines_down: list[int] = Field(description="indices into the layout's machine list")
    machines_busy: list[int]
    machine_states: list[int] = Field(
        default_factory=list,
        description="each machine's MachineryItemState (OPC 40001-1) StateNumber, in the layout's machine "
        "order: down 1 (OutOfService), busy 3 (Executing), idle 2 (NotExecuting); names in "
        "machine_state_names",
    )
    machine_state_names: list[str] = Field(default_factory=lambda: list(MACHINERY_ITEM_STATES))
    line_position_s: int = Field(description="seconds into the first line's current takt")
    line_stopped: bool = Field(description="whether any line stands")
    lines: list[LineStateOut] = Field(default_factory=list)
    alarms: list[Alarm]


class TimeControl(Strict):
    speed: Annotated[float, Field(ge=0.0, le=10_000.0, description="twin seconds per wall second; 0 pauses")]


class ErrorOut(BaseModel):
    detail: str


# -- plan views ---------------------------------------------------------------------------------------
class SequenceSlot(BaseModel):
    order: str
    state: Literal["released", "upcoming"]
    family: str
    colour: str
    drive: str
    cab: str
    powertrain: str
    configuration: dict[str, str] = Field(
        default_factory=dict, description="the order's whole configuration (any catalogue's variables)"
    )


class LineSlots(BaseModel):
    """One line's sequence: its last units released, then its next ones waiting, in line order."""

    id: str
    name: str
    takt_s: int
    slots: list[SequenceSlot]


class LineSequence(BaseModel):
    """The last units released to the line, then the next ones waiting, in line order (`slots`: every
    line's together; `lines`: each line's own sequence)."""

    at_s: int
    slots: list[SequenceSlot]
    lines: list[LineSlots] = Field(default_factory=list)


class GanttRow(BaseModel):
    group: str
    machine: str
    operation: str
    start_s: int
    end_s: int


class Gantt(BaseModel):
    """Operations per machine (most recent rows of the scheduler's Gantt excerpt)."""

    at_s: int
    rows: list[GanttRow]


class FleetTasks(BaseModel):
    """How many AGVs are in each state, and how many material tasks wait for an AGV."""

    at_s: int
    agv_states: dict[str, int]
    open_tasks: int
    agvs: dict[str, list[str]] = Field(
        default_factory=dict, description="AGV id -> [its state in the plan, the task it is on or \"\"]"
    )


class Kpis(BaseModel):
    """The scheduler's KPI summary (order-to-delivery, promises kept, output vs. demand, OEE per machine
    group, line stops, planner time) plus the factory's meters (energy in kWh, AGV collisions)."""

    at_s: int
    kpis: dict[str, Any]
