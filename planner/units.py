"""What people type, turned into numbers: token counts, durations, rates, percentages; YAML files read with line
numbers (profiler.yamldoc, re-exported here with the planner's packaged-catalogue folder).

Every parser accepts a plain number (int/float, already in the base unit) or a string, and raises
:class:`profiler.errors.InvalidValueError` naming the field and showing accepted forms on anything
else. Base units: tokens, seconds, requests per second, fractions in [0, 1].

===========  ===============================================  ===============
parser       accepts                                          returns
===========  ===============================================  ===============
tokens       ``5M``, ``1.2B``, ``500k``, ``2e6``, ``1,000,000``  tokens (float)
duration     ``2s``, ``50ms``, ``1.5m``, ``1h``, ``250us``; bare seconds
rate         ``5/s``, ``300/min``, ``2000/h``, ``100/day``    per second
fraction     ``99.9%``, ``99.9``, ``0.999``                   fraction
===========  ===============================================  ===============

A percentage without ``%`` is read as a percentage when it is 10 or above (``99.9`` → 0.999) and as a
fraction at 1 or below (``0.999``; ``1`` means 100 %); a bare number between 1 and 10 is refused as
ambiguous (``1.5``: write ``1.5%`` or ``0.015``).

Calendar conventions (declared once here, imported everywhere else):
one month for everything: ``HOURS_PER_MONTH = 730`` (8,760 h / 12, seed §1's GPU month) and ``DAYS_PER_MONTH =
730 / 24 = 30.42`` for traffic and API bills, so an API month and a GPU month are the same month (issue 11 item 7).
The seed write-up bills APIs for 30 days (§2): ``SEED_DAYS_PER_MONTH``, for reproducing its API table only.
"""

from __future__ import annotations

import math
import re
from decimal import Decimal
from pathlib import Path
from typing import Any

from profiler import yamldoc
from profiler.errors import InvalidValueError
from profiler.yamldoc import YamlDoc, parse_yaml  # re-exported: the planner's loaders take them from here

SECONDS_PER_DAY = 86_400
HOURS_PER_MONTH = 730  # seed §1: "hourly rate x 730 hours/month" (8,760 h / 12)
DAYS_PER_MONTH = HOURS_PER_MONTH / 24  # 30.4167: the GPU month in days (module docstring)
MONTHS_PER_YEAR = 12  # annual = 12 x monthly (8,760 h = 12 x 730 h)
SEED_DAYS_PER_MONTH = 30  # seed §2: "monthly = 30 x daily" (the write-up's own API month)

_MULTIPLIERS = {"": 1.0, "k": 1e3, "thousand": 1e3, "m": 1e6, "mn": 1e6, "million": 1e6,
                "b": 1e9, "bn": 1e9, "billion": 1e9, "t": 1e12, "trillion": 1e12}
_SECONDS = {"us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3, "s": 1.0, "sec": 1.0, "secs": 1.0, "second": 1.0,
            "seconds": 1.0, "m": 60.0, "min": 60.0, "mins": 60.0, "minute": 60.0, "minutes": 60.0,
            "h": 3600.0, "hr": 3600.0, "hrs": 3600.0, "hour": 3600.0, "hours": 3600.0,
            "d": 86_400.0, "day": 86_400.0, "days": 86_400.0}
# ASCII digits only (re.ASCII below): "٣M" or "５M" are refused rather than read as 3M / 5M
_NUMBER = r"[-+]?(?:\d{1,3}(?:,\d{3})+|\d+)?(?:\.\d*)?(?:[eE][-+]?\d+)?"
# what _to_float accepts: the same shape with a mantissa required ("e5", "." and "1..2" are not numbers)
STRICT_NUMBER = re.compile(r"[-+]?(?:(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?", re.ASCII)
_SUFFIX = "|".join(sorted(_MULTIPLIERS, key=len, reverse=True)[:-1])  # longest first; "" handled by the "?"
_COUNT_RE = re.compile(rf"^\s*(?P<num>{_NUMBER})\s*(?P<suffix>{_SUFFIX})?\s*(?:tokens?|tok|requests?|req)?\s*$",
                       re.IGNORECASE | re.ASCII)
_DURATION_RE = re.compile(rf"^\s*(?P<num>{_NUMBER})\s*(?P<unit>[a-zA-Zµμ]*)\s*$", re.ASCII)
_RATE_RE = re.compile(r"^\s*(?P<count>[^/]+?)\s*(?:/|\bper\b)\s*(?P<unit>[a-zA-Z]+)\s*$", re.ASCII)


