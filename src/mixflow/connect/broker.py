"""Broker addresses: `mqtt://[user:password@]host[:port]` or `mqtts://...` for TLS.

TLS is configured by URL scheme plus optional CA, client certificate and key files, the same for
the gateway, the devices and the benchmark.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from mixflow.errors import ValidationError


@dataclass(frozen=True)
class Broker:
    host: str
    port: int
    tls: bool = False
    username: str | None = None
    password: str | None = None
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None

    def __post_init__(self) -> None:
        if not self.host:
            raise ValidationError("--broker", "host is empty")
        if not 0 < self.port < 65536:
            raise ValidationError("--broker", f"port must lie in 1..65535, got {self.port}")

    def ssl_context(self) -> ssl.SSLContext | None:
        """The TLS context for `mqtts://` (server verified against `ca_file` or the system store)."""
        if not self.tls:
            return None
        context = ssl.create_default_context(cafile=self.ca_file)
        if self.cert_file:
            context.load_cert_chain(self.cert_file, self.key_file)
        return context

    def with_credentials(self, username: str | None, password: str | None) -> Broker:
        return Broker(
            self.host, self.port, self.tls, username, password, self.ca_file, self.cert_file, self.key_file
        )


def parse_broker(
    url: str, ca_file: str | None = None, cert_file: str | None = None, key_file: str | None = None
) -> Broker:
    """A Broker from `mqtt://host:port` (default port 1883, or 8883 for `mqtts://`)."""
    parts = urlsplit(url)
    if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname:
        raise ValidationError("--broker", f"expected mqtt://host[:port] or mqtts://host[:port], got {url!r}")
    tls = parts.scheme == "mqtts"
    try:
        port = parts.port or (8883 if tls else 1883)
    except ValueError as error:
        raise ValidationError("--broker", f"{url!r}: {error}") from None
    username = unquote(parts.username) if parts.username else None
    password = unquote(parts.password) if parts.password else None
    return Broker(parts.hostname, port, tls, username, password, ca_file, cert_file, key_file)
