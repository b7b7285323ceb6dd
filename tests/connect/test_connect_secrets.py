"""Secrets never on argv or in logs: broker passwords from the environment or 0600 files, URLs shown
masked; a broker that refuses us is one clear line and exit 2, never a hang or a traceback."""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any as PrivateBroker  # the fixture type lives in conftest.py

import pytest
import typer

from mixflow.cli.connect import app as connect_app
from mixflow.cli.serve import serve
from mixflow.connect import broker as broker_module
from mixflow.connect.broker import PASSWORD_ENV, parse_broker
from mixflow.connect.credentials import read_secret_file, write_private
from mixflow.errors import ValidationError
from mixflow.store.db import connect


def _mixflow(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """The command run without MIXFLOW_BROKER_PASSWORD unless `env` sets it."""
    return subprocess.run(
        [sys.executable, "-m", "mixflow", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**{k: v for k, v in os.environ.items() if k != PASSWORD_ENV}, **(env or {})},
    )


def test_the_password_comes_from_the_environment_or_a_private_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(PASSWORD_ENV, "from-the-env-123")
    broker = parse_broker("mqtts://gw.changsha@plant.example:8883")
    assert (broker.username, broker.password) == ("gw.changsha", "from-the-env-123")
    assert broker.display() == "mqtts://gw.changsha:***@plant.example:8883"
    assert broker.url() == "mqtts://gw.changsha@plant.example:8883"
    assert "from-the-env" not in repr(broker)
    assert parse_broker("mqtt://127.0.0.1").password is None  # no user named: no password sent

    secret = tmp_path / "broker-password"
    write_private(secret, "from-the-file-456\n")
    assert parse_broker("mqtt://gw@h", password_file=str(secret)).password == "from-the-file-456"
    secret.chmod(0o640)
    with pytest.raises(ValidationError, match=r"broker-password is mode 0640: .*owner only") as refused:
        parse_broker("mqtt://gw@h", password_file=str(secret))
    assert "\n" not in str(refused.value)


def test_private_files_are_0600_whatever_the_umask(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        write_private(tmp_path / "a" / "secret", "s3cret\n")
    finally:
        os.umask(old)
    assert (tmp_path / "a" / "secret").stat().st_mode & 0o777 == 0o600
    assert read_secret_file(tmp_path / "a" / "secret", "--password-file") == "s3cret"


def test_a_password_in_the_url_still_works_but_is_warned_about_once_and_masked(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(broker_module, "_warned", set())
    with caplog.at_level(logging.WARNING, "mixflow.connect"):
        for _ in range(3):
            broker = parse_broker("mqtt://gw:pa%24%24word-789@127.0.0.1:1884")
    assert broker.password == "pa$$word-789"
    assert len(caplog.records) == 1
    assert "process list" in caplog.text and "mqtt://gw:***@127.0.0.1:1884" in caplog.text
    assert "word-789" not in caplog.text
    with pytest.raises(ValidationError) as bad:
        parse_broker("http://gw:pa55word-789@127.0.0.1")
    assert "pa55word" not in str(bad.value)


def test_a_group_readable_password_file_is_refused_in_one_line(tmp_path: Path) -> None:
    secret = tmp_path / "pw"
    secret.write_text("pw-that-leaks\n")
    secret.chmod(0o644)
    result = _mixflow("connect", "bench", "--broker", "mqtt://gw@127.0.0.1:1", "--password-file", str(secret))
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"mixflow: error: --password-file: {secret} is mode 0644: a secret file must be readable by its "
        "owner only (chmod 600)"
    ]


def test_no_option_holds_a_secret() -> None:
    """Every option of `connect` and `serve` that is about a password or secret names a file."""
    serve_app = typer.Typer()
    serve_app.command()(serve)
    commands = [*typer.main.get_command(connect_app).commands.values(), typer.main.get_command(serve_app)]
    options = {name for command in commands for param in command.params for name in param.opts}
    assert "--password-file" in options
    assert not {o for o in options if ("password" in o or "secret" in o) and not o.endswith("-file")}


@pytest.mark.services
def test_refused_logins_are_one_line_and_exit_2_quickly(
    private_broker: PrivateBroker, tmp_path: Path
) -> None:
    """demo, devices, gateway and serve against a broker that wants another password."""
    address = f"127.0.0.1:{private_broker.port}"
    db = f"sqlite:///{tmp_path / 'r.db'}"
    engine, _ = connect(db)
    private_broker.registry.save(engine)
    runs = {
        "demo": ["connect", "demo", "--broker", f"mqtt://{address}", "--hours", "0.1"],
        "devices": ["connect", "devices", "--broker", f"mqtt://auth.m1@{address}"],
        "gateway": [
            *("connect", "gateway", "--broker", f"mqtt://{private_broker.gateway_user}@{address}"),
            *("--plant-id", "auth", "--db", db),
        ],
        "serve": [
            *("serve", "--mqtt", f"mqtt://{private_broker.gateway_user}@{address}", "--plant-id", "auth"),
            *("--db", db, "--scale", "0.05", "--port", "1"),
        ],
    }
    for name, argv in runs.items():
        began = time.monotonic()
        result = _mixflow(*argv, env={PASSWORD_ENV: "not-the-password"})
        lines = result.stderr.strip().splitlines()
        assert result.returncode == 2, (name, result.stderr)
        assert lines[-1].startswith("mixflow: error: "), (name, lines)
        assert f"broker {address} refused the connection: " in lines[-1], (name, lines)
        assert "Traceback" not in result.stderr, name
        assert time.monotonic() - began < 30, name
        assert "not-the-password" not in result.stdout + result.stderr


@pytest.mark.services
def test_no_password_in_the_output_of_gateway_and_serve(
    private_broker: PrivateBroker, tmp_path: Path
) -> None:
    """The gateway (password in the URL: works, warned, masked) and serve (password from the
    environment) start against the password broker, and neither prints the password."""
    password = private_broker.gateway_password
    user, address = private_broker.gateway_user, f"127.0.0.1:{private_broker.port}"
    db = f"sqlite:///{tmp_path / 'r.db'}"
    engine, _ = connect(db)
    private_broker.registry.save(engine)
    runs = {
        "gateway": (
            [
                *("connect", "gateway", "--broker", f"mqtt://{user}:{password}@{address}"),
                *("--plant-id", "auth", "--db", db, "--gateway-id", "secretgw", "--session-expiry", "0"),
            ],
            {},
            '"started": true',
        ),
        "serve": (
            [
                *("serve", "--mqtt", f"mqtt://{user}@{address}", "--plant-id", "auth", "--db", db),
                *("--scale", "0.05", "--port", str(_free_port())),
            ],
            {PASSWORD_ENV: password},
            "serving on",
        ),
    }
    for name, (argv, env, ready) in runs.items():
        out, err = tmp_path / f"{name}.out", tmp_path / f"{name}.err"
        with out.open("w") as stdout, err.open("w") as stderr:
            process = subprocess.Popen(
                [sys.executable, "-m", "mixflow", *argv],
                stdout=stdout,
                stderr=stderr,
                env={**os.environ, **env},
            )
        try:
            deadline = time.monotonic() + 60
            while ready not in out.read_text() + err.read_text() and process.poll() is None:
                assert time.monotonic() < deadline, (name, err.read_text())
                time.sleep(0.2)
            time.sleep(1.0)  # what it logs right after starting
        finally:
            process.terminate()
            process.wait(30)
        told = out.read_text() + err.read_text()
        assert ready in told, (name, told)
        assert password not in told, name
        assert f"{user}:***@{address}" in told, (name, told)
    assert "process list" in (tmp_path / "gateway.err").read_text()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
