"""The end-of-line charging bay in the twin: megawatt chargers, a FIFO queue of trucks, their charges.

The twin drives it by events: a battery-electric truck that passed its end-of-line test `arrive`s,
a charger whose session ended `finish`es, and each call returns the sessions that start then. A
session is known in full when it starts (nothing interrupts a charge in the model), so the twin
pushes one heap event per power change of `ChargeSession.power_changes` and one for its end.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from itertools import pairwise

import numpy as np

from mixflow.errors import ValidationError
from mixflow.model import ChargingBay

TAPER_STEP_SOC = 0.05
"""A tapering piece of the power curve is charged in steps of at most this much state of charge, each
at its exact mean power, so the plant's power profile follows the taper rather than one mean over the
whole piece (a flat piece stays one step)."""


@dataclass(frozen=True)
class ChargeSession:
    """One truck's charge: on `charger` from `started_s`, in `segments` of (duration_s, kW)."""

    unit_id: str
    charger: int
    arrived_s: int
    started_s: int
    segments: tuple[tuple[int, float], ...]

    @property
    def waited_s(self) -> int:
        return self.started_s - self.arrived_s

    @property
    def charge_s(self) -> int:
        return sum(d for d, _ in self.segments)

    @property
    def done_s(self) -> int:
        return self.started_s + self.charge_s

    @property
    def charged_kwh(self) -> float:
        return sum(d * kw for d, kw in self.segments) / 3600

    def power_changes(self) -> list[tuple[int, float]]:
        """(t_s, kW) changes of this session's draw, each segment switched on at its start and the very
        same kW switched off at its end, so they cancel exactly on a `PowerMeter`."""
        changes: list[tuple[int, float]] = []
        t = self.started_s
        for duration_s, kw in self.segments:
            changes += [(t, kw), (t + duration_s, -kw)]
            t += duration_s
        return changes


