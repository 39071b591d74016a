"""Cache of simulated SLO capacities (and single-rate probes), in memory and in a JSON file.

A capacity search costs seconds of simulation; its answer depends only on what
:func:`planner.simulate.slo_capacity.capacity_key` hashes (workload shape or trace, engine limits,
step-time model, SLOs, search settings incl. the seed, and caller labels such as model, GPU,
quant, KV dtype and TP). So it is computed once and kept:

- in this process: an LRU of records by key (:class:`CapacityCache`); :func:`shared_cache` hands
  out one cache per file so every caller in a process shares it;
- on disk: ``$INFERPLAN_HOME/sim_capacity.json`` by default (``INFERPLAN_HOME`` defaults to
  ``~/.config/inferplan``, as for the calibration file), layout
  ``{"version": 2, "entries": {key: {"kind": "SloCapacity" | "SimPoint", ...record fields}}}``,
  read on first use and rewritten atomically (``profiler.schema.atomic_write_text``) on every
  ``put``, merged with what is on disk so two processes add rather than overwrite.

A file of another version is ignored (and replaced on the next write): its entries were made by
a simulator that may answer differently. A cache is disposable, so a file that is not a cache this
version can read (corrupt, truncated, hand-edited) or cannot be read is set aside the same way:
one warning on stderr naming the file, and the next write rebuilds it. A file that cannot be
written leaves the cache working in memory (``disk_error`` says why) and says so once on stderr.
Notices go to stderr so that JSON or CSV on stdout stays clean. This object is an I/O edge: it
holds state, the search functions do not.
"""

from __future__ import annotations

import json
import os
import sys
from collections import OrderedDict
from pathlib import Path

from planner.simulate.slo_capacity import SimPoint, SloCapacity
from profiler.errors import InvalidValueError
from profiler.home import inferplan_home
from profiler.schema import atomic_write_text

CACHE_VERSION = 2  # 2: SimPoint entries, SloCapacity.rejected_fraction, rejections fail the search
CACHE_FILE = "sim_capacity.json"
Record = SloCapacity | SimPoint
_KINDS: dict[str, type[SloCapacity] | type[SimPoint]] = {"SloCapacity": SloCapacity, "SimPoint": SimPoint}


def capacity_cache_path(path: str | os.PathLike[str] | None = None) -> Path:
    """``path``, or ``$INFERPLAN_HOME/sim_capacity.json`` (INFERPLAN_HOME defaults to ~/.config/inferplan)."""
    if path:
        return Path(path).expanduser()
    return inferplan_home() / CACHE_FILE


class CapacityCache:
    """LRU of :class:`SloCapacity` / :class:`SimPoint` records by key, optionally mirrored to a JSON file."""

    def __init__(self, path: str | os.PathLike[str] | None = None, maxsize: int = 256):
        if maxsize < 1:
            raise InvalidValueError(f"CapacityCache.maxsize must be >= 1, got {maxsize}.")
        self.path = Path(path) if path is not None else None
        self.maxsize = maxsize
        self.disk_error: str | None = None
        self._memory: OrderedDict[str, Record] = OrderedDict()
        self._disk: dict[str, Record] | None = None
        self._noticed: set[str] = set()

    def _read_disk(self) -> dict[str, Record]:
        if self.path is None or not self.path.exists():
            return {}
        try:
            doc = json.loads(self.path.read_text(encoding="utf-8"))
            if doc.get("version") != CACHE_VERSION:
                return {}  # another simulator version: stale, replaced on the next write
            return {k: _KINDS[v.pop("kind", "SloCapacity")].from_dict(v) for k, v in doc["entries"].items()}
        except OSError as exc:
            self._notice(f"cannot read the capacity cache {self.path} ({exc.strerror or exc}); "
                         "simulating afresh and trying to rebuild it")
        except (ValueError, KeyError, TypeError, AttributeError, RecursionError) as exc:
            self._notice(f"{self.path} is not a capacity cache this version can read ({exc}); "
                         "ignoring it and rebuilding it (a cache only saves simulation time)")
        return {}

    def _notice(self, message: str) -> None:
        """One line on stderr, once per message for this cache (the CLI's stdout may be JSON)."""
        if message not in self._noticed:
            self._noticed.add(message)
            print(f"warning: {message}", file=sys.stderr)

    def get(self, key: str) -> Record | None:
        if key in self._memory:
            self._memory.move_to_end(key)
            return self._memory[key]
        if self._disk is None:
            self._disk = self._read_disk()
        hit = self._disk.get(key)
        if hit is not None:
            self._remember(key, hit)
        return hit

    def put(self, key: str, value: Record) -> None:
        self._remember(key, value)
        if self.path is None:
            return
        self._disk = self._read_disk()
        self._disk[key] = value
        doc = {"version": CACHE_VERSION,
               "entries": {k: {"kind": type(v).__name__, **v.to_dict()} for k, v in self._disk.items()}}
        try:
            atomic_write_text(self.path, json.dumps(doc, indent=1, sort_keys=True, allow_nan=True),
                              create_folders=True)
            self.disk_error = None
        except OSError as exc:  # a read-only home: keep working from memory
            reason = exc.strerror or str(exc)  # profiler.schema.OutputPathError already names the file
            self.disk_error = reason if str(self.path) in reason else f"{self.path}: {reason}"
            self._notice(f"capacity cache not saved ({self.disk_error}); simulated capacities are kept in memory "
                         "for this run only: set INFERPLAN_HOME to a writable folder to keep them")

    def _remember(self, key: str, value: Record) -> None:
        self._memory[key] = value
        self._memory.move_to_end(key)
        while len(self._memory) > self.maxsize:
            self._memory.popitem(last=False)

    def __len__(self) -> int:
        return len(self._memory)


_SHARED: dict[Path, CapacityCache] = {}  # one cache per file in this process (see shared_cache)


def shared_cache(path: str | os.PathLike[str] | None = None) -> CapacityCache:
    """The process-wide cache for ``capacity_cache_path(path)`` (re-resolved on every call, so a
    changed ``INFERPLAN_HOME`` gets its own)."""
    resolved = capacity_cache_path(path)
    if resolved not in _SHARED:
        _SHARED[resolved] = CapacityCache(resolved)
    return _SHARED[resolved]
