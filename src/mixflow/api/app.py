"""Build the FastAPI app: routers, error mapping, static pages, and the services behind them."""

from __future__ import annotations

import gzip
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path

from fastapi import FastAPI, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from sqlalchemy.orm import Session, sessionmaker

from mixflow.api import auth, configurator, orders, plan, planner, plant, plant_files
from mixflow.api.clock import WallClock
from mixflow.api.configurator import ConfiguratorService
from mixflow.api.live import LivePlant, PlantUnavailable
from mixflow.api.middleware import GzipStatic, SecurityHeaders
from mixflow.api.plant import build_layout
from mixflow.api.security import LoginGuard, LoginLimiter, StoredStrikes, TokenSigner, parse_networks
from mixflow.api.settings import Settings
from mixflow.errors import InfeasibleError, MixflowError, UnknownNameError, ValidationError
from mixflow.store import accounts, connect

log = logging.getLogger("mixflow.api")

SIGNUPS_PER_MINUTE = 30


def _error(status_code: int, detail: str) -> JSONResponse:
    return JSONResponse({"detail": detail}, status_code=status_code)


def install_error_handlers(app: FastAPI) -> None:
    """Domain errors become 4xx with their one-line message; never a 500 for bad input."""

    @app.exception_handler(UnknownNameError)
    async def unknown_name(_request: Request, exc: UnknownNameError) -> JSONResponse:
        return _error(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc))

    @app.exception_handler(ValidationError)
    async def invalid(_request: Request, exc: ValidationError) -> JSONResponse:
        return _error(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc))

    @app.exception_handler(InfeasibleError)
    async def infeasible(_request: Request, exc: InfeasibleError) -> JSONResponse:
        return _error(status.HTTP_409_CONFLICT, str(exc))

    @app.exception_handler(PlantUnavailable)
    async def unavailable(_request: Request, exc: PlantUnavailable) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=status.HTTP_503_SERVICE_UNAVAILABLE,
                            headers={"Retry-After": "5"})

    @app.exception_handler(MixflowError)
    async def other(_request: Request, exc: MixflowError) -> JSONResponse:
        return _error(status.HTTP_400_BAD_REQUEST, str(exc))

    @app.exception_handler(RequestValidationError)
    async def malformed(_request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = []
        for error in exc.errors()[:5]:
            where = ".".join(str(p) for p in error.get("loc", ()) if p != "body") or "request"
            problems.append(f"{where}: {error.get('msg', 'invalid')}")
        return _error(status.HTTP_422_UNPROCESSABLE_CONTENT, "; ".join(problems) or "invalid request")


def static_dir() -> Path:
    return Path(str(resources.files("mixflow.web") / "static"))


def create_app(settings: Settings | None = None, live: LivePlant | None = None,
               cloud: CloudTenancy | None = None) -> FastAPI:
    """The web app over the store at `settings.db_url`; `live` is the running plant, if any.

    As one plant of a cloud (`cloud` given), the app keeps its orders and plan in its own store but
    checks users against the cloud's accounts, admits staff only of this plant, and leaves logging in
    and account administration to the cloud's app (one login throttle for all plants)."""
    settings = settings or Settings()
    engine, sessions = connect(settings.db_url)
    if cloud is None and settings.admin_user and settings.admin_password:
        with sessions() as session:
            accounts.ensure_user(session, settings.admin_user, settings.admin_password, accounts.Role.ADMIN)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        if live is not None:
            live.close()
        engine.dispose()

    app = FastAPI(
        title="mixflow",
        version="0.1.0",
        summary="Configure and order products, watch and steer the plant that builds them.",
        # FastAPI's /docs and /redoc pages load their scripts from a CDN; everything here works offline,
        # so the API is documented by its OpenAPI document at /openapi.json alone.
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.sessions = sessions
    app.state.engine = engine
    app.state.account_sessions = sessions if cloud is None else cloud.account_sessions
    app.state.plant_scope = None if cloud is None else cloud.plant_id
    app.state.tokens = TokenSigner(settings.secret_key, settings.token_ttl_s)
    app.state.login_guard = LoginGuard(settings.login_attempts_per_minute,
                                       strikes=StoredStrikes(app.state.account_sessions))
    app.state.trusted_networks = parse_networks(settings.trusted_proxies)
    app.state.signup_limiter = LoginLimiter(SIGNUPS_PER_MINUTE)
    plant_model = live.plant if live is not None else settings.plant()
    app.state.configurator = ConfiguratorService(settings.catalogue(), plant_model.name)
    app.state.live = live
    app.state.clock = live if live is not None else WallClock()
    if live is not None:
        live.attach(sessions)
    else:
        log.warning("no live plant: orders are stored without a delivery promise")
    app.state.layout = build_layout(plant_model)

    install_error_handlers(app)
    for module in (configurator, orders, plant, plan, planner, plant_files):
        app.include_router(module.router)
    if cloud is None:
        app.include_router(auth.router)
        app.include_router(planner.staff_router)
    serve_pages(app, "/static/configurator.html")
    return app


@dataclass(frozen=True)
class CloudTenancy:
    """What a plant's app shares with the cloud it belongs to: the accounts' store, and its own id."""

    plant_id: str
    account_sessions: sessionmaker[Session]


def serve_pages(app: FastAPI, home_page: str) -> None:
    """The static pages, plotly.js from the installed package, the security headers, and `/` -> home."""
    app.mount("/static", StaticFiles(directory=static_dir()), name="static")
    app.add_middleware(GzipStatic)
    app.add_middleware(SecurityHeaders)

    plotly_js = Path(str(resources.files("plotly") / "package_data" / "plotly.min.js"))

    @cache
    def plotly_gzipped() -> bytes:
        return gzip.compress(plotly_js.read_bytes(), compresslevel=6, mtime=0)

    @app.get("/vendor/plotly.min.js", include_in_schema=False)
    def plotly_bundle(request: Request) -> Response:
        """plotly.js from the installed plotly package: the planner's charts work offline, with no CDN.
        Compressed once (4.9 MB -> 1.4 MB) and cached by the browser for a day."""
        caching = {"Cache-Control": "public, max-age=86400", "Vary": "Accept-Encoding"}
        if "gzip" in request.headers.get("accept-encoding", ""):
            return Response(plotly_gzipped(), media_type="text/javascript",
                            headers={**caching, "Content-Encoding": "gzip"})
        return FileResponse(plotly_js, media_type="text/javascript", headers=caching)

    @app.get("/", include_in_schema=False)
    def home(request: Request) -> RedirectResponse:
        return RedirectResponse(request.scope.get("root_path", "") + home_page)
