"""inferplan's profiler: catalogues, exact analytic counts, the memory and timing models, measured profiles.

Public API (torch is never imported here; measuring lives in profiler.measure, imported on demand)::

    load_models, load_gpus, load_quants, get_model, get_gpu, get_quant   catalogue lookups
    param_counts, tensor_inventory                                       exact parameter counts
    Grid, analytic_profile                                               the analytic profile table
    PROFILE_COLUMNS, read_profile, write_profile, validate               the profile contract
"""

from profiler.analytic.params import param_counts, tensor_inventory
from profiler.analytic.profile import Grid, analytic_profile
from profiler.catalogue import get_gpu, get_model, get_quant, load_gpus, load_models, load_quants
from profiler.schema import PROFILE_COLUMNS, read_profile, validate, write_profile

__all__ = ["PROFILE_COLUMNS", "Grid", "analytic_profile", "get_gpu", "get_model", "get_quant", "load_gpus",
           "load_models", "load_quants", "param_counts", "read_profile", "tensor_inventory", "validate",
           "write_profile"]