def _plain_number(value: Any, name: str, forms: str) -> float | None:
    """A non-bool int/float as float (finite), or None when `value` is a string to parse."""
    if isinstance(value, bool) or value is None:
        raise InvalidValueError(f"{name}: expected {forms}, got {value!r}.")
    if isinstance(value, (int, float)):
        if not math.isfinite(value):
            raise InvalidValueError(f"{name}: must be a finite number, got {value!r}.")
        return float(value)
    if not isinstance(value, str):
        raise InvalidValueError(f"{name}: expected {forms}, got {type(value).__name__} {value!r}.")
    return None


def _to_float(text: str, name: str, forms: str, original: Any) -> float:
    """`text` as a float when it is a plain decimal number (ASCII digits, optional thousands commas and exponent);
    anything else ("e5", "5MM", "1/0", "0x10", "٣") is refused with the accepted forms."""
    if not STRICT_NUMBER.fullmatch(text.strip()):
        raise InvalidValueError(f"{name}: cannot read {original!r}; use {forms}.")
    x = float(text.strip().replace(",", ""))
    if not math.isfinite(x):
        raise InvalidValueError(f"{name}: must be a finite number, got {original!r}.")
    return x


def _non_negative(x: float, name: str, original: Any) -> float:
    if not math.isfinite(x):  # a finite number times its unit can overflow ("1e308T")
        raise InvalidValueError(f"{name}: must be a finite number, got {original!r}.")
    if x < 0:
        raise InvalidValueError(f"{name}: must not be negative, got {original!r}.")
    return x


def parse_tokens(value: Any, name: str = "token count") -> float:
    """Token (or request) count: ``5M``, ``1.2B``, ``500k``, ``2e6``, ``1,000,000`` → float tokens, ≥ 0."""
    forms = "a count such as 5M, 1.2B, 500k, 2e6 or 1,000,000"
    x = _plain_number(value, name, forms)
    if x is not None:
        return _non_negative(x, name, value)
    m = _COUNT_RE.match(value)
    suffix = (m.group("suffix") or "").lower() if m else None
    if m is None or suffix not in _MULTIPLIERS:
        raise InvalidValueError(f"{name}: cannot read {value!r}; use {forms} (suffixes k, M, B, T).")
    return _non_negative(_to_float(m.group("num"), name, forms, value) * _MULTIPLIERS[suffix], name, value)


def parse_duration_s(value: Any, name: str = "duration", *, allow_zero: bool = False) -> float:
    """Duration in seconds: ``2s``, ``50ms``, ``1.5m``, ``1h``, ``250us``; a bare number is seconds. > 0."""
    forms = "a duration such as 2s, 50ms, 250us, 1.5m or 1h (a bare number is seconds)"
    x = _plain_number(value, name, forms)
    if x is None:
        m = _DURATION_RE.match(value)
        unit = m.group("unit").lower() if m else None
        if m is None or (unit and unit not in _SECONDS):
            raise InvalidValueError(f"{name}: cannot read {value!r}; use {forms}.")
        x = _to_float(m.group("num"), name, forms, value) * _SECONDS[unit or "s"]
    if not math.isfinite(x):
        raise InvalidValueError(f"{name}: must be a finite duration, got {value!r}.")
    if x < 0 or (x == 0 and not allow_zero):
        raise InvalidValueError(f"{name}: must be {'>= 0' if allow_zero else '> 0'}, got {value!r}.")
    return x


def parse_rate_per_s(value: Any, name: str = "rate") -> float:
    """Events per second: ``5/s``, ``300/min``, ``2000/h``, ``100/day``, ``2k per hour``; bare = per second. > 0."""
    forms = "a rate such as 5/s, 300/min, 2000/h or 100/day (a bare number is per second)"
    x = _plain_number(value, name, forms)
    if x is None:
        m = _RATE_RE.match(value)
        unit = m.group("unit").lower() if m else None
        if m is None and "/" not in value and " per " not in value:
            try:
                x = parse_tokens(value, name)  # a bare number: per second
            except InvalidValueError:
                raise InvalidValueError(f"{name}: cannot read {value!r}; use {forms}.") from None
        elif m is None or unit not in _SECONDS or unit in ("us", "ms"):
            raise InvalidValueError(f"{name}: cannot read {value!r}; use {forms}.")
        else:
            x = parse_tokens(m.group("count"), name) / _SECONDS[unit]
    if x <= 0:
        raise InvalidValueError(f"{name}: must be > 0, got {value!r}.")
    return x


AMBIGUOUS_PERCENT_BELOW = 10  # a bare 1 < x < 10 ("1.5") is refused: 1.5% and a typo of 0.15 both plausible


