"""The workload to serve: daily token volume, request lengths, traffic shape, SLOs and constraints.

:class:`Workload` is a frozen record; every default is declared once, on its field, with its source or
rationale. Stored: ``tokens_in_per_day``, ``tokens_out_per_day``, ``requests_per_day``; mean lengths are
derived (tokens / requests). :func:`build_workload` accepts any sufficient combination of volumes,
request counts, rates and mean lengths in human units (``5M``, ``300/h``, ``2s``, ``99.9%``) and derives
the rest; :func:`load_workload` reads the same keys from YAML with file:line errors.

Derived quantities (units in the names)::

    mean_input_tokens     = tokens_in_per_day / requests_per_day
    requests_per_s_mean   = requests_per_day / 86,400
    requests_per_s_peak   = requests_per_s_mean x peak_to_average
    input_tokens_p99      = the 99th percentile of the input LengthDist at that mean

The seed scenario (shared/reference/seed_cost_model.md §2) is :data:`DEFAULT_WORKLOAD`: 5M input +
1M output tokens/day at 99.9 % availability. The seed says "a few hundred requests per hour"; mean
lengths of 1,000 input / 200 output tokens (the seed's 5:1 token mix) give 5,000 requests/day =
208/h on average and 417/h at the 2x peak — inside "a few hundred". (2,000/400 would give 104/h, below
it.)
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path
from statistics import NormalDist
from typing import Any

from planner import limits
from planner.errors import WorkloadError
from planner.units import (
    SECONDS_PER_DAY,
    YamlDoc,
    parse_duration_s,
    parse_fraction,
    parse_rate_per_s,
    parse_tokens,
    read_yaml,
)
from profiler.errors import CatalogueError, InvalidValueError, did_you_mean

HOURS_PER_DAY = 24
LENGTH_KINDS = ("fixed", "lognormal")


@dataclass(frozen=True)
class LengthDist:
    """Shape of a request-length distribution; its mean comes from the workload.

    ``fixed``: every request has the mean length. ``lognormal``: ln(length) ~ Normal(mu, sigma) with
    mu = ln(mean) - sigma^2 / 2 (so the mean is preserved), optionally clipped at ``max_tokens``.
    """

    kind: str = "lognormal"
    # sigma 0.5 puts p99 at 2.8x the mean (1,000 → 2,824 input tokens): a moderate spread. A stated
    # default, not fitted to a trace — set it from your own request logs.
    sigma: float = 0.5
    max_tokens: int | None = None

    def __post_init__(self) -> None:
        if self.kind not in LENGTH_KINDS:
            raise WorkloadError(f"length distribution '{self.kind}' is not known; use one of {', '.join(LENGTH_KINDS)}")
        if not math.isfinite(self.sigma) or self.sigma < 0:
            raise WorkloadError(f"length sigma must be a finite number >= 0, got {self.sigma!r}")
        if self.max_tokens is not None and self.max_tokens < 1:
            raise WorkloadError(f"length max_tokens must be >= 1, got {self.max_tokens!r}")

    def quantile(self, mean: float, q: float) -> float:
        """The q-quantile [tokens] of a distribution with this shape and the given mean."""
        if self.kind == "fixed" or self.sigma == 0:
            x = mean
        else:
            mu = math.log(mean) - self.sigma ** 2 / 2
            x = math.exp(mu + NormalDist().inv_cdf(q) * self.sigma)
        return min(x, self.max_tokens) if self.max_tokens else x


GUARD_SCOPES = ("input-output", "input", "none")  # Workload.guardrails
API_TIERS = ("standard", "batch", "priority")  # Workload.api_tier
LONGEST_QUANTILE = 0.999  # Workload.longest_request_tokens: requests refused at most 0.1% (a tenth of a p99 budget)


@dataclass(frozen=True)
class Workload:
    """One workload. Volumes per day; times in seconds; availability and fractions in [0, 1]."""

    tokens_in_per_day: float = 5e6  # seed §2: 5M input tokens/day
    tokens_out_per_day: float = 1e6  # seed §2: 1M output tokens/day
    requests_per_day: float = 5_000  # 1,000 in / 200 out per request → 208 req/h (module docstring)
    # share of input tokens served from a prompt cache: billed at an API's cached-input price, and skipped by a
    # self-hosted replica's prefill (vLLM automatic prefix caching; planner.capacity.prefill_share)
    cached_input_fraction: float = 0.0
    input_dist: LengthDist = LengthDist()
    output_dist: LengthDist = LengthDist()
    # Peak / mean request rate. 2.0 = traffic flat over a 12-hour working day and idle overnight
    # (24 h / 12 h); a stated rationale, not a measurement. An `hourly_profile` replaces it (its max/mean).
    peak_to_average: float | None = None
    hourly_profile: tuple[float, ...] | None = None  # 24 relative rates, hour 0 first; normalised to mean 1
    # The mean day's load shape, 24 hourly multipliers (hour 0 first, normalised to mean 1), measured from a usage
    # log (planner.usage_log): the load curve the hybrid split reads (planner.hybrid). Sizing keeps peak_to_average
    # (a log's busiest single hour, at least this curve's max). None: no measured shape.
    daily_curve: tuple[float, ...] | None = None
    # TTFT 2 s: seed §3 "interactive users notice delays above 1-2 s".
    ttft_p99_s: float = 2.0
    # TPOT 50 ms = 20 tokens/s ≈ 15 words/s (0.75 words/token), ~4x silent reading speed (238 words/min,
    # Brysbaert 2019, J. Memory & Language 109:104047) — streaming stays ahead of the reader.
    tpot_p99_s: float = 0.050
    availability: float = 0.999  # seed §1: "99.9% uptime"
    data_residency: bool = False  # third-party APIs forbidden/undesirable for this data (seed §4)
    existing_infra: bool = False  # GPU Kubernetes, MLOps team, monitoring already paid for (seed §1)
    # What the guard model screens (planner.guard): "input" (user prompts), "input-output" (prompts and
    # responses; seed §1 "guardrails and content filtering" of a customer-facing product) or "none".
    guardrails: str = "input-output"
    # The API service tier the comparison buys (planner.api_costs): "standard"; "batch" (asynchronous, ~50% off,
    # results within a day) for offline work; "priority" (the tier sold with a latency/uptime commitment, ~1.7-2x)
    # for a production SLA. Rows without a published price for the tier keep the standard price and say so.
    api_tier: str = "standard"
    # Evaluation, audit logging and guardrails are needed whichever serves the model (a regulated product): the same
    # lines are added to every API's bill (issue 11 item 7); False charges them to self-hosting only.
    compliance_on_api: bool = False
    # Capabilities an API may not give (planner.needs, catalogues/needs.yaml): fine-tuning, air-gapped, compliance,
    # full-stack-control. A need no API meets makes the verdict self-host-for-capability.
    needs: tuple[str, ...] = ()
    # The application runs beside the model and needs its latency (seed §3: "co-located inference is needed for
    # sub-100 ms p99"): the verdict checks the published API latencies against the SLOs (planner.latency).
    co_located: bool = False
    # Where the volume came from (the framework's step 1 asks for the measured volume): set by the CLI and the
    # usage-log reader (planner.usage_log); "" = the built-in default scenario or a library caller.
    volume_source: str = ""
    name: str = "seed scenario"

    def __post_init__(self) -> None:
        for f in ("tokens_in_per_day", "tokens_out_per_day", "requests_per_day", "ttft_p99_s", "tpot_p99_s"):
            v = getattr(self, f)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v <= 0:
                raise WorkloadError(f"{f} must be a finite number > 0, got {v!r}")
        for f, v in (("mean_input_tokens", self.mean_input_tokens), ("mean_output_tokens", self.mean_output_tokens)):
            if v < 1:
                raise WorkloadError(f"{f} = {v:.3g} (tokens per day / requests per day) is below 1 token; "
                                    "lower requests_per_day or raise the token volume")
            if v > limits.MAX_REQUEST_TOKENS * (1 + 1e-9):  # the tolerance: a rescaled mean moves in its last bits
                raise WorkloadError(f"{f} = {v:.3g} tokens per request (tokens per day / requests per day) is more "
                                    f"than {limits.MAX_REQUEST_TOKENS:.0e}, ten times the longest context window of "
                                    "any model; raise requests_per_day or lower the token volume")
        if self.tokens_per_day > limits.MAX_TOKENS_PER_DAY * (1 + 1e-9):  # the tolerance: scaled_to's rounding
            raise WorkloadError(f"{self.tokens_per_day:.3g} tokens/day (input + output) is more than the "
                                f"{limits.MAX_TOKENS_PER_DAY:.0e} tokens/day inferplan plans for (planner/limits.py); "
                                "plan a share of the traffic per deployment")
        if not 0 <= self.cached_input_fraction <= 1:
            raise WorkloadError(f"cached_input_fraction must lie in [0, 1], got {self.cached_input_fraction!r}")
        if not 0 < self.availability < 1:
            raise WorkloadError(f"availability must lie strictly between 0 and 1 (e.g. 0.999), got "
                                f"{self.availability!r}; 100% cannot be planned for")
        if self.guardrails not in GUARD_SCOPES:
            hint = did_you_mean(str(self.guardrails), GUARD_SCOPES)
            raise WorkloadError(f"guardrails must be one of {', '.join(GUARD_SCOPES)}, got {self.guardrails!r}{hint}")
        if self.api_tier not in API_TIERS:
            raise WorkloadError(f"api_tier must be one of {', '.join(API_TIERS)}, got {self.api_tier!r}")
        object.__setattr__(self, "hourly_profile", _normalised_profile(self.hourly_profile))
        object.__setattr__(self, "daily_curve", _normalised_profile(self.daily_curve))
        object.__setattr__(self, "peak_to_average", self._resolve_peak())

    def _resolve_peak(self) -> float:
        default_peak = 2.0  # see the field comment
        if self.hourly_profile is not None:
            from_profile = max(self.hourly_profile)
            if self.peak_to_average is not None and abs(self.peak_to_average - from_profile) > 1e-9:
                raise WorkloadError(f"peak_to_average {self.peak_to_average:g} contradicts the hourly profile "
                                    f"(max/mean = {from_profile:.4g}); give one or the other")
            return from_profile
        p = default_peak if self.peak_to_average is None else self.peak_to_average
        if isinstance(p, bool) or not isinstance(p, (int, float)) or not math.isfinite(p) or p < 1:
            raise WorkloadError(f"peak_to_average must be a number >= 1 (peak rate / mean rate), got {p!r}")
        if p > limits.MAX_PEAK_TO_AVERAGE:
            raise WorkloadError(f"peak_to_average {p:g} is more than {limits.MAX_PEAK_TO_AVERAGE:g} (a day's traffic "
                                "in 14 minutes); give the peak of the hourly rate, e.g. 2-4")
        return float(p)

    # ---- derived ----
    @property
    def tokens_per_day(self) -> float:
        return self.tokens_in_per_day + self.tokens_out_per_day

    @property
    def mean_input_tokens(self) -> float:
        return self.tokens_in_per_day / self.requests_per_day

    @property
    def mean_output_tokens(self) -> float:
        return self.tokens_out_per_day / self.requests_per_day

    @property
    def requests_per_s_mean(self) -> float:
        return self.requests_per_day / SECONDS_PER_DAY

    @property
    def requests_per_s_peak(self) -> float:
        return self.requests_per_s_mean * self.peak_to_average

    @property
    def tokens_per_s_peak(self) -> float:
        """Input + output tokens per second at the peak hour."""
        return self.tokens_per_day / SECONDS_PER_DAY * self.peak_to_average

    @property
    def input_tokens_p99(self) -> float:
        return self.input_dist.quantile(self.mean_input_tokens, 0.99)

    @property
    def output_tokens_p99(self) -> float:
        return self.output_dist.quantile(self.mean_output_tokens, 0.99)

    @property
    def longest_request_tokens(self) -> float:
        """The request --max-model-len admits: the p99.9 prompt plus the p99.9 output. A longer request is refused
        (vLLM answers HTTP 400), so at most ~0.1% are, a tenth of a p99 objective's 1% budget; the p99 request
        would refuse up to ~1% and leave no budget for latency (benchmarks/p99_sizing.py: 8,000-token prompts)."""
        return (self.input_dist.quantile(self.mean_input_tokens, LONGEST_QUANTILE)
                + self.output_dist.quantile(self.mean_output_tokens, LONGEST_QUANTILE))

    @property
    def load_curve(self) -> tuple[float, ...] | None:
        """The day's shape, 24 hourly multipliers of the mean rate: the hourly profile, else the measured daily
        curve, else None (only a peak-to-average is known)."""
        return self.hourly_profile or self.daily_curve

    def scaled_to(self, tokens_per_day: float) -> Workload:
        """Same request lengths, mix and shape at another total (input + output) daily volume."""
        if not math.isfinite(tokens_per_day) or tokens_per_day <= 0:
            raise WorkloadError(f"tokens_per_day must be > 0, got {tokens_per_day!r}")
        k = tokens_per_day / self.tokens_per_day
        return replace(self, tokens_in_per_day=self.tokens_in_per_day * k,
                       tokens_out_per_day=self.tokens_out_per_day * k, requests_per_day=self.requests_per_day * k)


def _normalised_profile(profile) -> tuple[float, ...] | None:
    if profile is None:
        return None
    vals = tuple(profile)
    if len(vals) != HOURS_PER_DAY or any(isinstance(v, bool) or not isinstance(v, (int, float)) for v in vals):
        raise WorkloadError(f"hourly_profile needs {HOURS_PER_DAY} numbers (hour 0 first), got {len(vals)} values")
    if any(not math.isfinite(v) or v < 0 for v in vals) or sum(vals) <= 0:
        raise WorkloadError("hourly_profile values must be >= 0 and not all zero")
    mean = sum(vals) / HOURS_PER_DAY
    return tuple(v / mean for v in vals)


DEFAULT_WORKLOAD = Workload()

# ------------------------------------------------------------------------------------------
# Human input → Workload
# ------------------------------------------------------------------------------------------

_ALIASES = {"ttft_p99": "ttft_p99_s", "tpot_p99": "tpot_p99_s", "input_tokens": "mean_input_tokens",
            "output_tokens": "mean_output_tokens", "peak_to_avg": "peak_to_average"}
_VOLUME_KEYS = ("tokens_in_per_day", "tokens_out_per_day", "requests_per_day", "request_rate",
                "mean_input_tokens", "mean_output_tokens")
_SIMPLE = {
    "cached_input_fraction": lambda v, k: parse_fraction(v, k),
    "peak_to_average": lambda v, k: _number(v, k),
    "ttft_p99_s": lambda v, k: parse_duration_s(v, k),
    "tpot_p99_s": lambda v, k: parse_duration_s(v, k),
    "availability": lambda v, k: parse_fraction(v, k, allow_one=False, allow_zero=False),
    "data_residency": lambda v, k: _boolean(v, k),
    "existing_infra": lambda v, k: _boolean(v, k),
    "guardrails": lambda v, k: str(v).strip().lower(),
    "api_tier": lambda v, k: str(v).strip().lower(),
    "compliance_on_api": lambda v, k: _boolean(v, k),
    "needs": lambda v, k: _needs(v, k),
    "co_located": lambda v, k: _boolean(v, k),
    "volume_source": lambda v, k: str(v),
    "name": lambda v, k: str(v),
    "hourly_profile": lambda v, k: _profile(v, k),
    "daily_curve": lambda v, k: _profile(v, k),
    "input_dist": lambda v, k: _length_dist(v, k),
    "output_dist": lambda v, k: _length_dist(v, k),
}
KNOWN_KEYS = tuple(sorted(set(_VOLUME_KEYS) | set(_SIMPLE) | set(_ALIASES)))


def _number(v: Any, key: str) -> float:
    if isinstance(v, str):  # a CLI flag
        try:
            v = float(v.strip().rstrip("xX"))  # "2.5" or "2.5x"
        except ValueError:
            raise InvalidValueError(f"{key}: expected a number such as 2.5, got {v!r}") from None
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        raise InvalidValueError(f"{key}: expected a finite number, got {v!r}")
    return float(v)


def _boolean(v: Any, key: str) -> bool:
    if not isinstance(v, bool):
        raise InvalidValueError(f"{key}: expected true or false, got {v!r}")
    return v


def _needs(v: Any, key: str) -> tuple[str, ...]:
    from planner.needs import parse_needs  # the needs catalogue sits downstream of the workload

    if not isinstance(v, (str, list, tuple)):
        raise InvalidValueError(f"{key}: expected a list such as [fine-tuning, air-gapped], got {v!r}")
    return parse_needs(v)


def _profile(v: Any, key: str) -> tuple[float, ...]:
    if not isinstance(v, (list, tuple)):
        raise InvalidValueError(f"{key}: expected a list of {HOURS_PER_DAY} numbers, got {v!r}")
    return tuple(_number(x, key) for x in v)


def _length_dist(v: Any, key: str) -> LengthDist:
    if isinstance(v, LengthDist):
        return v
    if isinstance(v, str):
        v = {"kind": v}
    if not isinstance(v, Mapping) or set(v) - {"kind", "sigma", "max_tokens"}:
        raise InvalidValueError(f"{key}: expected {{kind: fixed|lognormal, sigma: 0.5, max_tokens: 32k}}, got {v!r}")
    sigma = _number(v.get("sigma", LengthDist.sigma), f"{key}.sigma")
    cap = v.get("max_tokens")
    return LengthDist(str(v.get("kind", LengthDist.kind)), sigma,
                      None if cap is None else int(parse_tokens(cap, f"{key}.max_tokens")))


def _volumes(given: Mapping[str, Any], base: Workload) -> dict[str, float]:
    """Solve tokens_in = R x m_in and tokens_out = R x m_out for the unknowns (see build_workload)."""
    t_in = parse_tokens(given["tokens_in_per_day"], "tokens_in_per_day") if "tokens_in_per_day" in given else None
    t_out = parse_tokens(given["tokens_out_per_day"], "tokens_out_per_day") if "tokens_out_per_day" in given else None
    m_in = parse_tokens(given["mean_input_tokens"], "mean_input_tokens") if "mean_input_tokens" in given else None
    m_out = parse_tokens(given["mean_output_tokens"], "mean_output_tokens") if "mean_output_tokens" in given else None
    for name, m in (("--input-tokens (mean_input_tokens)", m_in), ("--output-tokens (mean_output_tokens)", m_out)):
        if m is not None and m < 1:
            raise WorkloadError(f"{name} must be at least 1 token per request, got {m:g}")
    if "requests_per_day" in given and "request_rate" in given:
        raise WorkloadError("give requests_per_day or request_rate, not both")
    r = (parse_tokens(given["requests_per_day"], "requests_per_day") if "requests_per_day" in given
         else parse_rate_per_s(given["request_rate"], "request_rate") * SECONDS_PER_DAY if "request_rate" in given
         else None)
    if r is None:
        r = (t_in / m_in if t_in is not None and m_in else t_out / m_out if t_out is not None and m_out
             else t_in / base.mean_input_tokens if t_in is not None
             else t_out / base.mean_output_tokens if t_out is not None else base.requests_per_day)
    if not r or r <= 0:
        raise WorkloadError("requests per day must be > 0; give token volumes > 0 or a request rate")
    for t, m, label in ((t_in, m_in, "input"), (t_out, m_out, "output")):
        if t is not None and m is not None and abs(t / r - m) > 0.01 * m:
            raise WorkloadError(f"inconsistent {label}: {t:,.0f} tokens/day over {r:,.0f} requests/day is "
                                f"{t / r:,.0f} tokens per request, not the mean_{label}_tokens {m:,.0f} given; "
                                "drop one of the three")
    m_in = m_in if m_in is not None else (t_in / r if t_in is not None else base.mean_input_tokens)
    m_out = m_out if m_out is not None else (t_out / r if t_out is not None else base.mean_output_tokens)
    return {"tokens_in_per_day": t_in if t_in is not None else r * m_in,
            "tokens_out_per_day": t_out if t_out is not None else r * m_out, "requests_per_day": r}


def build_workload(values: Mapping[str, Any], base: Workload = DEFAULT_WORKLOAD) -> Workload:
    """A Workload from human-unit values, unspecified fields taken from `base`.

    Volume keys (any sufficient subset): ``tokens_in_per_day``, ``tokens_out_per_day``,
    ``requests_per_day`` or ``request_rate`` (``300/h``), ``mean_input_tokens``, ``mean_output_tokens``.
    Requests come from the request count/rate, else tokens / mean length, else tokens / the base's mean
    length; missing volumes are requests x mean length. Other keys: see :data:`KNOWN_KEYS`.
    """
    vals = {_ALIASES.get(k, k): v for k, v in values.items() if v is not None}
    unknown = sorted(set(vals) - set(_VOLUME_KEYS) - set(_SIMPLE))
    if unknown:
        close = difflib.get_close_matches(unknown[0], KNOWN_KEYS, n=1)
        hint = f" Did you mean '{close[0]}'?" if close else ""
        raise WorkloadError(f"unknown workload key '{unknown[0]}'.{hint} Known keys: {', '.join(KNOWN_KEYS)}")
    kwargs = {k: _SIMPLE[k](v, k) for k, v in vals.items() if k in _SIMPLE}
    if "hourly_profile" in kwargs and "peak_to_average" not in kwargs:
        kwargs["peak_to_average"] = None  # derived from the profile, not inherited from `base`
    if "peak_to_average" in kwargs and "hourly_profile" not in kwargs:
        kwargs["hourly_profile"] = None
    if any(k in vals for k in _VOLUME_KEYS):
        kwargs.update(_volumes(vals, base))
    if "name" not in kwargs and base.name == DEFAULT_WORKLOAD.name and set(vals) - {"name", "volume_source"}:
        kwargs["name"] = "custom"  # no longer the seed scenario once anything about it changed
    return replace(base, **kwargs)


def load_workload(path: str | Path, base: Workload = DEFAULT_WORKLOAD) -> Workload:
    """Read a workload YAML (a mapping of :func:`build_workload` keys); errors name file, line and field."""
    doc: YamlDoc = read_yaml(path)
    if doc.data is None:
        return base
    if not isinstance(doc.data, Mapping):
        raise doc.error("a workload file is a mapping of keys such as tokens_in_per_day: 5M")
    for key, value in doc.data.items():  # field-by-field first, so the error points at the right line
        try:
            build_workload({key: value}, base)
        except (WorkloadError, InvalidValueError) as exc:
            raise doc.error(str(exc), key, field=str(key)) from None
    try:
        return build_workload({"name": Path(path).stem, **doc.data}, base)
    except (WorkloadError, InvalidValueError) as exc:
        raise CatalogueError(str(exc), file=doc.file) from None


WORKLOAD_FIELDS = tuple(f.name for f in fields(Workload))

__all__ = ["LengthDist", "Workload", "DEFAULT_WORKLOAD", "build_workload", "load_workload", "KNOWN_KEYS",
           "WORKLOAD_FIELDS"]
