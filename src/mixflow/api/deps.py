"""FastAPI dependencies: the database session, the plant clock and the current user with their role.

A user is who a bearer token (API clients) or the session cookie (the pages) speaks for. A request that
changes something on the strength of the cookie must also carry the session's CSRF token in the
X-CSRF-Token header (signed double submit); bearer tokens need none, as no browser sends them by itself.

Tokens are stateless, so each request also reads the account (one primary-key SELECT,
`accounts.active_role`): the token of an account that is gone or disabled is refused at once, and the
user acts with the role the account has now, not the one it had when the token was issued.

In a cloud (`mixflow serve --cloud`) each plant is an app of its own over its own store, and the
accounts live in the cloud's store (`app.state.account_sessions`); a planner or operator of other plants
is refused here with 403 (and their plant stream closed), so no route of a plant has to remember to ask.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request, WebSocket, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from mixflow.api.security import TokenClaims, same
from mixflow.store import accounts
from mixflow.store.accounts import Role

_bearer = HTTPBearer(auto_error=False, description="token from POST /api/auth/login")
SESSION_COOKIE = "mixflow_session"
CSRF_COOKIE = "mixflow_csrf"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def get_session(request: Request) -> Iterator[Session]:
    """One session per request, closed afterwards."""
    with request.app.state.sessions() as session:
        yield session


def get_account_session(request: Request,
                        session: Annotated[Session, Depends(get_session)]) -> Iterator[Session]:
    """The session of the accounts' store: the request's own, unless the plant is one of a cloud."""
    if request.app.state.account_sessions is request.app.state.sessions:
        yield session
        return
    with request.app.state.account_sessions() as accounts_session:
        yield accounts_session


def standing(session: Session, claims: TokenClaims | None) -> TokenClaims | None:
    """`claims` with the account's current role, or None if the account is gone or disabled."""
    if claims is None:
        return None
    role = accounts.active_role(session, claims.user_id)
    if role is None:
        return None
    return claims if role is claims.role else replace(claims, role=role)


def works_here(app: Any, session: Session, claims: TokenClaims) -> bool:
    """Whether the user has their rights at this app's plant (always, outside a cloud)."""
    plant = app.state.plant_scope
    return plant is None or accounts.works_at(session, claims.user_id, claims.role, plant)


def admitted_here(app: Any, claims: TokenClaims) -> bool:
    """`works_here` in a session of its own (for the plant stream, which has no request session)."""
    if app.state.plant_scope is None:
        return True
    with app.state.account_sessions() as session:
        return works_here(app, session, claims)


def _not_here(app: Any, claims: TokenClaims) -> HTTPException:
    return HTTPException(status.HTTP_403_FORBIDDEN,
                         f"{claims.username} is a {claims.role.value} of other plants, not of "
                         f"{app.state.plant_scope}")


def optional_user(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    session: Annotated[Session, Depends(get_account_session)],
) -> TokenClaims | None:
    if credentials is None:
        cookie = request.cookies.get(SESSION_COOKIE)
        if not cookie:
            return None
        # an expired session, or one of a disabled account, is no session: public answers stay open to it
        claims = standing(session, request.app.state.tokens.verify(cookie))
        if claims is None:
            return None
        if request.method not in SAFE_METHODS and not same(
            request.app.state.tokens.csrf_for(cookie), request.headers.get(CSRF_HEADER, "")
        ):
            raise HTTPException(status.HTTP_403_FORBIDDEN,
                                f"missing or wrong {CSRF_HEADER} header (the {CSRF_COOKIE} cookie's value)")
    else:
        claims = standing(session, request.app.state.tokens.verify(credentials.credentials))
        if claims is None:
            raise HTTPException(status.HTTP_401_UNAUTHORIZED, "token is invalid or has expired",
                                headers={"WWW-Authenticate": "Bearer"})
    if not works_here(request.app, session, claims):
        raise _not_here(request.app, claims)
    return claims


def websocket_token(websocket: WebSocket) -> TokenClaims | None:
    """The claims of the token a websocket opens with, unchecked against the account: `?token=` (API
    clients) or the session cookie of a page of this very site (a cookie sent from another origin is
    ignored: no cross-site websocket hijacking)."""
    tokens = websocket.app.state.tokens
    token = websocket.query_params.get("token")
    if token:
        claims: TokenClaims | None = tokens.verify(token)
        return claims
    cookie = websocket.cookies.get(SESSION_COOKIE)
    origin = websocket.headers.get("origin")
    host = websocket.headers.get("host", "")
    if not cookie or (origin is not None and origin.partition("://")[2] != host):
        return None
    claims = tokens.verify(cookie)
    return claims


def recheck(app: Any, claims: TokenClaims | None) -> TokenClaims | None:
    """`claims` as the account stands now (None: gone or disabled), in a session of its own; the plant
    stream calls it on opening and again every second, so a disabled account's stream closes at once."""
    if claims is None:
        return None
    with app.state.account_sessions() as session:
        return standing(session, claims)


def websocket_user(websocket: WebSocket) -> TokenClaims | None:
    """Who opens a websocket (see `websocket_token`), as their account stands now."""
    return recheck(websocket.app, websocket_token(websocket))


def current_user(claims: Annotated[TokenClaims | None, Depends(optional_user)]) -> TokenClaims:
    if claims is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "log in first (POST /api/auth/login)",
                            headers={"WWW-Authenticate": "Bearer"})
    return claims


def require(*roles: Role) -> Callable[[TokenClaims], TokenClaims]:
    """A dependency admitting only users of `roles`."""

    def check(user: Annotated[TokenClaims, Depends(current_user)]) -> TokenClaims:
        if user.role not in roles:
            needed = " or ".join(r.value for r in roles)
            raise HTTPException(status.HTTP_403_FORBIDDEN,
                                f"needs the role {needed}, you are {user.role.value}")
        return user

    return check


SessionDep = Annotated[Session, Depends(get_session)]
AccountSessionDep = Annotated[Session, Depends(get_account_session)]
UserDep = Annotated[TokenClaims, Depends(current_user)]
STAFF = (Role.PLANNER, Role.OPERATOR, Role.ADMIN)
StaffDep = Annotated[TokenClaims, Depends(require(*STAFF))]
AdminDep = Annotated[TokenClaims, Depends(require(Role.ADMIN))]
