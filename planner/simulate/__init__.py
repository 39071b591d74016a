"""Latency under load: a continuous-batching simulator of one serving replica (pure Python + NumPy).

Flow: a :class:`WorkloadShape` (arrival process + length distributions) or a CSV trace →
:class:`Requests` → :func:`simulate` with an :class:`EngineConfig` and a step-time model →
:class:`EngineRun` → :func:`summarize` → :class:`SimMetrics`; :func:`find_slo_capacity` turns p99
TTFT/TPOT targets into requests/s per replica (:func:`simulate_point`: the p99s at one rate), cached
by :class:`CapacityCache` (:func:`shared_cache`: one per file, ``$INFERPLAN_HOME/sim_capacity.json``).
See each module's docstring for the definitions.
"""

from planner.simulate.api import simulate_workload
from planner.simulate.arrivals import (
    Diurnal,
    Empirical,
    Fixed,
    Gamma,
    LogNormal,
    Poisson,
    Requests,
    Uniform,
    WorkloadShape,
    make_requests,
    mean_length,
    with_rate,
)
from planner.simulate.capacity_cache import CapacityCache, capacity_cache_path, shared_cache
from planner.simulate.engine import EngineConfig, EngineRun, rejected_mask, simulate, vllm_default_limits
from planner.simulate.metrics import (
    MAX_REJECTED_FRACTION,
    LatencyStats,
    SimMetrics,
    SloTargets,
    measurement_window,
    summarize,
)
from planner.simulate.slo_capacity import (
    CapacitySearch,
    SimPoint,
    SloCapacity,
    capacity_key,
    find_slo_capacity,
    fingerprint,
    rate_upper_bound,
    simulate_point,
)
from planner.simulate.step_time import FixedStepTime, RooflineStepTime, StepTimeModel
from planner.simulate.trace import TraceError, at_rate, read_trace, with_lengths

__all__ = [
    "MAX_REJECTED_FRACTION", "CapacityCache", "CapacitySearch", "Diurnal", "Empirical", "EngineConfig",
    "EngineRun", "Fixed", "FixedStepTime", "Gamma", "LatencyStats", "LogNormal", "Poisson", "Requests",
    "RooflineStepTime", "SimMetrics", "SimPoint", "SloCapacity", "SloTargets", "StepTimeModel", "TraceError",
    "Uniform", "WorkloadShape", "at_rate", "capacity_cache_path", "capacity_key", "find_slo_capacity",
    "fingerprint", "make_requests", "mean_length", "measurement_window", "rate_upper_bound", "read_trace",
    "rejected_mask", "shared_cache", "simulate", "simulate_point", "simulate_workload", "summarize",
    "vllm_default_limits", "with_lengths", "with_rate",
]
