"""Login tokens (HMAC-SHA256 signed, stateless), device cookies and CSRF tokens, the client's address
behind trusted proxies, and the throttles on logins and sign-ups.

A token is `user_id.role.expires.signature` in URL-safe base64: its signature is checked without the
database; the dependencies then read the account once by primary key (`deps.standing`), so a disabled
account's tokens stop working at once and the account's current role, not the token's, counts.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import math
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from ipaddress import IPv4Network, IPv6Network, ip_address, ip_network

from sqlalchemy.orm import Session, sessionmaker

from mixflow.store import login_strikes
from mixflow.store.accounts import Role


@dataclass(frozen=True)
class TokenClaims:
    """Who a valid token speaks for, and until when."""

    user_id: int
    username: str
    role: Role
    expires: int


def same(expected: str, given: str) -> bool:
    """Constant-time equality that also takes any text a client sends (compare_digest refuses non-ASCII)."""
    return hmac.compare_digest(expected.encode(), given.encode("utf-8", "replace"))


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class TokenSigner:
    """Issues and checks tokens with one secret key."""

    def __init__(self, secret_key: str, ttl_s: int) -> None:
        self._key = hashlib.sha256(secret_key.encode()).digest()
        self.ttl_s = ttl_s

    def _sign(self, payload: str) -> str:
        return _b64(hmac.new(self._key, payload.encode(), hashlib.sha256).digest())

    def issue(self, user_id: int, username: str, role: Role, now: float | None = None) -> tuple[str, int]:
        expires = int(now if now is not None else time.time()) + self.ttl_s
        payload = _b64(f"{user_id}\n{username}\n{role.value}\n{expires}".encode())
        return f"{payload}.{self._sign(payload)}", expires

    def csrf_for(self, token: str) -> str:
        """The CSRF token bound to a session token (signed double submit: only the server can make it)."""
        return self._sign("csrf\n" + token)

    def device_cookie(self, username: str) -> str:
        """A signed cookie saying "this browser has logged in as `username`" (OWASP device cookies)."""
        payload = _b64(f"{username.lower()}\n{secrets.token_urlsafe(12)}".encode())
        return f"{payload}.{self._sign('device.' + payload)}"

    def device_of(self, cookie: str | None, username: str) -> str | None:
        """The device id of a genuine device cookie issued for `username`, else None."""
        payload, _, signature = (cookie or "").partition(".")
        if not payload or not same(self._sign("device." + payload), signature):
            return None
        try:
            name, device = _unb64(payload).decode().split("\n")
        except (ValueError, UnicodeDecodeError):
            return None
        return device if name == username.lower() else None

    def verify(self, token: str, now: float | None = None) -> TokenClaims | None:
        """The claims of a genuine, unexpired token, else None."""
        payload, _, signature = token.partition(".")
        if not payload or not signature or not same(self._sign(payload), signature):
            return None
        try:
            user_id, username, role, expires = _unb64(payload).decode().split("\n")
            claims = TokenClaims(int(user_id), username, Role(role), int(expires))
        except (ValueError, UnicodeDecodeError):
            return None
        if claims.expires < (now if now is not None else time.time()):
            return None
        return claims


class LoginLimiter:
    """At most `attempts` failed logins per minute per client address and per user name (sliding window).

    Only failures count, so a user who knows their password is never locked out by their own logins,
    while guessing is slowed to a handful of tries a minute.
    """

    WINDOW_S = 60.0

    def __init__(self, attempts: int) -> None:
        self.attempts = attempts
        self._seen: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def wait_s(self, keys: list[str], now: float | None = None) -> int:
        """Seconds to wait before another attempt under any of `keys` is allowed (0: go ahead)."""
        now = time.monotonic() if now is None else now
        wait = 0.0
        with self._lock:
            for key in keys:
                window = self._seen.get(key)
                if window is None:
                    continue
                while window and window[0] <= now - self.WINDOW_S:
                    window.popleft()
                if len(window) >= self.attempts:
                    wait = max(wait, window[0] + self.WINDOW_S - now)
        return 0 if wait <= 0 else max(1, int(wait + 0.999))

    def record(self, keys: list[str], now: float | None = None) -> None:
        """Count one failed (or, for sign-ups, any) attempt under every key."""
        now = time.monotonic() if now is None else now
        with self._lock:
            if len(self._seen) > 100_000:  # forget idle keys so a flood of names cannot grow memory
                self._seen = {k: v for k, v in self._seen.items() if v and v[-1] > now - self.WINDOW_S}
            for key in keys:
                self._seen.setdefault(key, deque()).append(now)


# -- the client's address, behind trusted proxies only ----------------------------------------------------
Network = IPv4Network | IPv6Network


def parse_networks(proxies: tuple[str, ...] | list[str]) -> tuple[Network, ...]:
    """The networks of MIXFLOW_TRUSTED_PROXIES (addresses or CIDRs, checked by `Settings`)."""
    return tuple(ip_network(p, strict=False) for p in proxies)


def _trusted(address: str, networks: tuple[Network, ...]) -> bool:
    try:
        ip = ip_address(address)
    except ValueError:
        return False
    return any(ip in net for net in networks)


def client_address(peer: str | None, headers: Mapping[str, str], networks: tuple[Network, ...]) -> str:
    """The address a request comes from: the TCP peer, unless the peer is a trusted proxy, in which case
    the right-most address of X-Forwarded-For that is not itself a trusted proxy (the left part of that
    header is whatever the client wrote, so it is never believed)."""
    address = peer or "unknown"
    if not networks or not _trusted(address, networks):
        return address
    hops = [h.strip() for h in headers.get("x-forwarded-for", "").split(",") if h.strip()]
    for hop in reversed(hops):
        if not _trusted(hop, networks):
            try:
                return str(ip_address(hop))
            except ValueError:
                return address  # a malformed hop from behind the proxy: count the proxy itself
        address = hop
    return address


def is_https(scheme: str, peer: str | None, headers: Mapping[str, str],
             networks: tuple[Network, ...]) -> bool:
    """Whether the client spoke https: directly, or to a trusted proxy that says so in X-Forwarded-Proto."""
    if scheme in ("https", "wss"):
        return True
    if peer is not None and networks and _trusted(peer, networks):
        return headers.get("x-forwarded-proto", "").split(",")[0].strip().lower() == "https"
    return False


# -- login throttling that cannot lock the owner out ------------------------------------------------------
@dataclass(frozen=True)
class Backoff:
    """How one kind of key slows down: `free` failures cost nothing, then each further attempt waits
    `base_s` doubled per failure up to `cap_s` after the last one; one failure is forgiven per full
    `decay_s` since the last."""

    free: float
    base_s: float
    cap_s: float
    decay_s: float


Change = Callable[[dict[str, tuple[float, float]]], dict[str, tuple[float, float]]]
"""New (failures, time of the last) for some keys, from the current ones of those struck before."""


class StoredStrikes:
    """Strikes in the accounts' store (`store.login_strikes`): every API process over it counts the same
    attempts, so N processes behind a load balancer slow a guesser down as one does."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def change(self, keys: list[str], new: Change, now: float) -> None:
        """Apply `new` to the keys' strikes, atomically: no other change of them runs in between."""
        with self._sessions() as session:
            login_strikes.change(session, keys, new, now)

    def forgive(self, keys: list[str]) -> None:
        with self._sessions() as session:
            login_strikes.forgive(session, keys)


