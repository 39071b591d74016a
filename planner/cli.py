"""The `inferplan` console script: the planner's commands plus the profiler's sub-app.

This is the one place where domain errors become messages and exit codes: any
:class:`profiler.errors.InferplanError` raised below a command is printed as ``error: ...`` on
stderr and exits with status 1 (2 for usage errors, as click does) — never a traceback.
"""

from __future__ import annotations

import os
import sys

import typer
from typer.core import TyperGroup

from profiler.cli import app as profiler_app
from profiler.errors import InferplanError

# Packages of the extras (pyproject.toml) that commands import only when asked to measure, plot or write .xlsx.
OPTIONAL_MODULES = {"torch": "gpu", "transformers": "gpu", "pynvml": "gpu", "torchao": "gpu",
                    "matplotlib": "report", "openpyxl": "report"}


class ErrorBoundary(TyperGroup):
    """Turns domain errors into one readable line and an exit code."""

    def invoke(self, ctx: typer.Context):
        try:
            return super().invoke(ctx)
        except InferplanError as exc:
            typer.secho(f"error: {exc}", err=True, fg="red")
            raise typer.Exit(code=exc.exit_code) from None
        except ModuleNotFoundError as exc:  # an optional extra's package, imported lazily by the command
            extra = OPTIONAL_MODULES.get((exc.name or "").split(".")[0])
            if extra is None:
                raise
            typer.secho(f"error: this needs {exc.name}, which the core install leaves out: "
                        f"pip install 'inferplan[{extra}]'", err=True, fg="red")
            raise typer.Exit(code=1) from None
        except BrokenPipeError:  # `inferplan models | head`: the reader left; stop quietly
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            raise typer.Exit(code=0) from None
        except OSError as exc:  # unreadable / unwritable files named by the user
            typer.secho(f"error: {exc.strerror or exc}: {exc.filename or ''}".rstrip(": "), err=True, fg="red")
            raise typer.Exit(code=1) from None


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
