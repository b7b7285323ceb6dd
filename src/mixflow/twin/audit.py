"""A tally of what a plant is told or reports more than once, for checking a scheduler's restart."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from mixflow.model.port import Command, Event, Factory, PartDelivered, ReleaseToLine, StartOperation


class RepeatAudit:
    """The factory port with a tally: passes everything through and counts the operations started,
    trucks released and parts delivered by id. A scheduler that takes a running plant up again must
    repeat none of them (a repeat is work done twice, or a truck or part called twice)."""

    def __init__(self, factory: Factory) -> None:
        self.factory = factory
        self.started: Counter[str] = Counter()
        self.released: Counter[str] = Counter()
        self.parts: Counter[str] = Counter()

    @property
    def now_s(self) -> int:
        return self.factory.now_s

    def submit(self, commands: Sequence[Command]) -> None:
        for c in commands:
            if isinstance(c, StartOperation):
                self.started[c.operation_id] += 1
            elif isinstance(c, ReleaseToLine):
                self.released[c.order_id] += 1
        self.factory.submit(commands)

    def poll(self, until_s: int) -> Sequence[Event]:
        events = self.factory.poll(until_s)
        self.parts.update(e.task_id for e in events if isinstance(e, PartDelivered))
        return events

    def repeats(self) -> dict[str, int]:
        """How many times beyond the first each kind was told or reported, summed over ids."""
        kinds = {"operations": self.started, "releases": self.released, "parts": self.parts}
        return {what: sum(n - 1 for n in counter.values() if n > 1) for what, counter in kinds.items()}