class ChargingBayState:
    """The chargers of a `mixflow.model.ChargingBay`, which truck is on each, the queue, and every
    session so far (for the KPIs)."""

    def __init__(self, bay: ChargingBay, taper_step_soc: float = TAPER_STEP_SOC) -> None:
        if not 0 < taper_step_soc <= 1:
            raise ValidationError("charging bay", f"taper_step_soc must lie in (0, 1], got {taper_step_soc}")
        self.bay = bay
        self.taper_step_soc = taper_step_soc
        self.sessions: dict[str, ChargeSession] = {}
        """Every session started so far by unit id, in the order they started."""
        self._on: list[ChargeSession | None] = [None] * bay.chargers
        self._waiting: deque[tuple[str, int, tuple[tuple[int, float], ...]]] = deque()
        self._queued: set[str] = set()
        self._finished: list[ChargeSession] = []
        self._now = 0

    # -- the charge of one pack ---------------------------------------------------------------------
    def battery_kwh(self, attributes: Mapping[str, float]) -> float:
        """The pack energy of a unit from its configuration's summed attributes (0: not battery-electric,
        so it is not charged)."""
        kwh = float(attributes.get(self.bay.battery_attribute, 0.0))
        if kwh < 0 or not math.isfinite(kwh):
            raise ValidationError(f"attribute {self.bay.battery_attribute}", f"must be kWh >= 0, got {kwh}")
        return kwh

    def session(self, battery_kwh: float) -> list[tuple[int, float]]:
        """The charge of a `battery_kwh` pack from the bay's start to target state of charge, as (duration_s,
        kW) segments.

        On a piece of the curve the power is linear in the state of charge, P(s) = P0 + k (s - s0), so
        the time to charge it is closed form: battery * integral ds / P(s) = battery * ln(P(s1) / P(s0)) / k
        (battery * (s1 - s0) / P0 when flat). Each segment's time is rounded up to whole seconds and its kW
        is its energy over that time: the segments' energy is exactly battery * (target - start), a segment
        never draws more than the curve allows, and the charge ends at most a second per segment late.
        """
        if not battery_kwh > 0 or not math.isfinite(battery_kwh):
            raise ValidationError(
                "charging bay", f"a pack to charge needs battery_kwh > 0, got {battery_kwh}"
            )
        bay = self.bay
        segments: list[tuple[int, float]] = []
        for (s0, f0), (s1, f1) in pairwise(bay.curve):
            lo, hi = max(s0, bay.start_soc), min(s1, bay.target_soc)
            if hi <= lo:
                continue
            slope = (f1 - f0) / (s1 - s0)  # share of power per unit of state of charge
            steps = 1 if slope == 0 else math.ceil((hi - lo) / self.taper_step_soc - 1e-9)
            for j in range(steps):
                a = lo + (hi - lo) * j / steps
                b = lo + (hi - lo) * (j + 1) / steps
                share_a = f0 + slope * (a - s0)
                # log1p keeps ln(P(b) / P(a)) / k accurate when the slope is tiny
                per_kw = (b - a) / share_a if slope == 0 else math.log1p(slope * (b - a) / share_a) / slope
                exact_s = battery_kwh * per_kw / bay.power_kw * 3600
                duration_s = max(1, math.ceil(exact_s - 1e-6))  # the tolerance absorbs rounding noise only
                segments.append((duration_s, battery_kwh * (b - a) * 3600 / duration_s))
        return segments

    # -- the queue ----------------------------------------------------------------------------------
    def arrive(self, unit_id: str, battery_kwh: float, t_s: int) -> list[ChargeSession]:
        """A unit with a `battery_kwh` pack reaches the bay at `t_s`; it starts at once on a free charger
        or waits its turn (first come, first served)."""
        self._clock(t_s)
        if unit_id in self.sessions or unit_id in self._queued:
            raise ValidationError(f"charging bay.{unit_id}", "arrived twice")
        self._waiting.append((unit_id, t_s, tuple(self.session(battery_kwh))))
        self._queued.add(unit_id)
        return self._dispatch(t_s)

    def finish(self, charger: int, t_s: int) -> list[ChargeSession]:
        """The session on `charger` ends at `t_s` (its `done_s`); the next waiting unit takes the charger."""
        self._clock(t_s)
        if not 0 <= charger < len(self._on):
            raise ValidationError("charging bay", f"no charger {charger} (there are {len(self._on)})")
        session = self._on[charger]
        if session is None:
            raise ValidationError(f"charging bay.charger {charger}", f"is free at {t_s} s: nothing to finish")
        if t_s != session.done_s:
            raise ValidationError(
                f"charging bay.charger {charger}",
                f"the charge of {session.unit_id} ends at {session.done_s} s, not {t_s} s",
            )
        self._on[charger] = None
        self._finished.append(session)
        return self._dispatch(t_s)

    def _clock(self, t_s: int) -> None:
        if t_s < self._now:
            raise ValidationError("charging bay", f"time went back from {self._now} s to {t_s} s")
        self._now = t_s

    def _dispatch(self, t_s: int) -> list[ChargeSession]:
        started: list[ChargeSession] = []
        for charger, on in enumerate(self._on):
            if not self._waiting:
                break
            if on is None:
                unit_id, arrived_s, segments = self._waiting.popleft()
                self._queued.discard(unit_id)
                session = ChargeSession(unit_id, charger, arrived_s, t_s, segments)
                self._on[charger] = session
                self.sessions[unit_id] = session
                started.append(session)
        return started

    # -- KPIs ---------------------------------------------------------------------------------------
    @property
    def waiting(self) -> int:
        """Units queued for a charger now."""
        return len(self._waiting)

    def utilisation(self, from_s: int, to_s: int) -> float:
        """Share of the chargers' time in [from_s, to_s) spent charging (a started session's end is known,
        so one still running counts up to `to_s`)."""
        if to_s <= from_s:
            raise ValidationError("charging bay", f"utilisation needs from_s < to_s, got {from_s}, {to_s}")
        busy = sum(max(0, min(s.done_s, to_s) - max(s.started_s, from_s)) for s in self.sessions.values())
        return busy / (len(self._on) * (to_s - from_s))

    def kpis(self, from_s: int, to_s: int) -> dict[str, float]:
        """The bay over a period: units charged and kWh (sessions that ended in (from_s, to_s]), waits of the
        units that started in [from_s, to_s) (p50, p95, max), charger utilisation, and the units waiting
        now."""
        done = [s for s in self._finished if from_s < s.done_s <= to_s]
        waits = np.array([s.waited_s for s in self.sessions.values() if from_s <= s.started_s < to_s])
        p50, p95 = np.percentile(waits, [50, 95]).tolist() if len(waits) else (0.0, 0.0)
        return {
            "units_charged": len(done),
            "charged_kwh": sum(s.charged_kwh for s in done),
            "wait_p50_s": p50,
            "wait_p95_s": p95,
            "wait_max_s": float(waits.max()) if len(waits) else 0.0,
            "utilisation": self.utilisation(from_s, to_s),
            "units_waiting": self.waiting,
        }
