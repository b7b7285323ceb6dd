"""The power meter integrates a piecewise-constant draw exactly and tells the billed peak from a spike."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

from mixflow.errors import ValidationError
from mixflow.twin.power import AGV_CHARGING, MACHINES, TRUCK_CHARGING, PowerMeter


def test_energy_of_a_known_on_off_pattern_is_exact() -> None:
    meter = PowerMeter()
    meter.add(MACHINES, 100.0, 0)
    meter.add(AGV_CHARGING, 20.0, 600)
    meter.add(MACHINES, -100.0, 1800)
    meter.add(AGV_CHARGING, -20.0, 4200)
    meter.advance(5000)
    assert meter.energy_kwh(MACHINES) == pytest.approx(100 * 1800 / 3600, abs=1e-12)
    assert meter.energy_kwh(AGV_CHARGING) == pytest.approx(20 * 3600 / 3600, abs=1e-12)
    assert meter.energy_kwh(TRUCK_CHARGING) == 0.0
    assert meter.energy_kwh() == pytest.approx(70.0, abs=1e-12)
    assert meter.kw() == 0.0
    assert meter.peak_kw == 120.0
    assert meter.peak_at_s == 600


def test_a_one_minute_spike_sets_the_peak_but_not_the_15_minute_peak() -> None:
    meter = PowerMeter()
    meter.add(MACHINES, 100.0, 0)
    meter.add(TRUCK_CHARGING, 900.0, 3000)
    meter.add(TRUCK_CHARGING, -900.0, 3060)
    meter.add(MACHINES, 200.0, 5400)  # 300 kW held over the whole interval [5400, 6300)
    meter.add(MACHINES, -200.0, 6300)
    meter.advance(7200)
    assert meter.peak_kw == 1000.0
    assert meter.peak_at_s == 3000
    # the spike's interval [2700, 3600) averages (100 * 900 + 900 * 60) / 900 = 160 kW only
    assert meter.peak_15min_kw == pytest.approx(300.0)
    assert meter.peak_15min_at_s == 5400


def test_the_spike_interval_mean_is_the_energy_over_900_seconds() -> None:
    meter = PowerMeter()
    meter.add(MACHINES, 100.0, 0)
    meter.add(TRUCK_CHARGING, 900.0, 3000)
    meter.add(TRUCK_CHARGING, -900.0, 3060)
    meter.advance(7200)
    assert meter.peak_15min_kw == pytest.approx(160.0)
    assert meter.peak_15min_at_s == 2700


def test_a_spike_at_the_end_of_a_run_does_not_inflate_the_15_minute_peak() -> None:
    meter = PowerMeter()
    meter.add(MACHINES, 100.0, 0)
    meter.add(MACHINES, 900.0, 1800)
    meter.advance(1860)  # the run ends one minute into the interval [1800, 2700)
    assert meter.peak_kw == 1000.0
    assert meter.peak_15min_kw == pytest.approx(100.0)
    assert meter.peak_15min_at_s == 0


def test_a_stop_and_a_start_in_the_same_second_are_no_peak() -> None:
    meter = PowerMeter()
    meter.add(MACHINES, 50.0, 0)
    meter.add(MACHINES, 50.0, 100)  # another machine starts before the first one's stop is booked
    meter.add(MACHINES, -50.0, 100)
    meter.advance(200)
    assert meter.peak_kw == 50.0


def test_hourly_profile_is_the_mean_kw_and_sums_to_the_energy() -> None:
    meter = PowerMeter()
    meter.add(MACHINES, 100.0, 0)
    meter.add(AGV_CHARGING, 36.0, 3000)
    meter.add(MACHINES, -100.0, 5400)
    meter.advance(9000)  # two and a half hours
    profile = meter.profile()
    assert profile[MACHINES] == pytest.approx([100.0, 50.0, 0.0])
    assert profile[AGV_CHARGING] == pytest.approx([6.0, 36.0, 18.0])
    assert profile[TRUCK_CHARGING] == [0.0, 0.0, 0.0]
    for source, per_hour in profile.items():
        assert sum(per_hour) == pytest.approx(meter.energy_kwh(source))


def test_many_random_switches_integrate_without_drift_and_deterministically() -> None:
    def run() -> tuple[PowerMeter, Fraction]:
        rng = np.random.default_rng(7)
        meter = PowerMeter()
        on: list[float] = []
        expected_ws = Fraction(0)
        level_w = 0
        t = 0
        for _ in range(20_000):
            t_next = t + int(rng.integers(0, 30))
            expected_ws += level_w * (t_next - t)
            t = t_next
            if on and rng.random() < 0.5:
                kw = on.pop(int(rng.integers(len(on))))
                meter.add(MACHINES, -kw, t)
                level_w -= round(kw * 1000)
            else:
                kw = float(rng.uniform(0.1, 250.0))
                on.append(kw)
                meter.add(MACHINES, kw, t)
                level_w += round(kw * 1000)
        for kw in on:
            meter.add(MACHINES, -kw, t)
        meter.advance(t + 100)
        return meter, expected_ws / 1000 / 3600

    meter, expected_kwh = run()
    assert meter.kw() == 0.0
    assert meter.energy_kwh(MACHINES) == pytest.approx(float(expected_kwh), rel=1e-12)
    again, _ = run()
    assert (again.peak_kw, again.peak_15min_kw, again.profile()) == (
        meter.peak_kw,
        meter.peak_15min_kw,
        meter.profile(),
    )


def test_bad_changes_are_refused_with_where() -> None:
    meter = PowerMeter()
    meter.add(MACHINES, 10.0, 100)
    with pytest.raises(ValidationError, match="time went back"):
        meter.add(MACHINES, 10.0, 50)
    with pytest.raises(ValidationError, match="unknown source 'lights'"):
        meter.add("lights", 1.0, 200)
    with pytest.raises(ValidationError, match=r"power meter\.machines.*more off than was on"):
        meter.add(MACHINES, -20.0, 200)
    with pytest.raises(ValidationError, match="finite"):
        meter.add(MACHINES, float("nan"), 200)
    assert meter.kw(MACHINES) == 10.0
