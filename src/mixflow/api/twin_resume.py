"""Where a twin plant's checkpoints come from and go: its own store, every few seconds of wall time.

The world is pickled under the plant's lock (a tenth of a second at scale 0.25) and written outside it
by the plant's thread, so a slow database delays the next checkpoint, never a web request. A database
that refuses the write is reported once per outage and tried again at the next checkpoint; the plant
runs on meanwhile (a restart then resumes from an older checkpoint, and the order book still holds
every acknowledged order and its promise: see `TwinPlant.attach`).
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

from sqlalchemy.exc import SQLAlchemyError

from mixflow.api import twin_world
from mixflow.api.settings import Settings
from mixflow.errors import ValidationError
from mixflow.store import connect, twin_checkpoints

if TYPE_CHECKING:
    from mixflow.api.twin_plant import TwinPlant
    from mixflow.api.twin_world import TwinWorld

log = logging.getLogger("mixflow.api")

CHECKPOINT_EVERY_S = 5.0
"""Wall seconds between checkpoints: what a killed twin's worker loses at most (times the twin's speed)."""
LOCK_SHARE = 0.05
"""At most this share of the wall time is spent pickling under the plant's lock (web requests wait for
it): a large plant whose world takes longer to pickle is checkpointed less often."""


class Checkpoints:
    """The checkpoints of one twin plant in its store."""

    def __init__(self, settings: Settings) -> None:
        self._secret_key = settings.secret_key
        self._sources = twin_world.sources_key(settings)
        self._engine, self._sessions = connect(settings.db_url)
        self._every_s = CHECKPOINT_EVERY_S
        self._last = -CHECKPOINT_EVERY_S  # the first at once: a warm-up is the costliest part to lose
        self._failing = False

    def resume(self) -> TwinWorld | None:
        """The world of the store's checkpoint, or None (the reason logged) when there is none to load."""
        try:
            with self._sessions() as session:
                found = twin_checkpoints.load(session)
        except SQLAlchemyError as unreachable:
            log.error("cannot read the twin's checkpoint, starting a new world: %s", unreachable)
            return None
        if found is None:
            return None
        if found.sources != self._sources:
            log.warning("the twin's checkpoint of %s was built from other sources or code; starting a new "
                        "world", found.saved_at.isoformat(timespec="seconds"))
            return None
        try:
            return twin_world.load(found.blob, found.signature, self._secret_key)
        except ValidationError as refused:
            log.error("%s; starting a new world", refused)
            return None

    def keep(self, plant: TwinPlant, force: bool = False) -> None:
        """Write the plant's world if a checkpoint is due (or `force`)."""
        if not force and time.monotonic() - self._last < self._every_s:
            return
        self._last = time.monotonic()
        try:
            with plant._lock:
                at_s = plant.twin.now_s
                blob = twin_world.dump(plant.world())
        except Exception as unpicklable:  # a bug, not an outage: say so once, never stop the plant
            if not self._failing:
                log.exception("cannot pickle the twin's world for its checkpoint: %s", unpicklable)
            self._failing = True
            return
        self._every_s = max(CHECKPOINT_EVERY_S, (time.monotonic() - self._last) / LOCK_SHARE)
        signature = twin_world.sign(blob, self._secret_key)
        try:
            with self._sessions() as session:
                twin_checkpoints.save(session, self._sources, at_s, signature, blob)
        except SQLAlchemyError as refused:
            if not self._failing:
                log.error("cannot write the twin's checkpoint (%s); trying again in %.0f s", refused,
                          self._every_s)
            self._failing = True
            return
        if self._failing:
            log.warning("the twin's checkpoints are written again")
        self._failing = False
