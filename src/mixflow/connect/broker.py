"""Broker addresses: `mqtt://[user@]host[:port]` or `mqtts://...` for TLS, and the password beside them.

The password comes from MIXFLOW_BROKER_PASSWORD or a `--password-file` readable by its owner only,
never from the command line: argv is visible to every user in the process list. A password inside the
URL still works but is warned about once, and every log line shows the URL through `display()`, which
masks it. TLS is the URL scheme plus optional CA, client certificate and key files, the same for the
gateway, the devices and the benchmark.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import ssl
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, unquote, urlsplit

import aiomqtt

from mixflow.connect.credentials import read_secret_file
from mixflow.connect.wire import CONNACK_REASONS, MqttError, WireClient
from mixflow.errors import MixflowError, ValidationError

PASSWORD_ENV = "MIXFLOW_BROKER_PASSWORD"
log = logging.getLogger("mixflow.connect")
_warned: set[str] = set()
# how each client and the socket under it fail to connect (a refused port, an unknown host, TLS)
_CONNECT_FAILURES = (aiomqtt.MqttError, ConnectionError, socket.gaierror, ssl.SSLError, TimeoutError)


class BrokerRefusedError(MixflowError):
    """The broker could not be reached or would not let us in; one line naming it and why."""


@dataclass(frozen=True)
class Broker:
    host: str
    port: int
    tls: bool = False
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None

    def __post_init__(self) -> None:
        if not self.host:
            raise ValidationError("--broker", "host is empty")
        if not 0 < self.port < 65536:
            raise ValidationError("--broker", f"port must lie in 1..65535, got {self.port}")

    def url(self) -> str:
        """The address without the password: safe to log and to pass on a command line."""
        user = f"{quote(self.username, safe='')}@" if self.username else ""
        return f"{'mqtts' if self.tls else 'mqtt'}://{user}{self.host}:{self.port}"

    def display(self) -> str:
        """The address for logs and messages, the password (if any) shown as `***`."""
        if self.password is None:
            return self.url()
        scheme, rest = self.url().split("://", 1)
        user, at, address = rest.rpartition("@")
        return f"{scheme}://{user}:***{at}{address}" if at else f"{scheme}://:***@{address}"

    def ssl_context(self) -> ssl.SSLContext | None:
        """The TLS context for `mqtts://` (server verified against `ca_file` or the system store)."""
        if not self.tls:
            return None
        try:
            context = ssl.create_default_context(cafile=self.ca_file)
            if self.cert_file:
                context.load_cert_chain(self.cert_file, self.key_file)
        except (OSError, ssl.SSLError) as error:
            raise ValidationError("--tls-ca/--tls-cert/--tls-key", f"cannot load ({error})") from None
        return context

    def client(self, client_id: str, **options: Any) -> WireClient:
        """A connection to this broker as its user; `options` are `WireClient`'s (`tls` defaults to this
        broker's context: pass one made once when opening many)."""
        if "tls" not in options:
            options["tls"] = self.ssl_context()
        return WireClient(self.host, self.port, client_id, username=self.username, password=self.password,
                          **options)

    def with_credentials(self, username: str | None, password: str | None) -> Broker:
        return Broker(
            self.host, self.port, self.tls, username, password, self.ca_file, self.cert_file, self.key_file
        )


def parse_broker(
    url: str,
    ca_file: str | None = None,
    cert_file: str | None = None,
    key_file: str | None = None,
    password_file: str | None = None,
) -> Broker:
    """A Broker from `mqtt[s]://[user@]host[:port]` (default port 1883, or 8883 for `mqtts://`).

    The password is the URL's (warned about), else `password_file`'s (mode 0600 only), else
    MIXFLOW_BROKER_PASSWORD's when the URL names a user.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname:
        shown = url if not parts.password else url.replace(parts.password, "***")
        raise ValidationError("--broker", f"expected mqtt[s]://[user@]host[:port], got {shown!r}")
    tls = parts.scheme == "mqtts"
    try:
        port = parts.port or (8883 if tls else 1883)
    except ValueError as error:
        raise ValidationError("--broker", f"port: {error}") from None
    if (cert_file is None) != (key_file is None):
        raise ValidationError("--tls-cert", "a client certificate needs its key (--tls-cert with --tls-key)")
    if (ca_file or cert_file) and not tls:
        raise ValidationError("--tls-ca", "TLS files given but the broker URL is not mqtts://")
    username = unquote(parts.username) if parts.username else None
    password = unquote(parts.password) if parts.password else None
    if password is None and password_file is not None:
        password = read_secret_file(password_file, "--password-file")
    elif password is None and username is not None:
        password = os.environ.get(PASSWORD_ENV) or None
    broker = Broker(parts.hostname, port, tls, username, password, ca_file, cert_file, key_file)
    if parts.password and broker.display() not in _warned:
        _warned.add(broker.display())
        log.warning(
            "%s: a password in the broker URL is visible in the process list; set %s or use "
            "--password-file (mode 0600) instead",
            broker.display(),
            PASSWORD_ENV,
        )
    return broker


def _reason(error: BaseException) -> str:
    """What went wrong, in the broker's own words where it gave any."""
    code = getattr(error, "rc", None)
    if code is not None:
        value = getattr(code, "value", code)
        if isinstance(value, int) and value in CONNACK_REASONS:
            return f"refused the connection: {CONNACK_REASONS[value]}"
        if isinstance(value, int) and value in (4, 5):  # MQTT 3.1.1 CONNACK return codes
            return f"refused the connection: {('bad user name or password', 'not authorized')[value - 4]}"
        return f"refused the connection: {str(code).lower()}"
    text = str(error)
    known = next((reason for reason in CONNACK_REASONS.values() if reason in text), None)
    if known is not None:
        return f"refused the connection: {known}"
    if "CERTIFICATE_VERIFY_FAILED" in text or "certificate verify failed" in text:
        return "TLS handshake failed: the broker's certificate is not signed by the CA we trust (--tls-ca)"
    if isinstance(error, ssl.SSLError) or "SSL" in text:
        return f"TLS handshake failed ({text})"
    if "connection closed" in text:
        return "closed the connection before answering (TLS on one side only, or the wrong port?)"
    if isinstance(error, TimeoutError) or "timed out" in text.lower():
        return "did not answer in time (wrong port, or TLS on one side only?)"
    return f"cannot be reached ({text})"


@contextlib.contextmanager
def broker_errors(broker: Broker) -> Iterator[None]:
    """Turn any client's failure to connect (aiomqtt, the wire client, TLS, the socket) into one line
    naming the broker and the reason, so a command exits 2 at once instead of hanging or tracing back."""
    try:
        yield
    except (*_CONNECT_FAILURES, MqttError) as error:
        if isinstance(error, MqttError) and not _at_connect(error):
            raise  # a failure later in the session says what it is already
        raise BrokerRefusedError(f"broker {broker.host}:{broker.port} {_reason(error)}") from None


def _at_connect(error: MqttError) -> bool:
    text = str(error)
    before_connack = ("cannot connect", "connection closed", "no CONNACK")
    return any(reason in text for reason in (*CONNACK_REASONS.values(), *before_connack))
