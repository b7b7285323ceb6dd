"""A twin plant's world as one signed blob: its checkpoint in the plant's store (`store.twin_checkpoints`).

The world is everything the twin's thread moves: the simulated factory, the scheduler (plan, promises,
fleet), the alarms and the order-stream counters. It is pickled under the plant's lock (0.1 s at scale
0.25; the distance-field cache is left out, see `DistanceTable.__getstate__`), compressed (12.5 MB to
2 MB) and written outside the lock.

A checkpoint is loaded only when
- it was built from the same sources: scale, seed, plant and catalogue files (their bytes) and the
  mixflow code itself (a hash of its modules), since an object pickled by other code may load into a
  world that no longer holds together;
- its signature checks out: unpickling runs code, so the blob is signed with a key derived from
  MIXFLOW_SECRET_KEY and only a blob written by a process holding that key is ever unpickled.
Otherwise the twin starts a new world and the log says why.
"""

from __future__ import annotations

import copyreg
import hashlib
import hmac
import io
import json
import pickle
import zlib
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import Any

from mixflow.api.planned_plant import AlarmList
from mixflow.api.settings import Settings
from mixflow.errors import ValidationError
from mixflow.model import Catalogue, Plant
from mixflow.plan import Scheduler
from mixflow.twin import Twin


@dataclass
class TwinWorld:
    """What a twin plant resumes from."""

    plant: Plant
    catalogue: Catalogue
    twin: Twin
    scheduler: Scheduler
    epoch: datetime
    windows: int  # windows of customer orders drawn so far
    next_order: int  # number of the next order the twin's own customers place
    alarms: AlarmList | None = None
    overdue_seen: int = 0


def _mapping_proxy(items: dict[Any, Any]) -> MappingProxyType[Any, Any]:
    return MappingProxyType(items)


def _reduce_mapping_proxy(proxy: MappingProxyType[Any, Any]) -> tuple[Any, tuple[dict[Any, Any]]]:
    return _mapping_proxy, (dict(proxy),)


def _signing_key(secret_key: str) -> bytes:
    return hashlib.sha256(b"mixflow twin checkpoint\0" + secret_key.encode()).digest()


@cache
def _code_hash() -> str:
    """A hash of every mixflow module: a checkpoint is only read back by the code that wrote it."""
    digest = hashlib.sha256()
    root = Path(str(resources.files("mixflow")))
    for path in sorted(root.rglob("*.py")):
        digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def sources_key(settings: Settings) -> str:
    """Which world a checkpoint belongs to: the twin's sources and the code (see the module's notes)."""
    parts: dict[str, Any] = {"scale": settings.scale, "seed": settings.seed, "plant_id": settings.plant_id,
                             "code": _code_hash()}
    for name in ("plant_file", "catalogue_file"):
        path = getattr(settings, name)
        parts[name] = None if path is None else hashlib.sha256(Path(path).read_bytes()).hexdigest()
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


def dump(world: TwinWorld) -> bytes:
    """The world pickled (mapping proxies as the dicts behind them) and compressed."""
    out = io.BytesIO()
    pickler = pickle.Pickler(out, protocol=pickle.HIGHEST_PROTOCOL)
    pickler.dispatch_table = {**copyreg.dispatch_table, MappingProxyType: _reduce_mapping_proxy}
    pickler.dump(world)
    return zlib.compress(out.getvalue(), 1)


def sign(blob: bytes, secret_key: str) -> str:
    return hmac.new(_signing_key(secret_key), blob, hashlib.sha256).hexdigest()


def load(blob: bytes, signature: str, secret_key: str) -> TwinWorld:
    """The world of a checkpoint; ValidationError when its signature or its contents do not check out."""
    if not hmac.compare_digest(sign(blob, secret_key), signature):
        raise ValidationError("twin checkpoint", "its signature does not match this cloud's secret key")
    try:
        world = pickle.loads(zlib.decompress(blob))
    except Exception as unreadable:  # signed by us, but not readable: a world is never half-loaded
        raise ValidationError("twin checkpoint", f"cannot be read: {unreadable}") from unreadable
    if not isinstance(world, TwinWorld):
        raise ValidationError("twin checkpoint", f"holds a {type(world).__name__}, not a twin's world")
    return world
