"""The planner's actions on the live plan: a machine down or up, a rush order or a new priority, a frozen
or re-planned horizon, alarms acknowledged and cleared; the audit trail of them; staff accounts (admins
open them, change their role, disable and re-enable them).

Each action is handed to the live plant (`LivePlant.act`), which takes it into the plan as it takes the
factory's events, the same for the twin and a plant behind the broker. Every action, taken or refused,
is written to the audit trail with who and when; a refusal is a 4xx whose detail says why.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request, status
from sqlalchemy import select
from sqlalchemy.orm import Session

from mixflow.api.clock import to_datetime
from mixflow.api.deps import AdminDep, SessionDep, StaffDep, require
from mixflow.api.live import ActionRefused
from mixflow.api.planner_schemas import (
    AlarmsOut,
    AuditOut,
    AuditRow,
    DisableIn,
    ExpediteOut,
    FreezeIn,
    FreezeOut,
    MachineDownIn,
    MachineStateOut,
    PriorityIn,
    ReplanIn,
    ReplanOut,
    RushOrderIn,
    StaffAccount,
    StaffAccounts,
    StaffPlantsIn,
    StaffRoleIn,
)
from mixflow.api.schemas import ErrorOut, NewUser
from mixflow.api.security import TokenClaims
from mixflow.errors import MixflowError, ValidationError
from mixflow.model import Order
from mixflow.store import accounts, audit
from mixflow.store.accounts import Role

router = APIRouter(prefix="/api/planner", tags=["planner"])
staff_router = APIRouter(prefix="/api/staff", tags=["staff"])

PlannerDep = Annotated[TokenClaims, Depends(require(Role.PLANNER, Role.ADMIN))]
REFUSALS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorOut} for code in (404, 409, 422, 503)
}


def _live(request: Request) -> Any:
    live = request.app.state.live
    if live is None:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE,
                            "no live plant: start `mixflow serve --twin` or `--mqtt` to act on the plan")
    return live


def _audited(request: Request, user: TokenClaims, action: str, target: str, detail: dict[str, Any],
             call: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """Run `call` (the action) and write it to the audit trail, taken or refused."""
    live = _live(request)
    outcome, reason, result = "done", "", None
    try:
        result = call()
    except ActionRefused as refused:
        outcome, reason = "refused", refused.message
        raise HTTPException(refused.status_code, refused.message) from refused
    except MixflowError as refused:
        outcome, reason = "refused", str(refused)
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(refused)) from refused
    finally:
        with request.app.state.sessions() as session:
            audit.record(session, username=user.username, role=user.role.value, action=action, target=target,
                         detail=detail, outcome=outcome, reason=reason,
                         plant_s=live.now_s() if result is None else result.get("at_s"))
            session.commit()
    return result


def _act(request: Request, user: TokenClaims, action: str, target: str, **detail: Any) -> dict[str, Any]:
    live = _live(request)
    return _audited(request, user, action, target, detail,
                    lambda: live.act({"kind": action, "by": user.username, **detail}))


@router.post("/machines/{machine_id}/down", response_model=MachineStateOut, responses=REFUSALS)
def machine_down(machine_id: str, body: MachineDownIn, request: Request, user: PlannerDep) -> dict[str, Any]:
    """Take a machine down (maintenance, a fault seen on the floor): the plan sends it no more work and
    repairs the shop plan around it, expecting it back after `expected_h` (0: the group's mean repair
    time). 409 if it is down already."""
    return _act(request, user, "machine_down", machine_id, machine=machine_id, reason=body.reason,
                expected_s=int(body.expected_h * 3600))


@router.post("/machines/{machine_id}/up", response_model=MachineStateOut, responses=REFUSALS)
def machine_up(machine_id: str, request: Request, user: PlannerDep) -> dict[str, Any]:
    """Bring a machine a planner took down back into the plan. 409 if no planner took it down."""
    return _act(request, user, "machine_up", machine_id, machine=machine_id)


def _with_date(request: Request, result: dict[str, Any]) -> dict[str, Any]:
    return {**result, "promised_date": to_datetime(request.app.state.clock, int(result["promised_s"]))}


@router.post("/rush-orders", response_model=ExpediteOut, status_code=201, responses=REFUSALS)
def rush_order(body: RushOrderIn, request: Request, user: PlannerDep) -> dict[str, Any]:
    """Insert a rush order: promised, then moved to the earliest line slot its parts allow; the orders it
    pushes one slot on are re-checked and flagged at risk where their promise no longer holds. 422 if
    the configuration cannot be built."""
    from mixflow.api.plant_process import order_to_wire

    live = _live(request)
    order_id = f"R{secrets.token_hex(5).upper()}"
    catalogue = request.app.state.configurator.catalogue

    def insert() -> dict[str, Any]:
        broken = catalogue.violations(body.configuration)
        if broken:
            raise ActionRefused(422, "the rush order cannot be built: " + "; ".join(broken[:5]))
        now = live.now_s()
        order = Order(order_id, body.customer or f"rush by {user.username}", body.configuration, now, now,
                      priority=body.priority)
        return live.act({"kind": "rush_order", "by": user.username, "order": order_to_wire(order),
                         "priority": body.priority})

    detail = {"configuration": body.configuration, "priority": body.priority, "customer": body.customer}
    return _with_date(request, _audited(request, user, "rush_order", order_id, detail, insert))


@router.post("/orders/{order_id}/priority", response_model=ExpediteOut, responses=REFUSALS)
def prioritise(order_id: str, body: PriorityIn, request: Request, user: PlannerDep) -> dict[str, Any]:
    """Re-prioritise an order not yet on its line (priority > 0: a rush order, moved as a new one is)."""
    done = _act(request, user, "expedite", order_id, order=order_id, priority=body.priority)
    return _with_date(request, done)


@router.post("/freeze", response_model=FreezeOut, responses=REFUSALS)
def freeze(body: FreezeIn, request: Request, user: PlannerDep) -> dict[str, Any]:
    """Freeze the next `frozen_h` hours of the shop plan: a repair after a breakdown moves nothing in it."""
    return _act(request, user, "freeze", "shop plan", frozen_s=int(body.frozen_h * 3600))


@router.post("/replan", response_model=ReplanOut, responses=REFUSALS)
def replan(body: ReplanIn, request: Request, user: PlannerDep) -> dict[str, Any]:
    """Make the shop plan again now, over the next `horizon_h` hours (0: the horizon it had)."""
    return _act(request, user, "replan", "shop plan", horizon_s=int(body.horizon_h * 3600))


@router.get("/alarms", response_model=AlarmsOut, responses=REFUSALS)
def alarms(request: Request, _user: StaffDep,
           state: Annotated[str, Query(pattern="^(all|open|active|acknowledged|cleared)$")] = "all",
           ) -> dict[str, Any]:
    """The plant's latest alarms, newest first (`open`: active or acknowledged, not cleared)."""
    snap = _live(request).snapshot()
    listed = [a for a in reversed(snap["alarms"])
              if state == "all" or a.get("state", "active") == state
              or (state == "open" and a.get("state", "active") != "cleared")]
    return {"at_s": snap["at_s"], "alarms": listed}


