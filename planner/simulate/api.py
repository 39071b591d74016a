"""One call from a workload to metrics: draw (or take) requests, simulate one replica, summarise."""

from __future__ import annotations

from planner.simulate.arrivals import Requests, WorkloadShape, make_requests
from planner.simulate.engine import EngineConfig, EngineRun, simulate
from planner.simulate.metrics import SimMetrics, SloTargets, summarize
from planner.simulate.step_time import StepTimeModel
from profiler.errors import InvalidValueError


def simulate_workload(workload: WorkloadShape | Requests, config: EngineConfig, step_time: StepTimeModel, *,
                      slo: SloTargets | None = None, n_requests: int | None = None,
                      duration_s: float | None = None, seed: int = 0, warmup_s: float | None = None,
                      bins: int = 60) -> tuple[EngineRun, SimMetrics]:
    """Simulate ``workload`` on one replica and summarise it.

    ``workload`` is a :class:`WorkloadShape` (then give ``n_requests`` or ``duration_s``, and a
    ``seed``) or a ready :class:`Requests` stream such as a trace from
    :func:`planner.simulate.trace.read_trace` (then those two must be left out). Returns the raw run
    (for plots: ``run.steps()``) and its metrics (``metrics.to_frame()`` / ``to_dict()``).
    """
    if isinstance(workload, Requests):
        if n_requests is not None or duration_s is not None:
            raise InvalidValueError("A trace sets its own requests: leave out n_requests and duration_s "
                                    "(use planner.simulate.trace.at_rate to replay it faster or slower).")
        requests = workload
    else:
        requests = make_requests(workload, n_requests=n_requests, duration_s=duration_s, seed=seed)
    run = simulate(requests, config, step_time)
    return run, summarize(run, slo, warmup_s=warmup_s, bins=bins)
