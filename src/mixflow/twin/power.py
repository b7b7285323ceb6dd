"""The plant's power draw over time: energy per source, the peak, the billed 15-minute peak, hourly profile.

The draw is piecewise constant: the twin switches a source's load on and off at integer seconds
(a machine starts an operation, an AGV docks, a truck's charge enters the next piece of its curve),
and between two changes the meter integrates exactly. Levels are kept in whole watts and energy in
joules, both integers, so a load switched on and later off with the same kW cancels exactly: no drift
over the tens of thousands of changes of a day, and a level never goes spuriously negative.

A peak that lasts one second is not what a utility bills: the demand charge is on the highest mean
power over a 15-minute demand interval, the intervals fixed on the clock (:00, :15, :30, :45 when the
epoch is midnight) as a utility meter registers them. The meter keeps both.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from mixflow.errors import ValidationError

MACHINES = "machines"
AGV_CHARGING = "agv_charging"
TRUCK_CHARGING = "truck_charging"
SOURCES = (MACHINES, AGV_CHARGING, TRUCK_CHARGING)
"""The classes of load the twin meters: machines running operations, AGVs and trucks charging."""

DEMAND_INTERVAL_S = 900
"""The utility's demand interval: the billed peak is the highest mean power over one of these."""
HOUR_S = 3600
_J_PER_KWH = 3_600_000


class PowerMeter:
    """Piecewise-constant power draw per source from the epoch (t = 0) on, read as energy, peaks and an
    hourly profile.

    `add` costs O(1) plus one step per demand interval or hour boundary crossed since the last call,
    so a run's whole metering is linear in its changes plus its length in quarter hours. A level
    counts towards `peak_kw` once it has held for at least a second; the levels up to `now_s` are in
    every reading, so call `advance(end_s)` at the end of a run.
    """

    def __init__(self, sources: Sequence[str] = SOURCES) -> None:
        if not sources or len(set(sources)) != len(sources):
            raise ValidationError("power meter", f"needs distinct source names, got {list(sources)}")
        self._w = dict.fromkeys(sources, 0)
        self._total_w = 0
        self._energy_j = dict.fromkeys(sources, 0)
        self._hour_j: dict[str, list[int]] = {s: [] for s in sources}
        self._now = 0
        self._peak_w = 0
        self._peak_at = 0
        self._quarter = 0
        self._quarter_j = 0
        self._peak_quarter_j = 0
        self._peak_quarter = 0

    # -- changes ------------------------------------------------------------------------------------
    def add(self, source: str, kw: float, t_s: int) -> None:
        """From `t_s` on, `source` draws `kw` more (negative: less; a load switched off is its kW taken
        back)."""
        if source not in self._w:
            raise ValidationError("power meter", f"unknown source {source!r} (known: {', '.join(self._w)})")
        if not math.isfinite(kw):
            raise ValidationError(f"power meter.{source}", f"kw must be finite, got {kw}")
        self.advance(t_s)
        level = self._w[source] + round(kw * 1000)
        if level < 0:
            raise ValidationError(
                f"power meter.{source}",
                f"switching off {-kw} kW at {t_s} s leaves {level / 1000} kW: more off than was on",
            )
        self._total_w += level - self._w[source]
        self._w[source] = level

    def advance(self, t_s: int) -> None:
        """Integrate the present draw up to `t_s` (the twin's clock never goes back)."""
        if t_s < self._now:
            raise ValidationError("power meter", f"time went back from {self._now} s to {t_s} s")
        if t_s > self._now and self._total_w > self._peak_w:
            self._peak_w, self._peak_at = self._total_w, self._now
        while self._now < t_s:
            quarter = self._now // DEMAND_INTERVAL_S
            hour = self._now // HOUR_S
            end = min(t_s, (quarter + 1) * DEMAND_INTERVAL_S)  # hours end on quarter boundaries too
            dt = end - self._now
            if quarter != self._quarter:
                self._close_quarter()
                self._quarter = quarter
            self._quarter_j += self._total_w * dt
            for source, w in self._w.items():
                hours = self._hour_j[source]
                if len(hours) <= hour:
                    hours.extend([0] * (hour + 1 - len(hours)))
                if w:
                    self._energy_j[source] += w * dt
                    hours[hour] += w * dt
            self._now = end

    def _close_quarter(self) -> None:
        if self._quarter_j > self._peak_quarter_j:
            self._peak_quarter_j, self._peak_quarter = self._quarter_j, self._quarter
        self._quarter_j = 0

    # -- readings -----------------------------------------------------------------------------------
    @property
    def now_s(self) -> int:
        """The time up to which the meter has integrated."""
        return self._now

    def kw(self, source: str | None = None) -> float:
        """The draw now, of `source` or (None) of the whole plant."""
        return (self._total_w if source is None else self._w[source]) / 1000

    @property
    def peak_kw(self) -> float:
        """The highest total draw held for at least a second."""
        return self._peak_w / 1000

    @property
    def peak_at_s(self) -> int:
        """When the highest total draw began (its first occurrence)."""
        return self._peak_at

    @property
    def peak_15min_kw(self) -> float:
        """The highest mean total draw over a demand interval, what the demand charge bills. An interval
        the run covers only in part (the present one) counts its energy over the whole 900 s, as if the
        plant drew nothing outside the run: a short spike at the end of a run cannot inflate it."""
        return max(self._peak_quarter_j, self._quarter_j) / DEMAND_INTERVAL_S / 1000

    @property
    def peak_15min_at_s(self) -> int:
        """Start of the demand interval with the highest mean draw."""
        if self._quarter_j > self._peak_quarter_j:
            return self._quarter * DEMAND_INTERVAL_S
        return self._peak_quarter * DEMAND_INTERVAL_S

    def energy_kwh(self, source: str | None = None) -> float:
        """Energy drawn from the epoch to `now_s`, by `source` or (None) by the whole plant."""
        joules = sum(self._energy_j.values()) if source is None else self._energy_j[source]
        return joules / _J_PER_KWH

    def profile(self) -> dict[str, list[float]]:
        """Mean kW per clock hour of the run, per source; the last hour, if the run ends inside it, is
        its energy over the whole hour, so each list sums to the source's `energy_kwh`."""
        hours = -(-self._now // HOUR_S)
        return {
            source: [j / _J_PER_KWH for j in per_hour] + [0.0] * (hours - len(per_hour))
            for source, per_hour in self._hour_j.items()
        }
