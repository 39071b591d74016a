"""Progress of long computations, shown on stderr while a command works.

Library code says where it is with :func:`report` (a stage, and items done of a total where it knows them); this
is a no-op unless a command shows progress with :func:`shown`, so the library stays free of I/O and the Python API
prints nothing. :func:`shown` draws a rich progress line on stderr (a spinner, the stage, a bar with done / total,
the time elapsed and, with a total, the time left), only when stderr is a terminal: stdout may be JSON or CSV, and
logs and pipes get no control characters. The line is transient: it disappears when the work ends, before the
command prints its result.
"""

from __future__ import annotations

import contextvars
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

Reporter = Callable[[str, "int | None", "int | None"], None]

_REPORTER: contextvars.ContextVar[Reporter | None] = contextvars.ContextVar("inferplan_progress", default=None)


def report(stage: str, done: int | None = None, total: int | None = None) -> None:
    """Tell the progress line (if a command shows one) the current stage and, when known, items done of total."""
    reporter = _REPORTER.get()
    if reporter is not None:
        reporter(stage, done, total)


def stderr_is_terminal() -> bool:
    return sys.stderr.isatty()


@contextmanager
def shown(description: str, enabled: bool = True) -> Iterator[None]:
    """Show a progress line on stderr for the work inside the block (when `enabled` and stderr is a terminal);
    :func:`report` calls inside it update the stage and the bar."""
    if not enabled or not stderr_is_terminal() or _REPORTER.get() is not None:
        yield
        return
    from rich.console import Console
    from rich.progress import BarColumn, Progress, ProgressColumn, SpinnerColumn, TextColumn
    from rich.text import Text

    class Counts(ProgressColumn):
        """'12/80  0:04  eta 0:09' for a counted stage, '0:04' (time elapsed) for one of unknown length."""

        def render(self, t) -> Text:
            elapsed = _clock(t.elapsed)
            if not t.total:
                return Text(elapsed, style="progress.elapsed")
            eta = "eta " + _clock(t.time_remaining) if t.time_remaining is not None else ""
            return Text(f"{int(t.completed)}/{int(t.total)}  {elapsed}  {eta}".rstrip(), style="progress.download")

    columns = (SpinnerColumn(), TextColumn("{task.description}"), BarColumn(bar_width=20), Counts())
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        task = [bar.add_task(description, total=None), None]  # the stage's task id, and its stage

        def update(stage: str, done: int | None, total: int | None) -> None:
            if stage != task[1]:  # a new stage, a new bar: with a total, done / total and the time left; without,
                bar.remove_task(task[0])  # a spinner and the time elapsed
                text = f"{description}: {stage}" if stage else description
                task[:] = [bar.add_task(text, total=total or None, completed=done or 0), stage]
            else:
                bar.update(task[0], completed=done or 0)

        token = _REPORTER.set(update)
        try:
            yield
        finally:
            _REPORTER.reset(token)


def _clock(seconds: float | None) -> str:
    s = int(seconds or 0)
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"


__all__ = ["report", "shown", "stderr_is_terminal"]
