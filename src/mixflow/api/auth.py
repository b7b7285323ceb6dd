"""Accounts: log in (a bearer token, and the session cookie for the pages), log out, register as a
customer, and (admins) create staff accounts.

Logins are throttled by `LoginGuard` (progressive delays per account, address and device; a browser that
has logged in to the account before keeps its own allowance, so strangers cannot lock its owner out).
Registration answers the same whether or not the name was free, so it tells nobody which names exist.
"""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, HTTPException, Request, Response, status

from mixflow.api.deps import CSRF_COOKIE, SESSION_COOKIE, AccountSessionDep, AdminDep, UserDep
from mixflow.api.planner import checked_plants
from mixflow.api.schemas import Credentials, ErrorOut, NewUser, Registered, Token, UserOut
from mixflow.api.security import client_address, is_https
from mixflow.store import accounts
from mixflow.store.accounts import NameTakenError, Role

router = APIRouter(prefix="/api/auth", tags=["auth"])

DEVICE_COOKIE = "mixflow_device"
DEVICE_COOKIE_S = 365 * 24 * 3600
REGISTERED = "if the name was free, the account is open: log in with it; if not, choose another name"


def address_of(request: Request) -> str:
    """The client's address (X-Forwarded-For counts only from MIXFLOW_TRUSTED_PROXIES)."""
    peer = request.client.host if request.client else None
    return client_address(peer, request.headers, request.app.state.trusted_networks)


def _secure(request: Request) -> bool:
    peer = request.client.host if request.client else None
    return is_https(request.url.scheme, peer, request.headers, request.app.state.trusted_networks)


def _log_in(request: Request, response: Response, user: accounts.UserRow) -> Token:
    """A token for `user`, also set as the httpOnly session cookie with its CSRF token and a device cookie."""
    tokens = request.app.state.tokens
    token, expires = tokens.issue(user.id, user.username, user.role_enum)
    csrf = tokens.csrf_for(token)
    secure = _secure(request)
    max_age = tokens.ttl_s
    response.set_cookie(SESSION_COOKIE, token, max_age=max_age, path="/", secure=secure, httponly=True,
                        samesite="strict")
    response.set_cookie(CSRF_COOKIE, csrf, max_age=max_age, path="/", secure=secure, httponly=False,
                        samesite="strict")
    response.set_cookie(DEVICE_COOKIE, tokens.device_cookie(user.username), max_age=DEVICE_COOKIE_S,
                        path="/api/auth", secure=secure, httponly=True, samesite="strict")
    return Token(access_token=token, expires_at=datetime.fromtimestamp(expires, UTC), role=user.role_enum,
                 username=user.username, csrf_token=csrf)


@router.post("/login", response_model=Token, responses={401: {"model": ErrorOut}, 429: {"model": ErrorOut}})
def login(body: Credentials, request: Request, response: Response, session: AccountSessionDep) -> Token:
    """Exchange a user name and password for a bearer token and the pages' session cookie.

    Failed attempts slow further ones down (429 with Retry-After), per account and address, per address
    and per account, counted in the store so every API process over it throttles as one; a browser that
    logged in to the account before is limited on its own."""
    guard = request.app.state.login_guard
    address = address_of(request)
    device = request.app.state.tokens.device_of(request.cookies.get(DEVICE_COOKIE), body.username)
    wait = guard.attempt(body.username, address, device)  # counted now, given back if it succeeds
    if wait:
        raise HTTPException(status.HTTP_429_TOO_MANY_REQUESTS,
                            f"too many failed logins; retry in {wait} s", headers={"Retry-After": str(wait)})
    user = accounts.authenticate(session, body.username, body.password)
    if user is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "wrong user name or password")
    guard.succeeded(body.username, address, device)
    return _log_in(request, response, user)


@router.post("/logout", status_code=204)
def logout(request: Request, response: Response) -> None:
    """Forget the session cookie (the device cookie stays: this browser remains known to the account)."""
    secure = _secure(request)
    for name in (SESSION_COOKIE, CSRF_COOKIE):
        response.delete_cookie(name, path="/", secure=secure, httponly=name == SESSION_COOKIE,
                               samesite="strict")


@router.post("/register", response_model=Registered, status_code=202,
             responses={403: {"model": ErrorOut}, 422: {"model": ErrorOut}, 429: {"model": ErrorOut}})
def register(body: NewUser, request: Request, session: AccountSessionDep) -> Registered:
    """Open a customer account (staff accounts are created by an admin), then log in with it.

    The answer is the same, and takes as long, whether or not the name was free: a taken name shows
    only when logging in with it fails, which the login throttle counts."""
    if body.role is not Role.CUSTOMER:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "only customer accounts can be opened by yourself")
    if body.plants:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT,
                            "plants: a customer orders from every plant; give no plants")
    accounts.check_username(body.username)
    accounts.check_password(body.username, body.password)
    keys = [f"register:{address_of(request)}"]
    wait = request.app.state.signup_limiter.wait_s(keys)
    if wait:
        raise HTTPException(status.HTTP_429_TOO_MANY_REQUESTS, f"too many sign-ups; retry in {wait} s",
                            headers={"Retry-After": str(wait)})
    request.app.state.signup_limiter.record(keys)
    try:
        accounts.create_user(session, body.username, body.password, Role.CUSTOMER)  # hashes either way
        session.commit()
    except NameTakenError:
        pass
    return Registered(detail=REGISTERED)


@router.get("/me", response_model=UserOut)
def me(user: UserDep) -> UserOut:
    """Who the token or session cookie belongs to."""
    return UserOut(id=user.user_id, username=user.username, role=user.role)


@router.post("/users", response_model=UserOut, status_code=201, responses={403: {"model": ErrorOut}})
def create_user(body: NewUser, request: Request, session: AccountSessionDep, _admin: AdminDep) -> UserOut:
    """Create an account of any role (admins only); in a cloud, a planner or operator with its plants."""
    plants = checked_plants(request, body.role, body.plants)
    user = accounts.create_user(session, body.username, body.password, body.role)
    accounts.set_plants(session, user.id, plants)
    session.commit()
    return UserOut(id=user.id, username=user.username, role=user.role_enum)
