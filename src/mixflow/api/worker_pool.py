"""The plant workers `mixflow serve --cloud` starts itself: one `mixflow cloud worker` process per plant,
started again at once when it dies.

Each worker is a process of its own (`python -m mixflow cloud worker`), so killing it (`kill -9`, the
OOM killer) is what it would be in production; the pool notices within `POLL_S` and starts it again,
and the API processes' `RemotePlant` finds the new one through the store. The secrets a worker needs
(the token key its connections are authenticated with, the database URL, which may hold a password)
go through its environment, never its command line. A worker that dies before it ever served (a plant
file its process refuses) is started at most `START_TRIES` times; its last line of error is kept for
the overview.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from mixflow.api.plant_worker import SERVING
from mixflow.api.settings import SECRET_ENV

log = logging.getLogger("mixflow.api")

DB_ENV = "MIXFLOW_DB"
POLL_S = 0.1
START_TRIES = 3


class WorkerPool(Protocol):
    """Whatever starts the plant workers of a cloud and starts them again when they die: local
    processes (`LocalWorkers`) or Ray actors (`ray_workers.RayWorkers`)."""

    def start(self, plant_id: str) -> None:
        """Start the worker of `plant_id`."""
        ...

    def failure(self, plant_id: str) -> str | None:
        """Why the worker cannot run, once that is known; else None."""
        ...

    def pid(self, plant_id: str) -> int:
        """The worker's process id now."""
        ...

    def stop(self) -> None:
        """Stop every worker."""
        ...


@dataclass
class _Worker:
    plant_id: str
    process: subprocess.Popen[bytes]
    started: float
    tries: int = 1
    last_error: str = ""
    served: bool = False
    restarts: list[float] = field(default_factory=list)


class LocalWorkers:
    """Plant workers as child processes, each started again when it dies (until `stop`)."""

    def __init__(self, cloud_file: Path, db_url: str, secret_key: str, speed: float = 60.0) -> None:
        self._cloud_file = cloud_file
        self._speed = speed
        self._env = {**os.environ, SECRET_ENV: secret_key, DB_ENV: db_url}
        self._workers: dict[str, _Worker] = {}
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._watch = threading.Thread(target=self._supervise, name="mixflow-plant-workers", daemon=True)
        self._watch.start()

    def start(self, plant_id: str) -> None:
        """Start the worker of `plant_id`."""
        with self._lock:
            self._workers[plant_id] = _Worker(plant_id, self._spawn(plant_id), time.monotonic())

    def _spawn(self, plant_id: str) -> subprocess.Popen[bytes]:
        command = [sys.executable, "-m", "mixflow", "cloud", "worker", str(self._cloud_file),
                   "--plant", plant_id, "--speed", repr(self._speed)]
        # a session of its own: a Ctrl-C at the terminal reaches the server alone, which stops its workers
        # itself (else the pool would see them die of it and start them again before it shuts down)
        process = subprocess.Popen(command, env=self._env, stdin=subprocess.DEVNULL,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
        threading.Thread(target=self._read_errors, args=(plant_id, process), daemon=True).start()
        return process

    def _read_errors(self, plant_id: str, process: subprocess.Popen[bytes]) -> None:
        """Pass the worker's log on, and keep its last line (a refused plant's one-line error)."""
        assert process.stderr is not None
        for raw in process.stderr:
            line = raw.decode(errors="replace").rstrip()
            if not line:
                continue
            log.warning("[plant %s] %s", plant_id, line)
            with self._lock:
                worker = self._workers.get(plant_id)
                if worker is not None and worker.process is process:
                    worker.last_error = line
                    worker.served = worker.served or f" {SERVING} " in line

    def _supervise(self) -> None:
        while not self._stopping.wait(POLL_S):
            with self._lock:
                for worker in self._workers.values():
                    if worker.process.poll() is None or self._stopping.is_set():
                        continue
                    if not worker.served and worker.tries >= START_TRIES:
                        continue  # refused at every start: `failure` reports it
                    log.warning("plant %r: its worker ended (exit %s); starting it again", worker.plant_id,
                                worker.process.returncode)
                    worker.process = self._spawn(worker.plant_id)
                    worker.tries = 1 if worker.served else worker.tries + 1
                    worker.served = False
                    worker.restarts.append(time.monotonic())

    def failure(self, plant_id: str) -> str | None:
        """Why the plant's worker cannot run, once it has failed at every start; else None."""
        with self._lock:
            worker = self._workers.get(plant_id)
            if worker is None or worker.served or worker.tries < START_TRIES or worker.process.poll() is None:
                return None
            return worker.last_error.removeprefix("mixflow: error: ") or f"exit {worker.process.returncode}"

    def pid(self, plant_id: str) -> int:
        """The process id of the plant's worker now."""
        with self._lock:
            return self._workers[plant_id].process.pid

    def stop(self) -> None:
        """Stop every worker (SIGTERM, then SIGKILL after 10 s)."""
        self._stopping.set()
        with self._lock:
            workers = list(self._workers.values())
        for worker in workers:
            if worker.process.poll() is None:
                worker.process.terminate()
        for worker in workers:
            try:
                worker.process.wait(10)
            except subprocess.TimeoutExpired:
                worker.process.kill()
                worker.process.wait(5)
