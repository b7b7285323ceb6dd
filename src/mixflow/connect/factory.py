"""The factory port over MQTT: the cloud scheduler runs a real plant through the broker.

`MqttFactory` implements `mixflow.model.port.Factory`: its clock is the wall clock counted from
`epoch_ms` (the plan's epoch), `submit` sends commands to the devices (tracked until acknowledged),
and `poll` returns the factory events the gateway validated, as soon as there are some or once
`until_s` is reached. The gateway runs on its own event loop in a background thread, so the
scheduler's synchronous loop never blocks the broker traffic.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence

from sqlalchemy import Engine

from mixflow.connect.alarms import AlarmEngine
from mixflow.connect.broker import Broker
from mixflow.connect.commands import CommandTracker, Outgoing
from mixflow.connect.gateway import Gateway, GatewayConfig, now_ms
from mixflow.connect.ingest import Ingest
from mixflow.connect.loop_thread import LoopThread
from mixflow.connect.registry import Registry
from mixflow.model.port import Command, Event


class MqttFactory:
    """A plant behind an MQTT broker, seen through one gateway."""

    def __init__(
        self,
        broker: Broker,
        registry: Registry,
        *,
        epoch_ms: int | None = None,
        config: GatewayConfig | None = None,
        engine: Engine | None = None,
        alarms: AlarmEngine | None = None,
        tracker: CommandTracker | None = None,
    ) -> None:
        self.epoch_ms = now_ms() if epoch_ms is None else epoch_ms
        ingest = Ingest(registry, alarms, tracker, self.epoch_ms)
        self.gateway = Gateway(broker, ingest, config or GatewayConfig(), engine)
        self._runner = LoopThread("mixflow-gateway")
        try:
            self._runner.call(self.gateway.start())
        except BaseException:
            self._runner.close()
            raise

    @property
    def now_s(self) -> int:
        if self.gateway.config.lockstep:
            return self.gateway.clock_now_s
        return max(0, (now_ms() - self.epoch_ms) // 1000)

    def submit(self, commands: Sequence[Command]) -> None:
        self._runner.call(self.gateway.submit(commands))

    def send(self, commands: Sequence[Command]) -> list[Outgoing]:
        """Like `submit`, returning the messages sent (with their command ids)."""
        return self._runner.call(self.gateway.submit(commands))

    def poll(self, until_s: int) -> Sequence[Event]:
        """Events so far; waits for the first one until the clock reaches `until_s`.

        A lock-step (simulated) plant is asked to run to `until_s` instead, and its events are
        returned once it reports its clock.
        """
        if self.gateway.config.lockstep:
            self._runner.call(self.gateway.advance(until_s), None)
            return sorted(self._runner.call(self._take(0.0), None), key=lambda event: event.at_s)
        wait_s = max(0.0, (self.epoch_ms + until_s * 1000 - now_ms()) / 1000)
        events = self._runner.call(self._take(wait_s), None)
        return sorted(events, key=lambda event: event.at_s)

    async def _take(self, wait_s: float) -> list[Event]:
        queue = self.gateway.events
        events: list[Event] = []
        if queue.empty() and wait_s > 0:
            with contextlib.suppress(TimeoutError):
                events.append(await asyncio.wait_for(queue.get(), wait_s))
        while not queue.empty():
            events.append(queue.get_nowait())
        return events

    def stats(self) -> dict[str, int]:
        return self.gateway.stats()

    def close(self, crash: bool = False) -> None:
        """Stop the gateway (flushing unless `crash`) and its thread."""
        if self._runner.alive:
            with contextlib.suppress(Exception):
                self._runner.call(self.gateway.stop(crash))
        self._runner.close()

    def __enter__(self) -> MqttFactory:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()