@router.post("/alarms/{alarm_id}/acknowledge", responses=REFUSALS)
def acknowledge(alarm_id: int, request: Request, user: StaffDep) -> dict[str, Any]:
    """Acknowledge an active alarm: someone is on it. 409 if it is acknowledged or cleared already."""
    return _act(request, user, "ack_alarm", str(alarm_id), alarm=alarm_id)


@router.post("/alarms/{alarm_id}/clear", responses=REFUSALS)
def clear(alarm_id: int, request: Request, user: PlannerDep) -> dict[str, Any]:
    """Clear an alarm whose cause is dealt with. 409 if it is cleared already."""
    return _act(request, user, "clear_alarm", str(alarm_id), alarm=alarm_id)


@router.get("/audit", response_model=AuditOut)
def audit_trail(session: SessionDep, _user: StaffDep,
                limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> dict[str, Any]:
    """The latest actions on the plan, newest first: who, when, what, and whether it was taken."""
    return {"actions": [AuditRow(**vars(a)) for a in audit.latest(session, limit)]}


# -- staff accounts ---------------------------------------------------------------------------------
@staff_router.get("/accounts", response_model=StaffAccounts)
def staff_accounts(session: SessionDep, _admin: AdminDep) -> dict[str, Any]:
    """Every staff account (planners, operators, admins), with the plants each works at in a cloud."""
    rows = session.scalars(select(accounts.UserRow).where(accounts.UserRow.role != Role.CUSTOMER.value)
                           .order_by(accounts.UserRow.username))
    return {"accounts": [_account(session, r) for r in rows]}


@staff_router.post("/accounts", response_model=StaffAccount, status_code=201,
                   responses={409: {"model": ErrorOut}, 422: {"model": ErrorOut}})
def new_staff_account(body: NewUser, request: Request, session: SessionDep, admin: AdminDep) -> StaffAccount:
    """Open a staff account (recorded in the audit trail); in a cloud, a planner or operator is given the
    plants they work at (`plants`)."""
    if body.role is Role.CUSTOMER:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "role: a staff account is a planner, "
                            "an operator or an admin (customers open their own)")
    try:
        plants = checked_plants(request, body.role, body.plants)
        user = accounts.create_user(session, body.username, body.password, body.role)
        accounts.set_plants(session, user.id, plants)
    except MixflowError as refused:
        session.rollback()
        audit.record(session, username=admin.username, role=admin.role.value, action="staff_account",
                     target=body.username, detail={"role": body.role.value}, outcome="refused",
                     reason=str(refused))
        session.commit()
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(refused)) from refused
    audit.record(session, username=admin.username, role=admin.role.value, action="staff_account",
                 target=body.username, detail={"role": body.role.value, "plants": sorted(plants)},
                 outcome="done")
    session.commit()
    return _account(session, user)


