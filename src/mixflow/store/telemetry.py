"""Telemetry, alarms, devices, dead letters and gateway starts of the industrial-internet gateway
(`mixflow.connect`).

Samples are narrow rows (device, metric, time, value), written in batches: `executemany` on SQLite,
`COPY` on PostgreSQL, because row-at-a-time ORM inserts cap out two orders of magnitude below the
plant's message rate. A batch holding a value the database refuses is not retried forever: the
refused messages are found by bisection and stored as dead letters, in the same transaction as the
rest. Old samples are downsampled into per-bucket rollups (count, min, max, mean) and deleted, so raw
data stays bounded while trends stay queryable.
"""

from __future__ import annotations

import itertools
import sqlite3
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import psycopg
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


class DeviceMark(Base):
    """The (boot, seq) of the latest message of a device whose batch is stored: committed with the
    batch, so after a crash the gateway knows which re-delivered messages it already holds."""

    __tablename__ = "connect_device_mark"

    plant: Mapped[str] = mapped_column(String(64), primary_key=True)
    device_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    boot: Mapped[int] = mapped_column(BigInteger)
    seq: Mapped[int] = mapped_column(BigInteger)


Row = tuple[str, str, int, float]  # device_id, metric, at_ms, value
Mark = tuple[int, int]  # boot, seq


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


DATA_ERRORS = (
    psycopg.DataError,
    psycopg.IntegrityError,
    sqlite3.DataError,
    sqlite3.IntegrityError,
    OverflowError,
)
"""What the database raises for a value it will not hold (NUL in text, a number out of range): retrying
cannot help, unlike an outage (`OperationalError`, a refused connection)."""


class CommitInDoubt(Exception):
    """The connection broke during COMMIT: the server may have committed or not. Retrying blindly
    would store the batch twice; `commit_status(txid)` says which it was once the store is back."""

    def __init__(self, txid: int) -> None:
        super().__init__(f"the connection broke during COMMIT of transaction {txid}: outcome unknown")
        self.txid = txid


def commit_status(engine: Engine, txid: int) -> bool | None:
    """Whether transaction `txid` (from `CommitInDoubt`) committed: True, False, or None while the
    server still runs it (its connection's death not noticed yet). Raises on an outage."""
    with engine.connect() as connection:
        status = connection.execute(text("SELECT txid_status(:txid)"), {"txid": txid}).scalar()
    if status == "in progress":
        return None
    return status == "committed"  # 'aborted', or NULL for an xid too old to know: it is long over


STORE_OUTAGES = (psycopg.Error, sqlite3.Error, OSError)
"""What a raw DB-API call raises when the database goes away (or refuses a value: `refused_by_data`)."""


def refused_by_data(error: BaseException) -> bool:
    """True when `error` (raw, or wrapped by SQLAlchemy) refuses a value rather than reports an outage."""
    return isinstance(getattr(error, "orig", None) or error, DATA_ERRORS)


