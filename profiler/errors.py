"""Domain errors. Each carries a message a user can act on; the CLI turns them into exit code 1.

No assertion is used for user input anywhere: a bad value raises one of these, saying what would work.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class InferplanError(Exception):
    """Base of every error the CLI reports as a message (never a traceback)."""

    exit_code = 1


class ProfilerError(InferplanError):
    """Anything the profiler refuses."""


class CatalogueError(ProfilerError):
    """A catalogue or user YAML / config.json entry is malformed. The message names file, line, entry, field."""

    def __init__(self, message: str, *, file: str | None = None, line: int | None = None,
                 entry: str | None = None, field: str | None = None):
        where = []
        if file:
            where.append(f"{file}:{line}" if line else file)
        if entry:
            where.append(f"entry '{entry}'")
        if field:
            where.append(f"field '{field}'")
        prefix = ", ".join(where)
        super().__init__(f"{prefix}: {message}" if prefix else message)
        self.file, self.line, self.entry, self.field = file, line, entry, field


class UnknownNameError(ProfilerError):
    """A model, GPU or quant id that is not in the catalogue; suggests the closest names."""

    def __init__(self, kind: str, name: str, known: Iterable[str], extra: str = ""):
        """`extra`: a sentence appended to the message (what else the argument may be)."""
        known = sorted(known)
        close = difflib.get_close_matches(name, known, n=3, cutoff=0.4)
        if not close:
            close = [k for k in known if name.lower() in k.lower() or k.lower() in name.lower()][:3]
        hint = f" Did you mean: {', '.join(close)}?" if close else ""
        listing = f" Known {kind}s: {', '.join(known)}." if len(known) <= 40 else ""
        super().__init__(f"Unknown {kind} '{name}'.{hint}{listing}{' ' + extra if extra else ''}")
        self.kind, self.name, self.suggestions = kind, name, close


class DoesNotFitError(ProfilerError):
    """A model (at a quant and TP degree) does not fit the GPU; the message says what would."""


class UnsupportedQuantError(ProfilerError):
    """A quantisation scheme the GPU (or the installed stack) cannot run."""


class InvalidValueError(InferplanError):
    """An impossible number (negative batch, zero context, availability above 100%...)."""


def did_you_mean(name: object, known: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` for the closest of `known` to `name` (difflib's default cutoff), else ""."""
    close = difflib.get_close_matches(str(name), list(known), n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""
