"""Reading the dated price catalogues: field checkers and the section reader that prices, buy and dedicated share.

A field checker is ``(value, field) -> normalised value`` and raises ValueError saying what would work;
:func:`read_rows` applies a ``{field: (checker, required)}`` spec to a YAML section and names file, line and entry
in its errors; :func:`read_docs` reads the catalogue and the user's files over it; :func:`merge_rows` lets a later
row override the fields it sets.
"""

from __future__ import annotations

import datetime as dt
import difflib
import math
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from planner.units import YamlDoc, read_yaml

AS_OF = re.compile(r"^\d{4}(-\d{2}(-\d{2})?)?$")  # YYYY, YYYY-MM or YYYY-MM-DD
PathArg = str | Path | Sequence[str | Path] | None


def text(v: Any, f: str) -> str:
    if not isinstance(v, str) or not v.strip():
        raise ValueError("expected non-empty text")
    return v.strip()


def opt_text(v: Any, f: str) -> str:
    return "" if v is None else text(v, f)


def price(v: Any, f: str) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0:
        raise ValueError(f"expected a price >= 0 in USD, got {v!r}")
    return float(v)


def opt_price(v: Any, f: str) -> float:
    return math.nan if v is None else price(v, f)


def opt_count(v: Any, f: str) -> float:
    if v is None:
        return math.nan
    if isinstance(v, bool) or not isinstance(v, int) or v < 1:
        raise ValueError(f"expected an integer >= 1, got {v!r}")
    return float(v)


def as_of(v: Any, f: str) -> str:
    s = v.isoformat() if isinstance(v, dt.date) else str(v) if isinstance(v, int) else v
    if not isinstance(s, str) or not (AS_OF.match(s) or s == "undated"):
        raise ValueError(f"expected a date YYYY, YYYY-MM or YYYY-MM-DD (or 'undated'), got {v!r}")
    return s


def flag(v: Any, f: str) -> bool:
    if v is None:
        return False
    if not isinstance(v, bool):
        raise ValueError(f"expected true or false, got {v!r}")
    return v


def close_hint(v: str, names) -> str:
    names = list(names)
    if not v:
        return ""
    close = [n for n in names if n.lower().startswith(v.lower())][:1] or difflib.get_close_matches(v, names, n=1)
    return f"; did you mean '{close[0]}'?" if close else ""


def gpu_id(v: Any, f: str) -> str:
    from profiler.catalogue import load_gpus

    v = text(v, f)
    gpus = load_gpus()
    if v not in gpus:
        raise ValueError(f"unknown GPU '{v}'{close_hint(v, gpus)} (GPUs: {', '.join(gpus)})")
    return v


def serves(v: Any, f: str) -> str | None:
    """A catalogue model id; a near miss of one is refused (a model only in a --models file is accepted)."""
    from profiler.catalogue import load_models

    v = opt_text(v, f)
    if not v:
        return v
    models = load_models()
    if v not in models and close_hint(v, models):
        raise ValueError(f"'{v}' is no catalogue model{close_hint(v, models)}")
    return v


def read_rows(doc: YamlDoc, section: str, spec: Mapping, key: tuple[str, ...]) -> list[dict]:
    """Validate ``doc.data[section]`` (a list of mappings) against `spec`; errors carry file:line."""
    items = (doc.data or {}).get(section, []) if isinstance(doc.data or {}, Mapping) else None
    if not isinstance(items, list):
        raise doc.error(f"'{section}' must be a list of entries", section)
    out = []
    for i, item in enumerate(items):
        if not isinstance(item, Mapping):
            raise doc.error("each entry must be a mapping of field: value", section, i)
        entry = "/".join(str(item.get(k, "?")) for k in key)
        unknown = set(item) - set(spec)
        if unknown:
            raise doc.error(f"unknown field; known: {', '.join(spec)}", section, i, sorted(unknown)[0],
                            entry=entry, field=sorted(unknown)[0])
        row = {}
        for name, (check, required) in spec.items():
            if required and name not in item:
                raise doc.error("missing required field", section, i, entry=entry, field=name)
            try:
                row[name] = check(item.get(name), name)
            except ValueError as exc:
                raise doc.error(str(exc), section, i, name, entry=entry, field=name) from None
        row["_given"] = frozenset(item)  # which fields the file set: an override changes only those
        out.append(row)
    return out


def read_docs(base: Path, extra: PathArg) -> list[YamlDoc]:
    paths = [] if extra is None else [extra] if isinstance(extra, (str, Path)) else list(extra)
    docs = [read_yaml(base)] + [read_yaml(p) for p in paths]
    for d in docs:
        if d.data is not None and not isinstance(d.data, Mapping):
            raise d.error("a price file is a mapping with sections such as 'offers:' or 'models:'")
    return docs


def merge_rows(rows: list[dict], key: tuple[str, ...]) -> list[dict]:
    """A later row with the same key overrides the fields it sets (a price update keeps the row's tags);
    order of first appearance is kept."""
    merged: dict[tuple, dict] = {}
    for r in rows:
        k = tuple(r[f] for f in key)
        old = merged.get(k)
        given = r.get("_given", frozenset(r))
        merged[k] = r if old is None else {**old, **{f: v for f, v in r.items() if f in given}}
    return list(merged.values())


# ------------------------------------------------------------------------------------------
# GPU rental offers
# ------------------------------------------------------------------------------------------