def _write_samples(cursor: Any, postgresql: bool, rows: Sequence[Row]) -> None:
    if postgresql:
        with cursor.copy("COPY telemetry_sample (device_id, metric, at_ms, value) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
    else:
        cursor.executemany(
            "INSERT INTO telemetry_sample (device_id, metric, at_ms, value) VALUES (?, ?, ?, ?)", rows
        )


def insert_samples(engine: Engine, rows: Sequence[Row]) -> int:
    """Store a batch of samples in one transaction; returns the number stored."""
    if rows:
        store_samples(engine, "", rows, (), None)
    return len(rows)


Quarantine = Callable[[Sequence[Row], str], "DeadLetterRow"]
"""Makes the dead letter of one message's rows that the database refused, given its error message."""


def store_samples(
    engine: Engine,
    plant: str,
    rows: Sequence[Row],
    letters: Sequence[DeadLetterRow],
    quarantine: Quarantine | None,
    ends: Sequence[int] = (),
    marks: Mapping[str, Mark] | None = None,
) -> list[DeadLetterRow]:
    """Store samples, dead letters and the devices' high-water marks in one transaction, all or
    nothing; returns the dead letters made of refused rows (already stored with the rest).

    `ends` says where each message's rows end (without it, a message is a run of one device and
    time). When the database refuses a value, the batch is redone with each half in a savepoint, down
    to single messages, so that one poisonous message costs a few round trips instead of the whole
    batch; without `quarantine` the refusal is raised. An outage raises too, with nothing stored: the
    caller keeps the batch and retries. When PostgreSQL's connection breaks during COMMIT itself,
    `CommitInDoubt` names the transaction, so that the caller can ask whether it committed before it
    retries (SQLite commits in-process: no doubt there)."""
    raw = engine.raw_connection()
    postgresql = engine.dialect.name == "postgresql"
    refused: list[DeadLetterRow] = []
    try:
        cursor = raw.cursor()
        txid = cursor.execute("SELECT txid_current()").fetchone()[0] if postgresql else 0
        try:
            if rows:
                _write_samples(cursor, postgresql, rows)
        except DATA_ERRORS:
            if quarantine is None:
                raise
            raw.rollback()
            if not postgresql:
                cursor.execute("BEGIN")  # else sqlite3 would commit when the first savepoint is released
            _isolate(cursor, postgresql, rows, _message_starts(rows, ends), quarantine, refused)
        _write_letters(cursor, postgresql, plant, [*letters, *refused])
        if marks:
            _write_marks(cursor, postgresql, plant, marks)
        try:
            raw.commit()
        except STORE_OUTAGES as error:
            if postgresql and not refused_by_data(error):
                raise CommitInDoubt(txid) from error
            raise
    except BaseException as error:
        if refused_by_data(error):
            raw.rollback()
        else:
            raw.invalidate()  # likely cut off: never hand this connection out again
        raise
    finally:
        raw.close()
    return refused


def _message_starts(rows: Sequence[Row], ends: Sequence[int]) -> list[int]:
    """Index of the first row of each message, plus len(rows)."""
    if ends and ends[-1] == len(rows) and all(a <= b for a, b in itertools.pairwise(ends)):
        return sorted({0, *ends})  # messages without rows (events, acks) leave no empty range
    starts = [0]
    for k in range(1, len(rows)):
        if rows[k][0] != rows[k - 1][0] or rows[k][2] != rows[k - 1][2]:
            starts.append(k)
    starts.append(len(rows))
    return starts


def _isolate(
    cursor: Any,
    postgresql: bool,
    rows: Sequence[Row],
    starts: list[int],
    quarantine: Quarantine,
    refused: list[DeadLetterRow],
) -> None:
    """Insert the messages starts[0]..starts[-1] in a savepoint; bisect those the database refuses."""
    chunk = rows[starts[0] : starts[-1]]
    cursor.execute("SAVEPOINT mixflow_samples")
    try:
        _write_samples(cursor, postgresql, chunk)
    except DATA_ERRORS as error:
        cursor.execute("ROLLBACK TO SAVEPOINT mixflow_samples")
        cursor.execute("RELEASE SAVEPOINT mixflow_samples")
        if len(starts) == 2:
            refused.append(quarantine(chunk, str(error).split("\n", 1)[0]))
            return
        middle = len(starts) // 2
        _isolate(cursor, postgresql, rows, starts[: middle + 1], quarantine, refused)
        _isolate(cursor, postgresql, rows, starts[middle:], quarantine, refused)
        return
    cursor.execute("RELEASE SAVEPOINT mixflow_samples")


def _write_marks(cursor: Any, postgresql: bool, plant: str, marks: Mapping[str, Mark]) -> None:
    """Raise each device's mark to (boot, seq); never lower it (a stand-by gateway may lag)."""
    upsert = (
        " ON CONFLICT (plant, device_id) DO UPDATE SET boot = excluded.boot, seq = excluded.seq"
        " WHERE (excluded.boot, excluded.seq) > (connect_device_mark.boot, connect_device_mark.seq)"
    )
    if postgresql:  # one statement for the whole batch: a round trip per device would cost more
        cursor.execute(
            "INSERT INTO connect_device_mark (plant, device_id, boot, seq) SELECT %s, d, b, s"
            " FROM unnest(%s::text[], %s::bigint[], %s::bigint[]) AS m(d, b, s)" + upsert,
            (plant, list(marks), [m[0] for m in marks.values()], [m[1] for m in marks.values()]),
        )
    else:
        cursor.executemany(
            "INSERT INTO connect_device_mark (plant, device_id, boot, seq) VALUES (?, ?, ?, ?)" + upsert,
            [(plant, device_id, boot, seq) for device_id, (boot, seq) in marks.items()],
        )


def device_marks(engine: Engine, plant: str) -> dict[str, Mark]:
    """Each device's (boot, seq) of the latest message stored, for a gateway that starts."""
    with Session(engine) as session:
        rows = session.execute(
            select(DeviceMark.device_id, DeviceMark.boot, DeviceMark.seq).where(DeviceMark.plant == plant)
        )
        return {device_id: (boot, seq) for device_id, boot, seq in rows}


def _safe_text(value: str, size: int) -> str:
    """Text any database holds: no NUL (PostgreSQL refuses it), cut to its column."""
    return value.replace("\x00", "\\0")[:size]


def _write_letters(cursor: Any, postgresql: bool, plant: str, letters: Sequence[DeadLetterRow]) -> None:
    if not letters:
        return
    mark = "%s" if postgresql else "?"
    cursor.executemany(
        "INSERT INTO connect_dead_letter (plant, at_ms, device_id, reason, topic, detail, excerpt)"
        f" VALUES ({', '.join([mark] * 7)})",
        [
            (
                plant,
                letter.at_ms,
                None if letter.device_id is None else _safe_text(letter.device_id, 64),
                _safe_text(letter.reason, 32),
                _safe_text(letter.topic, 512),
                _safe_text(letter.detail, 512),
                letter.excerpt,
            )
            for letter in letters
        ],
    )


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
