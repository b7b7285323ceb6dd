"""A plant worker: one plant of a cloud run in a process of its own, answering any number of API processes.

`mixflow cloud worker CLOUD.yaml --plant ID --db URL` (or `serve --cloud`, which starts one per plant and
starts it again if it dies, or a Ray actor under `--ray`) runs the plant as `serve` would (the twin, or
the real plant behind the broker, which takes its plan up from the store where it stood), listens on
TCP, and writes its address to the cloud's store (`store.plant_workers`); the API processes find it
there (`RemotePlant`). Each API process that connects is answered as the single-plant server's child
answers its parent (`plant_process.serve_connection`).

The connection is authenticated both ways with a key derived from MIXFLOW_SECRET_KEY (HMAC challenge of
`multiprocessing.connection`), which the API processes share anyway to accept each other's tokens; a
peer without it is dropped before it can send anything. The pickled messages therefore only ever come
from a process holding the key.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import signal
import socket
import threading
from multiprocessing.connection import Listener
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from mixflow.api.plant_process import serve_connection
from mixflow.api.settings import Settings
from mixflow.errors import ValidationError
from mixflow.store import connect
from mixflow.store.plant_workers import WorkerAddress, locate, register

log = logging.getLogger("mixflow.api")

SUPERSEDED_CHECK_S = 1.0
SERVING = "served on"
"""What the worker's log says once its plant answers (a pool starting workers watches for it)."""


def worker_key(secret_key: str) -> bytes:
    """The key plant workers and API processes authenticate each other with (not the token key itself)."""
    return hashlib.sha256(b"mixflow plant worker\0" + secret_key.encode()).digest()


class PlantWorker:
    """One running plant, served on TCP to the API processes until `stop`."""

    def __init__(self, settings: Settings, cloud_db_url: str, host: str = "127.0.0.1", port: int = 0,
                 advertise: str | None = None) -> None:
        from mixflow.api.runner import start_in_process

        live = start_in_process(settings)
        if live is None:
            raise ValidationError("plant", "nothing to run: the plant is neither the twin nor on a broker")
        self.live: Any = live
        _, sessions = connect(settings.db_url)
        live.attach(sessions)
        self.stop_event = threading.Event()
        try:
            self._listener = Listener((host, port), authkey=worker_key(settings.secret_key))
        except OSError as taken:
            live.close()
            raise ValidationError("--port", f"cannot listen on {host}:{port}: {taken.strerror}") from taken
        bound_host, bound_port = self._listener.address  # type: ignore[str-unpack]  # TCP: (host, port)
        self._bound = ("127.0.0.1" if bound_host in ("0.0.0.0", "") else str(bound_host), int(bound_port))
        _, cloud_sessions = connect(cloud_db_url)
        self._cloud_sessions = cloud_sessions
        with cloud_sessions() as session:
            self.address: WorkerAddress = register(session, settings.plant_id, advertise or str(bound_host),
                                                   int(bound_port), os.getpid())
        log.warning("plant %r " + SERVING + " %s:%d (start %d)", settings.plant_id, self.address.host,
                    self.address.port, self.address.generation)

    def _watch_registry(self) -> None:
        """Stop once another worker has registered for this plant: this one is an orphan (its server
        was killed and started a new one), and two twins of one plant must not run side by side."""
        while not self.stop_event.wait(SUPERSEDED_CHECK_S):
            try:
                with self._cloud_sessions() as session:
                    now = locate(session, self.address.plant_id)
            except SQLAlchemyError as unreachable:  # the store is away: keep serving, look again later
                log.warning("cannot read the worker registry: %s", unreachable)
                continue
            if now is not None and now.generation != self.address.generation:
                log.warning("plant %r: start %d took over from this worker (start %d); stopping",
                            self.address.plant_id, now.generation, self.address.generation)
                self.stop_event.set()
                self._close_listener()

    def serve_forever(self) -> None:
        """Accept API processes until stopped (or superseded); each is answered on a thread of its own."""
        threading.Thread(target=self._watch_registry, name="mixflow-plant-registry", daemon=True).start()
        while not self.stop_event.is_set():
            try:
                conn = self._listener.accept()
            except (OSError, EOFError) as refused:  # closed by `stop`, or a peer that failed the handshake
                if self.stop_event.is_set():
                    break
                log.warning("refused a connection to the plant worker: %s", refused)
                continue
            except Exception as refused:  # multiprocessing's AuthenticationError: a peer without the key
                log.warning("refused a connection to the plant worker: %s", refused)
                continue
            threading.Thread(target=self._serve, args=(conn,), name="mixflow-plant-client",
                             daemon=True).start()

    def _serve(self, conn: Any) -> None:
        try:
            serve_connection(self.live, conn, self.stop_event)
        finally:
            conn.close()
        if self.stop_event.is_set():  # a client asked the worker to stop
            self._close_listener()

    def _close_listener(self) -> None:
        """Close the listening socket, first waking `accept` (closing alone does not wake it on Linux)
        with a connection of our own, which fails the handshake and finds `stop_event` set."""
        with contextlib.suppress(OSError), socket.create_connection(self._bound, timeout=1):
            pass
        with contextlib.suppress(OSError):
            self._listener.close()

    def stop(self) -> None:
        """Stop accepting, end every connection and the plant (idempotent)."""
        self.stop_event.set()
        self._close_listener()
        self.live.close()


def run_worker(settings: Settings, cloud_db_url: str, host: str = "127.0.0.1", port: int = 0,
               advertise: str | None = None) -> None:
    """Run one plant worker in this process until SIGTERM or SIGINT."""
    worker = PlantWorker(settings, cloud_db_url, host, port, advertise)

    def stop(_signum: int, _frame: object) -> None:
        worker.stop_event.set()
        worker._close_listener()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        worker.serve_forever()
    finally:
        worker.stop()


def advertised_host(host: str) -> str | None:
    """The address API processes should dial when the worker listens on every interface."""
    if host in ("0.0.0.0", "::", ""):
        return socket.gethostname()
    return None

