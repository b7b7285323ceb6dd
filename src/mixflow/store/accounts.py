"""User accounts of the web app: a name, a role and an argon2 password hash (never the password).

Roles grow in rights: a customer orders trucks and sees their own orders, a planner and an operator
watch and steer the plant, an admin manages accounts. Queries go through SQLAlchemy's expression
language only, so no SQL is ever built from strings.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from functools import cache
from importlib import resources
from itertools import pairwise

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import DateTime, Integer, String, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column

from mixflow.errors import ValidationError
from mixflow.store.db import Base

# Argon2id with OWASP's recommended minimum (19 MiB, 2 passes, 1 lane): ~0.1 s a hash on a loaded
# 2-core machine, where argon2-cffi's 64 MiB default takes ~0.5 s and lets a burst of logins stall the
# server. Hashes made with other parameters still verify and are upgraded on the next login.
_HASHER = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)
# A real hash to verify against when the user does not exist, so a login takes as long for an unknown
# name as for a wrong password (no user enumeration by timing).
_DUMMY_HASH = _HASHER.hash("mixflow-no-such-user")
MIN_PASSWORD_LENGTH = 10


class NameTakenError(ValidationError):
    """The user name belongs to another account."""


class Role(StrEnum):
    """What a user may do; see the module docstring."""

    CUSTOMER = "customer"
    PLANNER = "planner"
    OPERATOR = "operator"
    ADMIN = "admin"


class UserRow(Base):
    """One account."""

    __tablename__ = "web_users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    password_hash: Mapped[str] = mapped_column(String(256), nullable=False)
    role: Mapped[str] = mapped_column(String(16), nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)

    @property
    def role_enum(self) -> Role:
        return Role(self.role)


def check_username(username: str) -> None:
    if not 3 <= len(username) <= 64 or not all(c.isalnum() or c in "._-@" for c in username):
        raise ValidationError("username", "use 3 to 64 letters, digits or . _ - @")


@cache
def common_passwords() -> frozenset[str]:
    """The leaked and guessable passwords shipped with the package (`scripts/common_passwords.py`)."""
    text = (resources.files("mixflow.store") / "common_passwords.txt").read_text(encoding="utf-8")
    return frozenset(line for line in text.splitlines() if line)


def _is_run(text: str) -> bool:
    """One character repeated, or a run of consecutive characters up or down (aaaaaaaaaa, 3456789012)."""
    steps = {(ord(b) - ord(a)) % 10 if a.isdigit() and b.isdigit() else ord(b) - ord(a)
             for a, b in pairwise(text)}
    return len(steps) == 1 and steps <= {0, 1, -1, 9}


def check_password(username: str, password: str) -> None:
    """Refuse a password that is short, well known, a run of keys, or built on the user name (422)."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValidationError("password", f"needs at least {MIN_PASSWORD_LENGTH} characters")
    folded = password.lower()
    if folded in common_passwords() or folded.rstrip("0123456789!@#$%^&*.?-_ ") in common_passwords():
        raise ValidationError("password", "is one of the most common passwords; choose one that is not")
    if _is_run(folded):
        raise ValidationError("password", "is a run of one repeated or consecutive characters")
    if username and len(username) >= 3 and username.lower() in folded:
        raise ValidationError("password", "must not contain the user name")


def create_user(session: Session, username: str, password: str, role: Role) -> UserRow:
    """Add an account; the caller commits. Refuses a taken name or a weak password (`check_password`)."""
    check_username(username)
    check_password(username, password)
    row = UserRow(
        username=username,
        password_hash=_HASHER.hash(password),
        role=Role(role).value,
        created_at=datetime.now(UTC),
    )
    session.add(row)
    try:
        session.flush()
    except IntegrityError as taken:
        session.rollback()
        raise NameTakenError("username", f"{username!r} is already taken") from taken
    return row


def find_user(session: Session, username: str) -> UserRow | None:
    return session.scalars(select(UserRow).where(UserRow.username == username)).first()


def get_user(session: Session, user_id: int) -> UserRow | None:
    return session.get(UserRow, user_id)


def authenticate(session: Session, username: str, password: str) -> UserRow | None:
    """The user when the password matches, else None (same work done either way)."""
    row = find_user(session, username)
    try:
        _HASHER.verify(row.password_hash if row else _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        return None
    if row is None:
        return None
    if _HASHER.check_needs_rehash(row.password_hash):
        row.password_hash = _HASHER.hash(password)
        session.commit()
    return row


def ensure_user(session: Session, username: str, password: str, role: Role) -> UserRow:
    """Create the account unless it exists (used to seed the admin from the environment)."""
    row = find_user(session, username)
    if row is None:
        row = create_user(session, username, password, role)
        session.commit()
    return row
