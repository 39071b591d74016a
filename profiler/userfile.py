"""Files a user names, read within stated bounds: text encoding, size, nesting depth and alias expansion.

Every YAML or JSON file a user gives (``--workload``, ``--gpu-prices``, ``--api-prices``, ``--tco``, ``--models``,
``--gpus``, ``--calibration``, ``--config``) comes through here before anything walks it, so a hostile or broken
file ends in one :class:`~profiler.errors.CatalogueError` naming the file, never a traceback, a hang or a
memory blow-up:

- **Encoding.** UTF-8 (a byte-order mark is allowed), or UTF-16 / UTF-32 with a byte-order mark (what Windows
  PowerShell 5's ``>`` writes). Anything else is refused with the offending byte and its line.
- **Size.** :data:`MAX_CONFIG_BYTES` for YAML and JSON files; callers reading tables pass their own bound.
- **Depth and expansion.** :func:`check_tree` walks a composed YAML node tree once, iteratively, counting every
  node as often as aliases repeat it; more than :data:`MAX_DEPTH` levels or :data:`MAX_EXPANDED_NODES` nodes is
  refused before the line indexers (recursive) or any loader walks the data. A "billion laughs" file (nine levels
  of nine aliases: 9^9 = 387M nodes) stops after the first million.
- **JSON.** :func:`parse_json` turns malformed JSON into file:line and too-deep JSON into one line.

YAML itself is parsed in :mod:`profiler.yamldoc`, which uses :func:`check_tree`, :func:`no_recursion_error` and
:func:`yaml_error` from here.
"""

from __future__ import annotations

import codecs
import json
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml

from profiler.errors import CatalogueError

# 1 MiB: ~40x the largest packaged catalogue (planner/catalogues/api_prices.yaml, 27 kB) and ~100x a Hugging Face
# config.json. Parsing costs ~2 s/MB with PyYAML's safe loader (11 MB took 22 s here), so this bounds a parse to ~2 s.
MAX_CONFIG_BYTES = 1 << 20
# 64 levels: the packaged catalogues nest 5 deep, a config.json 3 (text_config inside a multimodal config); the
# line indexers recurse once per level, far below Python's default limit of 1,000 frames.
MAX_DEPTH = 64
# 10^6 nodes counted with alias repeats: ~100x the packaged catalogues (the largest composes to ~6,000 nodes), and
# walked in ~0.5 s before giving up.
MAX_EXPANDED_NODES = 1_000_000

