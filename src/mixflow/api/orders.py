"""Orders: quote a promise, place an order (stored before the answer), track it, cancel it.

A customer sees and touches only their own orders; for anyone else's the API answers 404, so it does
not even reveal that the order exists. Staff (planner, operator, admin) see every order.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request, Response, status
from sqlalchemy.orm import Session

from mixflow.api.clock import PlantClock, to_datetime, to_seconds
from mixflow.api.deps import STAFF, SessionDep, UserDep
from mixflow.api.live import PlantUnavailable
from mixflow.api.schemas import ErrorOut, OrderOut, OrderRequest, Promise, StatusStep
from mixflow.api.security import TokenClaims
from mixflow.errors import UnknownNameError
from mixflow.model import DAY_S, FLOW, Order, OrderStatus, StatusChange
from mixflow.store import order_book

router = APIRouter(prefix="/api/orders", tags=["orders"])

DEFAULT_LEAD_S = 5 * DAY_S
MAX_AHEAD_S = 2 * 365 * DAY_S
"""How far ahead a customer may ask for delivery (a requested date beyond it is refused, 422)."""
CANCELLABLE = {OrderStatus.PLACED, OrderStatus.PROMISED, OrderStatus.SEQUENCED}
PAGE = 200
"""Orders a list answers with unless asked for fewer or more (up to MAX_PAGE)."""
MAX_PAGE = 1000


def order_out(clock: PlantClock, order: Order, price: float) -> OrderOut:
    return OrderOut(
        id=order.id,
        customer=order.customer,
        configuration=dict(order.configuration),
        price=price,
        placed_date=to_datetime(clock, order.placed_s),
        requested_date=to_datetime(clock, order.requested_s),
        promised_date=None if order.promised_s is None else to_datetime(clock, order.promised_s),
        status=order.status,
        history=[_step(clock, c) for c in order.history],
        flow=list(FLOW),
    )


_PROMISED_NOTE = re.compile(r"^promised for (\d+)$")


def _step(clock: PlantClock, change: StatusChange) -> StatusStep:
    """A status change at the edge: plant seconds in a promise's note become the date they stand for."""
    note, promised = change.note, None
    found = _PROMISED_NOTE.match(note)
    if found:
        promised = to_datetime(clock, int(found.group(1)))
        note = f"promised for {promised.isoformat()}"
    return StatusStep(status=change.status, at=to_datetime(clock, change.at_s), at_s=change.at_s, note=note,
                      promised_date=promised)


def checked_price(state: Any, configuration: Mapping[str, str]) -> float:
    """The list price of a complete, valid configuration at the plant of app `state`; 422 naming what
    is wrong otherwise."""
    catalogue = state.configurator.catalogue
    broken = catalogue.violations(configuration)  # raises UnknownNameError -> 422 for unknown names
    if broken:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT,
                            "the configuration cannot be built: " + "; ".join(broken[:5]))
    return float(catalogue.price(configuration))


def requested_s(clock: PlantClock, requested_date: datetime | None, now_s: int) -> int:
    """The requested delivery in plant seconds: 5 days ahead by default, never past, at most 2 years."""
    if requested_date is None:
        return now_s + DEFAULT_LEAD_S
    requested = to_seconds(clock, requested_date)
    if requested < now_s:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "requested_date lies in the past")
    if requested > now_s + MAX_AHEAD_S:
        latest = to_datetime(clock, now_s + MAX_AHEAD_S).date().isoformat()
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT,
                            f"requested_date lies more than 2 years ahead (latest {latest})")
    return requested


NO_PLANT = "no delivery promise: no live plant is running (start `mixflow serve --twin`)"


def _quote(request: Request, order: Order) -> Promise:
    clock: PlantClock = request.app.state.clock
    live = request.app.state.live
    if live is None:
        return Promise(available=False, promised_date=None, promised_s=None, detail=NO_PLANT)
    promised_s, detail = live.quote(order)
    earliest_s, _ = live.quote(replace(order, requested_s=order.placed_s))
    # Placing later may still move the promise: the plant runs on and others book slots meanwhile. A
    # promise bound by the requested date stays put when the order is placed with the quoted request.
    return Promise(available=True, promised_date=to_datetime(clock, promised_s), promised_s=promised_s,
                   detail=detail, earliest_date=to_datetime(clock, earliest_s),
                   requested_date=to_datetime(clock, order.requested_s),
                   quoted_at=to_datetime(clock, order.placed_s))


