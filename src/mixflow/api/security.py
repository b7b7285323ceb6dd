"""Login tokens (HMAC-SHA256 signed, stateless) and the login rate limiter.

A token is `user_id.role.expires.signature` in URL-safe base64: checking one needs no database read,
which keeps every authenticated click cheap. Roles in the token are re-checked against the account on
the endpoints that change data.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import threading
import time
from collections import deque
from dataclasses import dataclass

from mixflow.store.accounts import Role


@dataclass(frozen=True)
class TokenClaims:
    """Who a valid token speaks for, and until when."""

    user_id: int
    username: str
    role: Role
    expires: int


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

    def verify(self, token: str, now: float | None = None) -> TokenClaims | None:
        """The claims of a genuine, unexpired token, else None."""
        payload, _, signature = token.partition(".")
        if not payload or not signature or not hmac.compare_digest(self._sign(payload), signature):
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
