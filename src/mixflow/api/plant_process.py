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

from mixflow.api.live import ActionRefused, LivePlant, PlantUnavailable
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


def answer(live: LivePlant, method: str, args: tuple[Any, ...]) -> tuple[str, Any]:
    """Carry out one request of the API on the running plant: ("ok", result) or why not, as plain data
    (an `ActionRefused` keeps its HTTP status across the wire)."""
    try:
        if method == "quote":
            return "ok", live.quote(order_from_wire(args[0]))
        if method == "place":
            return "ok", order_to_wire(live.place(order_from_wire(args[0])))
        if method == "set_speed":
            return "ok", live.set_speed(float(args[0]))
        if method == "plan_view":
            return "ok", live.plan_view(str(args[0]))
        if method == "act":
            return "ok", live.act(dict(args[0]))
        if method == "gantt":
            return "ok", live.gantt(int(args[0]), int(args[1]))
        return "refused", f"unknown request {method!r}"
    except ActionRefused as refused:
        return "action refused", (refused.status_code, refused.message)
    except MixflowError as refused:
        return "refused", str(refused)
    except Exception as failed:  # reported to the caller, who answers 500 for this request only
        log.exception("plant request %s failed", method)
        return "failed", f"{type(failed).__name__}: {failed}"


def serve_connection(live: LivePlant, conn: Connection, stop: threading.Event) -> None:
    """Answer one API process on `conn` and push it a snapshot ten times a second, until it hangs up,
    asks to stop, or `stop` is set."""
    send_lock = threading.Lock()
    done = threading.Event()

    def push() -> None:
        while not (stop.wait(PUSH_EVERY_S) or done.is_set()):
            try:
                with send_lock:
                    conn.send(("snap", live.snapshot()))
            except (OSError, ValueError):
                break

    with send_lock:
        conn.send(("ready", live.epoch, live.snapshot()))
    pusher = threading.Thread(target=push, name="mixflow-plant-push", daemon=True)
    pusher.start()
    try:
        while not stop.is_set():
            try:
                request_id, method, args = conn.recv()
            except (EOFError, OSError):
                break
            if method == "stop":
                stop.set()
                break
            result = answer(live, method, args)
            try:
                with send_lock:
                    conn.send(("reply", request_id, result))
            except (OSError, ValueError):
                break
    finally:
        done.set()
        pusher.join(1)


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
    try:
        serve_connection(live, conn, threading.Event())
    finally:
        live.close()


class PlantClient:
    """A `LivePlant` whose plant is served elsewhere (`serve_connection` at the other end of a
    connection): snapshots arrive ten times a second, requests are answered by request id."""

    def __init__(self, plant: Plant) -> None:
        self.plant = plant
        self._send_lock = threading.Lock()
        self._pending: dict[int, Future[Any]] = {}
        self._ids = itertools.count()
        self._conn: Connection | None = None
        self._epoch: datetime | None = None
        self._snapshot: dict[str, Any] = {}

    def _connected(self, conn: Connection, first: tuple[Any, ...]) -> None:
        """Take `conn`, whose first message was `first` ("ready", epoch, snapshot), and read it."""
        _, self._epoch, self._snapshot = first
        self._conn = conn
        threading.Thread(target=self._read, args=(conn,), name="mixflow-plant-link", daemon=True).start()

    def _read(self, conn: Connection) -> None:
        while True:
            try:
                message = conn.recv()
            except (EOFError, OSError, TypeError):  # TypeError: closed by `close` while it read
                break
            if message[0] == "snap":
                self._snapshot = message[1]
            elif message[0] == "reply":
                future = self._pending.pop(message[1], None)
                if future is not None:
                    future.set_result(message[2])
        with self._send_lock:
            if self._conn is conn:
                self._conn = None
            pending, self._pending = self._pending, {}
        for future in pending.values():
            future.set_result(("unavailable", self._gone()))
        self._lost(conn)

    def _gone(self) -> str:
        """Why the plant does not answer now."""
        return "the plant process has stopped"

    def _lost(self, conn: Connection) -> None:
        """The connection to the plant broke (a subclass may connect again)."""

    def _call(self, method: str, *args: Any) -> Any:
        future: Future[Any] = Future()
        with self._send_lock:
            conn = self._conn
            if conn is None:
                raise PlantUnavailable(self._gone())
            request_id = next(self._ids)
            self._pending[request_id] = future
            try:
                conn.send((request_id, method, args))
            except (OSError, ValueError):
                self._pending.pop(request_id, None)
                raise PlantUnavailable(self._gone()) from None
        status, value = future.result(REQUEST_TIMEOUT_S)
        if status == "action refused":
            raise ActionRefused(*value)
        if status == "refused":
            raise ValidationError("plant", value)
        if status == "unavailable":
            raise PlantUnavailable(value)
        if status == "failed":
            raise RuntimeError(value)
        return value

    # -- the LivePlant protocol ----------------------------------------------------------------------
    @property
    def epoch(self) -> datetime:
        assert self._epoch is not None, "the plant has not answered yet"
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
        """The plant's own process writes order progress through its own connection to the store."""


class PlantProcess(PlantClient):
    """A `LivePlant` whose plant runs in a child process over a pipe (see the module docstring)."""

    def __init__(self, settings: Settings) -> None:
        """Spawn the plant's process; `ready` waits until it runs."""
        super().__init__(settings.plant())
        context = mp.get_context("spawn")
        self._pipe, child_end = context.Pipe()
        self._process = context.Process(target=_child, args=(settings, child_end),
                                        name=f"mixflow-plant-{settings.plant_id}", daemon=True)
        self._process.start()
        child_end.close()

    def ready(self) -> PlantProcess:
        """Wait until the plant runs (its warm-up done); a plant that cannot start raises its one line."""
        if not self._pipe.poll(START_TIMEOUT_S):
            self._process.kill()
            raise ValidationError("plant", f"the plant process did not start within {START_TIMEOUT_S:.0f} s")
        try:
            first = self._pipe.recv()
        except (EOFError, OSError):
            self._process.join(5)
            raise ValidationError("plant", f"the plant process ended at start (exit code "
                                           f"{self._process.exitcode})") from None
        if first[0] == "failed":
            self._process.join(5)
            raise ValidationError("plant", first[1])
        self._connected(self._pipe, first)
        return self

    @classmethod
    def start(cls, settings: Settings) -> PlantProcess:
        return cls(settings).ready()

    def close(self) -> None:
        """Ask the child to stop, wait for it, then let the pipe go (idempotent)."""
        if self._process.is_alive():
            with self._send_lock, contextlib.suppress(OSError, ValueError):
                self._pipe.send((-1, "stop", ()))
            self._process.join(15)
            if self._process.is_alive():
                self._process.kill()
                self._process.join(5)
        self._pipe.close()
