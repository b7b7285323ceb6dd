"""How the gateway stores one flush: alarms, then samples, dead letters and the devices' (boot, seq)
marks in one transaction (the marks let a gateway restarted after kill -9 drop the broker's
re-delivery of a batch it had stored but not yet acknowledged).

Each part of a `Batch` is emptied once committed, so a retry after an outage never stores a part
twice. A value the database refuses is no outage: the message (or alarm) that holds it becomes a
dead letter with the database's reason, and the rest is stored (see `store_samples`' bisection).
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import psycopg
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from mixflow.connect import topics
from mixflow.connect.alarms import AlarmChange
from mixflow.connect.ingest import DEAD_LETTER_EXCERPT, DeadLetter
from mixflow.connect.payloads import encode
from mixflow.connect.registry import Registry
from mixflow.connect.sparkplug.codec import parse_topic
from mixflow.store.telemetry import (
    CommitInDoubt,
    DeadLetterRow,
    Mark,
    Row,
    record_alarms,
    refused_by_data,
    store_samples,
)

STORE_ERRORS = (SQLAlchemyError, sqlite3.Error, psycopg.Error, OverflowError, OSError, CommitInDoubt)
"""What a store call may raise: an outage unless `refused_by_data` says it is a value."""


def now_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclass
class Batch:
    """What one flush hands to the store."""

    rows: list[Row]
    ends: list[int]  # where each message's rows end
    alarms: list[AlarmChange]
    letters: list[DeadLetterRow]
    marks: dict[str, Mark] = field(default_factory=dict)  # each device's latest (boot, seq) in it
    refused: list[DeadLetterRow] = field(default_factory=list)  # made while storing, already stored
    refused_messages: int = 0  # telemetry messages among them


class BatchStore:
    """Stores batches of one plant (called in a worker thread)."""

    def __init__(self, engine: Engine, registry: Registry) -> None:
        self.engine = engine
        self.registry = registry
        self.plant = registry.plant

    def store(self, batch: Batch) -> None:
        if batch.alarms:
            self._store_alarms(batch)
        if batch.rows or batch.letters or batch.marks:
            refused = store_samples(
                self.engine, self.plant, batch.rows, batch.letters, self._quarantine, batch.ends, batch.marks
            )
            batch.refused += refused
            batch.refused_messages = len(refused)
            batch.rows, batch.ends, batch.letters, batch.marks = [], [], [], {}

    def _store_alarms(self, batch: Batch) -> None:
        try:
            record_alarms(self.engine, batch.alarms)
            batch.alarms = []
            return
        except STORE_ERRORS as error:
            if not refused_by_data(error):
                raise
        while batch.alarms:  # one at a time, to find those the database refuses
            change = batch.alarms[0]
            try:
                record_alarms(self.engine, [change])
            except STORE_ERRORS as error:
                if not refused_by_data(error):
                    raise
                letter = DeadLetterRow(
                    now_ms(),
                    change.device_id,
                    "store",
                    topics.alarm_topic(self.plant),
                    f"alarm {change.rule!r}: the database refused it: {first_line(error)}",
                    encode(alarm_payload(change))[:DEAD_LETTER_EXCERPT],
                )
                batch.letters.append(letter)
                batch.refused.append(letter)
            del batch.alarms[0]

    def _quarantine(self, rows: Sequence[Row], error: str) -> DeadLetterRow:
        """The dead letter of one telemetry message whose values the database refused."""
        device_id, _, t_ms, _ = rows[0]
        kind = self.registry.kind_of(device_id) or "machine"
        excerpt = encode({"t": t_ms, "m": {metric: value for _, metric, _, value in rows}})
        return DeadLetterRow(
            now_ms(),
            device_id,
            "store",
            topics.device_topic(self.plant, kind, device_id, "telemetry"),
            f"the database refused it: {error}",
            excerpt[:DEAD_LETTER_EXCERPT],
        )


def letter_row(plant: str, letter: DeadLetter) -> DeadLetterRow:
    """Ingest's dead letter as a row to store, with the device its topic names (if of `plant`; for
    Sparkplug B, the device or else the edge node)."""
    where = topics.parse(letter.topic)
    device_id = where.device_id if where is not None and where.plant == plant else None
    if where is None and (spb := parse_topic(letter.topic)) is not None and spb.message_type != "STATE":
        device_id = (spb.device or spb.edge_node)[:64]  # the column's width
    return DeadLetterRow(now_ms(), device_id, letter.reason, letter.topic, letter.detail, letter.excerpt)


def alarm_payload(change: AlarmChange) -> dict[str, Any]:
    return {
        "v": 1,
        "t": change.t_ms,
        "device": change.device_id,
        "rule": change.rule,
        "raised": change.raised,
        "value": change.value,
        "message": change.message,
    }


def first_line(error: BaseException) -> str:
    """The database's own message, without SQLAlchemy's statement and parameters."""
    return str(getattr(error, "orig", None) or error).split("\n", 1)[0]
