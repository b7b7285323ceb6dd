"""The store migrates the same schema on SQLite and on the real PostgreSQL server."""

import pytest
from sqlalchemy import inspect, text

from mixflow.errors import ValidationError
from mixflow.store import connect, normalise_url


def test_sqlite_file_is_migrated(tmp_path) -> None:  # type: ignore[no-untyped-def]
    engine, session = connect(f"sqlite:///{tmp_path / 'm.db'}")
    assert "mixflow_meta" in inspect(engine).get_table_names()
    with session.begin() as s:
        s.execute(text("INSERT INTO mixflow_meta (key, value) VALUES ('k', 'v')"))
    assert "ix_web_orders_placed_id" in {i["name"] for i in inspect(engine).get_indexes("web_orders")}
    engine2, _ = connect(f"sqlite:///{tmp_path / 'm.db'}")  # migrating again keeps the data
    with engine2.connect() as c:
        assert c.execute(text("SELECT value FROM mixflow_meta WHERE key = 'k'")).scalar_one() == "v"


@pytest.mark.services
def test_postgres_is_migrated(postgres_url: str) -> None:
    engine, _ = connect(postgres_url)
    assert engine.dialect.name == "postgresql"
    assert "mixflow_meta" in inspect(engine).get_table_names()
    assert "ix_web_orders_placed_id" in {i["name"] for i in inspect(engine).get_indexes("web_orders")}


def test_bad_urls_are_refused() -> None:
    assert normalise_url("postgresql://u@h/db") == "postgresql+psycopg://u@h/db"
    with pytest.raises(ValidationError, match="unsupported database URL"):
        normalise_url("mysql://u@h/db")
