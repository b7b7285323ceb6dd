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
    help="The cloud brain of a configure-to-order, mixed-model factory.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _root() -> None:
    # A callback keeps `mixflow` a group when only one command is registered (see `_register`).
    pass


SUB_APPS = ("plant", "simulate", "fleet", "configure", "sequence", "schedule", "connect", "cloud")
COMMANDS = ("demo", "serve")


def _register(argv: list[str]) -> None:
    """Attach the capabilities' sub-apps; one import and one line per capability. Only the one the
    command line names is imported (`mixflow plant validate` needs none of the plan, twin or
    connect code, about 1.5 s of imports); a bare `mixflow` or `--help` imports them all."""
    import importlib

    named = next((word for word in argv if not word.startswith("-")), None)
    wanted = [named] if named in SUB_APPS + COMMANDS else [*SUB_APPS, *COMMANDS]
    for name in wanted:
        module = importlib.import_module(f"mixflow.cli.{name}")
        if name in SUB_APPS:
            app.add_typer(module.app, name=name)
        else:
            app.command(name=name)(getattr(module, name))


def main(argv: list[str] | None = None) -> None:
    """Run the CLI; errors become one line `mixflow: error: ...` and exit 2."""
    _register(sys.argv[1:] if argv is None else argv)
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
