"""A plant of a cloud as an API process sees it: served by a plant worker found in the cloud's store.

The API process keeps no address: it asks the store (`store.plant_workers.locate`) where the plant's
worker listens, connects with the workers' key, and from then on holds the plant's snapshot (pushed
ten times a second) and sends it requests. When the connection breaks (the worker was killed, its node
lost), requests answer 503 at once, the last snapshot stays on the pages, and the client looks the
worker up again every `RETRY_S` until the restarted worker answers, wherever it now listens.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from multiprocessing.connection import Client, Connection

from mixflow.api.plant_process import PlantClient
from mixflow.errors import ValidationError
from mixflow.model import Plant
from mixflow.store.plant_workers import WorkerAddress

log = logging.getLogger("mixflow.api")

RETRY_S = 0.2
CONNECT_TIMEOUT_S = 5.0


class RemotePlant(PlantClient):
    """A `LivePlant` answered by the plant worker `locate()` names, reconnecting when it goes."""

    def __init__(self, plant_id: str, plant: Plant, locate: Callable[[], WorkerAddress | None], key: bytes,
                 newer_than: int = 0, failed: Callable[[], str | None] = lambda: None) -> None:
        """`newer_than`: the worker start (generation) to wait past, so a stale entry of an earlier run
        is never taken for the worker just started; `failed`: why the worker cannot start, once known."""
        super().__init__(plant)
        self.plant_id = plant_id
        self._locate = locate
        self._failed = failed
        self._key = key
        self._newer_than = newer_than
        self._closed = threading.Event()
        self.generation = 0
        self.reconnects = 0
        self.down_since: float | None = time.monotonic()
        self.last_outage_s: float | None = None

    def ready(self, timeout_s: float) -> RemotePlant:
        """Wait until the worker answers; ValidationError naming the plant when its worker cannot start,
        or after `timeout_s`."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._try_connect():
                return self
            why = self._failed()
            if why:
                raise ValidationError("plant", why)
            time.sleep(RETRY_S)
        raise ValidationError("plant", f"no worker answered within {timeout_s:.0f} s")

    def _reconnect(self) -> None:
        while not self._closed.is_set() and not self._try_connect():
            self._closed.wait(RETRY_S)

    def _try_connect(self) -> bool:
        address = self._locate()
        if address is None or address.generation <= self._newer_than:
            return False
        try:
            conn: Connection = Client((address.host, address.port), authkey=self._key)
        except (OSError, EOFError):
            return False  # not listening (yet, or any more): the store still names the dead worker
        except Exception as refused:  # AuthenticationError: the worker has another key
            log.error("plant %r: the worker at %s:%d refused our key: %s", self.plant_id, address.host,
                      address.port, refused)
            return False
        if not conn.poll(CONNECT_TIMEOUT_S):
            conn.close()
            return False
        try:
            first = conn.recv()
        except (EOFError, OSError):
            return False
        self.generation = address.generation
        if self.down_since is not None:
            self.last_outage_s = time.monotonic() - self.down_since
            self.down_since = None
        self._connected(conn, first)
        return True

    def _gone(self) -> str:
        return f"plant {self.plant_id!r} is restarting; try again in a few seconds"

    def _lost(self, conn: Connection) -> None:
        conn.close()
        if self._closed.is_set():
            return
        self.down_since = time.monotonic()
        self.reconnects += 1
        log.warning("plant %r: its worker went away; looking for it again", self.plant_id)
        threading.Thread(target=self._reconnect, name="mixflow-plant-reconnect", daemon=True).start()

    @property
    def up(self) -> bool:
        return self._conn is not None

    def close(self) -> None:
        """Hang up (the worker runs on: it serves other API processes)."""
        self._closed.set()
        with self._send_lock:
            conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()
