"""Issue #28's security: forwarded headers from trusted proxies only, login throttling that strangers
cannot turn against an account's owner, the password policy, registration that reveals no names,
security headers, the session cookie with CSRF, bounded requested dates, websocket close codes, gzip."""

from __future__ import annotations

import statistics
import time
import warnings
from pathlib import Path

import pytest
from argon2 import PasswordHasher

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient
    from starlette.websockets import WebSocketDisconnect

from mixflow.api import Settings, create_app
from mixflow.api.security import client_address, parse_networks
from mixflow.store import accounts
from mixflow.store.accounts import Role

from .conftest import SECRET

OWNER_PASSWORD = "owner-knows-this-one"


class FakeClock:
    """Monotonic seconds that only move when the test says so."""

    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


def _app(tmp_path: Path, **settings: object):  # type: ignore[no-untyped-def]
    return create_app(Settings(db_url=f"sqlite:///{tmp_path / 'sec.db'}", secret_key=SECRET, twin=False,
                               scale=0.1, **settings))  # type: ignore[arg-type]


def _add(app, username: str, password: str = OWNER_PASSWORD, role: Role = Role.CUSTOMER) -> None:  # type: ignore[no-untyped-def]
    with app.state.sessions() as session:
        accounts.create_user(session, username, password, role)
        session.commit()


def _login(client: TestClient, username: str, password: str):  # type: ignore[no-untyped-def]
    return client.post("/api/auth/login", json={"username": username, "password": password})


# -- the client's address ---------------------------------------------------------------------------------
def test_forwarded_for_counts_only_from_trusted_proxies() -> None:
    proxies = parse_networks(["10.0.0.0/8"])
    spoofed = {"x-forwarded-for": "1.2.3.4"}
    assert client_address("127.0.0.1", spoofed, ()) == "127.0.0.1"  # default: no proxy is trusted
    assert client_address("192.0.2.9", spoofed, proxies) == "192.0.2.9"  # not a proxy: header ignored
    assert client_address("10.0.0.5", spoofed, proxies) == "1.2.3.4"
    # the client wrote the left part itself; the right-most untrusted hop is the one the proxy saw
    assert client_address("10.0.0.5", {"x-forwarded-for": "6.6.6.6, 203.0.113.7, 10.0.0.9"},
                          proxies) == "203.0.113.7"
    assert client_address("10.0.0.5", {"x-forwarded-for": "junk"}, proxies) == "10.0.0.5"


def test_a_spoofed_forwarded_for_does_not_dodge_the_limit(tmp_path: Path) -> None:
    app = _app(tmp_path)
    _add(app, "gus")
    with TestClient(app) as stranger:
        answers = [stranger.post("/api/auth/login", json={"username": "gus", "password": f"guess-{i}"},
                                 headers={"X-Forwarded-For": f"198.51.100.{i}"}).status_code
                   for i in range(8)]
    assert answers[:5] == [401] * 5 and set(answers[5:]) == {429}


def test_behind_a_trusted_proxy_each_client_has_its_own_allowance(tmp_path: Path) -> None:
    app = _app(tmp_path, trusted_proxies=("10.0.0.0/8",))
    _add(app, "hal")
    with TestClient(app, client=("10.1.2.3", 40000)) as proxy:
        for _ in range(5):
            assert proxy.post("/api/auth/login", json={"username": "hal", "password": "nope"},
                              headers={"X-Forwarded-For": "203.0.113.1"}).status_code == 401
        assert proxy.post("/api/auth/login", json={"username": "hal", "password": "nope"},
                          headers={"X-Forwarded-For": "203.0.113.1"}).status_code == 429
        other = proxy.post("/api/auth/login", json={"username": "hal", "password": OWNER_PASSWORD},
                           headers={"X-Forwarded-For": "203.0.113.2"})
        assert other.status_code == 200


# -- the password spray -----------------------------------------------------------------------------------
@pytest.fixture
def cheap_hashes(monkeypatch: pytest.MonkeyPatch) -> None:
    """Argon2 at its cheapest, so that a thousand verified guesses take milliseconds, not minutes."""
    hasher = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    monkeypatch.setattr(accounts, "_HASHER", hasher)
    monkeypatch.setattr(accounts, "_DUMMY_HASH", hasher.hash("mixflow-no-such-user"))


