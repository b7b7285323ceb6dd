"""Engines, sessions and migrations shared by every table module of the store.

Each concern keeps its tables in its own module (`store/<concern>.py`, on the shared `Base`) and its
own alembic migration on its own branch off `0001_base`; `migrate` upgrades all heads, so the
branches never have to be ordered against each other.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

from mixflow.errors import ValidationError

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
        config = alembic_config(engine)
        config.attributes["connection"] = connection
        command.upgrade(config, "heads")
