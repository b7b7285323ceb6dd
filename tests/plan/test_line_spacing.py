"""Spacers: a released truck gets the empty pitches a station's worker needs to catch up, no more."""

from __future__ import annotations

import numpy as np
import pytest

from mixflow.errors import ValidationError
from mixflow.model import AssemblyLine
from mixflow.model.plant import Calendar, Station
from mixflow.plan import PlanOptions
from mixflow.plan.line_spacing import LineSpacing

LINE = AssemblyLine(
    "L", (Station("S1", 0, (0,), (0, 0)), Station("S2", 1, (1,), (1, 0))), 240, Calendar(((0, 57600),))
)
LIGHT, HEAVY = np.array([230, 200]), np.array([320, 200])


def test_a_heavy_truck_after_a_heavy_one_gets_a_spacer() -> None:
    spacing = LineSpacing(LINE, max_spacing=2)
    # carry at S1: 80 after the first heavy truck; a second one would make it 160 > drift 120
    assert [spacing.release(w) for w in (HEAVY, HEAVY)] == [0, 1]
    assert spacing.carry.tolist() == [80, 0]  # the spacer took the first truck's overrun off


def test_light_trucks_between_pay_the_overrun_back_slowly() -> None:
    spacing = LineSpacing(LINE, max_spacing=2)
    # each light truck takes 10 s off the carry at S1: 80 -> 50 after three (50 + 80 = 130 > 120 drift),
    # 40 after four (40 + 80 = 120 fits)
    assert [spacing.release(w) for w in (HEAVY, LIGHT, LIGHT, LIGHT, HEAVY)] == [0, 0, 0, 0, 1]
    spacing = LineSpacing(LINE, max_spacing=2)
    assert [spacing.release(w) for w in (HEAVY, LIGHT, LIGHT, LIGHT, LIGHT, HEAVY)] == [0] * 6


def test_no_spacer_for_work_no_spacer_can_fix_and_none_when_switched_off() -> None:
    spacing = LineSpacing(LINE, max_spacing=2)
    too_long = np.array([400, 200])  # beyond takt + drift: it overruns after any number of empty pitches
    assert [spacing.release(w) for w in (too_long, too_long)] == [0, 0]
    off = LineSpacing(LINE, max_spacing=0)
    assert [off.release(w) for w in (HEAVY, HEAVY, HEAVY)] == [0, 0, 0]
    assert off.carry.tolist() == [240, 0]  # 80 a truck: the line would stop
    with pytest.raises(ValidationError, match="max_spacing"):
        PlanOptions(max_spacing=-1)
