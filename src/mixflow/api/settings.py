"""What the app is started with: the database, the secrets (from the environment only), the plant source."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field
from ipaddress import ip_network
from typing import TYPE_CHECKING

from mixflow.errors import ValidationError
from mixflow.store import DEFAULT_URL

if TYPE_CHECKING:
    from mixflow.connect.broker import Broker
    from mixflow.model import Catalogue, Plant

SECRET_ENV = "MIXFLOW_SECRET_KEY"
ADMIN_USER_ENV = "MIXFLOW_ADMIN_USER"
ADMIN_PASSWORD_ENV = "MIXFLOW_ADMIN_PASSWORD"
TRUSTED_PROXIES_ENV = "MIXFLOW_TRUSTED_PROXIES"


def _trusted_proxies_from_env() -> tuple[str, ...]:
    return tuple(part.strip() for part in os.environ.get(TRUSTED_PROXIES_ENV, "").split(",") if part.strip())


@dataclass(frozen=True)
class Settings:
    """Start-up settings of the web app.

    `secret_key` signs login tokens; taken from MIXFLOW_SECRET_KEY, or drawn at random per process (tokens
    then die with the process). An admin account is seeded from MIXFLOW_ADMIN_USER/MIXFLOW_ADMIN_PASSWORD
    when both are set. Secrets never live in the repository or on the command line.

    `trusted_proxies` (MIXFLOW_TRUSTED_PROXIES, comma-separated addresses or CIDRs; none by default) are
    the reverse proxies whose X-Forwarded-For / X-Forwarded-Proto headers are believed; from any other
    peer those headers are ignored, so a client cannot pick the address the login limits count it under.

    `mqtt_url` names the broker of a real plant; its user's password comes from MIXFLOW_BROKER_PASSWORD
    (`connect.broker.parse_broker`), so it is neither on the command line nor in this object's repr.

    The plant is `plant_file` (a mixflow-plant-v1 file) or else the reference plant at `scale` and
    `seed`; the catalogue is `catalogue_file` or else the reference truck catalogue.
    """

    db_url: str = DEFAULT_URL
    secret_key: str = field(default_factory=lambda: os.environ.get(SECRET_ENV) or secrets.token_urlsafe(32))
    token_ttl_s: int = 8 * 3600
    admin_user: str | None = field(default_factory=lambda: os.environ.get(ADMIN_USER_ENV))
    admin_password: str | None = field(default_factory=lambda: os.environ.get(ADMIN_PASSWORD_ENV), repr=False)
    login_attempts_per_minute: int = 5
    trusted_proxies: tuple[str, ...] = field(default_factory=_trusted_proxies_from_env)
    mqtt_url: str | None = field(default=None, repr=False)  # may hold a password (warned about)
    mqtt_ca_file: str | None = None  # the CA that signed an mqtts:// broker's certificate (else the system's)
    plant_id: str = "changsha"
    twin: bool = True
    scale: float = 1.0
    seed: int = 0
    twin_speed: float = 60.0
    plant_file: str | None = None
    catalogue_file: str | None = None
    twin_resume: bool = False  # the twin keeps checkpoints in its store and resumes from them (cloud workers)

    def broker(self) -> Broker:
        """The broker of a real plant, with its CA for mqtts:// and the password from the environment."""
        from mixflow.connect.broker import parse_broker  # the connect layer loads only for a real plant

        if self.mqtt_url is None:
            raise ValidationError("--mqtt", "no broker: the plant runs in the twin")
        return parse_broker(self.mqtt_url, ca_file=self.mqtt_ca_file)

    def __post_init__(self) -> None:
        if len(self.secret_key) < 16:
            raise ValidationError(SECRET_ENV, "needs at least 16 characters")
        if self.token_ttl_s <= 0:
            raise ValidationError("token_ttl_s", "must be positive")
        if self.login_attempts_per_minute <= 0:
            raise ValidationError("login_attempts_per_minute", "must be positive")
        for proxy in self.trusted_proxies:
            try:
                ip_network(proxy, strict=False)
            except ValueError as bad:
                raise ValidationError(TRUSTED_PROXIES_ENV, f"{proxy!r} is not an address or CIDR") from bad
        if not 0 < self.scale <= 2:
            raise ValidationError("scale", "must lie in (0, 2]")
        if self.twin_speed <= 0:
            raise ValidationError("twin_speed", "must be positive")

    def plant(self) -> Plant:
        """The plant served: the plant file, or the reference plant at `scale` and `seed`."""
        from mixflow.model.plant_file import load_plant
        from mixflow.reference import build_plant

        if self.plant_file is not None:
            return load_plant(self.plant_file)
        return build_plant(self.scale, self.seed)

    def catalogue(self) -> Catalogue:
        """The catalogue served: the catalogue file, or the reference truck catalogue."""
        from mixflow.configure.catalogue_file import load_catalogue
        from mixflow.reference import reference_catalogue

        if self.catalogue_file is not None:
            return load_catalogue(self.catalogue_file)
        return reference_catalogue()
