"""Incremental, resumable output of a sweep.

Every finished point is appended at once to a JSON-lines journal beside the profile
(``profile.csv`` -> ``profile.journal.jsonl``; one line per record, flushed and fsynced), and the profile
file itself is rewritten atomically (temp file + rename, :func:`profiler.schema.write_profile`) so an
interrupted run always leaves a valid profile of the points finished so far. A rerun with ``resume``
reads the journal and skips every point whose key (:data:`profiler.schema.KEY_COLUMNS`) is there: a
point is neither repeated nor lost. A truncated last line (killed mid-write) is ignored: that point is
measured again. Besides rows the journal holds the raw details of each point (timings, every memory
view, power) and per-context max-batch search results (``aux`` records), which are not re-searched.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from profiler.errors import ProfilerError
from profiler.schema import KEY_COLUMNS

JOURNAL_VERSION = 1


def journal_path(out: str | os.PathLike[str]) -> Path:
    p = Path(out)
    return p.with_name(p.stem + ".journal.jsonl")


def row_key(row: dict[str, Any]) -> tuple:
    return tuple(int(row[k]) if k in ("tp", "batch", "context") else str(row[k]) for k in KEY_COLUMNS)


class Journal:
    """Append-only record of a sweep. ``rows``: key -> row dict; ``aux``: name -> value."""

    def __init__(self, path: Path | None, header: dict[str, Any], resume: bool = True):
        self.path, self.header = path, header
        self.rows: dict[tuple, dict[str, Any]] = {}
        self.details: dict[tuple, dict[str, Any]] = {}
        self.aux: dict[str, Any] = {}
        if path is None:
            return
        if resume and path.exists():
            self._load()
        else:
            self._fresh()

    def _fresh(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text("", encoding="utf-8")
        self._append({"type": "header", "version": JOURNAL_VERSION, **self.header})

    def _load(self) -> None:
        lines = self.path.read_text(encoding="utf-8").splitlines()
        records = []
        for i, line in enumerate(lines):
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                if i == len(lines) - 1:
                    break  # a line cut by a kill mid-write: that point is measured again
                raise ProfilerError(f"{self.path}:{i + 1}: journal line is not JSON; delete the file to start "
                                    "afresh") from None
        if not records:  # killed before the header was written: nothing to resume
            return self._fresh()
        head = next((r for r in records if r.get("type") == "header"), {})
        for field in ("model", "gpu", "device"):
            if head.get(field) != self.header.get(field):
                raise ProfilerError(
                    f"{self.path} belongs to a sweep of {field} '{head.get(field)}', not '{self.header.get(field)}'; "
                    "write to another output file, or pass resume=False (--no-resume) to start it afresh")
        for rec in records:
            if rec.get("type") == "row":
                key = row_key(rec["row"])
                self.rows[key], self.details[key] = rec["row"], rec.get("detail", {})
            elif rec.get("type") == "aux":
                self.aux[rec["name"]] = rec["value"]
        with self.path.open("w", encoding="utf-8") as fh:  # rewrite without a truncated tail
            for rec in records:
                fh.write(json.dumps(rec, default=str) + "\n")

    def _append(self, record: dict[str, Any]) -> None:
        if self.path is None:
            return
        with self.path.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(record, default=_jsonable) + "\n")
            fh.flush()
            os.fsync(fh.fileno())

    def done(self, key: tuple) -> bool:
        return key in self.rows

    def add_row(self, row: dict[str, Any], detail: dict[str, Any] | None = None) -> None:
        key = row_key(row)
        if key in self.rows:
            raise ProfilerError(f"point {key} measured twice in one sweep")
        self._append({"type": "row", "row": row, "detail": detail or {}})  # on disk first: a row counted as kept
        self.rows[key], self.details[key] = row, detail or {}  # (after a hard Ctrl-C too) is one a resume finds

    def set_aux(self, name: str, value: Any) -> None:
        self._append({"type": "aux", "name": name, "value": value})
        self.aux[name] = value


def _jsonable(value: Any) -> Any:
    if isinstance(value, float) and value != value:
        return None
    if hasattr(value, "item"):
        return value.item()
    return str(value)
