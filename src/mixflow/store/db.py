"""Engines, sessions and migrations shared by every table module of the store.

Each concern keeps its tables in its own module (`store/<concern>.py`, on the shared `Base`) and its
own alembic migration on its own branch off `0001_base`; `migrate` upgrades all heads, so the
branches never have to be ordered against each other.
"""

from __future__ import annotations

import re
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import resources
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine, create_engine, event, make_url, text
from sqlalchemy.exc import ArgumentError
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

from mixflow.errors import ValidationError
from mixflow.model.cloud_file import tenant_name

DEFAULT_URL = "sqlite:///mixflow.db"


class Base(DeclarativeBase):
    """Declarative base of every mixflow table."""


def normalise_url(url: str) -> str:
    """Accept `postgresql://` and `sqlite:///path`; PostgreSQL goes through psycopg 3."""
    if url.startswith(("postgresql://", "postgres://")):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    if url.startswith(("postgresql+psycopg://", "sqlite://")):
        return url
    raise ValidationError(
        "--db", f"unsupported database URL {url!r} (use sqlite:///file.db or postgresql://...)"
    )


PLANT_SCHEMA = re.compile(r"^plant_[a-z0-9_]{1,40}$")


def tenant_url(url: str, plant_id: str) -> str:
    """The store of one plant of a cloud, beside the cloud's own store at `url`.

    Each plant keeps its orders, plan and audit trail in a store of its own, so isolation does not hang
    on every query remembering a `WHERE plant = ...`: on PostgreSQL a schema `plant_<id>` of the same
    database (the connection's search_path names it; `migrate` creates it), on SQLite a file
    `<name>.plant-<id>.db` next to the cloud's. Accounts stay in the cloud's store.
    """
    normal = normalise_url(url)
    tenant = tenant_name(plant_id)
    if not tenant:
        raise ValidationError("plant id", f"{plant_id!r} cannot name a store")
    if normal.startswith("sqlite"):
        head, _, path = normal.partition(":///")
        if not path or path == ":memory:":
            return "sqlite://"  # an in-memory cloud: each plant in memory too
        cloud = Path(path)
        plant_file = cloud.with_name(f"{cloud.stem}.plant-{tenant}{cloud.suffix or '.db'}")
        return f"{head}:///{plant_file}"
    if "search_path" in normal:
        raise ValidationError("--db", "the cloud database URL sets a search_path already: give it without")
    joiner = "&" if "?" in normal else "?"
    return f"{normal}{joiner}options=-csearch_path%3Dplant_{tenant}"


def shown_url(url: str) -> str:
    """`url` as it may be printed or logged: its password, if any, masked."""
    try:
        return make_url(normalise_url(url)).render_as_string(hide_password=True)
    except (ValidationError, ArgumentError):
        return "<the database URL>"


def _sqlite_pragmas(dbapi_connection: object, _record: object) -> None:
    cursor = dbapi_connection.cursor()  # type: ignore[attr-defined]
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def connect(url: str = DEFAULT_URL, *, upgrade: bool = True) -> tuple[Engine, sessionmaker[Session]]:
    """An engine and session factory for `url`, with the schema migrated to the newest revision."""
    url = normalise_url(url)
    engine = create_engine(url, pool_pre_ping=True)
    if url.startswith("sqlite"):
        event.listen(engine, "connect", _sqlite_pragmas)
    if upgrade:
        migrate(engine)
    return engine, sessionmaker(engine, expire_on_commit=False)


def alembic_config(engine: Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", str(Path(str(resources.files("mixflow.store") / "migrations"))))
    config.attributes["engine"] = engine
    return config


def migrate(engine: Engine) -> None:
    """Upgrade the database behind `engine` to every migration head."""
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            # Several processes (gateways, test workers) may start at once: migrate one at a time.
            connection.execute(text("SELECT pg_advisory_xact_lock(724311)"))
            _create_own_schema(connection)
        config = alembic_config(engine)
        config.attributes["connection"] = connection
        command.upgrade(config, "heads")


def _create_own_schema(connection: Connection) -> None:
    """Create the schema the connection's search_path names first (a plant's, see `tenant_url`) if it
    is missing, so a new plant's store migrates into its own schema and not into `public`."""
    first = str(connection.execute(text("SHOW search_path")).scalar_one()).split(",")[0].strip().strip('"')
    if PLANT_SCHEMA.match(first):
        connection.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{first}"'))


@contextmanager
def scratch_database(server_url: str | None) -> Iterator[str]:
    """The URL of a fresh, empty database for a throwaway run (a benchmark, a test), removed after: a
    SQLite file in a temporary folder when `server_url` is None, else a schema of its own on that
    PostgreSQL server (so runs never see each other's rows)."""
    if server_url is None:
        with tempfile.TemporaryDirectory() as folder:
            yield f"sqlite:///{Path(folder) / 'scratch.db'}"
        return
    import psycopg  # only for PostgreSQL scratch schemas; SQLAlchemy loads it itself otherwise

    server = normalise_url(server_url).replace("postgresql+psycopg://", "postgresql://")
    schema = f"scratch_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(server, autocommit=True) as admin:
        admin.execute(f"CREATE SCHEMA {schema}")
    try:
        yield f"{server}?options=-csearch_path%3D{schema}"
    finally:
        with psycopg.connect(server, autocommit=True) as admin:
            admin.execute(f"DROP SCHEMA {schema} CASCADE")
