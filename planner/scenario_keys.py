"""The plan options a scenarios file may set (planner.scenarios), each parsed from YAML into a PlanRequest field.

:data:`PLAN_KEYS` maps a scenario key to ``(PlanRequest field, parser)``; a parser takes the YAML value, the key and
the scenarios file's folder (file paths are relative to it) and raises InvalidValueError saying what is allowed.
The names follow `inferplan plan`'s flags (``--gpu`` -> ``gpu``, ``--growth`` -> ``growth_per_month``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from planner import limits
from planner.units import parse_fraction
from profiler.errors import InvalidValueError, did_you_mean

MARGIN_RANGE = (1.0, 100.0)  # planner.api.plan's --margin check (1-100), refused here at the file's line instead
GROWTH_RANGE = (-0.5, 1.0)  # cmd_plan._growth's bounds: -50% to +100% a month
MONTHS_RANGE = (1, 120)  # cmd_plan._months's bounds: 1 to 120 months
VOLUME_FACTOR_RANGE = (0.001, 1000.0)  # design choice: beyond 1000x or below 0.1% is a typo, not a what-if


def _bad(key: str, want: str, v: Any) -> InvalidValueError:
    return InvalidValueError(f"{key}: expected {want}, got {v!r}")


def names(v: Any, key: str, _base: Path | None = None) -> tuple[str, ...]:
    """A name or a list of names (``h100-sxm`` / ``[h100-sxm, a100-80gb]`` / ``"h100-sxm, a100-80gb"``)."""
    items = v.split(",") if isinstance(v, str) else v if isinstance(v, list) else None
    if items is None or not all(isinstance(x, str) for x in items):
        raise _bad(key, "a name or a list of names such as [h100-sxm, a100-80gb]", v)
    out = tuple(x.strip() for x in items if x.strip())
    if not out:
        raise _bad(key, "at least one name", v)
    return out


def text(v: Any, key: str, _base: Path | None = None) -> str:
    if not isinstance(v, str) or not v.strip():
        raise _bad(key, "a name (text)", v)
    return v.strip()


def integer(v: Any, key: str, lo: int, hi: int) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
        raise _bad(key, f"a whole number from {lo:,} to {hi:,}", v)
    return v


def ints(v: Any, key: str, _base: Path | None = None) -> tuple[int, ...]:
    """A TP degree or a list of them (``4``, ``[1, 2, 4]``, ``"1,2"``)."""
    items = [x.strip() for x in v.split(",")] if isinstance(v, str) else v if isinstance(v, list) else [v]
    try:
        out = tuple(int(x) if isinstance(x, str) and x.isascii() and x.isdigit() else x for x in items)
    except ValueError:
        out = ()
    if not out or any(isinstance(x, bool) or not isinstance(x, int) or x < 1 for x in out):
        raise _bad(key, "a whole number >= 1 or a list of them such as [1, 2, 4]", v)
    return out


def boolean(v: Any, key: str, _base: Path | None = None) -> bool:
    if not isinstance(v, bool):
        raise _bad(key, "true or false", v)
    return v


def number(v: Any, key: str, lo: float, hi: float, want: str) -> float:
    if isinstance(v, str):
        try:
            v = float(v.strip().lower().removesuffix("x"))
        except ValueError:
            pass
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or not lo <= v <= hi:
        raise _bad(key, f"{want} from {lo:g} to {hi:g}", v)
    return float(v)


def growth(v: Any, key: str, _base: Path | None = None) -> float:
    """8%, 8%/month or 0.08: volume growth a month as a fraction."""
    if isinstance(v, str):
        t = v.strip().lower().replace(" ", "").removesuffix("/month").removesuffix("/mo")
        try:
            v = float(t.removesuffix("%")) / 100 if t.endswith("%") else float(t)
        except ValueError:
            raise _bad(key, "volume growth per month such as 8% or 0.08", v) from None
    return number(v, key, *GROWTH_RANGE, "a growth per month such as 8% or 0.08")


def owned(v: Any, key: str, _base: Path | None = None) -> tuple[tuple[str, int], ...]:
    """GPUs already owned: ``{h100-sxm: 8}`` -> (("h100-sxm", 8),)."""
    if not isinstance(v, Mapping) or not v:
        raise _bad(key, "GPU counts such as {h100-sxm: 8}", v)
    return tuple((text(g, key), integer(n, f"{key}.{g}", 1, 1_000_000)) for g, n in v.items())


def pricing(v: Any, key: str, _base: Path | None = None) -> tuple[str, ...]:
    from planner.prices import PRICING_MODELS

    known = (*PRICING_MODELS, "buy")  # renting models, and owning (planner.buy)
    out = names(v, key)
    for p in out:
        if p not in known:
            hint = did_you_mean(p, known)
            raise InvalidValueError(f"unknown pricing model '{p}'{hint}; choose from {', '.join(known)}")
    return out


def engine(v: Any, key: str, _base: Path | None = None) -> str:
    from planner.launch import ENGINES

    e = text(v, key)
    if e not in ENGINES:
        hint = did_you_mean(e, ENGINES)
        raise InvalidValueError(f"engine must be one of {', '.join(ENGINES)}, not {e!r}{hint}")
    return e


def path(v: Any, key: str, base: Path | None = None) -> Path:
    """A file named relative to the scenarios file; it must exist."""
    p = Path(text(v, key)).expanduser()
    p = p if p.is_absolute() or base is None else base / p
    if not p.is_file():
        raise InvalidValueError(f"{key}: no file {p}")
    return p


def _factor(v: Any, key: str, _base: Path | None = None) -> float:
    from planner.price_factors import FACTOR_RANGE

    return number(v, key, *FACTOR_RANGE, "a multiplier on today's price")


Parser = Callable[[Any, str, "Path | None"], Any]

PLAN_KEYS: dict[str, tuple[str, Parser]] = {
    "gpu": ("gpus", names), "quant": ("quants", names), "tp": ("tps", ints), "kv_dtype": ("kv_dtypes", names),
    "pricing": ("pricing", pricing), "provider": ("provider", text), "region": ("region", text),
    "engine": ("engine", engine),
    "margin": ("margin", lambda v, k, _b=None: number(v, k, *MARGIN_RANGE, "a number (API cost / self-host TCO)")),
    "hot_standby": ("hot_standby", lambda v, k, _b=None: parse_fraction(v, k)),
    "spares": ("spares", lambda v, k, _b=None: integer(v, k, 0, limits.MAX_REPLICAS)),
    "zones": ("zones", lambda v, k, _b=None: integer(v, k, 1, limits.MAX_ZONES)),
    "node_loss": ("node_loss", boolean), "hybrid": ("hybrid", boolean), "owned": ("owned", owned),
    "growth_per_month": ("growth_per_month", growth),
    "months": ("months", lambda v, k, _b=None: integer(v, k, *MONTHS_RANGE)),
    "gpu_price_factor": ("gpu_price_factor", _factor), "api_price_factor": ("api_price_factor", _factor),
    "people_cost_factor": ("people_cost_factor", _factor), "talent_region": ("talent_region", text),
    "api_prices": ("api_prices", path), "gpu_prices": ("gpu_prices", path), "tco": ("tco", path),
    "dedicated_prices": ("dedicated_prices", path), "models": ("models_file", path),
}


def volume_factor(v: Any, key: str) -> float:
    return number(v, key, *VOLUME_FACTOR_RANGE, "a multiplier on the daily volume")


__all__ = ["PLAN_KEYS", "names", "text", "path", "volume_factor"]
