"""`mixflow serve`: the API and the web pages, over a plant (the reference one, or `--plant FILE` with
`--catalogue FILE`) run live in the twin or behind a broker."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from mixflow.cli.options import CATALOGUE, PLANT, check_sources, source_paths
from mixflow.errors import ValidationError

if TYPE_CHECKING:
    from mixflow.api import Settings

DEFAULT_SCALE = 1.0


def serve(
    db: Annotated[str, typer.Option("--db", envvar="MIXFLOW_DB", help="database URL: sqlite:///file.db or "
                                    "postgresql://... (or $MIXFLOW_DB, to keep a password off the command "
                                    "line)")] = (
        "sqlite:///mixflow.db"
    ),
    mqtt: Annotated[str | None, typer.Option("--mqtt", help="broker of a real plant: mqtt[s]://[user@]host"
                                             "[:port], the password from $MIXFLOW_BROKER_PASSWORD")] = None,
    mqtt_ca: Annotated[Path | None, typer.Option("--mqtt-ca", help="CA file of an mqtts:// broker")] = None,
    twin: Annotated[bool | None, typer.Option("--twin/--no-twin", help="run the plant in the twin "
                                               "(the default without --mqtt)")] = None,
    port: Annotated[int, typer.Option("--port", help="TCP port to listen on")] = 8000,
    plant_id: Annotated[str, typer.Option("--plant-id", help="plant id of the devices on the broker")] = (
        "changsha"
    ),
    host: Annotated[str, typer.Option("--host", help="address to listen on")] = "127.0.0.1",
    scale: Annotated[float, typer.Option("--scale", help="reference plant scale (1.0: 720 AGVs)")] = (
        DEFAULT_SCALE
    ),
    seed: Annotated[int, typer.Option("--seed", help="seed of the twin")] = 0,
    plant: Path | None = PLANT,
    catalogue: Path | None = CATALOGUE,
    speed: Annotated[float, typer.Option("--speed", help="twin seconds per wall second")] = 60.0,
    cloud: Annotated[Path | None, typer.Option("--cloud", help="a cloud file (mixflow-cloud-v1): serve "
                                               "each of its plants at /plants/<id>, with one login")] = None,
    attach: Annotated[bool, typer.Option("--attach", help="with --cloud: start no plant workers, serve "
                                         "those another `serve --cloud` started (found in --db)")] = False,
    ray: Annotated[str | None, typer.Option("--ray", help="with --cloud: the plant workers as Ray actors, on "
                                            "a Ray started here (local) or a cluster (auto, HOST:PORT, "
                                            "ray://HOST:10001)")] = None,
) -> None:
    """Serve the API (OpenAPI at /openapi.json) and the pages (configurator, orders, plant, planner).

    Secrets come from the environment: MIXFLOW_SECRET_KEY signs tokens, MIXFLOW_ADMIN_USER and
    MIXFLOW_ADMIN_PASSWORD seed an admin account, MIXFLOW_BROKER_PASSWORD is the --mqtt user's password.
    """
    from mixflow.api import Settings, create_app
    from mixflow.api.runner import start_live_plant

    if not 0 < port < 65536:
        raise ValidationError("--port", f"{port} is not a TCP port")
    if cloud is not None:
        given = [name for name, value in (("--mqtt", mqtt), ("--plant", plant), ("--catalogue", catalogue))
                 if value is not None]
        if given:
            raise ValidationError("--cloud", f"the cloud file names each plant's sources: drop "
                                  f"{', '.join(given)}")
        if attach and ray is not None:
            raise ValidationError("--attach", "starts no workers: drop --ray")
        _serve_cloud(cloud, Settings(db_url=db, twin_speed=speed), host, port, attach, ray)
        return
    if attach or ray is not None:
        raise ValidationError("--attach" if attach else "--ray", "only with --cloud")
    run_twin = twin if twin is not None else mqtt is None
    check_sources(plant, catalogue, scale, seed, DEFAULT_SCALE)
    plant_path, catalogue_path = source_paths(plant, catalogue)
    settings = Settings(db_url=db, mqtt_url=mqtt, mqtt_ca_file=None if mqtt_ca is None else str(mqtt_ca),
                        twin=run_twin, scale=scale, seed=seed, twin_speed=speed,
                        plant_id=plant_id, plant_file=plant_path, catalogue_file=catalogue_path)
    if mqtt is not None and run_twin:
        raise ValidationError("--mqtt", "a plant is either real (--mqtt) or the twin (--twin), not both")
    if mqtt is not None:  # checked (and a password in it warned about) before the plant process starts
        typer.echo(f"mixflow: the plant behind {settings.broker().display()}", err=True)
    live = start_live_plant(settings)
    app = create_app(settings, live)
    typer.echo(f"mixflow: serving on http://{host}:{port}/ (OpenAPI document at /openapi.json)", err=True)
    _run(app, host, port)


def _serve_cloud(file: Path, settings: Settings, host: str, port: int, attach: bool, ray: str | None) -> None:
    """Start a worker for every plant of the cloud file (side by side; started again when one dies), or
    find those another API process started, then serve them all behind one app."""
    import os

    from mixflow.api.cloud_app import create_cloud_app, start_tenants
    from mixflow.api.settings import SECRET_ENV
    from mixflow.api.worker_pool import LocalWorkers, WorkerPool
    from mixflow.model.cloud_file import load_cloud

    if attach and not os.environ.get(SECRET_ENV):
        raise ValidationError(SECRET_ENV, "is not set: an API process attaching to plant workers must share "
                              "their key")
    cloud = load_cloud(file)
    workers: WorkerPool | None = None
    if ray is not None:
        from mixflow.api.ray_workers import RayWorkers

        workers = RayWorkers(ray, file.resolve(), settings.db_url, settings.secret_key, settings.twin_speed,
                             len(cloud.plants))
    elif not attach:
        workers = LocalWorkers(file.resolve(), settings.db_url, settings.secret_key, settings.twin_speed)
    try:
        tenants = start_tenants(cloud, settings, workers)
    except BaseException:
        if workers is not None:
            workers.stop()
        raise
    app = create_cloud_app(cloud, settings, tenants, workers)
    running = [t.id for t in tenants if t.live is not None]
    typer.echo(f"mixflow: cloud {cloud.name!r}: plants {', '.join(running)} on http://{host}:{port}/ "
               f"(each at /plants/<id>/)", err=True)
    _run(app, host, port)


def _run(app: object, host: str, port: int) -> None:
    import uvicorn

    # proxy_headers off: uvicorn would believe X-Forwarded-For from any local peer; the app believes
    # it only from MIXFLOW_TRUSTED_PROXIES.
    uvicorn.run(app, host=host, port=port, log_level="warning", ws="websockets-sansio",  # type: ignore[arg-type]
                proxy_headers=False)
