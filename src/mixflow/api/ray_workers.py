"""The plant workers as Ray actors (`mixflow serve --cloud ... --ray local|ADDRESS`).

Each plant is one named actor (`mixflow-plant-<id>` in the namespace `mixflow`) that runs a
`PlantWorker` on a thread of its own; the API processes reach it over TCP like any worker, through the
address it writes to the cloud's store. Ray places the actors on the cluster's nodes and starts a dead
one again (`max_restarts=-1`: a killed process, a lost node), rerunning its constructor, which starts
the plant and registers the new address. `local` starts Ray in this process with one CPU per plant and
stops it (and so the actors) with the server; an address joins a running cluster, whose nodes need
mixflow installed, the plant files readable and the database reachable.

The actor is given the token key and the database URL as constructor arguments, which Ray keeps to
restart it: anyone who can read the cluster's state can read them, so the cluster must be as trusted
as the database is.
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path
from typing import Any

from mixflow.errors import MixflowError
from mixflow.twin.sweep_ray import LOCAL, import_ray, join_ray

NAMESPACE = "mixflow"
log = logging.getLogger("mixflow.api")


class PlantActor:
    """One plant's worker inside a Ray actor process."""

    def __init__(self, cloud_file: str, plant_id: str, db_url: str, secret_key: str, speed: float) -> None:
        from mixflow.api.cloud_app import plant_settings
        from mixflow.api.plant_worker import PlantWorker
        from mixflow.api.settings import Settings
        from mixflow.model.cloud_file import load_cloud

        entry = load_cloud(cloud_file).entry(plant_id)
        settings = plant_settings(Settings(db_url=db_url, secret_key=secret_key, twin_speed=speed), entry)
        self.worker = PlantWorker(settings, db_url)
        threading.Thread(target=self.worker.serve_forever, name="mixflow-plant-worker", daemon=True).start()

    def pid(self) -> int:
        """The actor's process id (to kill it in a fault test; Ray starts it again)."""
        return os.getpid()

    def generation(self) -> int:
        return self.worker.address.generation


class RayWorkers:
    """Plant workers as Ray actors, which Ray starts again when they die."""

    def __init__(self, address: str, cloud_file: Path, db_url: str, secret_key: str, speed: float,
                 plants: int) -> None:
        self._ray = import_ray()
        self._joined = join_ray(self._ray, address, max(1, plants) if address == LOCAL else plants)
        self._args = (str(cloud_file), db_url, secret_key, speed)
        self._remote = self._ray.remote(max_restarts=-1, max_task_retries=-1, num_cpus=1)(PlantActor)
        self._actors: dict[str, Any] = {}

    def start(self, plant_id: str) -> None:
        """Create (or, on a cluster where it runs already, take over) the actor of `plant_id`."""
        cloud_file, db_url, secret_key, speed = self._args
        self._actors[plant_id] = self._remote.options(
            name=f"mixflow-plant-{plant_id}", namespace=NAMESPACE, get_if_exists=True,
        ).remote(cloud_file, plant_id, db_url, secret_key, speed)

    def failure(self, plant_id: str) -> str | None:
        """Why the plant's actor cannot run (its constructor raised), once Ray says so; else None."""
        from ray.exceptions import GetTimeoutError, RayActorError

        actor = self._actors.get(plant_id)
        if actor is None:
            return None
        try:
            self._ray.get(actor.pid.remote(), timeout=0.05)
        except GetTimeoutError:
            return None  # still starting
        except RayActorError as dead:
            cause = getattr(dead, "cause", None)
            if isinstance(cause, MixflowError):
                return str(cause)
            lines = str(cause or dead).strip().splitlines()
            return lines[0] if lines else "its actor died"
        return None

    def pid(self, plant_id: str) -> int:
        return int(self._ray.get(self._actors[plant_id].pid.remote(), timeout=60))

    def stop(self) -> None:
        """Kill the actors (with the server: they are this cloud's), then leave Ray if it was started here."""
        for plant_id, actor in self._actors.items():
            try:
                self._ray.kill(actor, no_restart=True)
            except Exception as failed:  # an actor already gone: nothing to stop
                log.warning("plant %r: its actor could not be stopped: %s", plant_id, failed)
        if self._joined:
            self._ray.shutdown()
