"""The Prometheus text exposition format, parsed: :func:`parse_exposition` -> :class:`Exposition`; never raises (a
malformed line is skipped and counted).

Format: https://prometheus.io/docs/instrumenting/exposition_formats/ (text format 0.0.4): ``# HELP`` / ``# TYPE``
comments, ``name{label="value",...} value [timestamp_ms]``, label values escaping ``\\\\``, ``\\"`` and ``\\n``,
values as Go's ParseFloat reads them (``NaN``, ``+Inf``, ``-Inf``, ``1e3``), names ``[a-zA-Z_:][a-zA-Z0-9_:]*``
(colons: vLLM's ``vllm:...``). An OpenMetrics body (``# EOF``, ``# UNIT``) parses too: its extra lines are comments.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass

# The most of an exposition read: bytes of a scraped body, characters of a text given to parse_exposition (a body
# within the byte bound is within the character bound: UTF-8 has >= 1 byte per character). vLLM's exposition is
# ~50 KB per engine (about 15 histograms of 20-30 buckets, labelled per model and engine), so even 8 data-parallel
# engines with LoRA labels stay far below; the bound caps the memory and parse time a misbehaving endpoint (or a
# wrong URL serving a large file) can cost the load generator's event loop. Text beyond it is ignored, cut back to
# the last whole line so that a number is never read from half a line.
MAX_EXPOSITION_BYTES = 4 * 1024 * 1024

@dataclass(frozen=True)
class Sample:
    """One exposition line. `labels`: (name, value) pairs sorted by name, values unescaped; `timestamp_ms`: the
    optional trailing timestamp (ms since the epoch), which servers rarely send."""

    name: str
    labels: tuple[tuple[str, str], ...]
    value: float
    timestamp_ms: int | None = None

    def label(self, key: str, default: str | None = None) -> str | None:
        for k, v in self.labels:
            if k == key:
                return v
        return default


@dataclass(frozen=True)
class Exposition:
    """A parsed exposition: samples in text order; `skipped`: sample lines that did not parse (comments and blank
    lines are not counted); `truncated`: the text was longer than MAX_EXPOSITION_BYTES and its tail was ignored."""

    samples: tuple[Sample, ...]
    skipped: int = 0
    truncated: bool = False


_NAME_RE = re.compile(r"[ \t]*([a-zA-Z_:][a-zA-Z0-9_:]*)")
# After the name: optional {label block} (quoted values may hold '}' and escaped quotes), a value, an optional
# timestamp. Value and timestamp are checked by their own patterns below.
_REST_RE = re.compile(r'[ \t]*(?:\{((?:[^"}]|"(?:[^"\\]|\\.)*")*)\})?[ \t]+(\S+)(?:[ \t]+(\S+))?[ \t]*')
_LABEL_RE = re.compile(r'[ \t]*([a-zA-Z_][a-zA-Z0-9_]*)[ \t]*=[ \t]*"((?:[^"\\]|\\.)*)"[ \t]*')
_VALUE_RE = re.compile(r"[+-]?(?:(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|(?i:inf(?:inity)?|nan))")
_TIMESTAMP_RE = re.compile(r"-?\d+")
_ESCAPE_RE = re.compile(r"\\(.)")
_UNESCAPE = {"\\": "\\", '"': '"', "n": "\n"}


def _unescape(value: str) -> str:
    # \\ \" \n per the format; any other escape is kept as written (lenient: a server's odd output is not an error)
    if "\\" not in value:
        return value
    return _ESCAPE_RE.sub(lambda m: _UNESCAPE.get(m.group(1), m.group(0)), value)


def _parse_labels(block: str) -> tuple[tuple[str, str], ...] | None:
    pairs: dict[str, str] = {}
    pos, end = 0, len(block)
    if not block.strip(" \t"):
        return ()
    while pos < end:
        m = _LABEL_RE.match(block, pos)
        if m is None:
            return None
        key = m.group(1)
        if key in pairs:
            return None  # a label name twice in one sample: malformed
        pairs[key] = _unescape(m.group(2))
        pos = m.end()
        if pos < end:
            if block[pos] != ",":
                return None
            pos += 1
            if not block[pos:].strip(" \t"):
                break  # a trailing comma before '}' is allowed
    return tuple(sorted(pairs.items()))


def _parse_sample(line: str, name: str, start: int) -> Sample | None:
    m = _REST_RE.fullmatch(line, start)
    if m is None:
        return None
    block, value, timestamp = m.groups()
    labels = _parse_labels(block) if block is not None else ()
    if labels is None or not _VALUE_RE.fullmatch(value):
        return None
    if timestamp is not None and not _TIMESTAMP_RE.fullmatch(timestamp):
        return None
    return Sample(name, labels, float(value), int(timestamp) if timestamp is not None else None)


def _bounded(text: str) -> tuple[str, bool]:
    if len(text) <= MAX_EXPOSITION_BYTES:
        return text, False
    head = text[:MAX_EXPOSITION_BYTES]
    return head[: head.rfind("\n") + 1], True


def parse_exposition(text: str, names: Collection[str] | None = None) -> Exposition:
    """Parse Prometheus text exposition format 0.0.4; never raises. A line that is neither blank, a comment, nor a
    well-formed sample is skipped and counted. With `names`, only samples of those metric names are parsed (other
    lines are matched by name only and neither returned nor checked, so `skipped` counts only lines of `names` and
    lines without a readable name). Text beyond MAX_EXPOSITION_BYTES characters is ignored (to the last whole line)."""
    if not isinstance(text, str):
        return Exposition((), 0, False)
    text, truncated = _bounded(text)
    samples: list[Sample] = []
    skipped = 0
    for raw in text.split("\n"):
        line = raw[:-1] if raw.endswith("\r") else raw
        stripped = line.lstrip(" \t")
        if not stripped or stripped[0] == "#":
            continue
        m = _NAME_RE.match(line)
        if m is None:
            skipped += 1
            continue
        name = m.group(1)
        if names is not None and name not in names:
            continue
        sample = _parse_sample(line, name, m.end())
        if sample is None:
            skipped += 1
        else:
            samples.append(sample)
    return Exposition(tuple(samples), skipped, truncated)


def looks_like_prometheus(text: str) -> bool:
    """Whether `text` reads as an exposition: its first line that is neither blank nor a comment is a well-formed
    sample (an exposition with no samples yet counts). A JSON or HTML body, or a plain "OK", does not."""
    for raw in _bounded(text)[0].split("\n"):
        line = raw.rstrip("\r")
        stripped = line.lstrip(" \t")
        if not stripped or stripped[0] == "#":
            continue
        m = _NAME_RE.match(line)
        return m is not None and _parse_sample(line, m.group(1), m.end()) is not None
    return True
