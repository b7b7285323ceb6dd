"""The charging bay charges packs along the power curve exactly and serves trucks first come, first served."""

from __future__ import annotations

from itertools import pairwise

import numpy as np
import pytest

from mixflow.errors import ValidationError
from mixflow.model import ChargingBay
from mixflow.twin.charging_bay import ChargeSession, ChargingBayState
from mixflow.twin.power import TRUCK_CHARGING, PowerMeter

FLAT = ((0.0, 1.0), (1.0, 1.0))


def _reference_s(bay: ChargingBay, battery_kwh: float, n: int = 200_000) -> float:
    """Charging time by the midpoint rule: battery * integral of ds / P(s) from start to target."""
    edges = np.linspace(bay.start_soc, bay.target_soc, n + 1)
    mid = (edges[:-1] + edges[1:]) / 2
    socs, shares = zip(*bay.curve, strict=True)
    power = bay.power_kw * np.interp(mid, socs, shares)
    return float(np.sum(battery_kwh * np.diff(edges) / power) * 3600)


def test_flat_curve_takes_battery_times_dsoc_over_power() -> None:
    bay = ChargingBayState(ChargingBay(1, power_kw=1000.0, curve=FLAT, start_soc=0.1, target_soc=0.8))
    assert bay.session(500.0) == [(1260, pytest.approx(1000.0))]  # 350 kWh at 1 MW


def test_tapered_curve_matches_a_numerical_reference_and_takes_longer() -> None:
    tapered = ChargingBay(chargers=1, power_kw=1000.0)  # full power to 60 %, then down to half at 80 %
    segments = ChargingBayState(tapered).session(600.0)
    total_s = sum(d for d, _ in segments)
    reference_s = _reference_s(tapered, 600.0)
    assert reference_s <= total_s < reference_s + len(segments)  # each piece rounded up to whole seconds
    flat_s = sum(d for d, _ in ChargingBayState(ChargingBay(1, 1000.0, curve=FLAT)).session(600.0))
    assert total_s > flat_s + 60
    assert sum(d * kw for d, kw in segments) / 3600 == pytest.approx(600.0 * (0.8 - 0.1), rel=1e-12)


def test_taper_is_stepped_at_decreasing_power_each_piece_exact() -> None:
    bay = ChargingBay(chargers=1, power_kw=1000.0, curve=((0.0, 1.0), (0.6, 1.0), (0.8, 0.5), (1.0, 0.1)))
    segments = ChargingBayState(bay, taper_step_soc=0.05).session(600.0)
    assert len(segments) == 1 + 4  # the flat piece whole, the taper 0.6 -> 0.8 in four steps
    kws = [kw for _, kw in segments]
    assert kws[0] == pytest.approx(1000.0)
    assert max(kws) <= 1000.0  # rounding to whole seconds never draws above the charger's power
    assert all(a > b for a, b in pairwise(kws))
    assert 500.0 < kws[-1] < 1000.0
    # each step's duration against the reference over its own soc range
    for j, (duration_s, _) in enumerate(segments[1:]):
        lo = 0.6 + 0.05 * j
        piece = ChargingBay(1, 1000.0, curve=bay.curve, start_soc=lo, target_soc=lo + 0.05)
        assert 0 <= duration_s - _reference_s(piece, 600.0) < 1


def test_a_tiny_pack_still_gets_whole_seconds_of_at_least_one() -> None:
    segments = ChargingBayState(ChargingBay(1, 1000.0)).session(0.01)
    assert all(isinstance(d, int) and d >= 1 for d, _ in segments)
    assert sum(d * kw for d, kw in segments) / 3600 == pytest.approx(0.01 * 0.7)


def test_battery_from_attributes_and_bad_packs() -> None:
    bay = ChargingBayState(ChargingBay(1, 1000.0, battery_attribute="pack_kwh"))
    assert bay.battery_kwh({"pack_kwh": 423.0, "weight_kg": 900.0}) == 423.0
    assert bay.battery_kwh({"weight_kg": 900.0}) == 0.0
    with pytest.raises(ValidationError, match="attribute pack_kwh"):
        bay.battery_kwh({"pack_kwh": -1.0})
    with pytest.raises(ValidationError, match="battery_kwh > 0"):
        bay.session(0.0)
    with pytest.raises(ValidationError, match="battery_kwh > 0"):
        bay.arrive("T1", 0.0, 0)


