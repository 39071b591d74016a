"""Parsed YAML: one pass with libyaml, and a disk cache of the packaged catalogues' parses (for profiler.yamldoc).

:func:`compose` parses a YAML document once, with libyaml's C parser where PyYAML was built with it (else the
pure-Python one; both are the safe loader), and returns the node tree (for the key path -> line index behind
``file:line`` messages) and the data constructed from that same tree.

The packaged catalogues (``planner/catalogues/*.yaml``, ``profiler/catalogues/*.yaml``) are the same bytes on
every run, so :func:`load` keeps each one's parse, (data, line index), in
``$INFERPLAN_HOME/cache/<name>.pickle`` (one file per catalogue, rewritten when its key changes). The key is a
sha256 over the cache format, the inferplan version, Python major.minor, the PyYAML version, the source of the
module doing the parse (so an edited loader in a source checkout never reads an old index) and the file's bytes.
A hit unpickles the entry without parsing; a miss parses and writes the entry atomically (temp file beside it,
then ``os.replace``). The cache is disposable: an entry that cannot be read, written or trusted (missing folder,
unwritable ``INFERPLAN_HOME``, truncated or corrupt file, another key) is silently ignored and the file parsed.
``INFERPLAN_NO_CACHE=1`` turns it off. User files are never cached.
"""

from __future__ import annotations

import hashlib
import io
import os
import pickle
import sys
import tempfile
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from profiler.home import inferplan_home

CACHE_FORMAT = 1  # bump when the layout of an entry changes
CACHE_DIR = "cache"
NO_CACHE_ENV = "INFERPLAN_NO_CACHE"
_MAGIC = b"inferplan parsed-yaml cache\n"
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when present; both are safe loaders

Parsed = tuple[Any, dict]  # (the YAML data, the line index: key path -> 1-based line)


def compose(text: str) -> tuple[yaml.Node | None, Any]:
    """The node tree of one YAML document and its data (None for an empty document), from one parse.

    Raises yaml.YAMLError for malformed YAML (the caller turns it into a CatalogueError with file and line)."""
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        return node, (loader.construct_document(node) if node is not None else None)
    finally:
        loader.dispose()


def enabled() -> bool:
    """False when ``INFERPLAN_NO_CACHE`` is set (to anything but ``0``)."""
    return os.environ.get(NO_CACHE_ENV, "") in ("", "0")


def cache_path(name: str) -> Path:
    """The cache file of the packaged catalogue `name` (e.g. ``planner/catalogues/gpu_prices.yaml``)."""
    return inferplan_home() / CACHE_DIR / (name.replace("/", "-").replace("\\", "-") + ".pickle")


@lru_cache(maxsize=1)
def _package_version() -> str:
    from importlib.metadata import PackageNotFoundError, version  # imported here: ~15 ms when nothing else has

    try:
        return version("inferplan")
    except PackageNotFoundError:  # running from a source tree
        return "0+source"


@lru_cache(maxsize=8)
def _source_hash(module: str) -> str:
    """sha256 of `module`'s source file ('' when it cannot be read)."""
    try:
        return hashlib.sha256(Path(sys.modules[module].__file__ or "").read_bytes()).hexdigest()
    except (KeyError, OSError, TypeError):
        return ""


def cache_key(name: str, raw: bytes, parse: Callable[[], Parsed]) -> str:
    """The key an entry for the bytes `raw` of catalogue `name`, parsed by `parse`, is stored under."""
    parts = (str(CACHE_FORMAT), _package_version(), f"{sys.version_info[0]}.{sys.version_info[1]}",
             f"pyyaml {yaml.__version__} libyaml={_Loader is not yaml.SafeLoader}",
             _source_hash(__name__), _source_hash(getattr(parse, "__module__", "") or ""), name,
             hashlib.sha256(raw).hexdigest())
    return hashlib.sha256("\0".join(parts).encode("utf-8")).hexdigest()


class _Unpickler(pickle.Unpickler):
    """Safe-loaded YAML holds only builtins and datetime values: refuse every other global."""

    _ALLOWED = {("datetime", "date"), ("datetime", "datetime"), ("datetime", "time"), ("datetime", "timedelta"),
                ("datetime", "timezone")}

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in self._ALLOWED:
            raise pickle.UnpicklingError(f"{module}.{name} is not allowed in a parsed-YAML cache entry")
        return super().find_class(module, name)


def _read(path: Path, key: str) -> Parsed | None:
    # pickle is acceptable here: the entry is a file in the user's own $INFERPLAN_HOME, written by this module,
    # read only when its header carries the expected key, and unpickled with globals limited to datetime types
    try:
        blob = path.read_bytes()
        header = _MAGIC + key.encode("ascii") + b"\n"
        if not blob.startswith(header):
            return None
        payload = _Unpickler(io.BytesIO(memoryview(blob)[len(header):])).load()
    except Exception:  # any unreadable entry is a miss, never an error
        return None
    if isinstance(payload, tuple) and len(payload) == 2 and isinstance(payload[1], dict):
        return payload
    return None


def _write(path: Path, key: str, parsed: Parsed) -> None:
    tmp = None
    try:
        blob = _MAGIC + key.encode("ascii") + b"\n" + pickle.dumps(parsed, protocol=pickle.HIGHEST_PROTOCOL)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        with os.fdopen(fd, "wb") as fh:
            fh.write(blob)
        os.replace(tmp, path)
    except Exception:  # a cache that cannot be written is only slower
        if tmp is not None:
            try:
                os.unlink(tmp)
            except OSError:
                pass


def load(name: str, raw: bytes, parse: Callable[[], Parsed]) -> Parsed:
    """``parse()`` (the data and line index of the packaged catalogue `name`, whose bytes are `raw`), from the cache
    when it holds an entry for exactly these bytes and this code; else parsed and stored. Errors of ``parse()``
    (malformed YAML, duplicate keys) propagate and nothing is stored."""
    if not enabled():
        return parse()
    try:
        path = cache_path(name)
        key = cache_key(name, raw, parse)
    except Exception:  # e.g. no home folder to resolve: no cache this run
        return parse()
    hit = _read(path, key)
    if hit is not None:
        return hit
    parsed = parse()
    _write(path, key, parsed)
    return parsed


__all__ = ["compose", "load", "enabled", "cache_path", "cache_key", "CACHE_FORMAT", "NO_CACHE_ENV"]
