"""Telemetry storage on SQLite and on the real PostgreSQL: batch insert, downsampling, alarms."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from mixflow.connect.alarms import AlarmChange
from mixflow.store.db import connect
from mixflow.store.telemetry import (
    AlarmRecord,
    TelemetryRollup,
    TelemetrySample,
    downsample,
    insert_samples,
    record_alarms,
)


def _exercise(engine: Engine) -> None:
    device = f"d-{uuid.uuid4().hex[:12]}"  # tests share the PostgreSQL database: keep to our own device
    rows = [(device, "kw", 1_000_000 + 100 * i, float(i % 10)) for i in range(600)]  # 60 s of samples
    assert insert_samples(engine, rows) == 600
    with Session(engine) as session:
        count = session.scalar(select(func.count()).where(TelemetrySample.device_id == device))
        assert count == 600
    before = downsample(engine, 1_000_000 + 30_000 + 500, bucket_s=10)  # cut falls back to a bucket edge
    assert before.cutoff_ms == 1_030_000
    with Session(engine) as session:
        left = session.scalar(select(func.count()).where(TelemetrySample.device_id == device))
        rollups = session.scalars(
            select(TelemetryRollup)
            .where(TelemetryRollup.device_id == device)
            .order_by(TelemetryRollup.bucket_ms)
        ).all()
    assert left == 300
    assert [r.bucket_ms for r in rollups] == [1_000_000, 1_010_000, 1_020_000]
    assert all(r.count == 100 and r.min_value == 0 and r.max_value == 9 for r in rollups)
    assert rollups[0].mean_value == pytest.approx(4.5)
    record_alarms(engine, [AlarmChange(device, "hot", True, 5, 90.0, "temp_c=90")])
    record_alarms(engine, [AlarmChange(device, "hot", False, 9, 70.0, "back")])
    with Session(engine) as session:
        [alarm] = session.scalars(select(AlarmRecord).where(AlarmRecord.device_id == device)).all()
    assert (alarm.raised_ms, alarm.cleared_ms, alarm.value) == (5, 9, 90.0)


def test_sqlite_store(tmp_path: Path) -> None:
    engine, _ = connect(f"sqlite:///{tmp_path / 't.db'}")
    _exercise(engine)


@pytest.mark.services
def test_postgresql_store_uses_copy(postgres_url: str) -> None:
    engine, _ = connect(postgres_url)
    _exercise(engine)
