"""Admins manage staff accounts over the API: change a role, disable and re-enable an account. A disabled
account cannot log in (refused as a wrong password is) and its tokens and session cookie stop working on
the very next request; an admin cannot disable or demote themselves; every change, taken or refused, is
in the audit trail with who and when."""

from __future__ import annotations

import warnings
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient
    from starlette.websockets import WebSocketDisconnect

from mixflow.store import accounts
from mixflow.store.accounts import Role

from .conftest import PASSWORD, login_as


def _id(client: TestClient, admin: dict[str, str], username: str) -> int:
    listed = client.get("/api/staff/accounts", headers=admin).json()["accounts"]
    return next(a["id"] for a in listed if a["username"] == username)


def _change(client: TestClient, admin: dict[str, str], user_id: int, what: str, body: Any = None) -> Any:
    return client.post(f"/api/staff/accounts/{user_id}/{what}", headers=admin, json=body)


def _audit(client: TestClient, headers: dict[str, str]) -> list[dict[str, Any]]:
    return client.get("/api/planner/audit", headers=headers).json()["actions"]  # type: ignore[no-any-return]


def _login(client: TestClient, username: str, password: str = PASSWORD) -> Any:
    answer = client.post("/api/auth/login", json={"username": username, "password": password})
    return answer


def test_an_admin_changes_a_role_and_the_token_acts_in_it_at_once(client) -> None:  # type: ignore[no-untyped-def]
    admin = login_as(client, "ada", Role.ADMIN)
    pat = login_as(client, "pat", Role.PLANNER)
    pat_id = _id(client, admin, "pat")
    freeze = {"frozen_h": 1}
    assert client.post("/api/planner/freeze", headers=pat, json=freeze).status_code == 503  # admitted
    changed = _change(client, admin, pat_id, "role", {"role": "operator"})
    assert changed.status_code == 200, changed.text
    assert changed.json() == {"id": pat_id, "username": "pat", "role": "operator", "disabled": False,
                              "plants": []}
    # the same token, issued to a planner, now speaks for an operator
    assert client.get("/api/auth/me", headers=pat).json()["role"] == "operator"
    refused = client.post("/api/planner/freeze", headers=pat, json=freeze)
    assert refused.status_code == 403 and "you are operator" in refused.json()["detail"]
    # promoted to admin, the old token gets the admin's rights at once, too
    assert _change(client, admin, pat_id, "role", {"role": "admin"}).status_code == 200
    assert client.get("/api/staff/accounts", headers=pat).status_code == 200
    assert _change(client, admin, pat_id, "role", {"role": "customer"}).status_code == 422  # staff roles only
    done = [a for a in _audit(client, admin) if a["action"] == "staff_role"]
    assert [(a["username"], a["target"], a["detail"]["role"], a["detail"]["was"]["role"], a["outcome"])
            for a in done] == [("ada", "pat", "admin", "operator", "done"),
                               ("ada", "pat", "operator", "planner", "done")]
    assert all(abs(datetime.fromisoformat(a["at"]) - datetime.now(UTC)) < timedelta(minutes=1) for a in done)


