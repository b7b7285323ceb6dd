"""Typed errors: every one names what is wrong and where, so the CLI can print it as one line."""

from __future__ import annotations

from typing import Any


class MixflowError(Exception):
    """Base of every error mixflow raises on purpose; the CLI prints it as one line and exits 2."""

    def __reduce__(self) -> tuple[Any, ...]:
        # A process pool pickles a worker's error; the default rebuilds it by calling the class with
        # its message, which a subclass's own __init__ (where, message) refuses: the pool then breaks.
        return _rebuilt, (type(self), self.args, self.__dict__)


def _rebuilt(cls: type[MixflowError], args: tuple[Any, ...], state: dict[str, Any]) -> MixflowError:
    """An unpickled error: message and attributes as they were, without calling its __init__ again."""
    error = cls.__new__(cls, *args)
    error.args = args
    error.__dict__.update(state)
    return error


class ValidationError(MixflowError, ValueError):
    """A value breaks the domain's rules (negative duration, unknown station, ...)."""

    def __init__(self, where: str, message: str) -> None:
        self.where = where
        self.message = message
        super().__init__(f"{where}: {message}")


class InputFileError(MixflowError):
    """A file that does not parse or holds impossible data; names the file and, where known, the line."""

    def __init__(self, path: str, message: str, line: int | None = None) -> None:
        self.path = str(path)
        self.line = line
        self.message = message
        place = f"{self.path}:{line}" if line is not None else self.path
        super().__init__(f"{place}: {message}")


class UnknownNameError(MixflowError, KeyError):
    """A reference to an id, variable or value that does not exist."""

    def __init__(self, kind: str, name: str, known: list[str] | None = None) -> None:
        self.kind = kind
        self.name = name
        hint = ""
        if known:
            shown = ", ".join(sorted(known)[:8])
            more = "" if len(known) <= 8 else f", ... ({len(known)} in all)"
            hint = f" (known: {shown}{more})"
        super().__init__(f"unknown {kind} {name!r}{hint}")

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


class StoreUnavailableError(MixflowError):
    """The database did not take a write. Nothing is lost: the writes wait in memory and are tried again."""


class InfeasibleError(MixflowError):
    """The request cannot be met (a catalogue with no valid configuration, demand above capacity)."""