def parse_fraction(value: Any, name: str = "fraction", *, allow_one: bool = True, allow_zero: bool = True) -> float:
    """Fraction in [0, 1] from ``99.9%``, ``99.9`` (read as percent, > 1) or ``0.999``."""
    forms = "a percentage such as 99.9% or 99.9, or a fraction such as 0.999"
    x = _plain_number(value, name, forms)
    percent = False
    if x is None:
        text = value.strip()
        percent = text.endswith("%")
        x = _to_float(text.rstrip("%").strip(), name, forms, value)
    if not percent and 1 < x < AMBIGUOUS_PERCENT_BELOW:
        raise InvalidValueError(f"{name}: {value!r} could be a fraction or a percentage; write {x:g}% or "
                                f"{x / 100:g}.")
    if percent or x > 1:
        x = float(Decimal(repr(x)) / 100)  # decimal, so "99.9" gives exactly the float 0.999
    if x < 0 or x > 1:
        raise InvalidValueError(f"{name}: must lie between 0% and 100%, got {value!r}.")
    if (x == 1 and not allow_one) or (x == 0 and not allow_zero):
        raise InvalidValueError(f"{name}: must lie strictly between 0% and 100%, got {value!r}.")
    return x


def fmt_tokens(n: float, sig: int = 3) -> str:
    """``5e6`` → ``5M``, ``1.25e9`` → ``1.25B``, ``500`` → ``500``; `sig` significant figures (2 for break-even
    volumes, which a small price change moves far: planner.crossover.parity_band)."""
    n = float(f"{n:.{sig}g}")  # round first, so 999,999 at 2 figures reads 1M rather than 1e+03k
    for div, suffix in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(n) >= div:
            return f"{n / div:.{sig + 2}g}{suffix}"  # already rounded: the extra digits only avoid "7.4e+02"
    return f"{n:.{sig + 2}g}"


def round_sig(x: float, sig: int = 3) -> float:
    """``x`` rounded to ``sig`` significant figures (NaN and infinities as they are): ``7.4132`` → ``7.41``,
    ``1923.4`` → ``1920.0``, so a table shows what a simulated or measured number can claim."""
    if not math.isfinite(x) or x == 0:
        return float(x)
    return float(f"{x:.{sig}g}")


def fmt_sig(x: float, sig: int = 3) -> str:
    """``x`` to ``sig`` significant figures with thousands separators, never in exponent form above 1:
    ``1341.2`` → ``1,340``, ``5.2607`` → ``5.26``, ``0.02856`` → ``0.0286``; NaN → ``–``."""
    if not math.isfinite(x):
        return "–"
    r = round_sig(x, sig)
    if abs(r) >= 10 ** (sig - 1):
        return f"{r:,.0f}"
    return f"{r:.{sig}g}"


def fmt_ms(seconds: float, sig: int = 3) -> str:
    """A latency given in seconds, in milliseconds to ``sig`` significant figures: ``0.00741`` → ``7.41 ms``,
    ``0.7413`` → ``741 ms``, ``1.92`` → ``1,920 ms``; NaN → ``–``."""
    return "–" if not math.isfinite(seconds) else f"{fmt_sig(seconds * 1e3, sig)} ms"


def fmt_usd(x: float) -> str:
    """``13275`` → ``$13,275``; below $100 two decimals (``$22.50``)."""
    if not math.isfinite(x):
        return "n/a"
    sign, x = ("-", -x) if x < 0 else ("", x + 0.0)  # -$1,234, not $-1,234 (+ 0.0: no -0.00)
    return f"{sign}${x:,.2f}" if x < 100 else f"{sign}${x:,.0f}"


# ------------------------------------------------------------------------------------------
# YAML with line numbers: parsed by profiler.yamldoc; here only where the planner's packaged catalogues live
# ------------------------------------------------------------------------------------------


_PACKAGED_DIR = Path(__file__).resolve().parent / "catalogues"  # planner/catalogues: read through the parse cache


def read_yaml(path: str | Path) -> YamlDoc:
    """profiler.yamldoc.read_yaml of `path`: a packaged catalogue (planner/catalogues/*.yaml) is parsed once and then
    read from the cache of profiler.yaml_cache; any other file is a user file, read within profiler.userfile's
    bounds."""
    p = Path(path)
    packaged = p.name.endswith(".yaml") and p.resolve().parent == _PACKAGED_DIR
    return yamldoc.read_yaml(p, f"planner/catalogues/{p.name}" if packaged else None)


__all__ = ["SECONDS_PER_DAY", "HOURS_PER_MONTH", "DAYS_PER_MONTH", "SEED_DAYS_PER_MONTH", "parse_tokens",
           "parse_duration_s",
           "parse_rate_per_s", "parse_fraction", "fmt_tokens", "fmt_usd", "fmt_sig", "fmt_ms",
           "round_sig", "YamlDoc", "parse_yaml", "read_yaml"]