def test_a_password_spray_is_throttled_and_the_owner_still_logs_in(tmp_path: Path, cheap_hashes) -> None:  # type: ignore[no-untyped-def]
    """1,000 guesses against 50 names from one address, by an attacker who waits out every Retry-After
    on an injected clock: the guesses are slowed to well over a day, while the owner logs in at once from
    the browser they used before and, from a fresh browser elsewhere, after at most a minute."""
    app = _app(tmp_path)
    clock = FakeClock()
    app.state.login_guard.throttle.clock = clock
    names = [f"user{i:02d}" for i in range(50)]
    for name in names:
        _add(app, name)
    owner = names[7]
    with TestClient(app, client=("192.0.2.50", 50000)) as owners_browser:
        assert _login(owners_browser, owner, OWNER_PASSWORD).status_code == 200  # gets a device cookie
        owners_browser.post("/api/auth/logout")
    start = clock.now
    guesses = refused = 0
    with TestClient(app, client=("198.51.100.66", 50000)) as attacker:
        while guesses < 1000:
            answer = _login(attacker, names[guesses % len(names)], f"Spring{guesses}!")
            if answer.status_code == 429:
                refused += 1
                clock.now += int(answer.headers["Retry-After"])
                continue
            assert answer.status_code == 401
            guesses += 1
        elapsed_h = (clock.now - start) / 3600
        assert elapsed_h > 24, f"1,000 guesses took only {elapsed_h:.1f} h of waiting"
        assert refused > 500
        # the attacker is still being slowed down right now ...
        assert _login(attacker, names[0], "one-more-guess").status_code == 429
    # ... and the owner is not: from the browser they logged in with before, even from the attacker's address
    with TestClient(app, client=("198.51.100.66", 50001), cookies=owners_browser.cookies) as owner_again:
        assert _login(owner_again, owner, OWNER_PASSWORD).status_code == 200
    # from a browser never seen, at another address, the account's own delay is at most a minute
    with TestClient(app, client=("203.0.113.77", 50000)) as new_browser:
        answer = _login(new_browser, owner, OWNER_PASSWORD)
        if answer.status_code == 429:
            assert int(answer.headers["Retry-After"]) <= 60
            clock.now += int(answer.headers["Retry-After"])
            answer = _login(new_browser, owner, OWNER_PASSWORD)
        assert answer.status_code == 200


def test_a_fast_spray_is_mostly_refused_before_any_password_is_checked(tmp_path: Path, cheap_hashes) -> None:  # type: ignore[no-untyped-def]
    app = _app(tmp_path)
    app.state.login_guard.throttle.clock = FakeClock()  # no time passes during the spray
    names = [f"user{i:02d}" for i in range(50)]
    with TestClient(app) as attacker:
        codes = [_login(attacker, names[i % 50], f"guess-number-{i}").status_code for i in range(1000)]
    assert codes.count(401) <= 25 and codes.count(429) >= 975


def test_a_stolen_device_cookie_does_not_give_unlimited_guesses(tmp_path: Path) -> None:
    app = _app(tmp_path)
    app.state.login_guard.throttle.clock = FakeClock()
    _add(app, "ida")
    with TestClient(app) as browser:
        assert _login(browser, "ida", OWNER_PASSWORD).status_code == 200
        codes = [_login(browser, "ida", f"wrong-{i}").status_code for i in range(12)]
    assert codes[:10] == [401] * 10 and codes[10:] == [429, 429]


def _api_processes_share_the_throttle(db_url: str) -> None:
    """Two API processes (two apps) over one store: a guesser's failures through either count for both,
    also when they arrive at the same moment."""
    from concurrent.futures import ThreadPoolExecutor

    clock = FakeClock()  # no time passes during the guessing
    apps = [create_app(Settings(db_url=db_url, secret_key=SECRET, twin=False, scale=0.1)) for _ in range(2)]
    for app in apps:
        app.state.login_guard.throttle.clock = clock
    _add(apps[0], "joan")
    with TestClient(apps[0]) as first, TestClient(apps[1]) as second:
        with ThreadPoolExecutor(8) as pool:  # 16 guesses at once, half through each process
            codes = list(pool.map(lambda k: _login((first, second)[k % 2], "joan", f"wrong-{k}").status_code,
                                  range(16)))
        assert codes.count(401) <= 6, codes  # one throttle: 5 free (per name and address), not 5 each
        assert _login(second, "joan", "wrong-again").status_code == 429
        assert _login(first, "joan", OWNER_PASSWORD).status_code == 429  # the delay holds for the owner too
        clock.now += 3600
        assert _login(second, "joan", OWNER_PASSWORD).status_code == 200  # ... only until it runs out


