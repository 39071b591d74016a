"""Per-candidate replica capacities kept between runs: ``$INFERPLAN_HOME/cache/capacities.json``.

A replica's capacity at the SLOs (the mean-value model, planner.capacity; the p99 tail model, planner.p99_plan)
depends on the deployment (model, GPU, quant, KV dtype, TP and its efficiencies), the workload's shape
(:func:`planner.capacity.capacity_shape`: lengths, spread, SLOs, cached share), the engine and the code computing
it: not on the volume, a price, the provider or the redundancy. A 70B plan sizes ~150 candidates with the
mean-value model and ~40 with the p99 model, most of a first run's time; a later run of the same shape (another
volume, price, provider, margin...) reads them back instead. In the process they are memoised as well
(planner.search, planner.p99_plan); this file is what outlives the process.

- key: sha256 of (kind, engine, the deployment, the shape), each written out field by field in a form that is the
  same in every process (:func:`_stable`: ``repr`` is not, a frozenset's order follows the string-hash seed);
- the file holds the entries of one code fingerprint: sha256 of the inferplan version and of every source file of
  ``planner/`` and ``profiler/`` (~4 ms). Any code change starts the file afresh, so an entry is never read by code
  that would compute it differently;
- records: the Capacity fields (and the p99 model's TailCapacity), JSON with NaN and inf; at most MAX_ENTRIES,
  the oldest dropped first;
- written at the end of a plan (:func:`flush`, merged with what is on disk, atomically: temp file, then replace).

Disposable like the catalogue cache (profiler.yaml_cache): an unreadable, corrupt or other-fingerprint file is
ignored and rewritten; an unwritable ``$INFERPLAN_HOME`` leaves the capacities in memory for the run;
``INFERPLAN_NO_CACHE=1`` turns it off.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import tempfile
from enum import Enum
from functools import lru_cache
from pathlib import Path

from profiler.home import inferplan_home
from profiler.yaml_cache import CACHE_DIR, enabled

FILE = "capacities.json"
FORMAT = 1  # bump when a record's layout changes
MAX_ENTRIES = 20_000  # ~4 MB: a hundred plan shapes' candidates (design choice: bounded, still one small read)
_ROOTS = ("planner", "profiler")


@lru_cache(maxsize=1)
def code_fingerprint() -> str:
    """sha256 of the inferplan version and of every planner/ and profiler/ source file (sorted by path)."""
    from profiler.yaml_cache import _package_version

    h = hashlib.sha256(f"{FORMAT}\0{_package_version()}".encode())
    top = Path(__file__).resolve().parents[1]
    for path in sorted(p for root in _ROOTS for p in (top / root).rglob("*.py")):
        h.update(str(path.relative_to(top)).encode() + b"\0")
        h.update(path.read_bytes())
    return h.hexdigest()


def key(kind: str, engine: str, deployment, shape: tuple) -> str | None:
    """The entry of one capacity: `kind` names the model (``mean-value`` | ``p99``); None (not stored) when a field
    has no stable form."""
    try:
        text = f"{kind}\0{engine}\0{_stable_text(deployment)}\0{_stable_text(shape)}"
    except TypeError:
        return None
    return hashlib.sha256(text.encode()).hexdigest()


def _fields(obj) -> list:
    return [type(obj).__name__, {f.name: _stable(getattr(obj, f.name)) for f in dataclasses.fields(obj) if f.compare}]


@lru_cache(maxsize=1024)
def _stable_dataclass(obj) -> list:
    """:func:`_fields` memoised: ~150 deployments of a plan share one model spec and a few GPU specs."""
    return _fields(obj)


@lru_cache(maxsize=1024)
def _stable_text(obj) -> str:
    """:func:`_stable` as JSON, memoised (a search keys ~150 deployments sharing one model spec); TypeError for an
    unhashable or unsupported object."""
    return json.dumps(_stable(obj), separators=(",", ":"))


def _stable(obj):
    """`obj` as JSON-ready data that is the same in every process: dataclasses by their compared fields, sets sorted
    (a set's order follows the process's string-hash seed, so ``repr`` is not stable), floats by ``repr``."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        try:
            return _stable_dataclass(obj)
        except TypeError:  # unhashable: not memoised
            return _fields(obj)
    if isinstance(obj, (set, frozenset)):
        return sorted((_stable(v) for v in obj), key=repr)
    if isinstance(obj, dict):
        return sorted(([_stable(k), _stable(v)] for k, v in obj.items()), key=repr)
    if isinstance(obj, (list, tuple)):
        return [_stable(v) for v in obj]
    if isinstance(obj, Enum):
        return [type(obj).__name__, _stable(obj.value)]
    if isinstance(obj, float):
        return repr(obj)
    if obj is None or isinstance(obj, (bool, int, str)):
        return obj
    raise TypeError(f"no stable key for {type(obj).__name__}")  # a new field type: say so, never key on repr


class _Store:
    def __init__(self) -> None:
        self.path: Path | None = None
        self.entries: dict[str, dict] = {}
        self.pending: dict[str, dict] = {}

    def _load(self) -> None:
        path = inferplan_home() / CACHE_DIR / FILE
        if path == self.path:
            return
        self.path, self.entries, self.pending = path, {}, {}
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
            if isinstance(doc, dict) and doc.get("fingerprint") == code_fingerprint() and isinstance(
                    doc.get("entries"), dict):
                self.entries = doc["entries"]
        except (OSError, ValueError, UnicodeDecodeError, RecursionError):
            pass  # no file yet, or one this code cannot use: computed afresh and rewritten

    def get(self, k: str | None) -> dict | None:
        if k is None or not enabled():
            return None
        self._load()
        hit = self.entries.get(k)
        return hit if isinstance(hit, dict) else None

    def put(self, k: str | None, record: dict) -> None:
        if k is None or not enabled():
            return
        self._load()
        self.entries[k] = self.pending[k] = record

    def flush(self) -> None:
        if not self.pending or self.path is None or not enabled():
            return
        pending, path = self.pending, self.path
        self.pending = {}
        try:
            on_disk = {}
            try:
                doc = json.loads(path.read_text(encoding="utf-8"))
                if isinstance(doc, dict) and doc.get("fingerprint") == code_fingerprint():
                    on_disk = doc.get("entries") or {}
            except (OSError, ValueError, UnicodeDecodeError, RecursionError):
                pass
            merged = {**on_disk, **pending}
            if len(merged) > MAX_ENTRIES:
                merged = dict(list(merged.items())[-MAX_ENTRIES:])
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".capacities-", suffix=".tmp")
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as f:
                    json.dump({"format": FORMAT, "fingerprint": code_fingerprint(), "entries": merged}, f,
                              allow_nan=True, separators=(",", ":"))
                os.replace(tmp, path)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
            self.entries = merged
        except OSError:
            pass  # an unwritable home: the capacities stay in memory for this run


_STORE = _Store()


def get(k: str | None) -> dict | None:
    """The record stored under key `k`, or None."""
    return _STORE.get(k)


def put(k: str | None, record: dict) -> None:
    """Keep `record` under `k` (written to disk at the next :func:`flush`)."""
    _STORE.put(k, record)


def flush() -> None:
    """Write the records put since the last flush (planner.plan.make_plan calls it at the end of a plan)."""
    _STORE.flush()


def as_record(obj) -> dict:
    """A dataclass (Capacity, TailCapacity) as a JSON-ready dict."""
    return dataclasses.asdict(obj)


__all__ = ["FILE", "MAX_ENTRIES", "code_fingerprint", "key", "get", "put", "flush", "as_record"]
