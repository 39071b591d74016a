"""The `inferplan` console script: the planner's commands plus the profiler's sub-app.

This is the one place where domain errors become messages and exit codes: any
:class:`profiler.errors.InferplanError` raised below a command is printed as ``error: ...`` on
stderr and exits with status 1 (2 for usage errors, as click does) — never a traceback.
"""

from __future__ import annotations

import os
import sys
from typing import Annotated, NoReturn

import typer
from typer.core import TyperGroup

from profiler.cli import app as profiler_app
from profiler.errors import InferplanError

# Packages of the extras (pyproject.toml) that commands import only when asked to measure, plot or write .xlsx.
OPTIONAL_MODULES = {"torch": "gpu", "transformers": "gpu", "pynvml": "gpu", "torchao": "gpu",
                    "matplotlib": "report", "openpyxl": "report", "aiohttp": "endpoint"}


EXIT_INTERRUPTED = 130  # 128 + SIGINT, what a shell reports for a command stopped by Ctrl-C
EXIT_INTERNAL = 70  # EX_SOFTWARE (sysexits.h): a bug in inferplan, not in the input
DEBUG_ENV = "INFERPLAN_DEBUG"  # set to show the traceback of an internal error instead of the one-line report


def one_line(text: str) -> str:
    """`text` on one line: newlines and other control characters (from a user's input quoted in a message) are
    written as escapes, so an error is always exactly one line."""
    return "".join(ch if ch.isprintable() or ch == " " else ascii(ch)[1:-1] for ch in str(text))


MULTI_TABLE = frozenset({"plan"})  # commands that print several tables: --wide, but no --columns


def _view_option(ctx, param, value):
    """--wide / --columns: set the table view (planner.render_rows.View) before the command runs."""
    from dataclasses import replace

    from planner.render_rows import current_view, set_view

    if param.name == "wide":
        set_view(replace(current_view(), wide=bool(value)))
        return value
    names = None
    if value is not None:
        names = tuple(dict.fromkeys(n.strip() for n in value.split(",") if n.strip()))
        if not names:
            raise typer.BadParameter("give column names, comma-separated (those of --format csv)")
    set_view(replace(current_view(), columns=names))
    return value


def _view_params() -> dict:
    """The --wide and --columns parameters, built by typer from a signature (typer vendors its own click)."""
    probe = typer.Typer()

    @probe.command()
    def view(
        wide: Annotated[bool, typer.Option(
            "--wide", callback=_view_option,
            help="terminal tables: every column at full width (lines may run past the terminal)")] = False,
        columns: Annotated[str | None, typer.Option(
            "--columns", metavar="LIST", callback=_view_option,
            help="terminal table: these columns, comma-separated (any column of --format csv)")] = None,
    ) -> None:  # pragma: no cover - never run; its parameters are lent to every command
        pass

    params = {p.name: p for p in typer.main.get_command(probe).params}
    for p in params.values():
        p.expose_value = False  # the commands' functions do not take them: the callback sets the view
    return params


def add_view_options(command, columns: bool = True) -> None:
    """Give `command` the table-view options (once): --wide, and --columns for a single-table command."""
    if any(p.name == "wide" for p in command.params):
        return
    params = _view_params()
    command.params.append(params["wide"])
    if columns:
        command.params.append(params["columns"])


class ErrorBoundary(TyperGroup):
    """Turns domain errors into one readable line and an exit code: 1 for input inferplan refuses, 130 for Ctrl-C,
    70 for an internal error (a bug: one line asking for a report; INFERPLAN_DEBUG=1 shows the traceback).
    Every command gets the table-view options (--wide, --columns) here, in one place."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        for name, command in self.commands.items():
            add_view_options(command, columns=name not in MULTI_TABLE)

    def invoke(self, ctx: typer.Context):
        try:
            return super().invoke(ctx)
        except InferplanError as exc:
            _error(str(exc))
            raise typer.Exit(code=exc.exit_code) from None
        except KeyboardInterrupt:
            _error("interrupted (Ctrl-C)")
            raise typer.Exit(code=EXIT_INTERRUPTED) from None
        except ModuleNotFoundError as exc:  # an optional extra's package, imported lazily by the command
            extra = OPTIONAL_MODULES.get((exc.name or "").split(".")[0])
            if extra is None:
                _internal(exc)
            _error(f"this needs {exc.name}, which the core install leaves out: pip install 'inferplan[{extra}]'")
            raise typer.Exit(code=1) from None
        except BrokenPipeError:  # `inferplan models | head`: the reader left; stop quietly
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            raise typer.Exit(code=0) from None
        except OSError as exc:  # unreadable / unwritable files named by the user
            _error(f"{exc.strerror or exc}: {exc.filename or ''}".rstrip(": "))
            raise typer.Exit(code=1) from None
        except Exception as exc:
            if type(exc).__module__.split(".")[0] in ("click", "typer"):
                raise  # click's and typer's own ends: Exit (a code), Abort, usage errors (exit 2)
            _internal(exc)


def _error(message: str) -> None:
    typer.secho(f"error: {one_line(message)}", err=True, fg="red")


def _internal(exc: Exception) -> NoReturn:
    """A bug (an exception no input check anticipated): one line and exit 70, or the traceback under INFERPLAN_DEBUG."""
    if os.environ.get(DEBUG_ENV, "") not in ("", "0"):
        raise exc
    what = "out of memory" if isinstance(exc, MemoryError) else f"{type(exc).__name__}: {exc}"
    _error(f"internal error ({one_line(what)[:300]}); this is a bug in inferplan, please report it with the command "
           f"line ({DEBUG_ENV}=1 shows the traceback)")
    raise typer.Exit(code=EXIT_INTERNAL) from None


app = typer.Typer(
    cls=ErrorBoundary,
    help="inferplan: what it takes, and what it costs, to serve an LLM — and whether to self-host at all.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(profiler_app)

from planner.cmd_plan import register_all  # noqa: E402  (plan, compare, crossover, simulate, throughput)

register_all(app)


def main() -> None:  # pragma: no cover - console-script shim
    try:
        app()
    except BrokenPipeError:  # raised while flushing at exit, after the command returned
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(0)


if __name__ == "__main__":  # pragma: no cover
    main()