def checked_plants(request: Request, role: Role, plants: list[str]) -> frozenset[str]:
    """The plants an account of `role` is given: in a cloud, one or more of its plants for a planner or
    an operator and none for others (customers order from, admins administer, every plant); outside a
    cloud, none. Raises ValidationError naming what is wrong."""
    given = frozenset(plants)
    cloud_plants: frozenset[str] = getattr(request.app.state, "plant_ids", frozenset())
    if given and not cloud_plants:
        raise ValidationError("plants", "this server runs one plant, not a cloud: give no plants")
    if role not in accounts.SCOPED:
        if given:
            raise ValidationError("plants", f"a {role.value} has no plants to be given: "
                                  "customers order from every plant, admins administer all of them")
        return given
    unknown = sorted(given - cloud_plants)
    if unknown:
        raise ValidationError("plants", f"no plant {', '.join(map(repr, unknown))} in this cloud "
                              f"(plants: {', '.join(sorted(cloud_plants))})")
    if cloud_plants and not given:
        raise ValidationError("plants", f"a {role.value} works at one plant or more of this cloud: "
                              "name them")
    return given


def _account(session: Session, row: accounts.UserRow) -> StaffAccount:
    return StaffAccount(id=row.id, username=row.username, role=row.role_enum, disabled=row.disabled,
                        plants=sorted(accounts.plants_of(session, row.id)))


AccountId = Annotated[int, Path(ge=1, le=2**31 - 1, description="the account's id (GET /api/staff/accounts)")]
ACCOUNT_REFUSALS: dict[int | str, dict[str, Any]] = {code: {"model": ErrorOut} for code in (404, 409, 422)}


