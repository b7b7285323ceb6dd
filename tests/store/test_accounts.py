"""Disabling accounts and changing roles in the store, on SQLite and on the real PostgreSQL server: the
`disabled` column migrates, a disabled account cannot authenticate, and the plant never loses its last
enabled admin, even when two admins disable each other at the same moment."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
from sqlalchemy import inspect
from sqlalchemy.orm import Session, sessionmaker

from mixflow.store import accounts, connect
from mixflow.store.accounts import AccountConflictError, Role
from mixflow.store.db import scratch_database

PASSWORD = "correct-horse"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.services)])
def sessions(request: pytest.FixtureRequest) -> Iterator[sessionmaker[Session]]:
    server = None if request.param == "sqlite" else request.getfixturevalue("postgres_url")
    with scratch_database(server) as url:
        engine, factory = connect(url)
        assert "disabled" in {c["name"] for c in inspect(engine).get_columns("web_users")}
        yield factory
        engine.dispose()


def _users(sessions: sessionmaker[Session], *people: tuple[str, Role]) -> list[int]:
    with sessions() as session:
        ids = [accounts.create_user(session, name, PASSWORD, role).id for name, role in people]
        session.commit()
    return ids


def test_a_disabled_account_cannot_authenticate(sessions: sessionmaker[Session]) -> None:
    ada, pat = _users(sessions, ("ada", Role.ADMIN), ("pat", Role.PLANNER))
    with sessions() as session:
        assert accounts.active_role(session, pat) is Role.PLANNER
        row, was = accounts.change_account(session, pat, by_id=ada, disabled=True)
        session.commit()
        assert row.disabled and was == {"role": "planner", "disabled": False}
    with sessions() as session:
        assert accounts.active_role(session, pat) is None and accounts.active_role(session, 999) is None
        assert accounts.authenticate(session, "pat", PASSWORD) is None
        accounts.change_account(session, pat, by_id=ada, disabled=False, role=Role.OPERATOR)
        session.commit()
    with sessions() as session:
        assert accounts.active_role(session, pat) is Role.OPERATOR
        assert accounts.authenticate(session, "pat", PASSWORD) is not None


def test_the_last_enabled_admin_stays(sessions: sessionmaker[Session]) -> None:
    ada, bob = _users(sessions, ("ada", Role.ADMIN), ("bob", Role.ADMIN))
    with sessions() as session:
        with pytest.raises(AccountConflictError, match="your own account"):
            accounts.change_account(session, ada, by_id=ada, disabled=True)
        with pytest.raises(AccountConflictError, match="your own account"):
            accounts.change_account(session, ada, by_id=ada, role=Role.PLANNER)
        accounts.change_account(session, bob, by_id=ada, role=Role.PLANNER)
        session.commit()
    with sessions() as session:  # ada is the last admin: nobody (here, a stale token of bob's) removes her
        with pytest.raises(AccountConflictError, match="last enabled admin"):
            accounts.change_account(session, ada, by_id=bob, disabled=True)
        session.rollback()
        assert accounts.active_role(session, ada) is Role.ADMIN


def test_two_admins_disabling_each_other_at_once_leave_one(sessions: sessionmaker[Session]) -> None:
    ada, bob = _users(sessions, ("ada", Role.ADMIN), ("bob", Role.ADMIN))
    first = sessions()
    accounts.change_account(first, bob, by_id=ada, disabled=True)  # not committed yet: holds its locks
    outcome: list[str] = []

    def other() -> None:
        with sessions() as second:
            try:
                accounts.change_account(second, ada, by_id=bob, disabled=True)
                second.commit()
                outcome.append("done")
            except AccountConflictError as refused:
                second.rollback()
                outcome.append(str(refused))

    thread = threading.Thread(target=other)
    thread.start()
    time.sleep(0.5)  # let the second change wait on the first's locks
    first.commit()
    first.close()
    thread.join(timeout=30)
    assert outcome and "last enabled admin" in outcome[0]
    with sessions() as session:
        assert accounts.active_role(session, ada) is Role.ADMIN and accounts.active_role(session, bob) is None
