"""An app over a fresh SQLite file per test, and helpers to open accounts and log in."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from mixflow.api import Settings, create_app
from mixflow.store import accounts
from mixflow.store.accounts import Role

SECRET = "test-secret-key-not-for-production"
PASSWORD = "correct-horse"


def make_client(db_url: str, **settings: object) -> TestClient:
    app = create_app(Settings(db_url=db_url, secret_key=SECRET, twin=False, scale=0.1, **settings))  # type: ignore[arg-type]
    return TestClient(app)


@pytest.fixture
def new_client(tmp_path: Path) -> Callable[..., TestClient]:
    """`new_client(**settings)` -> a client of an app over a fresh SQLite file."""
    return lambda **settings: make_client(f"sqlite:///{tmp_path / 'other.db'}", **settings)


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    with make_client(f"sqlite:///{tmp_path / 'web.db'}") as c:
        yield c


def login_as(client: TestClient, username: str, role: Role, password: str = PASSWORD) -> dict[str, str]:
    """Create an account straight in the store and return the Authorization header of its token."""
    with client.app.state.sessions() as session:  # type: ignore[attr-defined]
        accounts.create_user(session, username, password, role)
        session.commit()
    token = client.post("/api/auth/login", json={"username": username, "password": password}).json()
    client.cookies.clear()  # the tests speak as API clients do: with the bearer token, not the page's cookie
    return {"Authorization": f"Bearer {token['access_token']}"}


@pytest.fixture
def add_user(client: TestClient) -> Callable[..., dict[str, str]]:
    """`add_user(name, role)` -> Authorization header of a new account of the test's app."""
    return lambda username, role, password="correct-horse": login_as(client, username, role, password)


@pytest.fixture
def cheapest_truck(client: TestClient) -> dict[str, str]:
    """The cheapest complete mixer, as the configurator completes it."""
    answer = client.post("/api/configurator/complete", json={"choices": {"family": "mixer"}})
    assert answer.status_code == 200, answer.text
    return answer.json()["configuration"]  # type: ignore[no-any-return]
