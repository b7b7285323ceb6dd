"""FastAPI dependencies: the database session, the plant clock and the current user with their role."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from mixflow.api.security import TokenClaims
from mixflow.store.accounts import Role

_bearer = HTTPBearer(auto_error=False, description="token from POST /api/auth/login")


def get_session(request: Request) -> Iterator[Session]:
    """One session per request, closed afterwards."""
    with request.app.state.sessions() as session:
        yield session


def optional_user(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> TokenClaims | None:
    if credentials is None:
        return None
    claims: TokenClaims | None = request.app.state.tokens.verify(credentials.credentials)
    if claims is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "token is invalid or has expired",
                            headers={"WWW-Authenticate": "Bearer"})
    return claims


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
UserDep = Annotated[TokenClaims, Depends(current_user)]
STAFF = (Role.PLANNER, Role.OPERATOR, Role.ADMIN)
StaffDep = Annotated[TokenClaims, Depends(require(*STAFF))]
AdminDep = Annotated[TokenClaims, Depends(require(Role.ADMIN))]
