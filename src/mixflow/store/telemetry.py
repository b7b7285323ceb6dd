"""Telemetry, alarms, devices, dead letters and gateway starts of the industrial-internet gateway
(`mixflow.connect`).

Samples are narrow rows (device, metric, time, value), written in batches: `executemany` on SQLite,
`COPY` on PostgreSQL, because row-at-a-time ORM inserts cap out two orders of magnitude below the
plant's message rate. Old samples are downsampled into per-bucket rollups (count, min, max, mean) and
deleted, so raw data stays bounded while trends stay queryable.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy import (
    BigInteger,
    Boolean,
    Engine,
    Float,
    Index,
    Integer,
    LargeBinary,
    String,
    select,
    text,
    update,
)
from sqlalchemy.orm import Mapped, Session, mapped_column

from mixflow.errors import ValidationError
from mixflow.store.db import Base

_ID = BigInteger().with_variant(Integer, "sqlite")  # SQLite's rowid alias needs INTEGER


class TelemetrySample(Base):
    """One measurement of one device at one instant (Unix milliseconds)."""

    __tablename__ = "telemetry_sample"
    __table_args__ = (Index("ix_telemetry_sample_device_metric_at", "device_id", "metric", "at_ms"),)

    id: Mapped[int] = mapped_column(_ID, primary_key=True, autoincrement=True)
    device_id: Mapped[str] = mapped_column(String(64))
    metric: Mapped[str] = mapped_column(String(64))
    at_ms: Mapped[int] = mapped_column(BigInteger)
    value: Mapped[float] = mapped_column(Float)


class TelemetryRollup(Base):
    """Samples of one device and metric within one bucket, summarised; a late bucket may add a row."""

    __tablename__ = "telemetry_rollup"
    __table_args__ = (Index("ix_telemetry_rollup_device_metric_bucket", "device_id", "metric", "bucket_ms"),)

    id: Mapped[int] = mapped_column(_ID, primary_key=True, autoincrement=True)
    device_id: Mapped[str] = mapped_column(String(64))
    metric: Mapped[str] = mapped_column(String(64))
    bucket_ms: Mapped[int] = mapped_column(BigInteger)
    bucket_s: Mapped[int] = mapped_column(Integer)
    count: Mapped[int] = mapped_column(Integer)
    min_value: Mapped[float] = mapped_column(Float)
    max_value: Mapped[float] = mapped_column(Float)
    mean_value: Mapped[float] = mapped_column(Float)


class AlarmRecord(Base):
    """An alarm raised on a device by a rule; `cleared_ms` is null while it is active."""

    __tablename__ = "connect_alarm"

    id: Mapped[int] = mapped_column(_ID, primary_key=True, autoincrement=True)
    device_id: Mapped[str] = mapped_column(String(64), index=True)
    rule: Mapped[str] = mapped_column(String(64))
    raised_ms: Mapped[int] = mapped_column(BigInteger)
    cleared_ms: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    value: Mapped[float] = mapped_column(Float)
    message: Mapped[str] = mapped_column(String(256))


class DeviceRecord(Base):
    """A registered device of one plant: its kind, its credential hash (Mosquitto's PBKDF2 format) and
    liveness. Keyed by plant and device: two plants in one database may both have a machine `m0001`."""

    __tablename__ = "connect_device"

    plant: Mapped[str] = mapped_column(String(64), primary_key=True)
    device_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    password_hash: Mapped[str] = mapped_column(String(256))
    last_seen_ms: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    online: Mapped[bool] = mapped_column(Boolean, default=False)


class DeadLetterRecord(Base):
    """A message the gateway refused or the store would not take, kept with the reason so that an
    operator can see what was lost and why (the rest of its batch was stored and acknowledged)."""

    __tablename__ = "connect_dead_letter"
    __table_args__ = (Index("ix_connect_dead_letter_plant_at", "plant", "at_ms"),)

    id: Mapped[int] = mapped_column(_ID, primary_key=True, autoincrement=True)
    plant: Mapped[str] = mapped_column(String(64))
    at_ms: Mapped[int] = mapped_column(BigInteger)
    device_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    reason: Mapped[str] = mapped_column(String(32))
    topic: Mapped[str] = mapped_column(String(512))
    detail: Mapped[str] = mapped_column(String(512))
    excerpt: Mapped[bytes] = mapped_column(LargeBinary)


class GatewayStart(Base):
    """How many times a gateway of a plant has started: the epoch in its command ids, so that ids stay
    unique across restarts and a device that skips repeated ids never skips a new command."""

    __tablename__ = "connect_gateway_start"

    plant: Mapped[str] = mapped_column(String(64), primary_key=True)
    gateway_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    starts: Mapped[int] = mapped_column(Integer)


Row = tuple[str, str, int, float]  # device_id, metric, at_ms, value


class AlarmChangeLike(Protocol):
    """What the store needs of an alarm change (`mixflow.connect.alarms.AlarmChange` has it)."""

    @property
    def device_id(self) -> str: ...

    @property
    def rule(self) -> str: ...

    @property
    def raised(self) -> bool: ...

    @property
    def t_ms(self) -> int: ...

    @property
    def value(self) -> float: ...

    @property
    def message(self) -> str: ...


def insert_samples(engine: Engine, rows: Sequence[Row]) -> int:
    """Store a batch of samples in one transaction; returns the number stored."""
    if not rows:
        return 0
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        if engine.dialect.name == "postgresql":
            with cursor.copy("COPY telemetry_sample (device_id, metric, at_ms, value) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        else:
            cursor.executemany(
                "INSERT INTO telemetry_sample (device_id, metric, at_ms, value) VALUES (?, ?, ?, ?)", rows
            )
        raw.commit()
    finally:
        raw.close()
    return len(rows)


@dataclass(frozen=True)
class Downsampled:
    """What one downsampling pass did."""

    cutoff_ms: int
    samples_removed: int
    rollups_added: int


def downsample(engine: Engine, older_than_ms: int, bucket_s: int) -> Downsampled:
    """Roll samples older than `older_than_ms` (cut at a bucket boundary) into `bucket_s` rollups."""
    if bucket_s <= 0:
        raise ValidationError("bucket_s", f"must be positive, got {bucket_s}")
    width = bucket_s * 1000
    cutoff = (older_than_ms // width) * width
    with engine.begin() as connection:
        added = connection.execute(
            text(
                "INSERT INTO telemetry_rollup (device_id, metric, bucket_ms, bucket_s, count, min_value,"
                " max_value, mean_value) SELECT device_id, metric, (at_ms / :width) * :width, :bucket_s,"
                " COUNT(*), MIN(value), MAX(value), AVG(value) FROM telemetry_sample WHERE at_ms < :cutoff"
                " GROUP BY device_id, metric, (at_ms / :width) * :width"
            ),
            {"width": width, "bucket_s": bucket_s, "cutoff": cutoff},
        ).rowcount
        removed = connection.execute(
            text("DELETE FROM telemetry_sample WHERE at_ms < :cutoff"), {"cutoff": cutoff}
        ).rowcount
    return Downsampled(cutoff, removed, added)


def count_samples(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(connection.execute(text("SELECT COUNT(*) FROM telemetry_sample")).scalar_one())


def record_alarms(engine: Engine, changes: Sequence[AlarmChangeLike]) -> None:
    """Store raised alarms and close the active record of each cleared one."""
    with Session(engine) as session, session.begin():
        for change in changes:
            if change.raised:
                session.add(
                    AlarmRecord(
                        device_id=change.device_id,
                        rule=change.rule,
                        raised_ms=change.t_ms,
                        cleared_ms=None,
                        value=change.value,
                        message=change.message[:256],
                    )
                )
                session.flush()
            else:
                session.execute(
                    update(AlarmRecord)
                    .where(
                        AlarmRecord.device_id == change.device_id,
                        AlarmRecord.rule == change.rule,
                        AlarmRecord.cleared_ms.is_(None),
                    )
                    .values(cleared_ms=change.t_ms)
                )


@dataclass(frozen=True)
class DeadLetterRow:
    """One dead letter to store (`mixflow.connect.ingest.DeadLetter` plus where and when)."""

    at_ms: int
    device_id: str | None
    reason: str
    topic: str
    detail: str
    excerpt: bytes


def record_dead_letters(engine: Engine, plant: str, letters: Sequence[DeadLetterRow]) -> None:
    """Store dead letters in one transaction (topic and detail cut to their columns)."""
    if not letters:
        return
    with Session(engine) as session, session.begin():
        session.add_all(
            DeadLetterRecord(
                plant=plant,
                at_ms=letter.at_ms,
                device_id=letter.device_id,
                reason=letter.reason[:32],
                topic=letter.topic[:512],
                detail=letter.detail[:512],
                excerpt=letter.excerpt,
            )
            for letter in letters
        )


def dead_letters(engine: Engine, plant: str, limit: int = 1000) -> list[DeadLetterRecord]:
    """The latest dead letters of a plant, newest first."""
    with Session(engine) as session:
        query = (
            select(DeadLetterRecord)
            .where(DeadLetterRecord.plant == plant)
            .order_by(DeadLetterRecord.id.desc())
            .limit(limit)
        )
        return list(session.scalars(query))


def next_gateway_start(engine: Engine, plant: str, gateway_id: str) -> int:
    """Count one more start of this gateway and return the count (1 on its first start).

    The row is locked while it is counted, so two processes started at once with the same id still
    get different numbers."""
    with Session(engine) as session, session.begin():
        row = session.scalars(
            select(GatewayStart)
            .where(GatewayStart.plant == plant, GatewayStart.gateway_id == gateway_id)
            .with_for_update()
        ).one_or_none()
        if row is None:
            row = GatewayStart(plant=plant, gateway_id=gateway_id, starts=0)
            session.add(row)
        row.starts += 1
        return row.starts
