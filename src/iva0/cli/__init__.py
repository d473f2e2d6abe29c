"""The `iva0` command. Every user mistake becomes one `error: ...` line and exit 2."""

from __future__ import annotations

import sys

import typer

try:  # typer >= 0.20 carries its own copy of click
    from typer._click import exceptions as click_exc
except ImportError:  # pragma: no cover
    from click import exceptions as click_exc

from iva0 import __version__
from iva0.errors import UserError, printable
from iva0.extras import missing_extra

app = typer.Typer(
    name="iva0",
    help="Animate a still image along box trajectories (IVA0: zero-shot controllable image-to-video).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"iva0 {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version and exit."),
) -> None:
    """Animate a still image along box trajectories."""


def _register() -> None:
    # each sub-module adds its own commands; one module, one job
    from iva0.cli import animate, bench, models, tune, ui

    for mod in (animate, models, tune, bench, ui):
        mod.register(app)


_register()


def fail(message: str) -> None:
    """Print one error line and exit 2; what the terminal would take as a command (escape codes) is shown escaped."""
    print(f"error: {printable(message)}", file=sys.stderr)
    raise SystemExit(2)


def main(argv: list[str] | None = None) -> int:
    try:
        rv = app(args=argv, prog_name="iva0", standalone_mode=False)
    except click_exc.UsageError as e:
        if type(e).__name__ == "NoArgsIsHelpError" and e.ctx is not None:
            print(e.ctx.get_help())
            return 0
        fail(e.format_message().replace("\n", " "))
    except click_exc.ClickException as e:
        fail(e.format_message().replace("\n", " "))
    except typer.Abort:
        print("error: aborted", file=sys.stderr)
        return 130
    except typer.Exit as e:
        return e.exit_code
    except UserError as e:
        fail(str(e).replace("\n", " "))
    except ImportError as e:  # a library of an extra that is not installed (iva0.extras): say which extra
        line = missing_extra(e)
        if line is None:
            raise
        fail(line)
    except OSError as e:
        # the file system said no (permissions, read-only, disk full, a path through a file):
        # the user's to fix, so one line and no traceback
        where = f": {e.filename}" if getattr(e, "filename", None) else ""
        fail(f"{e.strerror or e}{where}")
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    code = rv if isinstance(rv, int) else 0
    if code == 130:  # typer turns Ctrl-C into a returned 130 (no command returns it): say so, like the others
        print("error: interrupted", file=sys.stderr)
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
