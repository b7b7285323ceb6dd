"""Failed-login strikes in the store, shared by every API process that serves the same accounts.

Behind a load balancer, N API processes each throttling on their own would let a password guesser try N
times as often. Here a strike is one row per key (account and address, address, account, device): a
count of failures and the wall-clock time of the last (`api.security.Throttle` decides what they cost).
An attempt is checked and counted under a row lock (PostgreSQL `SELECT ... FOR UPDATE`; SQLite writes
one at a time), so guesses arriving at the same moment through different processes all count.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import Float, String, delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Mapped, Session, mapped_column

from mixflow.store.db import Base

IDLE_FORGOTTEN_S = 24 * 3600.0
"""Rows not struck for a day are deleted (every throttle's delay has decayed well before)."""


class LoginStrikeRow(Base):
    """Failed attempts under one throttle key."""

    __tablename__ = "web_login_strikes"

    key: Mapped[str] = mapped_column(String(320), primary_key=True)
    count: Mapped[float] = mapped_column(Float, nullable=False)
    last: Mapped[float] = mapped_column(Float, nullable=False, index=True)  # UNIX time of the last failure


Change = Callable[[dict[str, tuple[float, float]]], dict[str, tuple[float, float]]]
"""New (failures, time of the last) for some keys, from the current ones of those struck before."""


def strikes(session: Session, keys: list[str]) -> dict[str, tuple[float, float]]:
    """Key -> (failures, time of the last) for the keys struck before."""
    rows = session.execute(select(LoginStrikeRow.key, LoginStrikeRow.count, LoginStrikeRow.last)
                           .where(LoginStrikeRow.key.in_(keys)))
    return {key: (count, last) for key, count, last in rows}


def change(session: Session, keys: list[str], new: Change, now: float) -> None:
    """Lock the keys' rows (made where missing), write `new(current)` over them and commit: a check and
    its strike in one transaction, so failures arriving at once through several processes all count.
    Rows idle for a day go too."""
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    session.execute(insert(LoginStrikeRow).values([{"key": k, "count": 0.0, "last": now} for k in keys])
                    .on_conflict_do_nothing(index_elements=["key"]))
    rows = {row.key: row for row in session.scalars(select(LoginStrikeRow).where(LoginStrikeRow.key.in_(keys))
                                                     .order_by(LoginStrikeRow.key).with_for_update())}
    for key, (count, last) in new({k: (r.count, r.last) for k, r in rows.items() if r.count > 0}).items():
        rows[key].count, rows[key].last = count, last
    session.execute(delete(LoginStrikeRow).where(LoginStrikeRow.last < now - IDLE_FORGOTTEN_S))
    session.commit()


def forgive(session: Session, keys: list[str]) -> None:
    """Forget the keys' strikes (a successful login); commits."""
    session.execute(delete(LoginStrikeRow).where(LoginStrikeRow.key.in_(keys)))
    session.commit()
