"""inferplan's profiler: catalogues, exact analytic counts, the memory and timing models, measured profiles.

Public API (torch is never imported here; measuring lives in profiler.measure, imported on demand)::

    load_models, load_gpus, load_quants, get_model, get_gpu, get_quant   catalogue lookups
    param_counts, tensor_inventory                                       exact parameter counts
    Grid, analytic_profile                                               the analytic profile table
    PROFILE_COLUMNS, read_profile, write_profile, validate               the profile contract

The names are imported on first use (PEP 562): every ``import profiler.<module>`` runs this file first, and
``profiler.errors`` (which the CLI's error boundary needs at start-up) must not pay for pandas.
"""

from __future__ import annotations

from profiler.lazy import lazy_exports

# public name -> the module that defines it
_EXPORTS = {
    "param_counts": "profiler.analytic.params", "tensor_inventory": "profiler.analytic.params",
    "Grid": "profiler.analytic.profile", "analytic_profile": "profiler.analytic.profile",
    "get_gpu": "profiler.catalogue", "get_model": "profiler.catalogue", "get_quant": "profiler.catalogue",
    "load_gpus": "profiler.catalogue", "load_models": "profiler.catalogue", "load_quants": "profiler.catalogue",
    "PROFILE_COLUMNS": "profiler.schema", "read_profile": "profiler.schema", "validate": "profiler.schema",
    "write_profile": "profiler.schema",
}

__all__ = sorted(_EXPORTS)


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
