"""Fuzz every operation of the OpenAPI document: whatever schemathesis sends, the API never answers 5xx.

Runs in-process over ASGI, as a logged-in customer (so the role checks and bodies are exercised beyond
the 401 gate); positive and negative (schema-breaking) cases both.
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
import warnings
from pathlib import Path

import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

from mixflow.api import Settings, create_app
from mixflow.store import accounts
from mixflow.store.accounts import Role

warnings.filterwarnings("ignore", category=DeprecationWarning)


def _fuzz_app():  # type: ignore[no-untyped-def]
    """The app under fuzz, over its own SQLite file, with one customer account and its token."""
    folder = tempfile.mkdtemp(prefix="mixflow-fuzz-")
    atexit.register(shutil.rmtree, folder, True)
    db = Path(folder) / "fuzz.db"
    app = create_app(Settings(db_url=f"sqlite:///{db}", secret_key="fuzzing-secret-key-123", twin=False,
                              scale=0.1, login_attempts_per_minute=1_000_000))
    with app.state.sessions() as session:
        user = accounts.create_user(session, "fuzzer", "fuzzer-password", Role.CUSTOMER)
        session.commit()
        app.state.fuzz_token = app.state.tokens.issue(user.id, user.username, Role.CUSTOMER)[0]
    return app


APP = _fuzz_app()
schema = schemathesis.openapi.from_asgi("/openapi.json", APP)


@schema.parametrize()
@settings(max_examples=12, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
def test_no_server_error_on_any_input(case) -> None:  # type: ignore[no-untyped-def]
    headers = {"Authorization": f"Bearer {APP.state.fuzz_token}"}
    case.call_and_validate(headers=headers, checks=[not_a_server_error])
