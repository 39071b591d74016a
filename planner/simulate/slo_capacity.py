"""How many requests per second one replica sustains while meeting p99 TTFT and TPOT targets.

``find_slo_capacity`` bisects on the arrival rate. Every probe replays the *same* random stream
(same seed: lengths identical, arrival gaps rescaled by the rate), so the p99s move smoothly with
the rate. A rate is **feasible** when, over the measurement window (see
:mod:`planner.simulate.metrics`), at most ``MAX_REJECTED_FRACTION`` (1 % for p99 objectives) of the
arrivals are refused by the engine, p99 TTFT ≤ ``slo.ttft_p99_s``, p99 TPOT ≤ ``slo.tpot_p99_s`` and
the waiting queue is not growing (``SimMetrics.stable``). Which requests are refused depends only on
their lengths and the engine limits, not on the rate, so a stream refusing too many has capacity 0
(``limited_by == "rejections"``) and the search stops after its first probe.

Bracket: the search starts at an analytic upper bound (:func:`rate_upper_bound`), doubles it
while it is still feasible, then halves towards zero until a feasible rate is found and bisects
until ``hi − lo ≤ rel_tol · lo``. The answer is the highest feasible rate probed.

:func:`simulate_point` reports the p99s at one given rate (e.g. a plan's per-replica peak load).

Both results can be cached (:class:`planner.simulate.capacity_cache.CapacityCache`: in-memory LRU
plus an optional JSON file) under :func:`capacity_key`: caller labels (model, gpu, quant, tp, ...)
plus a hash of everything that changes the answer (:func:`fingerprint` of the workload shape or
trace, engine config, step-time model, SLOs and search settings).
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields, is_dataclass
from typing import TYPE_CHECKING

import numpy as np

from planner.simulate.arrivals import Requests, WorkloadShape, make_requests, mean_length, with_rate
from planner.simulate.engine import EngineConfig, simulate
from planner.simulate.metrics import MAX_REJECTED_FRACTION, SimMetrics, SloTargets, summarize
from planner.simulate.step_time import StepTimeModel
from planner.simulate.trace import at_rate
from profiler.errors import InvalidValueError

if TYPE_CHECKING:
    from planner.simulate.capacity_cache import CapacityCache

ShapeOrTrace = WorkloadShape | Requests  # a shape to draw from, or a trace to replay at any rate
ZERO_LOAD_SHARE = 1e-3  # below this share of the upper bound a replica is treated as idle (our choice)


@dataclass(frozen=True)
class CapacitySearch:
    """Search settings: requests per probe, warm-up share, relative tolerance, probe budget, seed."""

    n_requests: int = 4000
    warmup_fraction: float = 0.1
    rel_tol: float = 0.02
    max_probes: int = 30
    seed: int = 0

    def __post_init__(self) -> None:
        if self.n_requests < 100:
            raise InvalidValueError(f"CapacitySearch.n_requests must be >= 100 (a p99 needs them), "
                                    f"got {self.n_requests}.")
        if not 0 <= self.warmup_fraction < 1:
            raise InvalidValueError(f"warmup_fraction must be in [0, 1), got {self.warmup_fraction}.")
        if not 0 < self.rel_tol < 1 or self.max_probes < 3:
            raise InvalidValueError("rel_tol must be in (0, 1) and max_probes >= 3.")


@dataclass(frozen=True)
class SloCapacity:
    """The answer for one replica. Rates [req/s], latencies [s] (simulated at ``rate_per_s``).

    ``rate_per_s`` is 0 when even a near-idle replica misses the SLOs (then the p99s are those
    of the lowest rate probed). ``limited_by`` names what failed at ``infeasible_rate_per_s``
    (``rejections``, ``ttft``, ``tpot``, ``stability``; ``none`` when the search never found a
    failing rate). ``rejected_fraction``: share of the arrivals the engine refuses (any rate).
    """

    rate_per_s: float
    ttft_p99_s: float
    tpot_p99_s: float
    throughput_rps: float
    kv_util_mean: float
    running_mean: float
    upper_bound_rate_per_s: float
    infeasible_rate_per_s: float
    limited_by: str
    probes: int
    key: str = ""
    rejected_fraction: float = 0.0

    def to_dict(self) -> dict[str, float | int | str]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, object]) -> SloCapacity:
        return cls(**{f.name: d[f.name] for f in fields(cls)})  # type: ignore[arg-type]


@dataclass(frozen=True)
class SimPoint:
    """Simulated latencies at one offered rate [req/s]; latencies [s] (p99 over accepted requests).

    ``goodput_fraction`` and ``rejected_fraction`` are shares of all arrivals in the window;
    ``meets`` is :meth:`SimMetrics.meets` for the SLOs searched with.
    """

    rate_per_s: float
    ttft_p50_s: float
    ttft_p90_s: float
    ttft_p99_s: float
    tpot_p50_s: float
    tpot_p90_s: float
    tpot_p99_s: float
    e2e_p99_s: float
    queue_wait_p99_s: float
    goodput_fraction: float
    rejected_fraction: float
    kv_util_mean: float
    queue_mean: float
    running_mean: float
    preemptions: int
    stable: bool
    meets: bool
    key: str = ""

    @classmethod
    def of(cls, rate: float, m: SimMetrics, key: str = "") -> SimPoint:
        return cls(rate, m.ttft.p50, m.ttft.p90, m.ttft.p99, m.tpot.p50, m.tpot.p90, m.tpot.p99, m.e2e.p99,
                   m.queue_wait.p99, m.goodput_fraction, m.rejected_fraction, m.kv_util_mean, m.queue_mean,
                   m.running_mean, m.preemptions, m.stable, m.meets(), key)

    def to_dict(self) -> dict[str, float | int | str | bool]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, object]) -> SimPoint:
        return cls(**{f.name: d[f.name] for f in fields(cls)})  # type: ignore[arg-type]


def rate_upper_bound(shape: ShapeOrTrace, config: EngineConfig, step_time: StepTimeModel) -> float:
    """An optimistic ceiling on sustainable requests/s, from mean lengths (P in, O out) [req/s].

    - Decode: at most ``B = min(max_num_seqs, kv_tokens // (P + 1))`` sequences decode per step, and
      each needs ``O − 1`` decode steps: ``rate ≤ B / ((O − 1) · step_time(0, B, B · (P + 1)))``.
    - Prefill: a step prefills at most ``T = max_num_batched_tokens`` tokens:
      ``rate ≤ T / (P · step_time(T, 0, 0))``.

    Each bound holds for step-time models that grow with every argument; the search checks it
    by simulation anyway and widens the bracket if the bound is feasible.
    """
    if isinstance(shape, Requests):
        p, o = float(np.mean(shape.input_tokens)), float(np.mean(shape.output_tokens))
    else:
        p, o = mean_length(shape.input_tokens), mean_length(shape.output_tokens)
    t = config.max_num_batched_tokens
    bounds = [t / (p * step_time(t, 0, 0))]
    if o > 1:
        b = max(1, min(config.max_num_seqs, int(config.kv_tokens // (p + 1))))
        bounds.append(b / ((o - 1) * step_time(0, b, int(b * (p + 1)))))
    bound = min(bounds)
    if not 0 < bound < math.inf:
        raise InvalidValueError(
            f"Cannot bound the capacity (got {bound!r} req/s); check the step-time model.")
    return bound


def _probe(shape: ShapeOrTrace, rate: float, config: EngineConfig, step_time: StepTimeModel,
           slo: SloTargets, search: CapacitySearch) -> SimMetrics:
    if isinstance(shape, Requests):
        requests = at_rate(shape, rate)
    else:
        scaled = WorkloadShape(with_rate(shape.arrival, rate), shape.input_tokens, shape.output_tokens)
        requests = make_requests(scaled, n_requests=search.n_requests, seed=search.seed)
    run = simulate(requests, config, step_time)
    return summarize(run, slo, warmup_s=search.warmup_fraction * requests.duration_s)


def _failure(m: SimMetrics, slo: SloTargets) -> str:
    """What makes a probe infeasible ('' when it is feasible); rejections first (they do not depend
    on the rate, so they end the search)."""
    if m.rejected_fraction > MAX_REJECTED_FRACTION:
        return "rejections"
    if slo.ttft_p99_s is not None and not m.ttft.p99 <= slo.ttft_p99_s:
        return "ttft"
    if slo.tpot_p99_s is not None and m.tpot.count and not m.tpot.p99 <= slo.tpot_p99_s:
        return "tpot"
    return "" if m.stable else "stability"


def find_slo_capacity(shape: ShapeOrTrace, config: EngineConfig, step_time: StepTimeModel, slo: SloTargets, *,
                      search: CapacitySearch = CapacitySearch(), cache: CapacityCache | None = None,
                      labels: Mapping[str, object] | None = None) -> SloCapacity:
    """Highest arrival rate of ``shape`` (a workload shape or a trace to replay faster or slower)
    at which one replica meets ``slo`` (module docstring). Cached in ``cache`` when given.

    Each probe simulates ``search.n_requests`` requests, i.e. minutes of traffic: with a
    :class:`~planner.simulate.arrivals.Diurnal` shape it sees only the hours after ``start_hour``.
    To size a replica for the busiest hour, search with ``Poisson`` (or ``Gamma``) at the peak.
    """
    if slo.ttft_p99_s is None and slo.tpot_p99_s is None:
        raise InvalidValueError("Give at least one SLO (ttft_p99_s or tpot_p99_s) to search against.")
    key = capacity_key(shape, config, step_time, slo, search, labels or {})
    if cache is not None and isinstance(hit := cache.get(key), SloCapacity):
        return hit
    bound = rate_upper_bound(shape, config, step_time)
    probes: dict[float, tuple[str, SimMetrics]] = {}

    def feasible(rate: float) -> bool:
        m = _probe(shape, rate, config, step_time, slo, search)
        probes[rate] = (_failure(m, slo), m)
        return not probes[rate][0]

    lo, hi = 0.0, bound
    while feasible(hi) and len(probes) < search.max_probes:  # the bound was not a ceiling: widen
        lo, hi = hi, hi * 2
    refused = probes[hi][0] == "rejections"  # the same requests are refused at every rate: stop
    while not refused and len(probes) < search.max_probes and not (lo > 0 and hi - lo <= search.rel_tol * lo):
        if lo == 0 and hi < ZERO_LOAD_SHARE * bound:
            break  # missed even near idle: the SLOs cannot be met at any rate
        mid = (lo + hi) / 2
        if feasible(mid):
            lo = mid
        else:
            hi = mid
    result = _result(probes, lo, hi, bound, key)
    if cache is not None:
        cache.put(key, result)
    return result


def _result(probes: dict[float, tuple[str, SimMetrics]], lo: float, hi: float, bound: float,
            key: str) -> SloCapacity:
    failing = probes.get(hi)
    at = probes[lo][1] if lo > 0 else probes[min(probes)][1]
    return SloCapacity(
        rate_per_s=lo, ttft_p99_s=at.ttft.p99, tpot_p99_s=at.tpot.p99, throughput_rps=at.throughput_rps,
        kv_util_mean=at.kv_util_mean, running_mean=at.running_mean, upper_bound_rate_per_s=bound,
        infeasible_rate_per_s=hi if failing and failing[0] else math.nan,
        limited_by=failing[0] if failing and failing[0] else "none", probes=len(probes), key=key,
        rejected_fraction=at.rejected_fraction,
    )


def simulate_point(shape: ShapeOrTrace, rate_per_s: float, config: EngineConfig, step_time: StepTimeModel,
                   slo: SloTargets, *, search: CapacitySearch = CapacitySearch(), cache: CapacityCache | None = None,
                   labels: Mapping[str, object] | None = None) -> SimPoint:
    """The p99s of ``shape`` at ``rate_per_s`` on one replica, probed exactly as the search probes
    (same requests, seed and window), e.g. at a plan's per-replica peak load. Cached like the search."""
    if not (isinstance(rate_per_s, (int, float)) and math.isfinite(rate_per_s) and rate_per_s > 0):
        raise InvalidValueError(f"rate_per_s must be a finite number > 0, got {rate_per_s!r}.")
    key = capacity_key(shape, config, step_time, slo, search, {**(labels or {}), "at_rps": repr(float(rate_per_s))})
    if cache is not None and isinstance(hit := cache.get(key), SimPoint):
        return hit
    point = SimPoint.of(float(rate_per_s), _probe(shape, rate_per_s, config, step_time, slo, search), key)
    if cache is not None:
        cache.put(key, point)
    return point


# ----------------------------------------------------------------------------------------------
# Cache keys
# ----------------------------------------------------------------------------------------------


def fingerprint(obj: object) -> str:
    """Stable text for hashing: an object's ``cache_identity``, dataclasses by value, traces by their
    arrays, anything else by repr.

    A step-time model that is neither a dataclass nor has a ``cache_identity`` string is hashed by
    ``repr`` — for a plain function that includes its address, so such results are only reused
    within one process (safe, never stale). Wrap it (as ``planner.simulated.KeyedStep`` does) to
    reuse results across processes.
    """
    identity = getattr(obj, "cache_identity", None)
    if isinstance(identity, str):
        return f"{type(obj).__qualname__}({identity})"
    if isinstance(obj, Requests):
        h = hashlib.sha256()
        for a in (obj.arrival_s, obj.input_tokens, obj.output_tokens):
            h.update(np.ascontiguousarray(a).tobytes())
        return f"Requests({h.hexdigest()})"
    if is_dataclass(obj) and not isinstance(obj, type):
        return f"{type(obj).__qualname__}{json.dumps(asdict(obj), sort_keys=True, default=_stable)}"
    return repr(obj)


def _stable(value: object) -> object:
    """JSON for what json cannot write: sets sorted (a frozenset's repr follows string hashing, which differs from
    process to process, so a key built on it would never hit the disk cache), anything else by repr."""
    if isinstance(value, (set, frozenset)):
        return sorted(map(repr, value))
    return repr(value)


def capacity_key(shape: ShapeOrTrace, config: EngineConfig, step_time: StepTimeModel,
                 slo: SloTargets, search: CapacitySearch, labels: Mapping[str, object]) -> str:
    """``label=value|...|<hash>``: readable labels (model, gpu, quant, tp, ...) + a hash of all inputs."""
    parts = [fingerprint(x) for x in (shape, config, step_time, slo, search)]
    parts += [f"{k}={labels[k]}" for k in sorted(labels)]
    digest = hashlib.sha256("\n".join(parts).encode()).hexdigest()[:20]
    return "|".join([*(f"{k}={labels[k]}" for k in sorted(labels)), digest])
