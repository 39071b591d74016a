"""YAML with line numbers: the one place a YAML file is parsed, so errors can say file:line, entry and field.

    parse_yaml(text, file)       -> YamlDoc   a user's text (within profiler.userfile's depth and alias bounds)
    read_yaml(path, cache_as)    -> YamlDoc   a file: a packaged catalogue through the parse cache, else a user file
    load_packaged(name, raw, file) -> YamlDoc a packaged catalogue's bytes, through profiler.yaml_cache
    load_yaml(text, file)        -> data      the data alone (no line index, duplicate keys not checked)

A :class:`YamlDoc` holds the data and the 1-based line of every mapping key and sequence item, keyed by the path
tuple (``("offers", 0, "usd_per_hour")``). One parse makes both (libyaml where PyYAML has it,
:func:`profiler.yaml_cache.compose`); a duplicate key is refused at its line, since YAML would silently keep only
the last one.

Two wordings of a YAML error are kept, so that the messages users (and tests) know do not change:
``detailed=False`` (the planner's files: workload, prices, TCO, risks) gives PyYAML's pure-Python message, parsed
again for it, and ``duplicate key 'a'``; ``detailed=True`` (the profiler's catalogues: models, GPUs, quants) gives
libyaml's message with what it was parsing and where that started, and says why a duplicate key is refused.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from profiler import userfile, yaml_cache
from profiler.errors import CatalogueError

_DUPLICATE_WHY = " (YAML would silently keep only the last one)"  # the detailed wording's duplicate-key hint


@dataclass(frozen=True)
class YamlDoc:
    """Parsed YAML plus the 1-based line of every mapping key / sequence item, keyed by path tuple."""

    data: Any
    file: str
    lines: dict = field(default_factory=dict, repr=False, compare=False)

    def line(self, *path) -> int | None:
        """Line of the deepest known prefix of `path` (the entry itself when a field is absent)."""
        for n in range(len(path), 0, -1):
            if path[:n] in self.lines:
                return self.lines[path[:n]]
        return None

    def error(self, message: str, *path, entry: str | None = None, field: str | None = None) -> CatalogueError:
        return CatalogueError(message, file=self.file, line=self.line(*path), entry=entry, field=field)


def index_lines(node: yaml.Node, path: tuple, lines: dict, file: str, duplicate_why: str = "") -> None:
    """Add the line of every key and item under `node` to `lines`; a key given twice in one mapping is a
    CatalogueError at its second line. Recursive: call it on a tree userfile.check_tree has bounded."""
    if isinstance(node, yaml.MappingNode):
        seen = set()
        for key_node, value_node in node.value:
            key, line = str(key_node.value), key_node.start_mark.line + 1
            if key in seen:
                raise CatalogueError(f"duplicate key '{key}'{duplicate_why}", file=file, line=line)
            seen.add(key)
            lines[(*path, key)] = line
            index_lines(value_node, (*path, key), lines, file, duplicate_why)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            lines[(*path, i)] = item.start_mark.line + 1
            index_lines(item, (*path, i), lines, file, duplicate_why)


def _pure_parse(text: str) -> tuple[yaml.Node | None, Any]:
    """The pure-Python safe loader's node and data (raises yaml.YAMLError with its own wording and line)."""
    return yaml.compose(text, Loader=yaml.SafeLoader), yaml.safe_load(text)


def _compose(text: str, file: str, detailed: bool) -> tuple[yaml.Node | None, Any]:
    """(node tree, data) from one parse within the depth and alias bounds; a YAML error is a CatalogueError at its
    line, worded as `detailed` says (module docstring)."""
    try:
        with userfile.no_recursion_error(file):
            try:
                node, data = yaml_cache.compose(text)
            except yaml.YAMLError:
                if detailed:
                    raise
                node, data = _pure_parse(text)  # the pure-Python wording: only on an error, so no cost when valid
    except yaml.YAMLError as exc:
        raise userfile.yaml_error(exc, file, context=detailed) from None
    userfile.check_tree(node, file)  # depth and alias expansion bounded before the recursive indexer walks it
    return node, data


def _parse(text: str, file: str, detailed: bool = False) -> yaml_cache.Parsed:
    """(data, line index) of `text`: what YamlDoc holds and the parse cache stores."""
    node, data = _compose(text, file, detailed)
    lines: dict = {}
    if node is not None:
        index_lines(node, (), lines, file, _DUPLICATE_WHY if detailed else "")
    return data, lines


def parse_yaml(text: str, file: str = "<string>", *, detailed: bool = False) -> YamlDoc:
    """Safe-load `text`; a syntax error or a duplicate key becomes a CatalogueError with file and line."""
    data, lines = _parse(text, file, detailed)
    return YamlDoc(data, file, lines)


def load_yaml(text: str, file: str) -> Any:
    """Safe-loaded YAML data (None for an empty document) within the depth and expansion bounds, for files that need
    no line index; a YAML error is a CatalogueError at its line (the detailed wording)."""
    return _compose(text, file, True)[1]


def load_packaged(name: str, raw: bytes, file: str, *, detailed: bool = False) -> YamlDoc:
    """The packaged catalogue `name` (e.g. ``planner/catalogues/gpu_prices.yaml``), whose bytes are `raw`, parsed
    once and then read from the cache of profiler.yaml_cache (keyed on this module's source too)."""
    data, lines = yaml_cache.load(name, raw, lambda: _parse(raw.decode("utf-8"), file, detailed))
    return YamlDoc(data, file, lines)


def read_yaml(path: str | Path, cache_as: str | None = None, *, detailed: bool = False) -> YamlDoc:
    """The YAML file `path`. With `cache_as` (its name in the parse cache) it is a packaged catalogue; else a user
    file, read within profiler.userfile's bounds (encoding, size, depth, aliases) and refused when it holds no
    data."""
    if cache_as is not None:
        p = Path(path)
        return load_packaged(cache_as, p.read_bytes(), str(p), detailed=detailed)
    doc = parse_yaml(*userfile.read_text(path), detailed=detailed)
    if doc.data is None:  # a user file that adds nothing is a mistake (the wrong file), not "no changes"
        raise CatalogueError("holds no YAML data (it is empty or only comments); give the file you meant",
                             file=doc.file)
    return doc


__all__ = ["YamlDoc", "index_lines", "parse_yaml", "load_yaml", "load_packaged", "read_yaml"]
