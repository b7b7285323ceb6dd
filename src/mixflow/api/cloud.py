"""The cloud's own API (`mixflow serve --cloud`): the plants at a glance, and one order quoted by every
plant and placed at the one the customer chooses.

A quote asks each running plant what it would promise now (its live scheduler, over its process's pipe,
all plants at once) and adds the hours of transport to the customer's region from the cloud file. A
plant that cannot take the order says why: it does not deliver to the region, the configuration is not
one of its catalogue, or it is not running. The requested date is the date wanted at the region: each
plant is asked for it that many hours of transport earlier. Placing books the order at one plant only,
in that plant's own order book, through the same path as an order placed on the plant's own pages.

Staff see and order only at the plants their account is given; customers order from every plant and
see their own orders wherever they are.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Request, Response, status
from pydantic import BaseModel, Field

from mixflow.api.clock import PlantClock, to_datetime
from mixflow.api.deps import STAFF, AccountSessionDep, UserDep
from mixflow.api.live import PlantUnavailable
from mixflow.api.orders import checked_price, order_out, place_order, requested_s
from mixflow.api.schemas import ErrorOut, Name, OrderOut, Strict
from mixflow.api.security import TokenClaims
from mixflow.errors import MixflowError
from mixflow.model import Order
from mixflow.store import accounts, order_book

router = APIRouter(prefix="/api/cloud", tags=["cloud"])

EARLIEST = "earliest"
KPI_KEYS = ("orders", "delivered", "open_orders", "promises_kept", "line_stops", "order_to_delivery_days",
            "agv_collisions")


class CloudPlantOut(BaseModel):
    id: str
    base: str = Field(description="where the plant's API and pages are: /plants/<id>")
    running: bool
    error: str | None = Field(default=None, description="why the plant is not running")
    name: str | None = None
    transport_h: dict[str, float] = Field(description="hours of transport to each region it delivers to")
    at: datetime | None = Field(default=None, description="the plant's time now")
    line_stopped: bool | None = None
    kpis: dict[str, Any] | None = Field(default=None, description="its KPIs (staff of the plant only)")


class CloudPlants(BaseModel):
    name: str
    regions: list[str]
    plants: list[CloudPlantOut]


class CloudOrderRequest(Strict):
    configuration: Annotated[dict[Name, Name], Field(min_length=1, max_length=200)]
    region: Name
    requested_date: datetime | None = Field(default=None,
                                            description="when the customer wants it at the region")
    plant: Name = Field(EARLIEST, description="the plant to place it at, or `earliest` (delivering first)")


class PlantQuoteOut(BaseModel):
    plant: str
    can_build: bool
    why_not: str | None = None
    completion_date: datetime | None = Field(default=None, description="when the plant would finish it")
    transport_h: float | None = None
    delivery_date: datetime | None = Field(default=None, description="when it would reach the region")
    detail: str | None = Field(default=None, description="what binds the plant's promise")


class CloudQuote(BaseModel):
    region: str
    best: str | None = Field(description="the plant delivering first at the region, if any can")
    quotes: list[PlantQuoteOut] = Field(description="every plant, earliest delivery first")


class CloudOrder(BaseModel):
    plant: str
    base: str
    delivery_date: datetime | None = Field(description="the plant's promise plus transport to the region")
    order: OrderOut


class CloudOrders(BaseModel):
    orders: list[CloudOrder]


def _tenants(request: Request) -> dict[str, Any]:
    tenants: dict[str, Any] = request.app.state.tenants
    return tenants


def _sees(session: Any, user: TokenClaims, plant_id: str) -> bool:
    return accounts.works_at(session, user.user_id, user.role, plant_id)


@router.get("/plants", response_model=CloudPlants)
def plants(request: Request, session: AccountSessionDep, user: UserDep) -> CloudPlants:
    """Every plant of the cloud: where its pages are, whether it runs, its time and line; its KPIs for
    the staff of that plant (a planner sees only their plants; customers see every plant, no KPIs)."""
    cloud = request.app.state.cloud
    shown = [t for t in _tenants(request).values() if user.role not in STAFF or _sees(session, user, t.id)]
    with ThreadPoolExecutor(max(1, len(shown))) as pool:
        outs = list(pool.map(lambda t: _plant_out(t, user.role in STAFF), shown))
    return CloudPlants(name=cloud.name, regions=list(cloud.regions), plants=outs)


def _plant_out(tenant: Any, staff: bool) -> CloudPlantOut:
    out = CloudPlantOut(id=tenant.id, base=tenant.base, running=tenant.live is not None,
                        error=tenant.error or None, transport_h=dict(tenant.entry.transport_h))
    live = tenant.live
    if live is None:
        return out
    snapshot = live.snapshot()
    out.name = live.plant.name
    out.at = to_datetime(live, int(snapshot["at_s"]))
    out.line_stopped = bool(snapshot["line_stopped"])
    if staff:
        try:
            kpis = live.plan_view("kpis")["kpis"]
        except (MixflowError, RuntimeError, TimeoutError) as failed:
            out.error = f"KPIs not available: {failed}"
        else:
            out.kpis = {key: kpis[key] for key in KPI_KEYS if key in kpis}
    return out


def _quote_at(tenant: Any, user: TokenClaims, body: CloudOrderRequest) -> PlantQuoteOut:
    """One plant's offer, or why it has none; asks the plant's live scheduler (nothing is booked)."""
    refuse = PlantQuoteOut(plant=tenant.id, can_build=False)
    transport_h = tenant.entry.transport_h.get(body.region)
    if transport_h is None:
        refuse.why_not = f"does not deliver to region {body.region!r}"
        return refuse
    if tenant.app is None:
        refuse.why_not = f"not running: {tenant.error}"
        return refuse
    state = tenant.app.state
    try:
        checked_price(state, body.configuration)
    except HTTPException as bad:
        refuse.why_not = f"not in its catalogue: {bad.detail}"
        return refuse
    except MixflowError as bad:
        refuse.why_not = f"not in its catalogue: {bad}"
        return refuse
    clock: PlantClock = state.clock
    now_s = clock.now_s()
    transport = timedelta(hours=transport_h)
    order = Order(id="quote", customer=user.username, configuration=body.configuration, placed_s=now_s,
                  requested_s=_requested_at_plant(clock, body.requested_date, transport, now_s))
    try:
        promised_s, detail = state.live.quote(order)
    except PlantUnavailable as away:
        refuse.why_not = str(away)
        return refuse
    completion = to_datetime(clock, promised_s)
    return PlantQuoteOut(plant=tenant.id, can_build=True, completion_date=completion, transport_h=transport_h,
                         delivery_date=completion + transport, detail=detail)


def _requested_at_plant(clock: PlantClock, requested_date: datetime | None, transport: timedelta,
                        now_s: int) -> int:
    """The date to ask a plant for: the date wanted at the region (5 days ahead by default; 422 when
    past or more than 2 years ahead) less the transport, but never before now."""
    at_region = requested_s(clock, requested_date, now_s)
    return max(now_s, at_region - int(transport.total_seconds()))


def _quotes(request: Request, user: TokenClaims, body: CloudOrderRequest,
            only: str | None = None) -> list[PlantQuoteOut]:
    """Every plant's quote (or plant `only`'s), earliest delivery first, those that cannot build last."""
    cloud = request.app.state.cloud
    if body.region not in cloud.regions:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, f"region: no plant delivers to "
                            f"{body.region!r} (regions: {', '.join(cloud.regions)})")
    tenants = [t for t in _tenants(request).values() if only in (None, t.id)]
    with ThreadPoolExecutor(len(tenants)) as pool:
        quotes = list(pool.map(lambda t: _quote_at(t, user, body), tenants))
    far = datetime.max.replace(tzinfo=None)
    return sorted(quotes, key=lambda q: (not q.can_build,
                                         q.delivery_date.replace(tzinfo=None) if q.delivery_date else far))


@router.post("/quote", response_model=CloudQuote, responses={422: {"model": ErrorOut}})
def quote(body: CloudOrderRequest, request: Request, user: UserDep) -> CloudQuote:
    """What every plant would promise for this configuration if ordered now, delivered at `region`
    (nothing is booked); `best` is the plant delivering first."""
    quotes = _quotes(request, user, body)
    best = quotes[0].plant if quotes and quotes[0].can_build else None
    return CloudQuote(region=body.region, best=best, quotes=quotes)


@router.post("/orders", response_model=CloudOrder, status_code=201,
             responses={403: {"model": ErrorOut}, 404: {"model": ErrorOut}, 409: {"model": ErrorOut},
                        422: {"model": ErrorOut}})
def place(body: CloudOrderRequest, request: Request, response: Response, session: AccountSessionDep,
          user: UserDep) -> CloudOrder:
    """Place the order at `plant` (default: the plant delivering first at the region): stored in that
    plant's order book, promised and sequenced by it before this answers. 404 for a plant the cloud
    does not have, 403 for one your account does not work at, 409 when the plant cannot build it."""
    tenants = _tenants(request)
    if body.plant != EARLIEST:
        if body.plant not in tenants:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no plant {body.plant!r} in this cloud")
        if not _sees(session, user, body.plant):
            raise HTTPException(status.HTTP_403_FORBIDDEN, f"{user.username} is a {user.role.value} "
                                f"of other plants, not of {body.plant}")
    quotes = _quotes(request, user, body, None if body.plant == EARLIEST else body.plant)
    allowed = [q for q in quotes if q.can_build and _sees(session, user, q.plant)]
    chosen = next((q for q in allowed if body.plant in (EARLIEST, q.plant)), None)
    if chosen is None:
        why = next((q.why_not for q in quotes if q.plant == body.plant), None) or "no plant of yours can"
        raise HTTPException(status.HTTP_409_CONFLICT, f"cannot place the order at {body.plant}: {why}")
    tenant = tenants[chosen.plant]
    state = tenant.app.state
    clock: PlantClock = state.clock
    transport = timedelta(hours=chosen.transport_h or 0.0)
    requested = _requested_at_plant(clock, body.requested_date, transport, clock.now_s())
    with state.sessions() as plant_session:
        out = place_order(state, plant_session, user.username, body.configuration, requested)
    if out.promised_date is None:  # the plant went away after quoting: stored, promised on its return
        response.status_code = status.HTTP_202_ACCEPTED
    delivery = None if out.promised_date is None else out.promised_date + transport
    return CloudOrder(plant=tenant.id, base=tenant.base, delivery_date=delivery, order=out)


@router.get("/orders", response_model=CloudOrders)
def my_orders(request: Request, session: AccountSessionDep, user: UserDep) -> CloudOrders:
    """Your orders at every plant, newest first (staff: every order of their plants), 200 per plant."""
    found: list[CloudOrder] = []
    for tenant in _tenants(request).values():
        if tenant.app is None or not _sees(session, user, tenant.id):
            continue
        customer = None if user.role in STAFF else user.username
        state = tenant.app.state
        with state.sessions() as plant_session:
            page = order_book.list_orders(plant_session, customer, 200, None)
        for order, price in page:
            found.append(CloudOrder(plant=tenant.id, base=tenant.base, delivery_date=None,
                                    order=order_out(state.clock, order, price)))
    found.sort(key=lambda o: o.order.placed_date, reverse=True)
    return CloudOrders(orders=found)