class Throttle:
    """Progressive delay after failed attempts, per key (a leaky count of failures and its last time).

    An attempt is counted as it is let through, before its password is checked, and given back if it
    succeeds: checked first and counted after, a burst of guesses sent at once would all pass the check.
    Never a hard lockout: the delay is capped, so whoever waits it out may try again. The strikes live in
    the store (`StoredStrikes`, shared by API processes); `clock` (wall-clock seconds) is injectable so
    that tests can play hours of an attack in milliseconds.
    """

    def __init__(self, strikes: StoredStrikes, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self.strikes = strikes

    @staticmethod
    def _count(rule: Backoff, found: tuple[float, float] | None, now: float) -> tuple[float, float]:
        count, last = found if found is not None else (0.0, now)
        return max(0.0, count - math.floor((now - last) / rule.decay_s)), last

    def attempt(self, keys: list[tuple[str, Backoff]]) -> int:
        """Let one attempt under all of `keys` through and count it (0), or say how many whole seconds to
        wait first (nothing counted)."""
        now = self.clock()
        wait = 0

        def new(found: dict[str, tuple[float, float]]) -> dict[str, tuple[float, float]]:
            nonlocal wait
            longest = 0.0
            for key, rule in keys:
                count, last = self._count(rule, found.get(key), now)
                if count >= rule.free:
                    delay = min(rule.cap_s, rule.base_s * 2 ** (count - rule.free))
                    longest = max(longest, last + delay - now)
            if longest > 0:
                wait = max(1, math.ceil(longest))
                return {}
            return {key: (self._count(rule, found.get(key), now)[0] + 1.0, now) for key, rule in keys}

        self.strikes.change([key for key, _ in keys], new, now)
        return wait

    def give_back(self, keys: list[str]) -> None:
        """Take back the strike of an attempt that succeeded."""
        def new(found: dict[str, tuple[float, float]]) -> dict[str, tuple[float, float]]:
            return {key: (max(0.0, count - 1.0), last) for key, (count, last) in found.items()}

        self.strikes.change(keys, new, self.clock())

    def forgive(self, keys: list[str]) -> None:
        self.strikes.forgive(keys)


class LoginGuard:
    """Who may try a password now, following OWASP's device cookies with progressive delays.

    A device that has logged in to the account before shows a signed device cookie; its attempts are
    limited under that cookie alone, so strangers guessing the account's password from anywhere never
    slow its owner down. Every other attempt is limited per (account, address), per address (a spray over
    many names from one place) and per account (guesses from many places), each with a capped,
    decaying delay and no lockout.
    """

    def __init__(self, free_per_pair: int, strikes: StoredStrikes,
                 clock: Callable[[], float] = time.time) -> None:
        self.throttle = Throttle(strikes, clock)
        free = float(free_per_pair)
        self.pair = Backoff(free=free, base_s=1.0, cap_s=900.0, decay_s=300.0)
        self.address = Backoff(free=4 * free, base_s=1.0, cap_s=900.0, decay_s=120.0)
        self.account = Backoff(free=2 * free, base_s=1.0, cap_s=60.0, decay_s=60.0)
        self.device = Backoff(free=2 * free, base_s=1.0, cap_s=900.0, decay_s=300.0)

    def keys(self, username: str, address: str, device: str | None) -> list[tuple[str, Backoff]]:
        name = username.lower()
        if device is not None:
            return [(f"device:{device}", self.device)]
        return [(f"pair:{name}\n{address}", self.pair), (f"addr:{address}", self.address),
                (f"user:{name}", self.account)]

    def attempt(self, username: str, address: str, device: str | None) -> int:
        """0 and the attempt counted, or the seconds to wait before trying (see `Throttle.attempt`)."""
        return self.throttle.attempt(self.keys(username, address, device))

    def succeeded(self, username: str, address: str, device: str | None) -> None:
        """The account's and the device's strikes are forgiven; the address keeps its earlier ones (a
        spray over many names) but not this attempt's."""
        name = username.lower()
        self.throttle.forgive([f"pair:{name}\n{address}", f"user:{name}"]
                              + ([f"device:{device}"] if device else []))
        if device is None:
            self.throttle.give_back([f"addr:{address}"])
