"""Request streams for the simulator: when requests arrive and how long they are.

A stream is a :class:`Requests` record of three aligned arrays (arrival time [s] from the start of
the run, prompt tokens, output tokens), sorted by arrival. It is made either from a
:class:`WorkloadShape` — an arrival process plus two length distributions — by
:func:`make_requests`, or from a CSV trace by :func:`read_trace`.

Arrival processes (``rate_per_s`` is always the long-run mean rate [requests/s]):

- :class:`Poisson`: exponential inter-arrival times, coefficient of variation (CV) 1.
- :class:`Gamma`: gamma inter-arrival times with a chosen CV (CV > 1 is bursty, CV < 1 smoother,
  shape k = 1/CV², scale = CV²/rate).
- :class:`Diurnal`: a 24-hour curve of hourly multipliers; the instantaneous rate is piecewise
  constant, ``rate_per_s · m[h] / mean(m)`` in hour ``h`` (so the daily mean is ``rate_per_s``).
  Generated exactly by time change: a renewal process of unit rate (CV as for :class:`Gamma`) in
  "operational time" Λ(t) = ∫ rate, mapped back through Λ⁻¹ (piecewise linear).

Length distributions (tokens, integers ≥ 1): :class:`Fixed`, :class:`LogNormal` (given its mean
and the σ of the underlying normal, μ = ln(mean) − σ²/2), :class:`Uniform` (inclusive bounds) and
:class:`Empirical` (resampled with replacement).

Randomness comes from one ``seed``: a :class:`numpy.random.SeedSequence` spawns independent
streams for arrivals, input lengths and output lengths, so the lengths drawn at one seed do not
depend on the rate. Changing only the rate rescales the same arrival pattern (common random
numbers), which keeps a capacity search smooth.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np

from planner.simulate.limits import DETERMINISTIC_CV, MAX_CV, MAX_REQUEST_TOKENS
from profiler.errors import InvalidValueError

HOURS_PER_DAY = 24
SECONDS_PER_HOUR = 3600.0


# --------------------------------------------------------------------------------------------
# Records
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Requests:
    """A request stream: aligned arrays, sorted by ``arrival_s``.

    ``arrival_s`` [s] float64 from the start of the run, ``input_tokens`` and ``output_tokens``
    [tokens] int64, each ≥ 1.
    """

    arrival_s: np.ndarray
    input_tokens: np.ndarray
    output_tokens: np.ndarray

    def __post_init__(self) -> None:
        n = len(self.arrival_s)
        if len(self.input_tokens) != n or len(self.output_tokens) != n:
            raise InvalidValueError("Requests arrays must have the same length.")
        if n and (np.any(np.diff(self.arrival_s) < 0) or not np.all(np.isfinite(self.arrival_s))):
            raise InvalidValueError("Requests.arrival_s must be finite and sorted ascending.")
        if n and (self.input_tokens.min() < 1 or self.output_tokens.min() < 1):
            raise InvalidValueError("Every request needs at least 1 input and 1 output token.")

    def __len__(self) -> int:
        return len(self.arrival_s)

    @property
    def duration_s(self) -> float:
        """Time from the first to the last arrival [s]."""
        return float(self.arrival_s[-1] - self.arrival_s[0]) if len(self) > 1 else 0.0


@dataclass(frozen=True)
class Poisson:
    rate_per_s: float


@dataclass(frozen=True)
class Gamma:
    rate_per_s: float
    cv: float = 2.0  # coefficient of variation of the inter-arrival time (1 = Poisson)


@dataclass(frozen=True)
class Diurnal:
    rate_per_s: float  # mean over the day
    hourly_multipliers: tuple[float, ...]  # 24 relative rates, hour 0 first
    cv: float = 1.0  # CV of inter-arrivals in operational time (1 = Poisson within each hour)
    start_hour: float = 0.0  # clock hour at t = 0


ArrivalProcess = Poisson | Gamma | Diurnal


@dataclass(frozen=True)
class Fixed:
    tokens: int


@dataclass(frozen=True)
class LogNormal:
    mean: float  # mean length [tokens]
    sigma: float  # σ of ln(length)
    max_tokens: int | None = None  # clip the long tail (None = no clip)


@dataclass(frozen=True)
class Uniform:
    low: int
    high: int  # inclusive


@dataclass(frozen=True)
class Empirical:
    values: tuple[int, ...] = field(repr=False)


LengthDist = Fixed | LogNormal | Uniform | Empirical


@dataclass(frozen=True)
class WorkloadShape:
    """What to simulate: an arrival process and the prompt and output length distributions."""

    arrival: ArrivalProcess
    input_tokens: LengthDist
    output_tokens: LengthDist


# --------------------------------------------------------------------------------------------
# Validation
# --------------------------------------------------------------------------------------------


def _positive(name: str, value: float) -> None:
    if not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise InvalidValueError(f"{name} must be a finite number > 0, got {value!r}.")


def validate_arrival(process: ArrivalProcess) -> None:
    """Raise :class:`InvalidValueError` for an arrival process that cannot be generated."""
    if not isinstance(process, (Poisson, Gamma, Diurnal)):
        raise InvalidValueError(f"Unknown arrival process {process!r}: use Poisson, Gamma or Diurnal.")
    _positive(f"{type(process).__name__}.rate_per_s", process.rate_per_s)
    if isinstance(process, (Gamma, Diurnal)):
        _positive(f"{type(process).__name__}.cv", process.cv)
        if process.cv > MAX_CV:
            raise InvalidValueError(f"{type(process).__name__}.cv must be at most {MAX_CV:g} (planner.simulate.limits"
                                    f".MAX_CV), got {process.cv!r}.")
    if isinstance(process, Diurnal):
        m = process.hourly_multipliers
        # max, not sum: 24 values near the float maximum are a valid curve whose sum overflows
        if len(m) != HOURS_PER_DAY or any(not math.isfinite(x) or x < 0 for x in m) or max(m) <= 0:
            raise InvalidValueError(
                f"Diurnal.hourly_multipliers needs {HOURS_PER_DAY} numbers >= 0 (not all zero), got {m!r}.")
        if not 0 <= process.start_hour < HOURS_PER_DAY:
            raise InvalidValueError(f"Diurnal.start_hour must be in [0, 24), got {process.start_hour!r}.")


def validate_lengths(name: str, dist: LengthDist) -> None:
    """Raise :class:`InvalidValueError` for a length distribution that cannot be sampled."""
    if isinstance(dist, Fixed):
        _positive(f"{name}: Fixed.tokens", dist.tokens)
    elif isinstance(dist, LogNormal):
        _positive(f"{name}: LogNormal.mean", dist.mean)
        if not math.isfinite(dist.sigma * dist.sigma) or dist.sigma < 0:  # sigma^2 enters mu
            raise InvalidValueError(f"{name}: LogNormal.sigma must be >= 0 (and its square finite), got "
                                    f"{dist.sigma!r}.")
        if dist.max_tokens is not None:
            _positive(f"{name}: LogNormal.max_tokens", dist.max_tokens)
    elif isinstance(dist, Uniform):
        if not (1 <= dist.low <= dist.high):
            raise InvalidValueError(f"{name}: Uniform needs 1 <= low <= high, got {dist.low}..{dist.high}.")
    elif isinstance(dist, Empirical):
        if not dist.values or min(dist.values) < 1:
            raise InvalidValueError(f"{name}: Empirical.values needs at least one length, each >= 1.")
    else:
        raise InvalidValueError(f"{name}: unknown length distribution {dist!r}: "
                                "use Fixed, LogNormal, Uniform or Empirical.")


# --------------------------------------------------------------------------------------------
# Sampling
# --------------------------------------------------------------------------------------------


def _renewal_gaps(rng: np.random.Generator, n: int, cv: float) -> np.ndarray:
    """``n`` inter-arrival gaps of a unit-rate renewal process with the given CV (below
    :data:`~planner.simulate.limits.DETERMINISTIC_CV`: all 1, deterministic arrivals)."""
    if cv == 1.0:
        return rng.standard_exponential(n)
    if cv < DETERMINISTIC_CV:
        return np.ones(n)
    shape = 1.0 / (cv * cv)
    return rng.gamma(shape, 1.0 / shape, n)


def _diurnal_knots(p: Diurnal) -> tuple[np.ndarray, np.ndarray]:
    """Λ(t) at the knots of one day: (operational time Λ, clock time t [s]), both ascending.

    The rate changes at each clock-hour boundary, i.e. at ``t_k = (k − frac) · 3600`` for
    ``k = 1..24`` where ``frac`` is the fractional part of ``start_hour``.
    """
    m = np.asarray(p.hourly_multipliers, dtype=float)
    m = m / m.max()  # first: the mean of 24 values near the float maximum would overflow
    rates = p.rate_per_s * m / m.mean()  # requests/s in each clock hour
    first = math.floor(p.start_hour)
    frac = p.start_hour - first
    k = np.arange(1, HOURS_PER_DAY + 1)
    edges = np.concatenate([[0.0], (k - frac) * SECONDS_PER_HOUR, [HOURS_PER_DAY * SECONDS_PER_HOUR]])
    seg_rates = rates[(first + np.arange(HOURS_PER_DAY + 1)) % HOURS_PER_DAY]
    lam = np.concatenate([[0.0], np.cumsum(seg_rates * np.diff(edges))])
    return lam, edges


def _to_clock(p: ArrivalProcess, ops: np.ndarray) -> np.ndarray:
    """Map unit-rate operational times to clock times [s]: ``t = Λ⁻¹(ops)``."""
    if not isinstance(p, Diurnal):
        with np.errstate(over="ignore"):  # a rate near the float minimum: arrivals at infinity, after any duration
            return ops / p.rate_per_s
    lam, edges = _diurnal_knots(p)
    days, rem = np.divmod(ops, lam[-1])
    return days * (HOURS_PER_DAY * SECONDS_PER_HOUR) + np.interp(rem, lam, edges)


def _cv(p: ArrivalProcess) -> float:
    return p.cv if isinstance(p, (Gamma, Diurnal)) else 1.0


def _lognormal(d: LogNormal, rng: np.random.Generator, n: int) -> np.ndarray:
    mu = math.log(d.mean) - d.sigma * d.sigma / 2.0
    x = rng.lognormal(mu, d.sigma, n)
    return np.minimum(x, d.max_tokens) if d.max_tokens is not None else x


_SAMPLERS: dict[type, Callable[[object, np.random.Generator, int], np.ndarray]] = {
    Fixed: lambda d, rng, n: np.full(n, d.tokens),
    LogNormal: _lognormal,
    Uniform: lambda d, rng, n: rng.integers(d.low, d.high + 1, n),
    Empirical: lambda d, rng, n: rng.choice(np.asarray(d.values), n),
}


def sample_lengths(dist: LengthDist, rng: np.random.Generator, n: int) -> np.ndarray:
    """``n`` token counts drawn from ``dist``, rounded to integers ≥ 1 and at most
    :data:`~planner.simulate.limits.MAX_REQUEST_TOKENS` (longer than any model takes) (int64)."""
    with np.errstate(over="ignore"):  # a lognormal tail past the float maximum: clipped below
        x = _SAMPLERS[type(dist)](dist, rng, n)
    return np.clip(np.rint(x), 1, MAX_REQUEST_TOKENS).astype(np.int64)


def mean_length(dist: LengthDist) -> float:
    """Expected token count of a length distribution (before rounding and clipping) [tokens]."""
    means: dict[type, Callable[[object], float]] = {
        Fixed: lambda d: float(d.tokens),
        LogNormal: lambda d: float(d.mean),
        Uniform: lambda d: (d.low + d.high) / 2.0,
        Empirical: lambda d: float(np.mean(d.values)),
    }
    return means[type(dist)](dist)


def with_rate(process: ArrivalProcess, rate_per_s: float) -> ArrivalProcess:
    """The same arrival process (same shape, CV and curve) at another mean rate."""
    return replace(process, rate_per_s=rate_per_s)


def expected_arrivals(process: ArrivalProcess, duration_s: float) -> float:
    """Mean number of arrivals of ``process`` in ``[0, duration_s)``: Λ(duration) (a diurnal curve's hours
    weighted as they fall from its start hour). Only arithmetic: a check before anything is drawn."""
    validate_arrival(process)
    _positive("duration_s", duration_s)
    if not isinstance(process, Diurnal):
        return process.rate_per_s * duration_s
    lam, edges = _diurnal_knots(process)
    days, rem = divmod(duration_s, HOURS_PER_DAY * SECONDS_PER_HOUR)
    return days * float(lam[-1]) + float(np.interp(rem, edges, lam))


def make_requests(shape: WorkloadShape, *, n_requests: int | None = None, duration_s: float | None = None,
                  seed: int = 0, max_requests: int | None = None) -> Requests:
    """Draw a request stream of ``n_requests`` requests, or all arrivals within ``duration_s``.

    Exactly one of ``n_requests`` and ``duration_s`` must be given. Same seed, same stream. More than
    ``max_requests`` (None: no limit; `inferplan simulate` passes :data:`~planner.simulate.limits.MAX_SIM_REQUESTS`)
    is refused, before drawing when the count or the expected count (:func:`expected_arrivals`) is over, else as
    soon as the draw is.
    """
    validate_arrival(shape.arrival)
    validate_lengths("input_tokens", shape.input_tokens)
    validate_lengths("output_tokens", shape.output_tokens)
    if (n_requests is None) == (duration_s is None):
        raise InvalidValueError("Give exactly one of n_requests and duration_s.")
    arr_rng, in_rng, out_rng = (np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(3))
    if n_requests is not None:
        if n_requests < 1:
            raise InvalidValueError(f"n_requests must be >= 1, got {n_requests}.")
        if max_requests is not None and n_requests > max_requests:
            raise InvalidValueError(f"n_requests {n_requests:,} is more than the {max_requests:,} one simulation "
                                    "takes (planner.simulate.limits.MAX_SIM_REQUESTS).")
        ops = np.cumsum(_renewal_gaps(arr_rng, int(n_requests), _cv(shape.arrival)))
        times = _to_clock(shape.arrival, ops)
    else:
        expected = expected_arrivals(shape.arrival, duration_s)  # type: ignore[arg-type]
        if max_requests is not None and expected > max_requests:
            raise InvalidValueError(f"{expected:,.0f} requests expected in {duration_s:g} s, more than the "
                                    f"{max_requests:,} one simulation takes (planner.simulate.limits.MAX_SIM_REQUESTS)"
                                    "; simulate a shorter duration or a lower rate.")
        times = _times_within(shape.arrival, arr_rng, float(duration_s), max_requests)  # type: ignore[arg-type]
    n = len(times)
    return Requests(times, sample_lengths(shape.input_tokens, in_rng, n),
                    sample_lengths(shape.output_tokens, out_rng, n))


def _times_within(p: ArrivalProcess, rng: np.random.Generator, duration_s: float,
                  max_requests: int | None = None) -> np.ndarray:
    """All arrivals before ``duration_s``, drawing unit-rate gaps in chunks until past the end; more than
    ``max_requests`` of them (a burst far above the expected count) is refused as soon as it is drawn."""
    chunk = int(min(p.rate_per_s * duration_s, max_requests or math.inf)) + 64
    parts, last, drawn = [], 0.0, 0
    while True:
        ops = last + np.cumsum(_renewal_gaps(rng, chunk, _cv(p)))
        times = _to_clock(p, ops)
        parts.append(times)
        if times[-1] >= duration_s:
            break
        drawn += len(times)
        if max_requests is not None and drawn > max_requests:
            raise InvalidValueError(f"more than {max_requests:,} requests arrive in {duration_s:g} s (a burst "
                                    "above the mean rate), more than one simulation takes (planner.simulate.limits"
                                    ".MAX_SIM_REQUESTS); simulate a shorter duration or a lower rate.")
        last = float(ops[-1])
    times = np.concatenate(parts)
    times = times[times < duration_s]
    if max_requests is not None and len(times) > max_requests:
        raise InvalidValueError(f"{len(times):,} requests arrive in {duration_s:g} s (a burst above the mean "
                                f"rate), more than the {max_requests:,} one simulation takes (planner.simulate."
                                "limits.MAX_SIM_REQUESTS); simulate a shorter duration or a lower rate.")
    return times
