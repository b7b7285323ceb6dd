"""An asyncio loop on a background thread, for the synchronous factory port over async MQTT links.

The scheduler's loop is synchronous; the broker links (the gateway, the VDA 5050 master control) are
asyncio. A `LoopThread` runs their loop on a daemon thread and lets the synchronous side call into it
with a timeout, so the scheduler never blocks the broker traffic and a dead link never hangs it.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")
START_TIMEOUT_S = 30.0
"""How long a start, a submit or a stop may take before the caller gives up."""


class LoopThread:
    """A running event loop on its own thread (`close` stops and joins it)."""

    def __init__(self, name: str) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name=name, daemon=True)
        self._thread.start()

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def call(self, coroutine: Coroutine[Any, Any, T], timeout_s: float | None = START_TIMEOUT_S) -> T:
        """Run `coroutine` on the loop and wait for its result (raises what it raises)."""
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout_s)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)
        self.loop.close()