def _visible(user: TokenClaims, order: Order) -> bool:
    return user.role in STAFF or order.customer == user.username


@router.post("/quote", response_model=Promise, responses={422: {"model": ErrorOut}})
def quote(body: OrderRequest, request: Request, user: UserDep) -> Promise:
    """The delivery date the plant would promise for this configuration if ordered now (nothing is stored)."""
    checked_price(request.app.state, body.configuration)
    clock: PlantClock = request.app.state.clock
    now_s = clock.now_s()
    order = Order(id="quote", customer=user.username, configuration=body.configuration, placed_s=now_s,
                  requested_s=requested_s(clock, body.requested_date, now_s))
    return _quote(request, order)


@router.post("", response_model=OrderOut, status_code=201, responses={422: {"model": ErrorOut}})
def place(body: OrderRequest, request: Request, response: Response, session: SessionDep,
          user: UserDep) -> OrderOut:
    """Place an order: checked, committed to the order book, then promised and sequenced by the plant (the
    promise is committed too) before this answers. 202 when the plant is away (its worker restarting):
    the order is stored, and the plant promises it as soon as it is back."""
    state = request.app.state
    clock: PlantClock = state.clock
    now_s = clock.now_s()
    out = place_order(state, session, user.username, body.configuration,
                      requested_s(clock, body.requested_date, now_s))
    if out.promised_date is None and state.live is not None:
        response.status_code = status.HTTP_202_ACCEPTED
    return out


def place_order(state: Any, session: Session, customer: str, configuration: Mapping[str, str],
                requested: int) -> OrderOut:
    """Place an order at the plant of app `state` (its order book is `session`'s store): checked,
    committed, then promised and sequenced by the plant, and that committed too, before returning."""
    price = checked_price(state, configuration)
    clock: PlantClock = state.clock
    order = Order(id=f"W{secrets.token_hex(6).upper()}", customer=customer, configuration=dict(configuration),
                  placed_s=clock.now_s(), requested_s=requested)
    order_book.save_new(session, order, price)
    if state.live is not None:
        try:
            order = state.live.place(order)
        except PlantUnavailable:  # stored: the plant promises it when it is back (it takes the book up)
            return order_out(clock, order, price)
        order_book.save_progress(session, order)
    return order_out(clock, order, price)


@router.get("", response_model=list[OrderOut], responses={404: {"model": ErrorOut}})
def list_orders(
    request: Request, session: SessionDep, user: UserDep,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE, description="orders per page")] = PAGE,
    before: Annotated[str | None, Query(max_length=40, description="last id of the page before")] = None,
) -> list[OrderOut]:
    """Your orders, newest first (staff: everyone's), `limit` at a time; pass the last id of a page as
    `before` for the next one."""
    customer = None if user.role in STAFF else user.username
    clock = request.app.state.clock
    try:
        page = order_book.list_orders(session, customer, limit, before)
    except UnknownNameError:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no order {before!r} of yours") from None
    return [order_out(clock, o, p) for o, p in page]


def _own(session: SessionDep, user: TokenClaims, order_id: str) -> tuple[Order, float]:
    found = order_book.load(session, order_id) if len(order_id) <= 40 else None
    if found is None or not _visible(user, found[0]):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no order {order_id!r} of yours")
    return found


@router.get("/{order_id}", response_model=OrderOut, responses={404: {"model": ErrorOut}})
def track(order_id: str, request: Request, session: SessionDep, user: UserDep) -> OrderOut:
    """One order with its status along the flow."""
    order, price = _own(session, user, order_id)
    return order_out(request.app.state.clock, order, price)


@router.post("/{order_id}/cancel", response_model=OrderOut,
             responses={404: {"model": ErrorOut}, 409: {"model": ErrorOut}})
def cancel(order_id: str, request: Request, session: SessionDep, user: UserDep) -> OrderOut:
    """Cancel an order that has not yet gone into production (placed, promised or sequenced)."""
    order, price = _own(session, user, order_id)
    if order.status not in CANCELLABLE:
        raise HTTPException(status.HTTP_409_CONFLICT,
                            f"order {order_id} is {order.status.value}; too late to cancel")
    clock: PlantClock = request.app.state.clock
    cancelled = order.advanced(OrderStatus.CANCELLED, max(clock.now_s(), order.history[-1].at_s),
                               f"cancelled by {user.username}")
    order_book.save_progress(session, cancelled)
    return order_out(clock, cancelled, price)



