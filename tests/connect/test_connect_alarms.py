from __future__ import annotations

import pytest

from mixflow.connect.alarms import AlarmEngine, Offline, RateOfChange, Threshold
from mixflow.errors import ValidationError


def test_threshold_raises_once_and_clears_with_hysteresis() -> None:
    engine = AlarmEngine([Threshold("hot", "temp_c", high=80, hysteresis=5)])
    assert engine.observe("m1", "machine", 0, {"temp_c": 70}) == []
    raised = engine.observe("m1", "machine", 1000, {"temp_c": 85})
    assert [(c.rule, c.raised, c.value) for c in raised] == [("hot", True, 85)]
    assert engine.observe("m1", "machine", 2000, {"temp_c": 90}) == []  # already active
    assert engine.observe("m1", "machine", 3000, {"temp_c": 78}) == []  # inside the hysteresis band
    cleared = engine.observe("m1", "machine", 4000, {"temp_c": 74})
    assert [(c.raised, c.t_ms) for c in cleared] == [(False, 4000)]
    assert engine.observe("m2", "machine", 4000, {"temp_c": 74}) == []


def test_rate_of_change_compares_consecutive_samples_of_a_device() -> None:
    engine = AlarmEngine([RateOfChange("surge", "kw", max_per_s=10, kind="machine")])
    assert engine.observe("m1", "machine", 0, {"kw": 5}) == []
    assert engine.observe("m1", "machine", 1000, {"kw": 14}) == []  # 9 kW/s
    assert [c.raised for c in engine.observe("m1", "machine", 1500, {"kw": 30})] == [True]  # 32 kW/s
    assert [c.raised for c in engine.observe("m1", "machine", 2500, {"kw": 31})] == [False]
    assert engine.observe("a1", "agv", 0, {"kw": 0}) == []
    assert engine.observe("a1", "agv", 100, {"kw": 100}) == []  # rule is for machines only


def test_offline_rule_pairs_raise_and_clear() -> None:
    engine = AlarmEngine([Offline(kind="agv")])
    assert [c.raised for c in engine.liveness("a1", "agv", False, 10)] == [True]
    assert engine.liveness("a1", "agv", False, 20) == []
    assert [c.raised for c in engine.liveness("a1", "agv", True, 30)] == [False]
    assert engine.liveness("m1", "machine", False, 10) == []


def test_rules_are_validated() -> None:
    with pytest.raises(ValidationError, match="below high"):
        Threshold("t", "x", high=1, low=2)
    with pytest.raises(ValidationError, match="positive"):
        RateOfChange("r", "x", max_per_s=0)
    with pytest.raises(ValidationError, match="unique"):
        AlarmEngine([Offline(), Offline()])


def test_offline_detection_is_on_unless_switched_off() -> None:
    for engine in (AlarmEngine(), AlarmEngine([Threshold("hot", "temp_c", high=80)])):
        for online, t_ms in ((False, 10), (True, 20)):
            changes = engine.liveness("m1", "machine", online, t_ms)
            assert [(c.rule, c.raised) for c in changes] == [("offline", not online)]
    assert AlarmEngine(offline=False).liveness("m1", "machine", False, 10) == []
    assert [rule.name for rule in AlarmEngine([Offline("silent", kind="agv")]).rules] == ["silent"]
