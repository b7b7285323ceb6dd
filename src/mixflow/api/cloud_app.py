"""`mixflow serve --cloud CLOUD.yaml`: several plants, one web app, one login.

Each plant of the cloud file is a tenant: its plant runs in a process of its own (`PlantProcess`), its
orders, plan and audit trail live in a store of its own (`store.tenant_url`: a PostgreSQL schema or a
SQLite file per plant), and its API and pages are the single-plant app mounted at `/plants/<id>/`. The
cloud's own app at `/` holds what spans plants: the accounts (logging in once serves every plant; a
planner's rights hold at the plants their account is given), the multi-plant quote and order
(`api/cloud.py`), and the overview page. A plant that cannot start (its file fails validation, its
process dies at warm-up) is reported with its one-line error and left out; the others serve.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace

from fastapi import FastAPI

from mixflow.api import auth, cloud, planner
from mixflow.api.app import CloudTenancy, create_app, install_error_handlers, serve_pages
from mixflow.api.live import LivePlant
from mixflow.api.security import LoginGuard, LoginLimiter, TokenSigner, parse_networks
from mixflow.api.settings import Settings
from mixflow.errors import MixflowError, ValidationError
from mixflow.model.cloud_file import CloudFile, CloudPlant
from mixflow.store import accounts, connect, tenant_url

log = logging.getLogger("mixflow.api")

SIGNUPS_PER_MINUTE = 30


@dataclass
class Tenant:
    """One plant of the cloud as served: its entry in the cloud file and its app, or why it is not up."""

    entry: CloudPlant
    settings: Settings
    live: LivePlant | None = None
    app: FastAPI | None = None
    error: str = ""

    @property
    def id(self) -> str:
        return self.entry.id

    @property
    def base(self) -> str:
        """Where the plant's API and pages are: `/plants/<id>`."""
        return f"/plants/{self.entry.id}"


def plant_settings(base: Settings, entry: CloudPlant) -> Settings:
    """The settings of one plant's app: the cloud's secrets and pace, the plant's sources and store."""
    return replace(
        base,
        db_url=tenant_url(base.db_url, entry.id),
        plant_id=entry.id,
        twin=True,
        mqtt_url=None,
        scale=entry.scale if entry.scale is not None else 1.0,
        seed=entry.seed,
        plant_file=None if entry.plant_file is None else str(entry.plant_file),
        catalogue_file=None if entry.catalogue_file is None else str(entry.catalogue_file),
    )


def start_tenants(cloud: CloudFile, base: Settings) -> list[Tenant]:
    """Start every plant's process at once, then wait for each: the warm-ups run side by side."""
    from mixflow.api.plant_process import PlantProcess

    tenants = [Tenant(entry, plant_settings(base, entry)) for entry in cloud.plants]
    starting: dict[str, PlantProcess] = {}
    for tenant in tenants:
        try:
            starting[tenant.id] = PlantProcess(tenant.settings)
        except MixflowError as refused:
            tenant.error = str(cloud.place(tenant.entry, "plant" if tenant.entry.plant_file else "scale",
                                           str(refused)))
    for tenant in tenants:
        process = starting.get(tenant.id)
        if process is None:
            continue
        try:
            tenant.live = process.ready()
        except MixflowError as refused:
            tenant.error = f"plant {tenant.id!r}: {refused}"
    for tenant in tenants:
        if tenant.error:
            log.error("%s", tenant.error)
    if all(t.error for t in tenants):
        raise ValidationError("--cloud", "no plant of the cloud could start: " +
                              "; ".join(t.error for t in tenants))
    return tenants


def create_cloud_app(cloud_file: CloudFile, settings: Settings, tenants: list[Tenant]) -> FastAPI:
    """The cloud's app over its store at `settings.db_url`, with each running tenant mounted."""
    engine, sessions = connect(settings.db_url)
    if settings.admin_user and settings.admin_password:
        with sessions() as session:
            accounts.ensure_user(session, settings.admin_user, settings.admin_password, accounts.Role.ADMIN)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        for tenant in tenants:  # mounted apps' own lifespans do not run: the cloud closes their plants
            if tenant.live is not None:
                tenant.live.close()
            if tenant.app is not None:
                tenant.app.state.engine.dispose()
        engine.dispose()

    app = FastAPI(title="mixflow cloud", version="0.1.0", docs_url=None, redoc_url=None, lifespan=lifespan,
                  summary="Many plants, one cloud: quote an order at every plant, place it where it is best.")
    app.state.settings = settings
    app.state.sessions = sessions
    app.state.account_sessions = sessions
    app.state.plant_scope = None
    app.state.tokens = TokenSigner(settings.secret_key, settings.token_ttl_s)
    app.state.login_guard = LoginGuard(settings.login_attempts_per_minute)
    app.state.trusted_networks = parse_networks(settings.trusted_proxies)
    app.state.signup_limiter = LoginLimiter(SIGNUPS_PER_MINUTE)
    app.state.cloud = cloud_file
    app.state.tenants = {t.id: t for t in tenants}
    app.state.plant_ids = frozenset(t.id for t in tenants)

    install_error_handlers(app)
    app.include_router(auth.router)
    app.include_router(planner.staff_router)
    app.include_router(cloud.router)
    for tenant in tenants:
        if tenant.live is None:
            continue
        tenant.app = create_app(tenant.settings, tenant.live, CloudTenancy(tenant.id, sessions))
        app.mount(tenant.base, tenant.app)
    serve_pages(app, "/static/cloud.html")
    return app