_BOMS = ((codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"), (codecs.BOM_UTF8, "utf-8-sig"),
         (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))  # UTF-32 LE first: it starts like UTF-16 LE


def decode(raw: bytes, file: str) -> str:
    """`raw` as text: by its byte-order mark when it has one, else UTF-8; anything else is a CatalogueError."""
    encoding = next((enc for bom, enc in _BOMS if raw.startswith(bom)), "utf-8")
    try:
        text = raw.decode(encoding)
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1 if encoding == "utf-8" else None
        raise CatalogueError(f"not {encoding.upper().replace('-SIG', '')} text (byte 0x{raw[exc.start]:02x} cannot "
                             "be decoded); save the file as UTF-8", file=file, line=line) from None
    if "\x00" in text:
        raise CatalogueError("holds a NUL character, so it is not a text file; save it as UTF-8 text",
                             file=file, line=text.count("\n", 0, text.index("\x00")) + 1)
    return text


def read_text(path: str | Path, what: str = "a YAML file", max_bytes: int = MAX_CONFIG_BYTES) -> tuple[str, str]:
    """(text, file label) of the user file `path`, decoded (:func:`decode`) and at most `max_bytes` long.

    `what` completes "give the path of ..." in the message for a file that cannot be read."""
    p = Path(path).expanduser()
    file = str(p)
    try:
        if p.is_dir():
            raise CatalogueError(f"is a folder; give the path of {what}", file=file)
        with p.open("rb") as fh:
            raw = fh.read(max_bytes + 1)
    except OSError as exc:
        raise CatalogueError(f"cannot read the file ({exc.strerror or exc}); give the path of {what}",
                             file=file) from None
    if len(raw) > max_bytes:
        raise CatalogueError(f"is larger than {_size(max_bytes)}, the most inferplan reads for {what}; "
                             "is it the right file?", file=file)
    return decode(raw, file), file


def _size(n: int) -> str:
    return f"{n / (1 << 20):g} MiB" if n >= 1 << 20 else f"{n / 1024:g} KiB"


def check_tree(node: yaml.Node | None, file: str) -> None:
    """Refuse a composed YAML tree deeper than MAX_DEPTH or larger than MAX_EXPANDED_NODES once aliases are
    expanded (an alias is the same node object as its anchor, so it is counted each time it is met)."""
    if node is None:
        return
    stack = [(node, 1)]
    seen = 0
    while stack:
        n, depth = stack.pop()
        seen += 1
        if seen > MAX_EXPANDED_NODES:
            raise CatalogueError(f"expands to more than {MAX_EXPANDED_NODES:,} values once its aliases (*name) are "
                                 "repeated; write the values out, or use fewer nested aliases", file=file)
        if depth > MAX_DEPTH:
            raise CatalogueError(f"nests deeper than {MAX_DEPTH} levels; no inferplan file needs more than a few",
                                 file=file, line=n.start_mark.line + 1)
        if isinstance(n, yaml.MappingNode):
            for k, v in n.value:
                stack.append((k, depth + 1))
                stack.append((v, depth + 1))
        elif isinstance(n, yaml.SequenceNode):
            stack.extend((item, depth + 1) for item in n.value)


@contextmanager
def no_recursion_error(file: str, what: str = "YAML"):
    """Turn a RecursionError of a recursive parser (PyYAML's pure-Python composer, json) into a CatalogueError."""
    try:
        yield
    except RecursionError:
        raise CatalogueError(f"not valid {what}: nested too deeply to parse; no inferplan file needs more than a "
                             f"few levels (at most {MAX_DEPTH})", file=file) from None


def load_yaml(text: str, file: str) -> Any:
    """profiler.yamldoc.load_yaml: the data alone, for files that need no line index (kept here for its callers)."""
    from profiler import yamldoc  # imported here: yamldoc is built on this module

    return yamldoc.load_yaml(text, file)


def yaml_error(exc: yaml.YAMLError, file: str, *, context: bool = True) -> CatalogueError:
    """PyYAML's error as one line at its file:line: the problem, and with `context` what it was parsing and where
    that started (PyYAML's own multi-line text, with its source excerpt, never reaches the user)."""
    mark = getattr(exc, "problem_mark", None) or (getattr(exc, "context_mark", None) if context else None)
    problem = getattr(exc, "problem", None) or str(exc).strip().split("\n")[0]
    what, start = getattr(exc, "context", None), getattr(exc, "context_mark", None)
    if context and what and start:
        problem += f" ({what} that starts at line {start.line + 1})"
    return CatalogueError(f"not valid YAML: {problem}", file=file, line=mark.line + 1 if mark else None)


def parse_json(text: str, file: str) -> Any:
    """json.loads with file:line for malformed JSON and one line for JSON nested past Python's recursion limit."""
    try:
        with no_recursion_error(file, "JSON"):
            data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CatalogueError(f"not valid JSON: {exc.msg}", file=file, line=exc.lineno) from None
    _check_json_depth(data, file)
    return data


def _check_json_depth(data: Any, file: str) -> None:
    stack = [(data, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise CatalogueError(f"nests deeper than {MAX_DEPTH} levels; no inferplan file needs more than a few",
                                 file=file)
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)


__all__ = ["MAX_CONFIG_BYTES", "MAX_DEPTH", "MAX_EXPANDED_NODES", "decode", "read_text", "check_tree",
           "no_recursion_error", "load_yaml", "yaml_error", "parse_json"]
