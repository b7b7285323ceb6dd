"""Alarm rules over telemetry and liveness, each with a raise and a clear.

- `Threshold`: a measurement above `high` (or below `low`) raises; it clears once back inside by
  `hysteresis`, so a value dithering at the limit does not flap.
- `RateOfChange`: a measurement moving faster than `max_per_s` between two consecutive samples of a
  device raises; the next sample within the limit clears.
- `Offline`: the registry's heartbeat timeout raises, the next message clears. It is on by default:
  an engine given no `Offline` rule adds one for every kind (unless built with `offline=False`), as a
  device gone silent is the alarm a plant cannot do without.

Rules apply to devices of one kind (or all when `kind` is empty). The engine keeps one active/inactive
state per (device, rule), so a raise is reported once and always paired with a clear.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from mixflow.errors import ValidationError


@dataclass(frozen=True)
class Threshold:
    name: str
    metric: str
    high: float = math.inf
    low: float = -math.inf
    hysteresis: float = 0.0
    kind: str = ""

    def __post_init__(self) -> None:
        if not self.low < self.high:
            raise ValidationError(
                f"alarm {self.name!r}", f"low ({self.low}) must lie below high ({self.high})"
            )
        if self.hysteresis < 0:
            raise ValidationError(f"alarm {self.name!r}", f"hysteresis must be >= 0, got {self.hysteresis}")


@dataclass(frozen=True)
class RateOfChange:
    name: str
    metric: str
    max_per_s: float
    kind: str = ""

    def __post_init__(self) -> None:
        if not self.max_per_s > 0:
            raise ValidationError(f"alarm {self.name!r}", f"max_per_s must be positive, got {self.max_per_s}")


@dataclass(frozen=True)
class Offline:
    name: str = "offline"
    kind: str = ""


Rule = Threshold | RateOfChange | Offline


@dataclass(frozen=True)
class AlarmChange:
    """An alarm raised (`raised=True`) or cleared on a device at `t_ms`, with the value that did it."""

    device_id: str
    rule: str
    raised: bool
    t_ms: int
    value: float
    message: str


class AlarmEngine:
    """Evaluates rules on each sample and liveness change; returns only the changes."""

    def __init__(self, rules: Sequence[Rule] = (), offline: bool = True) -> None:
        if offline and not any(isinstance(rule, Offline) for rule in rules):
            rules = (*rules, Offline())
        names = [rule.name for rule in rules]
        if len(set(names)) != len(names):
            raise ValidationError("alarm rules", f"rule names must be unique, got {names}")
        self.rules = tuple(rules)
        self._by_metric: dict[str, list[Threshold | RateOfChange]] = {}
        for rule in rules:
            if not isinstance(rule, Offline):
                self._by_metric.setdefault(rule.metric, []).append(rule)
        self._offline = [rule for rule in rules if isinstance(rule, Offline)]
        self.active: set[tuple[str, str]] = set()
        self._last: dict[tuple[str, str], tuple[int, float]] = {}

    def _change(
        self, device_id: str, rule: str, raise_it: bool, t_ms: int, value: float, message: str
    ) -> list[AlarmChange]:
        key = (device_id, rule)
        if raise_it == (key in self.active):
            return []
        if raise_it:
            self.active.add(key)
        else:
            self.active.discard(key)
        return [AlarmChange(device_id, rule, raise_it, t_ms, value, message)]

    def observe(self, device_id: str, kind: str, t_ms: int, metrics: dict[str, float]) -> list[AlarmChange]:
        """Changes caused by one telemetry sample (samples of a device must come in order)."""
        changes: list[AlarmChange] = []
        if not self._by_metric:
            return changes
        for metric, value in metrics.items():
            rules = self._by_metric.get(metric)
            if not rules:
                continue
            for rule in rules:
                if rule.kind and rule.kind != kind:
                    continue
                if isinstance(rule, Threshold):
                    active = (device_id, rule.name) in self.active
                    if value > rule.high or value < rule.low:
                        changes += self._change(
                            device_id,
                            rule.name,
                            True,
                            t_ms,
                            value,
                            f"{metric}={value:g} outside [{rule.low:g}, {rule.high:g}]",
                        )
                    elif active and rule.low + rule.hysteresis <= value <= rule.high - rule.hysteresis:
                        changes += self._change(
                            device_id, rule.name, False, t_ms, value, f"{metric}={value:g} back"
                        )
                else:
                    key = (device_id, metric)
                    previous = self._last.get(key)
                    if previous is not None and t_ms > previous[0]:
                        rate = abs(value - previous[1]) * 1000.0 / (t_ms - previous[0])
                        changes += self._change(
                            device_id,
                            rule.name,
                            rate > rule.max_per_s,
                            t_ms,
                            value,
                            f"{metric} changes at {rate:g}/s (limit {rule.max_per_s:g}/s)",
                        )
            self._last[(device_id, metric)] = (t_ms, value)
        return changes

    def liveness(self, device_id: str, kind: str, online: bool, t_ms: int) -> list[AlarmChange]:
        """Changes caused by a device going offline (heartbeat timeout) or coming back."""
        changes: list[AlarmChange] = []
        for rule in self._offline:
            if not rule.kind or rule.kind == kind:
                message = "back online" if online else "no heartbeat"
                changes += self._change(device_id, rule.name, not online, t_ms, 0.0, message)
        return changes
