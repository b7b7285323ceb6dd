"""A factory for scheduler tests: it plays back the events a test gives it and records every command,
so a test speaks to the scheduler through the factory port alone."""

from __future__ import annotations

from collections.abc import Sequence

from mixflow.model.port import Command, Event


class ScriptedFactory:
    """Plays back `script` (events due by each poll) and keeps what the scheduler submits."""

    def __init__(self, now: int = 0) -> None:
        self.now = now
        self.script: list[Event] = []
        self.commands: list[Command] = []

    @property
    def now_s(self) -> int:
        return self.now

    def submit(self, commands: Sequence[Command]) -> None:
        self.commands += commands

    def poll(self, until_s: int) -> list[Event]:
        due = [e for e in self.script if e.at_s <= until_s]
        self.script = [e for e in self.script if e.at_s > until_s]
        self.now = until_s
        return due