def test_two_api_processes_throttle_a_guesser_as_one(tmp_path: Path, cheap_hashes) -> None:  # type: ignore[no-untyped-def]
    _api_processes_share_the_throttle(f"sqlite:///{tmp_path / 'shared.db'}")


@pytest.mark.services
def test_two_api_processes_throttle_a_guesser_as_one_on_postgresql(postgres_url: str, cheap_hashes) -> None:  # type: ignore[no-untyped-def]
    from mixflow.store import scratch_database

    with scratch_database(postgres_url) as url:  # an empty schema of its own, dropped after
        _api_processes_share_the_throttle(url)


# -- passwords and registration ---------------------------------------------------------------------------
@pytest.mark.parametrize(("password", "says"), [
    ("12345678", "at least 10 characters"),
    ("1234567890", "most common passwords"),
    ("Password123!", "most common passwords"),
    ("qwertyuiop", "most common passwords"),
    ("zzzzzzzzzzzz", "most common passwords"),
    ("mnopqrstuvw", "consecutive characters"),
    ("jane-doe-forever", "user name"),
])
def test_weak_passwords_are_refused_with_the_reason(client, password: str, says: str) -> None:  # type: ignore[no-untyped-def]
    answer = client.post("/api/auth/register", json={"username": "jane-doe", "password": password})
    assert answer.status_code == 422 and says in answer.json()["detail"], answer.text
    assert answer.json()["detail"].startswith("password")


def test_registration_does_not_tell_whether_a_name_exists(client) -> None:  # type: ignore[no-untyped-def]
    def register(name: str) -> tuple[int, str, float]:
        started = time.perf_counter()
        answer = client.post("/api/auth/register", json={"username": name, "password": "a-fine-long-secret"})
        return answer.status_code, answer.text, time.perf_counter() - started

    assert register("kim")[0] == 202
    taken = [register("kim") for _ in range(3)]
    free = [register(f"kim{i}") for i in range(3)]
    assert {(code, text) for code, text, _ in taken + free} == {taken[0][:2]}
    assert "set-cookie" not in client.post("/api/auth/register",
                                           json={"username": "kim", "password": "a-fine-long-secret"}).headers
    ratio = statistics.median(t for *_, t in taken) / statistics.median(t for *_, t in free)
    assert 0.33 < ratio < 3, f"a taken name answers {ratio:.2f} times as fast as a free one"


# -- headers, cookies, CSRF -------------------------------------------------------------------------------
def test_every_answer_carries_the_security_headers(client) -> None:  # type: ignore[no-untyped-def]
    for path in ("/static/login.html", "/static/planner.html", "/api/catalogue", "/openapi.json", "/nope"):
        headers = client.get(path).headers
        csp = headers["content-security-policy"]
        assert "frame-ancestors 'none'" in csp and "script-src 'self';" in csp, path
        assert headers["x-frame-options"] == "DENY"
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["referrer-policy"] == "same-origin"


def test_no_page_has_inline_script() -> None:
    static = Path(__file__).resolve().parents[2] / "src" / "mixflow" / "web" / "static"
    for page in static.glob("*.html"):
        text = page.read_text()
        assert text.count("<script") == text.count('<script type="module" src='), page.name
        assert " onclick=" not in text and " onload=" not in text, page.name


