"""User accounts of the web app: a name, a role, an argon2 password hash (never the password) and
whether an admin has disabled the account.

Roles grow in rights: a customer orders trucks and sees their own orders, a planner and an operator
watch and steer the plant, an admin manages accounts. A disabled account cannot log in, and the web app
refuses its tokens on the next request (`active_role`).

In a cloud of several plants (`mixflow serve --cloud`) the accounts live in the cloud's store, and a
planner's or operator's rights hold at the plants the account is given (`set_plants`, `plants_of`): a
planner plans one plant or several and sees nothing of the others. Customers order from every plant;
admins administer all of them. Queries go through SQLAlchemy's expression
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
from sqlalchemy import (
    Boolean,
    ColumnElement,
    DateTime,
    ForeignKey,
    Integer,
    String,
    delete,
    false,
    func,
    select,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column

from mixflow.errors import MixflowError, ValidationError
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


class UnknownAccountError(MixflowError):
    """No account has that id."""


class AccountConflictError(MixflowError):
    """The change would lock its author or the plant out: an admin disabling or demoting themselves, or
    the last enabled admin losing their rights."""


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
    disabled: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False, server_default=false())

    @property
    def role_enum(self) -> Role:
        return Role(self.role)


class AccountPlantRow(Base):
    """A plant a staff account works at, in a cloud of several plants."""

    __tablename__ = "web_account_plants"

    user_id: Mapped[int] = mapped_column(ForeignKey("web_users.id", ondelete="CASCADE"), primary_key=True)
    plant_id: Mapped[str] = mapped_column(String(40), primary_key=True)


SCOPED = frozenset({Role.PLANNER, Role.OPERATOR})
"""The roles whose rights hold only at the plants their account is given (in a cloud)."""


def plants_of(session: Session, user_id: int) -> frozenset[str]:
    """The plants the account is given (staff scope in a cloud; empty for an account given none)."""
    given = select(AccountPlantRow.plant_id).where(AccountPlantRow.user_id == user_id)
    return frozenset(session.scalars(given))


def set_plants(session: Session, user_id: int, plants: frozenset[str]) -> None:
    """Give the account exactly `plants`; the caller commits."""
    session.execute(delete(AccountPlantRow).where(AccountPlantRow.user_id == user_id))
    session.add_all(AccountPlantRow(user_id=user_id, plant_id=plant) for plant in sorted(plants))
    session.flush()


def works_at(session: Session, user_id: int, role: Role, plant_id: str) -> bool:
    """Whether an account of `role` has its rights at `plant_id`: customers and admins everywhere,
    planners and operators at the plants they are given."""
    if role not in SCOPED:
        return True
    found = session.scalar(select(AccountPlantRow.plant_id).where(
        AccountPlantRow.user_id == user_id, AccountPlantRow.plant_id == plant_id))
    return found is not None


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


def active_role(session: Session, user_id: int) -> Role | None:
    """The account's role now, or None if it is gone or disabled: one primary-key SELECT of two columns,
    made on every authenticated request so that a disabled account or a changed role counts at once."""
    found = session.execute(select(UserRow.role, UserRow.disabled).where(UserRow.id == user_id)).first()
    if found is None or found.disabled:
        return None
    return Role(found.role)


def _enabled_admin() -> tuple[ColumnElement[bool], ...]:
    return UserRow.role == Role.ADMIN.value, UserRow.disabled.is_(False)


def change_account(session: Session, user_id: int, *, by_id: int, role: Role | None = None,
                   disabled: bool | None = None) -> tuple[UserRow, dict[str, object]]:
    """Give the account `role` and/or disable or re-enable it, as the admin `by_id`; the caller commits
    (or rolls back on an error). Returns the row and what it was before (`role`, `disabled`).

    Refuses (`AccountConflictError`) an admin disabling or demoting their own account, and any change
    that would leave no enabled admin: on PostgreSQL the enabled admins are locked first, so two admins
    disabling each other at once are taken one after the other and the second is refused; SQLite takes
    writers one at a time anyway, and the count is made after the change, under its write lock."""
    row = session.get(UserRow, user_id, populate_existing=True)
    if row is None:
        raise UnknownAccountError(f"no account with id {user_id}")
    was: dict[str, object] = {"role": row.role, "disabled": row.disabled}
    if user_id == by_id and (disabled or (role is not None and role.value != row.role)):
        raise AccountConflictError("you cannot disable or demote your own account (another admin can): "
                                   "the plant must keep an admin")
    takes_admin = row.role == Role.ADMIN.value and not row.disabled and (
        bool(disabled) or (role is not None and role is not Role.ADMIN))
    if takes_admin:  # lock the enabled admins (PostgreSQL; a no-op on SQLite) and read the target again
        session.execute(select(UserRow.id).where(*_enabled_admin()).order_by(UserRow.id).with_for_update())
        session.refresh(row)
    if role is not None:
        row.role = Role(role).value
    if disabled is not None:
        row.disabled = disabled
    session.flush()
    if takes_admin and not session.scalar(select(func.count()).select_from(UserRow).where(*_enabled_admin())):
        raise AccountConflictError(f"{row.username} is the last enabled admin: the plant must keep one")
    return row, was


def authenticate(session: Session, username: str, password: str) -> UserRow | None:
    """The user when the password matches and the account is not disabled, else None (same work done
    either way, so a disabled account looks like a wrong password)."""
    row = find_user(session, username)
    try:
        _HASHER.verify(row.password_hash if row else _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        return None
    if row is None or row.disabled:
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
