"""inferplan's planner: from a profile and a token volume to GPUs, redundancy, a monthly bill, APIs and a verdict.

Public API (never imports torch)::

    plan(PlanRequest) -> Plan                      the main job (planner.api)
    run_simulation(SimRequest) -> SimResult        one replica, simulated (planner.simulate_api)
    offline_throughput(ThroughputRequest) -> ThroughputResult   the offline maximum (planner.throughput_api)
    Workload, load_workload, build_workload        what is served (planner.workload)
    load_gpu_prices, load_api_prices               dated price tables (planner.prices)
    search, SearchSpace                            cheapest SLO-meeting configurations (planner.search)

The profiler's entry points (``profile(ProfileRequest)``, ``calibrate``) are in :mod:`profiler.api`;
docs/python_api.md walks through them all with a worked example.

The names are imported on first use (PEP 562), so that ``import planner.cli`` (the `inferplan` script, whose
``--help`` should be instant) does not pay for pandas and the planner's modules until a command needs them.
"""

from __future__ import annotations

import sys
import types

from profiler.lazy import lazy_exports

# public name -> the module that defines it
_EXPORTS = {
    "PlanRequest": "planner.api", "plan": "planner.api",
    "Plan": "planner.plan",
    "SimRequest": "planner.simulate_api", "SimResult": "planner.simulate_api", "run_simulation": "planner.simulate_api",
    "ThroughputRequest": "planner.throughput_api", "ThroughputResult": "planner.throughput_api",
    "offline_throughput": "planner.throughput_api",
    "load_api_prices": "planner.prices", "load_gpu_prices": "planner.prices",
    "SearchSpace": "planner.search", "search": "planner.search",
    "DEFAULT_WORKLOAD": "planner.workload", "Workload": "planner.workload", "build_workload": "planner.workload",
    "load_workload": "planner.workload",
}

__all__ = sorted(_EXPORTS)


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)


class _Package(types.ModuleType):
    """``planner.plan`` and ``planner.search`` name the functions, as they did when this file imported them eagerly:
    the import system's binding of the same-named submodules onto the package is not kept (``import planner.plan``
    and ``from planner.plan import Plan`` still load the module, from sys.modules)."""

    def __setattr__(self, name: str, value) -> None:
        if name in _EXPORTS and isinstance(value, types.ModuleType):
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
