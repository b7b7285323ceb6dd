"""deploy/compose.yaml, checked here where no Docker daemon runs: its cloud file opens, every mixflow
command in it is one the CLI takes (options that exist, values they accept, required ones given), and
no secret stands on a command line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import typer
import yaml

from mixflow.cli import _register, app
from mixflow.model.cloud_file import load_cloud

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
IN_CONTAINER = "/etc/mixflow/cloud.yaml"


def services() -> dict[str, dict[str, Any]]:
    return dict(yaml.safe_load((DEPLOY / "compose.yaml").read_text())["services"])


def mixflow_commands() -> list[tuple[str, list[str]]]:
    return [(name, [str(word) for word in spec["command"][1:]]) for name, spec in services().items()
            if spec.get("command", [None])[0] == "mixflow"]


def test_the_compose_cloud_opens_and_has_a_worker_per_plant() -> None:
    cloud = load_cloud(DEPLOY / "cloud.yaml")
    commands = mixflow_commands()
    workers = {args[args.index("--plant") + 1] for _, args in commands if args[:2] == ["cloud", "worker"]}
    assert workers == {plant.id for plant in cloud.plants}
    real = [plant.id for plant in cloud.plants if plant.mqtt_url]
    gateways = [args for _, args in mixflow_commands() if args[:2] == ["connect", "gateway"]]
    assert [args[args.index("--plant-id") + 1] for args in gateways] == real
    assert any("--attach" in args for _, args in mixflow_commands())


@pytest.mark.parametrize(("service", "args"), mixflow_commands(), ids=[n for n, _ in mixflow_commands()])
def test_every_command_is_one_the_cli_takes(service: str, args: list[str]) -> None:
    _register(args)
    command: Any = typer.main.get_command(app)
    words = [str(DEPLOY / "cloud.yaml") if word == IN_CONTAINER else word for word in args]
    context = command.make_context("mixflow", [], resilient_parsing=True)
    while hasattr(command, "get_command"):  # down the groups by name, then parse as the CLI does
        name, words = words[0], words[1:]
        command = command.get_command(context, name)
        assert command is not None, f"{service}: no command {name}"
        group = hasattr(command, "get_command")
        context = command.make_context(name, [] if group else list(words), parent=context,
                                       resilient_parsing=group)
    assert context.params, f"{service}: nothing parsed"
    for word in args:  # secrets come from the environment: none interpolated into, or named on, argv
        assert "${" not in word and not word.startswith(("--password", "--secret")), f"{service}: {word}"