def test_two_chargers_three_trucks_the_third_waits_until_the_first_finishes() -> None:
    bay = ChargingBayState(ChargingBay(chargers=2, power_kw=1000.0))
    first = bay.arrive("T1", 500.0, 0)
    second = bay.arrive("T2", 600.0, 10)
    assert [(s.unit_id, s.charger, s.started_s) for s in first + second] == [("T1", 0, 0), ("T2", 1, 10)]
    assert bay.arrive("T3", 500.0, 20) == []
    assert bay.waiting == 1
    t1 = first[0]
    assert t1.done_s < second[0].done_s  # the smaller pack is done first
    third = bay.finish(0, t1.done_s)
    assert [(s.unit_id, s.charger, s.started_s, s.waited_s) for s in third] == [
        ("T3", 0, t1.done_s, t1.done_s - 20)
    ]
    assert bay.finish(1, second[0].done_s) == []
    assert bay.finish(0, third[0].done_s) == []
    end = third[0].done_s
    kpis = bay.kpis(0, end)
    assert kpis["units_charged"] == 3
    assert kpis["charged_kwh"] == pytest.approx((500 + 600 + 500) * 0.7)
    assert kpis["wait_max_s"] == t1.done_s - 20
    assert kpis["wait_p50_s"] == 0.0
    busy = t1.charge_s + second[0].charge_s + third[0].charge_s
    assert kpis["utilisation"] == pytest.approx(busy / (2 * end))
    assert kpis["units_waiting"] == 0


def test_utilisation_counts_only_the_period() -> None:
    bay = ChargingBayState(ChargingBay(chargers=2, power_kw=1000.0, curve=FLAT))
    (session,) = bay.arrive("T1", 1000.0 / 0.7, 0)  # 1000 kWh at 1 MW: one hour
    assert session.done_s == 3600
    assert bay.utilisation(0, 3600) == pytest.approx(0.5)
    assert bay.utilisation(1800, 7200) == pytest.approx(1800 / (2 * 5400))


def test_the_bay_refuses_impossible_events() -> None:
    bay = ChargingBayState(ChargingBay(chargers=1, power_kw=1000.0))
    (session,) = bay.arrive("T1", 500.0, 100)
    with pytest.raises(ValidationError, match="arrived twice"):
        bay.arrive("T1", 500.0, 100)
    with pytest.raises(ValidationError, match=f"ends at {session.done_s} s"):
        bay.finish(0, session.done_s - 1)
    with pytest.raises(ValidationError, match="no charger 1"):
        bay.finish(1, session.done_s)
    bay.finish(0, session.done_s)
    with pytest.raises(ValidationError, match="is free"):
        bay.finish(0, session.done_s)
    with pytest.raises(ValidationError, match="time went back"):
        bay.arrive("T2", 500.0, 0)


def test_sessions_feed_the_power_meter_exactly_and_runs_repeat() -> None:
    def run() -> tuple[ChargingBayState, PowerMeter]:
        bay = ChargingBayState(ChargingBay(chargers=2, power_kw=1000.0))
        meter = PowerMeter()
        events: list[tuple[int, int, str, float]] = []  # (t, kind, ...): changes before arrivals

        def started(sessions: list[ChargeSession]) -> None:
            for s in sessions:
                events.extend((t, 0, f"{s.charger}", kw) for t, kw in s.power_changes())
                events.append((s.done_s, 1, f"{s.charger}", 0.0))

        for k, (t, pack) in enumerate([(0, 500.0), (100, 400.0), (200, 600.0), (300, 350.0)]):
            events.append((t, 2, f"T{k}", pack))
        while events:
            events.sort()
            t, kind, name, value = events.pop(0)
            if kind == 0:
                meter.add(TRUCK_CHARGING, value, t)
            elif kind == 1:
                started(bay.finish(int(name), t))
            else:
                started(bay.arrive(name, value, t))
        return bay, meter

    bay, meter = run()
    assert meter.kw() == 0.0
    assert meter.energy_kwh(TRUCK_CHARGING) == pytest.approx((500 + 400 + 600 + 350) * 0.7, rel=1e-6)
    assert meter.peak_kw == pytest.approx(2000.0)
    again, again_meter = run()
    assert again.sessions == bay.sessions
    assert again_meter.profile() == meter.profile()
