"""`mixflow serve --cloud CLOUD.yaml`: several plants, one web app, one login.

Each plant of the cloud file is a tenant: its plant runs in a worker of its own (`plant_worker`: a
process this server starts and restarts, or one another API process started), its
orders, plan and audit trail live in a store of its own (`store.tenant_url`: a PostgreSQL schema or a
SQLite file per plant), and its API and pages are the single-plant app mounted at `/plants/<id>/`. The
cloud's own app at `/` holds what spans plants: the accounts (logging in once serves every plant; a
planner's rights hold at the plants their account is given), the multi-plant quote and order
(`api/cloud.py`), and the overview page. A plant that cannot start (its file fails validation, its
process dies at warm-up) is reported with its one-line error and left out; the others serve.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from functools import partial

from fastapi import FastAPI

from mixflow.api import auth, cloud, planner
from mixflow.api.app import CloudTenancy, create_app, install_error_handlers, serve_pages
from mixflow.api.plant_process import START_TIMEOUT_S
from mixflow.api.plant_worker import worker_key
from mixflow.api.remote_plant import RemotePlant
from mixflow.api.security import LoginGuard, LoginLimiter, StoredStrikes, TokenSigner, parse_networks
from mixflow.api.settings import Settings
from mixflow.api.worker_pool import WorkerPool
from mixflow.errors import MixflowError, ValidationError
from mixflow.model.cloud_file import CloudFile, CloudPlant
from mixflow.store import accounts, connect, tenant_url
from mixflow.store.plant_workers import WorkerAddress, locate

log = logging.getLogger("mixflow.api")

SIGNUPS_PER_MINUTE = 30
ATTACH_TIMEOUT_S = 60.0
"""How long an attached API process waits for a plant's worker, which should be running already."""


@dataclass
class Tenant:
    """One plant of the cloud as served: its entry in the cloud file and its app, or why it is not up."""

    entry: CloudPlant
    settings: Settings
    live: RemotePlant | None = None
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
        twin=entry.mqtt_url is None,
        twin_resume=entry.mqtt_url is None,
        mqtt_url=entry.mqtt_url,
        scale=entry.scale if entry.scale is not None else 1.0,
        seed=entry.seed,
        plant_file=None if entry.plant_file is None else str(entry.plant_file),
        catalogue_file=None if entry.catalogue_file is None else str(entry.catalogue_file),
    )


def start_tenants(cloud: CloudFile, base: Settings, workers: WorkerPool | None,
                  timeout_s: float | None = None) -> list[Tenant]:
    """Connect to every plant's worker: started here (`workers`, all at once so the warm-ups run side by
    side; waited for up to START_TIMEOUT_S) or, with `workers` None, already running for another API
    process (found in the store; waited for up to ATTACH_TIMEOUT_S). A plant whose file this process
    cannot read, or whose worker does not answer, is reported and left out."""
    if timeout_s is None:
        timeout_s = START_TIMEOUT_S if workers is not None else ATTACH_TIMEOUT_S
    _, cloud_sessions = connect(base.db_url)  # migrated before any worker registers in it
    key = worker_key(base.secret_key)

    def locator(plant_id: str) -> Callable[[], WorkerAddress | None]:
        def locate_now() -> WorkerAddress | None:
            with cloud_sessions() as session:
                return locate(session, plant_id)
        return locate_now

    tenants = [Tenant(entry, plant_settings(base, entry)) for entry in cloud.plants]
    remotes: dict[str, RemotePlant] = {}
    for tenant in tenants:
        try:
            plant = tenant.settings.plant()
        except MixflowError as refused:
            tenant.error = str(cloud.place(tenant.entry, "plant" if tenant.entry.plant_file else "scale",
                                           str(refused)))
            continue
        find = locator(tenant.id)
        before = find()
        newer_than = 0
        failed: Callable[[], str | None] = lambda: None  # noqa: E731
        if workers is not None:
            newer_than = before.generation if before is not None else 0
            workers.start(tenant.id)
            failed = partial(workers.failure, tenant.id)
        remotes[tenant.id] = RemotePlant(tenant.id, plant, find, key, newer_than, failed)
    for tenant in tenants:
        remote = remotes.get(tenant.id)
        if remote is None:
            continue
        try:
            tenant.live = remote.ready(timeout_s)
        except MixflowError as refused:
            remote.close()
            tenant.error = f"plant {tenant.id!r}: {refused}"
    for tenant in tenants:
        if tenant.error:
            log.error("%s", tenant.error)
    if all(t.error for t in tenants):
        raise ValidationError("--cloud", "no plant of the cloud could start: " +
                              "; ".join(t.error for t in tenants))
    return tenants


def create_cloud_app(cloud_file: CloudFile, settings: Settings, tenants: list[Tenant],
                     workers: WorkerPool | None = None) -> FastAPI:
    """The cloud's app over its store at `settings.db_url`, with each running tenant mounted; closing
    it hangs up on the plants and stops the `workers` this process started."""
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
        if workers is not None:
            workers.stop()
        engine.dispose()

    app = FastAPI(title="mixflow cloud", version="0.1.0", docs_url=None, redoc_url=None, lifespan=lifespan,
                  summary="Many plants, one cloud: quote an order at every plant, place it where it is best.")
    app.state.settings = settings
    app.state.sessions = sessions
    app.state.account_sessions = sessions
    app.state.plant_scope = None
    app.state.tokens = TokenSigner(settings.secret_key, settings.token_ttl_s)
    app.state.login_guard = LoginGuard(settings.login_attempts_per_minute, strikes=StoredStrikes(sessions))
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
