"""Persistence (SQLAlchemy 2): SQLite by default, PostgreSQL by URL; schema owned by alembic migrations."""

from mixflow.store.db import (
    DEFAULT_URL,
    Base,
    connect,
    migrate,
    normalise_url,
    scratch_database,
    shown_url,
    tenant_url,
)

__all__ = ["DEFAULT_URL", "Base", "connect", "migrate", "normalise_url", "scratch_database", "shown_url",
           "tenant_url"]
