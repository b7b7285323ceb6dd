"""Accounts: log in for a token, register as a customer, and (admins) create staff accounts."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, HTTPException, Request, status

from mixflow.api.deps import AdminDep, SessionDep, UserDep
from mixflow.api.schemas import Credentials, ErrorOut, NewUser, Token, UserOut
from mixflow.store import accounts
from mixflow.store.accounts import Role

router = APIRouter(prefix="/api/auth", tags=["auth"])


def _token(request: Request, user: accounts.UserRow) -> Token:
    token, expires = request.app.state.tokens.issue(user.id, user.username, user.role_enum)
    return Token(access_token=token, expires_at=datetime.fromtimestamp(expires, UTC), role=user.role_enum,
                 username=user.username)


@router.post("/login", response_model=Token, responses={401: {"model": ErrorOut}, 429: {"model": ErrorOut}})
def login(body: Credentials, request: Request, session: SessionDep) -> Token:
    """Exchange a user name and password for a bearer token; limited per address and per user name."""
    client = request.client.host if request.client else "unknown"
    keys = [f"ip:{client}", f"user:{body.username}"]
    wait = request.app.state.login_limiter.wait_s(keys)
    if wait:
        raise HTTPException(status.HTTP_429_TOO_MANY_REQUESTS, f"too many login attempts; retry in {wait} s",
                            headers={"Retry-After": str(wait)})
    user = accounts.authenticate(session, body.username, body.password)
    if user is None:
        request.app.state.login_limiter.record(keys)
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "wrong user name or password")
    return _token(request, user)


@router.post("/register", response_model=Token, status_code=201,
             responses={422: {"model": ErrorOut}, 429: {"model": ErrorOut}})
def register(body: NewUser, request: Request, session: SessionDep) -> Token:
    """Open a customer account (staff accounts are created by an admin) and log it in."""
    if body.role is not Role.CUSTOMER:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "only customer accounts can be opened by yourself")
    client = request.client.host if request.client else "unknown"
    keys = [f"register:{client}"]
    wait = request.app.state.signup_limiter.wait_s(keys)
    if wait:
        raise HTTPException(status.HTTP_429_TOO_MANY_REQUESTS, f"too many sign-ups; retry in {wait} s",
                            headers={"Retry-After": str(wait)})
    request.app.state.signup_limiter.record(keys)
    user = accounts.create_user(session, body.username, body.password, Role.CUSTOMER)
    session.commit()
    return _token(request, user)


@router.get("/me", response_model=UserOut)
def me(user: UserDep) -> UserOut:
    """Who the token belongs to."""
    return UserOut(id=user.user_id, username=user.username, role=user.role)


@router.post("/users", response_model=UserOut, status_code=201, responses={403: {"model": ErrorOut}})
def create_user(body: NewUser, session: SessionDep, _admin: AdminDep) -> UserOut:
    """Create an account of any role (admins only)."""
    user = accounts.create_user(session, body.username, body.password, body.role)
    session.commit()
    return UserOut(id=user.id, username=user.username, role=user.role_enum)