def _change_account(session: Session, admin: TokenClaims, user_id: int, action: str, detail: dict[str, Any],
                    *, role: Role | None = None, disabled: bool | None = None) -> StaffAccount:
    """Change a staff account as `admin` and write it to the audit trail in the same transaction; a
    refusal (404 no such staff account, 409 the admin's own account or the last admin) is recorded too."""

    def refuse(code: int, target: str, reason: str) -> HTTPException:
        session.rollback()
        audit.record(session, username=admin.username, role=admin.role.value, action=action, target=target,
                     detail=detail, outcome="refused", reason=reason)
        session.commit()
        return HTTPException(code, reason)

    found = accounts.get_user(session, user_id)
    if found is None or found.role == Role.CUSTOMER.value:  # customers are not managed here
        raise refuse(status.HTTP_404_NOT_FOUND, f"account {user_id}", f"no staff account with id {user_id}")
    name = found.username
    try:
        row, was = accounts.change_account(session, user_id, by_id=admin.user_id, role=role,
                                           disabled=disabled)
    except accounts.UnknownAccountError as gone:
        raise refuse(status.HTTP_404_NOT_FOUND, f"account {user_id}", str(gone)) from gone
    except accounts.AccountConflictError as conflict:
        raise refuse(status.HTTP_409_CONFLICT, name, str(conflict)) from conflict
    audit.record(session, username=admin.username, role=admin.role.value, action=action, target=name,
                 detail={**detail, "was": was}, outcome="done")
    session.commit()
    return _account(session, row)


@staff_router.post("/accounts/{user_id}/role", response_model=StaffAccount, responses=ACCOUNT_REFUSALS)
def staff_role(user_id: AccountId, body: StaffRoleIn, session: SessionDep, admin: AdminDep) -> StaffAccount:
    """Make a staff account a planner, an operator or an admin; it acts in its new role from its next
    request on, with the token it has. 409 for your own account (an admin cannot demote themselves)."""
    return _change_account(session, admin, user_id, "staff_role", {"role": body.role}, role=Role(body.role))


@staff_router.post("/accounts/{user_id}/disable", response_model=StaffAccount, responses=ACCOUNT_REFUSALS)
def staff_disable(user_id: AccountId, session: SessionDep, admin: AdminDep,
                  body: DisableIn | None = None) -> StaffAccount:
    """Disable a staff account: it cannot log in (refused as a wrong password is), and its tokens and
    session cookies are refused from its next request on. 409 for your own account, or the last admin."""
    reason = body.reason if body is not None else ""
    return _change_account(session, admin, user_id, "staff_disable", {"reason": reason}, disabled=True)


@staff_router.post("/accounts/{user_id}/enable", response_model=StaffAccount, responses=ACCOUNT_REFUSALS)
def staff_enable(user_id: AccountId, session: SessionDep, admin: AdminDep) -> StaffAccount:
    """Re-enable a disabled staff account: it can log in again (tokens issued before it was disabled
    work again too, until they expire)."""
    return _change_account(session, admin, user_id, "staff_enable", {}, disabled=False)


@staff_router.post("/accounts/{user_id}/plants", response_model=StaffAccount, responses=ACCOUNT_REFUSALS)
def staff_plants(user_id: AccountId, body: StaffPlantsIn, request: Request, session: SessionDep,
                 admin: AdminDep) -> StaffAccount:
    """In a cloud: give a planner or operator exactly these plants; from its next request on, it is
    refused (403) at any other plant. 422 for a plant the cloud does not have, or none at all."""
    found = accounts.get_user(session, user_id)
    if found is None or found.role == Role.CUSTOMER.value:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no staff account with id {user_id}")
    was = sorted(accounts.plants_of(session, user_id))
    try:
        plants = checked_plants(request, found.role_enum, body.plants)
    except ValidationError as refused:
        audit.record(session, username=admin.username, role=admin.role.value, action="staff_plants",
                     target=found.username, detail={"plants": body.plants}, outcome="refused",
                     reason=str(refused))
        session.commit()
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(refused)) from refused
    accounts.set_plants(session, user_id, plants)
    audit.record(session, username=admin.username, role=admin.role.value, action="staff_plants",
                 target=found.username, detail={"plants": sorted(plants), "was": was}, outcome="done")
    session.commit()
    return _account(session, found)
