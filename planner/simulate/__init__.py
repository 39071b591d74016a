"""Latency under load: a continuous-batching simulator of one serving replica (pure Python + NumPy).

Flow: a :class:`WorkloadShape` (arrival process + length distributions) or a CSV trace →
:class:`Requests` → :func:`simulate` with an :class:`EngineConfig` and a step-time model →
:class:`EngineRun` → :func:`summarize` → :class:`SimMetrics`; :func:`find_slo_capacity` turns p99
TTFT/TPOT targets into requests/s per replica. See each module's docstring for the definitions.
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
from planner.simulate.engine import EngineConfig, EngineRun, rejected_mask, simulate, vllm_default_limits
from planner.simulate.metrics import LatencyStats, SimMetrics, SloTargets, measurement_window, summarize
from planner.simulate.slo_capacity import (
    CapacityCache,
    CapacitySearch,
    SloCapacity,
    capacity_key,
    find_slo_capacity,
    rate_upper_bound,
)
from planner.simulate.step_time import FixedStepTime, RooflineStepTime, StepTimeModel
from planner.simulate.trace import TraceError, at_rate, read_trace, with_lengths

__all__ = [
    "CapacityCache", "CapacitySearch", "Diurnal", "Empirical", "EngineConfig", "EngineRun", "Fixed",
    "FixedStepTime", "Gamma", "LatencyStats", "LogNormal", "Poisson", "Requests", "RooflineStepTime",
    "SimMetrics", "SloCapacity", "SloTargets", "StepTimeModel", "TraceError", "Uniform", "WorkloadShape",
    "at_rate", "capacity_key", "find_slo_capacity", "make_requests", "mean_length", "measurement_window",
    "rate_upper_bound", "read_trace", "rejected_mask", "simulate", "simulate_workload", "summarize",
    "vllm_default_limits", "with_lengths", "with_rate",
]
