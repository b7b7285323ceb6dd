"""Accounts: hashed passwords, signed tokens, roles, rate-limited login, secrets from the environment."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from mixflow.api import Settings
from mixflow.api.security import LoginLimiter, TokenSigner
from mixflow.errors import ValidationError
from mixflow.store.accounts import Role, UserRow


def test_register_login_and_me(client) -> None:  # type: ignore[no-untyped-def]
    opened = client.post("/api/auth/register", json={"username": "ana", "password": "long-enough"})
    assert opened.status_code == 202
    token = client.post("/api/auth/login", json={"username": "ana", "password": "long-enough"}).json()
    me = client.get("/api/auth/me", headers={"Authorization": f"Bearer {token['access_token']}"}).json()
    assert me["username"] == "ana" and me["role"] == "customer"


def test_password_is_stored_hashed(client) -> None:  # type: ignore[no-untyped-def]
    client.post("/api/auth/register", json={"username": "bob", "password": "plain-text-pw"})
    with client.app.state.sessions() as session:
        stored = session.scalars(select(UserRow).where(UserRow.username == "bob")).one().password_hash
    assert "plain-text-pw" not in stored and stored.startswith("$argon2")


def test_wrong_password_and_bad_tokens_are_refused(client, add_user) -> None:  # type: ignore[no-untyped-def]
    add_user("cyd", Role.CUSTOMER)
    assert client.post("/api/auth/login", json={"username": "cyd", "password": "nope"}).status_code == 401
    assert client.post("/api/auth/login", json={"username": "ghost", "password": "nope"}).status_code == 401
    assert client.get("/api/auth/me").status_code == 401
    assert client.get("/api/auth/me", headers={"Authorization": "Bearer forged.token"}).status_code == 401


def test_a_tampered_token_is_refused() -> None:
    signer = TokenSigner("k" * 32, ttl_s=60)
    token, _ = signer.issue(7, "dee", Role.CUSTOMER, now=1000.0)
    assert signer.verify(token, now=1001.0) is not None
    _payload, signature = token.split(".")
    forged = TokenSigner("other-key" * 4, ttl_s=60).issue(7, "dee", Role.ADMIN, now=1000.0)[0]
    assert signer.verify(forged.split(".")[0] + "." + signature, now=1001.0) is None
    assert signer.verify(token, now=2000.0) is None  # expired


def test_login_is_rate_limited_per_user(client, add_user) -> None:  # type: ignore[no-untyped-def]
    add_user("eve", Role.CUSTOMER)  # logged in as an API client: this client holds no device cookie
    for _ in range(5):
        guess = client.post("/api/auth/login", json={"username": "eve", "password": "guess"})
        assert guess.status_code == 401
    blocked = client.post("/api/auth/login", json={"username": "eve", "password": "correct-horse"})
    assert blocked.status_code == 429
    assert int(blocked.headers["Retry-After"]) >= 1


def test_limiter_window_slides() -> None:
    limiter = LoginLimiter(2)
    limiter.record(["k"], now=0.0)
    limiter.record(["k"], now=10.0)
    assert limiter.wait_s(["k"], now=20.0) == 40
    assert limiter.wait_s(["k"], now=61.0) == 0


def test_roles_gate_the_endpoints(client, add_user) -> None:  # type: ignore[no-untyped-def]
    customer = add_user("fay", Role.CUSTOMER)
    admin = add_user("root", Role.ADMIN)
    assert client.get("/api/plant/layout", headers=customer).status_code == 403
    new = {"username": "pam", "password": "planner-pw", "role": "planner"}
    assert client.post("/api/auth/users", json=new, headers=customer).status_code == 403
    assert client.post("/api/auth/users", json=new, headers=admin).status_code == 201
    planner = client.post("/api/auth/login", json={"username": "pam", "password": "planner-pw"}).json()
    layout = client.get("/api/plant/layout", headers={"Authorization": f"Bearer {planner['access_token']}"})
    assert layout.status_code == 200 and len(layout.json()["agv_ids"]) > 0
    # nobody opens a staff account by themselves
    assert client.post("/api/auth/register", json=new | {"username": "sneaky"}).status_code == 403


def test_secrets_come_from_the_environment(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("MIXFLOW_SECRET_KEY", "from-the-environment-1234")
    monkeypatch.setenv("MIXFLOW_ADMIN_PASSWORD", "admin-from-env")
    settings = Settings()
    assert settings.secret_key == "from-the-environment-1234"
    assert "admin-from-env" not in repr(settings)
    monkeypatch.setenv("MIXFLOW_SECRET_KEY", "short")
    with pytest.raises(ValidationError, match="MIXFLOW_SECRET_KEY"):
        Settings()


def test_admin_is_seeded_from_the_environment(new_client, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("MIXFLOW_ADMIN_USER", "boss")
    monkeypatch.setenv("MIXFLOW_ADMIN_PASSWORD", "big-chief-secret")
    with new_client() as client:
        token = client.post("/api/auth/login", json={"username": "boss", "password": "big-chief-secret"})
        assert token.status_code == 200 and token.json()["role"] == "admin"
