"""The `mixflow` command: one typer app, one sub-app per capability (see DESIGN.md, CLI contract).

Each capability registers its own sub-app module here; `main` turns every MixflowError and every
usage error into one line on stderr and exit code 2.
"""

from __future__ import annotations

import sys

import click
import typer

from mixflow.errors import MixflowError

app = typer.Typer(
    name="mixflow",
    help="The cloud brain of a configure-to-order, mixed-model truck factory.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _register() -> None:
    """Attach every capability's sub-app; one import and one line per capability."""
    from mixflow.cli import configure, connect, demo, fleet, plant, schedule, sequence, serve, simulate

    app.add_typer(plant.app, name="plant")
    app.add_typer(simulate.app, name="simulate")
    app.add_typer(fleet.app, name="fleet")
    app.add_typer(configure.app, name="configure")
    app.add_typer(sequence.app, name="sequence")
    app.add_typer(schedule.app, name="schedule")
    app.add_typer(connect.app, name="connect")
    app.command(name="demo")(demo.demo)
    app.command(name="serve")(serve.serve)


def main(argv: list[str] | None = None) -> None:
    """Run the CLI; errors become one line `mixflow: error: ...` and exit 2."""
    _register()
    try:
        app(args=argv, prog_name="mixflow", standalone_mode=False)
    except (typer.Exit, click.exceptions.Exit) as done:
        sys.exit(done.exit_code)
    except (typer.Abort, click.exceptions.Abort, KeyboardInterrupt):
        print("mixflow: interrupted", file=sys.stderr)
        sys.exit(130)
    except MixflowError as bad:
        print(f"mixflow: error: {bad}", file=sys.stderr)
        sys.exit(2)
    except Exception as bad:
        # Usage errors: click's own, or the copy of click that newer typer versions vendor.
        if not hasattr(bad, "format_message"):
            raise
        context = getattr(bad, "ctx", None)
        if not bad.format_message() and context is not None:
            print(context.get_help())  # a bare `mixflow` or group: show what it can do
            sys.exit(2)
        print(f"mixflow: error: {bad.format_message()}", file=sys.stderr)
        sys.exit(2)
