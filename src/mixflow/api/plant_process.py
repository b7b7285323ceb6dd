"""The live plant in its own process, so the web server's event loop never competes with the simulation.

The twin and the scheduler are CPU-bound Python: in the server's process they would hold the GIL
while requests wait for it (measured: click latency grew from tens to hundreds of milliseconds under
load). Here a child process runs the plant (`TwinPlant` or `BrokerPlant`) and pushes a snapshot ten
times a second through a pipe; quotes, orders, the time control and plan views are requests over the
same pipe. The child writes the progress of web orders into the order book itself.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import multiprocessing as mp
import threading
from concurrent.futures import Future
from datetime import datetime
from multiprocessing.connection import Connection
from typing import Any

from mixflow.api.live import ActionRefused
from mixflow.api.settings import Settings
from mixflow.errors import MixflowError, ValidationError
from mixflow.model import Order, OrderStatus, Plant, StatusChange

log = logging.getLogger("mixflow.api")

START_TIMEOUT_S = 900.0
REQUEST_TIMEOUT_S = 60.0
PUSH_EVERY_S = 0.1


def order_to_wire(order: Order) -> tuple[Any, ...]:
    """An order as plain picklable data (its configuration is a read-only mapping proxy)."""
    return (order.id, order.customer, dict(order.configuration), order.placed_s, order.requested_s,
            order.promised_s, order.priority, [(c.status.value, c.at_s, c.note) for c in order.history])


def order_from_wire(wire: tuple[Any, ...]) -> Order:
    order_id, customer, configuration, placed_s, requested_s, promised_s, priority, history = wire
    return Order(order_id, customer, configuration, placed_s, requested_s, promised_s, priority,
                 tuple(StatusChange(OrderStatus(s), at_s, note) for s, at_s, note in history))


def _child(settings: Settings, conn: Connection) -> None:
    """The plant process: run the plant, answer requests, push snapshots until the pipe closes."""
    from mixflow.api.runner import start_in_process
    from mixflow.store import connect

    try:
        live = start_in_process(settings)
    except MixflowError as refused:
        conn.send(("failed", str(refused)))
        return
    assert live is not None
    _, sessions = connect(settings.db_url)
    live.attach(sessions)
    send_lock = threading.Lock()
    stop = threading.Event()

    def push() -> None:
        while not stop.wait(PUSH_EVERY_S):
            with send_lock:
                conn.send(("snap", live.snapshot()))

    with send_lock:
        conn.send(("ready", live.epoch, live.snapshot()))
    pusher = threading.Thread(target=push, daemon=True)
    pusher.start()
    try:
        while True:
            try:
                request_id, method, args = conn.recv()
            except (EOFError, OSError):
                break
            if method == "stop":
                break
            try:
                if method == "quote":
                    result: Any = ("ok", live.quote(order_from_wire(args[0])))
                elif method == "place":
                    result = ("ok", order_to_wire(live.place(order_from_wire(args[0]))))
                elif method == "set_speed":
                    result = ("ok", live.set_speed(float(args[0])))
                elif method == "plan_view":
                    result = ("ok", live.plan_view(str(args[0])))
                elif method == "act":
                    result = ("ok", live.act(dict(args[0])))
                elif method == "gantt":
                    result = ("ok", live.gantt(int(args[0]), int(args[1])))
                else:
                    result = ("refused", f"unknown request {method!r}")
            except ActionRefused as refused:  # keeps its HTTP status across the pipe
                result = ("action refused", (refused.status_code, refused.message))
            except MixflowError as refused:
                result = ("refused", str(refused))
            except Exception as failed:  # reported to the caller, who answers 500 for this request only
                log.exception("plant request %s failed", method)
                result = ("failed", f"{type(failed).__name__}: {failed}")
            with send_lock:
                conn.send(("reply", request_id, result))
    finally:
        stop.set()
        live.close()


class PlantProcess:
    """A `LivePlant` whose plant runs in a child process (see the module docstring)."""

    def __init__(self, settings: Settings) -> None:
        """Spawn the plant's process; `ready` waits until it runs (a cloud starts its plants together)."""
        self.plant: Plant = settings.plant()
        context = mp.get_context("spawn")
        self._conn, child_end = context.Pipe()
        self._process = context.Process(target=_child, args=(settings, child_end),
                                        name=f"mixflow-plant-{settings.plant_id}", daemon=True)
        self._process.start()
        child_end.close()
        self._send_lock = threading.Lock()
        self._pending: dict[int, Future[Any]] = {}
        self._ids = itertools.count()
        self._reader = threading.Thread(target=self._read, name="mixflow-plant-pipe", daemon=True)

    def ready(self) -> PlantProcess:
        """Wait until the plant runs (its warm-up done); a plant that cannot start raises its one line."""
        if not self._conn.poll(START_TIMEOUT_S):
            self._process.kill()
            raise ValidationError("plant", f"the plant process did not start within {START_TIMEOUT_S:.0f} s")
        try:
            first = self._conn.recv()
        except (EOFError, OSError):
            self._process.join(5)
            raise ValidationError("plant", f"the plant process ended at start (exit code "
                                           f"{self._process.exitcode})") from None
        if first[0] == "failed":
            self._process.join(5)
            raise ValidationError("plant", first[1])
        _, self._epoch, self._snapshot = first
        self._reader.start()
        return self

    @classmethod
    def start(cls, settings: Settings) -> PlantProcess:
        return cls(settings).ready()

    def _read(self) -> None:
        while True:
            try:
                message = self._conn.recv()
            except (EOFError, OSError):
                break
            if message[0] == "snap":
                self._snapshot = message[1]
            elif message[0] == "reply":
                future = self._pending.pop(message[1], None)
                if future is not None:
                    future.set_result(message[2])
        for future in self._pending.values():
            future.set_result(("failed", "the plant process has stopped"))

    def _call(self, method: str, *args: Any) -> Any:
        if not self._process.is_alive():
            raise ValidationError("plant", "the plant process has stopped")
        future: Future[Any] = Future()
        with self._send_lock:
            request_id = next(self._ids)
            self._pending[request_id] = future
            self._conn.send((request_id, method, args))
        status, value = future.result(REQUEST_TIMEOUT_S)
        if status == "action refused":
            raise ActionRefused(*value)
        if status == "refused":
            raise ValidationError("plant", value)
        if status == "failed":
            raise RuntimeError(value)
        return value

    # -- the LivePlant protocol ----------------------------------------------------------------------
    @property
    def epoch(self) -> datetime:
        return self._epoch

    def now_s(self) -> int:
        return int(self._snapshot["at_s"])

    def snapshot(self) -> dict[str, Any]:
        return self._snapshot

    def set_speed(self, speed: float) -> float:
        return float(self._call("set_speed", speed))

    def quote(self, order: Order) -> tuple[int, str]:
        promised, detail = self._call("quote", order_to_wire(order))
        return int(promised), str(detail)

    def place(self, order: Order) -> Order:
        return order_from_wire(self._call("place", order_to_wire(order)))

    def plan_view(self, kind: str) -> dict[str, Any]:
        return self._call("plan_view", kind)

    def act(self, action: dict[str, Any]) -> dict[str, Any]:
        return dict(self._call("act", action))

    def gantt(self, back_s: int, ahead_s: int) -> dict[str, Any]:
        return dict(self._call("gantt", back_s, ahead_s))

    def attach(self, sessions: Any) -> None:
        """The child process writes order progress through its own connection to the same database."""

    def close(self) -> None:
        """Ask the child to stop, wait for it, then let the pipe go (idempotent)."""
        if self._process.is_alive():
            with self._send_lock, contextlib.suppress(OSError, ValueError):
                self._conn.send((-1, "stop", ()))
            self._process.join(15)
            if self._process.is_alive():
                self._process.kill()
                self._process.join(5)
        if self._reader.is_alive():
            self._reader.join(5)
        self._conn.close()
