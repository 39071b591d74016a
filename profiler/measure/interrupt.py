"""Ctrl-C during a sweep: stop at the next safe point, keep what was journaled, say how to resume.

    stop_on_sigint()        context manager around a sweep: the first SIGINT only sets a flag, a second one
                            raises KeyboardInterrupt at once (a user who means it is never kept waiting)
    check()                 at a safe point: raises StopRequested when a stop was asked for
    SweepInterrupted        what a stopped sweep raises: points kept, points planned, the output file

Python's default handler raises KeyboardInterrupt at whatever bytecode runs next: inside a weakref callback or
a ``__del__`` (the CPU live-tensor census runs one per freed tensor) it is printed as "Exception ignored" and
the sweep carries on, and inside a journal write it cuts the record. The flag is read only where stopping
loses nothing but the point in progress: between points, between max-batch probes, between timed
repetitions (:func:`timers.time_call`), between prefill chunks and between weight tensors of a build. A single
forward pass is never cut, so the stop comes within one step of the signal.

Nothing here imports torch: the CLI imports this module to catch :class:`SweepInterrupted`.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from pathlib import Path

SIGINT_EXIT_CODE = 130  # 128 + SIGINT (2): the shell's code for a command stopped by Ctrl-C (bash(1), EXIT STATUS)


class StopRequested(KeyboardInterrupt):
    """Raised by :func:`check` after a Ctrl-C. A KeyboardInterrupt (a BaseException), so no ``except Exception``
    on the way (an OOM boundary, a failed graph capture) mistakes it for a failure of the point."""


class SweepInterrupted(KeyboardInterrupt):
    """A sweep stopped by Ctrl-C. ``kept``: points durably journaled (this run and earlier ones) of ``planned``;
    ``out``: the profile file (None: nothing was written, so nothing can resume). Still a KeyboardInterrupt, so a
    library caller that does not catch it stops as on any Ctrl-C."""

    def __init__(self, kept: int, planned: int, out: Path | None):
        super().__init__(f"stopped by Ctrl-C: {kept} of {planned} points kept")
        self.kept, self.planned, self.out = kept, planned, out

    def line(self, command: str) -> str:
        """The one line a CLI prints: that it stopped, what was kept where, and `command` to resume."""
        if self.out is None:
            return (f"stopped by Ctrl-C after {self.kept} of {self.planned} points; nothing was kept (no -o file to "
                    f"journal them in), so a rerun starts over: to make a sweep resumable give it -o FILE: {command}")
        from profiler.measure.journal import journal_path

        return (f"stopped by Ctrl-C: {self.kept} of {self.planned} points kept in {self.out} (journal "
                f"{journal_path(self.out)}); resume with: {command}")


class _Flag:
    requested = False


_FLAG = _Flag()


def requested() -> bool:
    return _FLAG.requested


def check() -> None:
    """Raise StopRequested when Ctrl-C was pressed since the sweep started (a safe point: see the module doc)."""
    if _FLAG.requested:
        raise StopRequested()


@contextlib.contextmanager
def stop_on_sigint() -> Iterator[None]:
    """Inside: the first SIGINT asks for a stop at the next :func:`check`; a second raises KeyboardInterrupt.
    Outside the main thread (where Python delivers signals) nothing is installed: Ctrl-C acts as usual."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        if _FLAG.requested:
            raise KeyboardInterrupt
        _FLAG.requested = True

    previous = signal.signal(signal.SIGINT, handler)
    _FLAG.requested = False
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        _FLAG.requested = False
