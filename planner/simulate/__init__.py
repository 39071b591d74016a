"""Latency under load: a continuous-batching simulator of one serving replica (pure Python + NumPy).

Flow: a :class:`WorkloadShape` (arrival process + length distributions) or a CSV trace →
:class:`Requests` → :func:`simulate` with an :class:`EngineConfig` and a step-time model →
:class:`EngineRun` → :func:`summarize` → :class:`SimMetrics`; :func:`find_slo_capacity` turns p99
TTFT/TPOT targets into requests/s per replica (:func:`simulate_point`: the p99s at one rate), cached
by :class:`CapacityCache` (:func:`shared_cache`: one per file, ``$INFERPLAN_HOME/sim_capacity.json``).
See each module's docstring for the definitions.

The names are imported on first use (PEP 562, as in ``planner``): ``import planner.simulate.limits`` (the bounds
`inferplan simulate --help` states) loads no NumPy or pandas.
"""

from profiler.lazy import lazy_exports

# public name -> the module that defines it
_EXPORTS = {
    "simulate_workload": "planner.simulate.api",
    "Diurnal": "planner.simulate.arrivals", "Empirical": "planner.simulate.arrivals",
    "Fixed": "planner.simulate.arrivals", "Gamma": "planner.simulate.arrivals",
    "LogNormal": "planner.simulate.arrivals", "Poisson": "planner.simulate.arrivals",
    "Requests": "planner.simulate.arrivals", "Uniform": "planner.simulate.arrivals",
    "WorkloadShape": "planner.simulate.arrivals", "make_requests": "planner.simulate.arrivals",
    "mean_length": "planner.simulate.arrivals", "with_rate": "planner.simulate.arrivals",
    "CapacityCache": "planner.simulate.capacity_cache", "capacity_cache_path": "planner.simulate.capacity_cache",
    "shared_cache": "planner.simulate.capacity_cache",
    "EngineConfig": "planner.simulate.engine", "EngineRun": "planner.simulate.engine",
    "rejected_mask": "planner.simulate.engine", "simulate": "planner.simulate.engine",
    "vllm_default_limits": "planner.simulate.engine",
    "LatencyStats": "planner.simulate.metrics", "MAX_REJECTED_FRACTION": "planner.simulate.metrics",
    "SimMetrics": "planner.simulate.metrics", "SloTargets": "planner.simulate.metrics",
    "measurement_window": "planner.simulate.metrics", "summarize": "planner.simulate.metrics",
    "CapacitySearch": "planner.simulate.slo_capacity", "SimPoint": "planner.simulate.slo_capacity",
    "SloCapacity": "planner.simulate.slo_capacity", "capacity_key": "planner.simulate.slo_capacity",
    "find_slo_capacity": "planner.simulate.slo_capacity", "fingerprint": "planner.simulate.slo_capacity",
    "rate_upper_bound": "planner.simulate.slo_capacity", "simulate_point": "planner.simulate.slo_capacity",
    "FixedStepTime": "planner.simulate.step_time", "RooflineStepTime": "planner.simulate.step_time",
    "StepTimeModel": "planner.simulate.step_time",
    "TraceError": "planner.simulate.trace", "at_rate": "planner.simulate.trace",
    "read_trace": "planner.simulate.trace", "with_lengths": "planner.simulate.trace",
}

__all__ = sorted(_EXPORTS)

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