def test_a_disabled_account_is_refused_at_once_and_can_be_enabled_again(client) -> None:  # type: ignore[no-untyped-def]
    admin = login_as(client, "ada", Role.ADMIN)
    sam = login_as(client, "sam", Role.OPERATOR)
    sam_id = _id(client, admin, "sam")
    # sam is also logged in on a page: the session cookie and its CSRF token
    page = TestClient(client.app)
    assert _login(page, "sam").status_code == 200
    assert page.get("/api/auth/me").json()["username"] == "sam"
    assert client.get("/api/plant/state", headers=sam).status_code == 503  # staff, admitted (no plant here)

    disabled = _change(client, admin, sam_id, "disable", {"reason": "left the plant"})
    assert disabled.status_code == 200, disabled.text
    assert disabled.json()["disabled"] is True
    # the token and the cookie stop working on the next request, not when they expire
    gone = client.get("/api/auth/me", headers=sam)
    assert gone.status_code == 401 and gone.json()["detail"] == "token is invalid or has expired"
    assert client.get("/api/plant/state", headers=sam).status_code == 401
    assert page.get("/api/auth/me").status_code == 401
    # the stream closes as for no login at all
    with pytest.raises(WebSocketDisconnect) as closed, \
            client.websocket_connect(f"/api/plant/stream?token={sam['Authorization'][7:]}") as ws:
        ws.receive_text()
    assert closed.value.code == 4401
    # logging in with the right password is refused exactly as a wrong password is
    right, wrong = _login(client, "sam"), _login(client, "sam", "not-the-password-1")
    assert (right.status_code, right.json()) == (wrong.status_code, wrong.json()) == (
        401, {"detail": "wrong user name or password"})
    staff = client.get("/api/staff/accounts", headers=admin).json()["accounts"]
    listed = {a["username"]: a["disabled"] for a in staff}
    assert listed == {"ada": False, "sam": True}

    enabled = _change(client, admin, sam_id, "enable")
    assert enabled.status_code == 200 and enabled.json()["disabled"] is False
    assert _login(client, "sam").status_code == 200
    assert client.get("/api/auth/me", headers=sam).json()["username"] == "sam"
    trail = [(a["action"], a["target"], a["username"], a["outcome"]) for a in _audit(client, admin)[:2]]
    assert trail == [("staff_enable", "sam", "ada", "done"), ("staff_disable", "sam", "ada", "done")]
    assert _audit(client, admin)[1]["detail"]["reason"] == "left the plant"


def test_an_admin_cannot_disable_or_demote_themselves(client) -> None:  # type: ignore[no-untyped-def]
    admin = login_as(client, "ada", Role.ADMIN)
    ada_id = _id(client, admin, "ada")
    for path, body in (("disable", {}), ("role", {"role": "planner"})):
        refused = client.post(f"/api/staff/accounts/{ada_id}/{path}", headers=admin, json=body)
        assert refused.status_code == 409 and "your own account" in refused.json()["detail"]
        last = _audit(client, admin)[0]
        assert (last["target"], last["username"], last["outcome"]) == ("ada", "ada", "refused")
        assert "your own account" in last["reason"]
    assert client.get("/api/auth/me", headers=admin).json()["role"] == "admin"
    # another admin may
    bob = login_as(client, "bob", Role.ADMIN)
    assert _change(client, bob, ada_id, "role", {"role": "planner"}).status_code == 200


def test_only_admins_manage_accounts_and_unknown_ones_are_404(client) -> None:  # type: ignore[no-untyped-def]
    admin = login_as(client, "ada", Role.ADMIN)
    planner = login_as(client, "pat", Role.PLANNER)
    login_as(client, "cathy", Role.CUSTOMER)
    pat_id = _id(client, admin, "pat")
    for path, body in (("disable", {}), ("enable", None), ("role", {"role": "admin"})):
        refused = client.post(f"/api/staff/accounts/{pat_id}/{path}", headers=planner, json=body)
        assert refused.status_code == 403, (path, refused.text)
        assert client.post(f"/api/staff/accounts/{pat_id}/{path}", json=body).status_code == 401
        unknown = client.post(f"/api/staff/accounts/9999/{path}", headers=admin, json=body)
        assert unknown.status_code == 404 and "no staff account with id 9999" in unknown.json()["detail"]
    assert client.post("/api/staff/accounts/0/disable", headers=admin).status_code == 422
    with client.app.state.sessions() as session:  # type: ignore[attr-defined]
        cathy = accounts.find_user(session, "cathy")
        assert cathy is not None
    assert client.post(f"/api/staff/accounts/{cathy.id}/disable", headers=admin).status_code == 404
    assert client.get("/api/auth/me", headers=planner).json()["role"] == "planner"  # nothing changed
    last = _audit(client, admin)[0]
    assert (last["action"], last["target"], last["outcome"]) == (
        "staff_disable", f"account {cathy.id}", "refused")