def test_the_session_cookie_is_httponly_strict_and_needs_the_csrf_header(client, cheapest_truck) -> None:  # type: ignore[no-untyped-def]
    _add(client.app, "lea")
    answer = _login(client, "lea", OWNER_PASSWORD)
    cookies = answer.headers.get_list("set-cookie")
    session = next(c for c in cookies if c.startswith("mixflow_session="))
    assert "HttpOnly" in session and "SameSite=strict" in session and "Secure" not in session  # http
    csrf = answer.json()["csrf_token"]
    assert client.cookies["mixflow_csrf"] == csrf
    assert client.get("/api/auth/me").json()["username"] == "lea"  # the cookie alone logs in a GET
    body = {"configuration": cheapest_truck}
    refused = client.post("/api/orders/quote", json=body)
    assert refused.status_code == 403 and "X-CSRF-Token" in refused.json()["detail"]
    assert client.post("/api/orders/quote", json=body, headers={"X-CSRF-Token": "forged"}).status_code == 403
    assert client.post("/api/orders/quote", json=body, headers={"X-CSRF-Token": csrf}).status_code == 200
    # a bearer token needs no CSRF header: no browser sends one by itself
    bearer = {"Authorization": f"Bearer {answer.json()['access_token']}"}
    client.cookies.clear()
    assert client.post("/api/orders/quote", json=body, headers=bearer).status_code == 200
    assert client.get("/api/auth/me").status_code == 401


def test_over_https_the_cookies_are_secure_and_logout_clears_them(tmp_path: Path) -> None:
    app = _app(tmp_path)
    _add(app, "max")
    with TestClient(app, base_url="https://testserver") as browser:
        answer = _login(browser, "max", OWNER_PASSWORD)
        assert all("Secure" in c for c in answer.headers.get_list("set-cookie"))
        assert "strict-transport-security" in answer.headers
        assert browser.get("/api/auth/me").status_code == 200
        assert browser.post("/api/auth/logout").status_code == 204
        assert browser.get("/api/auth/me").status_code == 401


# -- requested dates, the plant stream, gzip --------------------------------------------------------------
def test_requested_dates_are_bounded(client, add_user, cheapest_truck) -> None:  # type: ignore[no-untyped-def]
    customer = add_user("ned", Role.CUSTOMER)
    far = client.post("/api/orders", headers=customer,
                      json={"configuration": cheapest_truck, "requested_date": "9999-12-31T00:00:00Z"})
    assert far.status_code == 422 and "more than 2 years ahead" in far.json()["detail"]
    quote = client.post("/api/orders/quote", headers=customer,
                        json={"configuration": cheapest_truck, "requested_date": "9999-12-31"})
    assert quote.status_code == 422
    next_year = time.strftime("%Y-%m-%dT00:00:00Z", time.gmtime(time.time() + 365 * 86400))
    assert client.post("/api/orders", headers=customer,
                       json={"configuration": cheapest_truck, "requested_date": next_year}).status_code == 201


def _close_code(client: TestClient, url: str, **kwargs: object) -> int:
    with client.websocket_connect(url, **kwargs) as ws, pytest.raises(WebSocketDisconnect) as closed:  # type: ignore[arg-type]
        ws.receive_text()
    return closed.value.code


def test_the_plant_stream_accepts_then_closes_with_a_reason(client, add_user) -> None:  # type: ignore[no-untyped-def]
    assert _close_code(client, "/api/plant/stream") == 4401
    assert _close_code(client, "/api/plant/stream?token=forged") == 4401
    customer = add_user("ola", Role.CUSTOMER)["Authorization"].split()[1]
    assert _close_code(client, f"/api/plant/stream?token={customer}") == 4403
    planner = add_user("pip", Role.PLANNER)["Authorization"].split()[1]
    assert _close_code(client, f"/api/plant/stream?token={planner}") == 4503  # staff; no plant runs here
    # the page's way: the session cookie, from a page of this very site and no other
    _login(client, "pip", "correct-horse")
    assert _close_code(client, "/api/plant/stream", headers={"Origin": "http://testserver"}) == 4503
    assert _close_code(client, "/api/plant/stream", headers={"Origin": "https://evil.example"}) == 4401


def test_static_files_are_gzipped_and_plotly_waits_for_the_page(client) -> None:  # type: ignore[no-untyped-def]
    page = client.get("/static/planner.js", headers={"Accept-Encoding": "gzip"})
    assert page.headers["content-encoding"] == "gzip"
    plotly = client.get("/vendor/plotly.min.js", headers={"Accept-Encoding": "gzip, br"})
    assert plotly.headers["content-encoding"] == "gzip" and "max-age" in plotly.headers["cache-control"]
    assert len(plotly.content) > 1_000_000 and len(plotly.content) > 2 * int(plotly.headers["content-length"])
    assert "plotly.min.js" not in client.get("/static/planner.html").text  # loaded by planner.js later
    assert "content-encoding" not in client.get("/api/catalogue", headers={"Accept-Encoding": "gzip"}).headers
