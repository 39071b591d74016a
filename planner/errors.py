"""Planner domain errors. Each message says what would work; the CLI turns them into exit code 1.

Hierarchy (all subclasses of :class:`profiler.errors.InferplanError`, so the one error boundary in
``planner.cli`` catches them):

- :class:`PlannerError`: anything the planner refuses (a price that does not exist, a bad table).
- :class:`WorkloadError`: a workload that cannot be (negative volume, availability of 100 %, ...).
- :class:`InfeasibleError`: no deployment meets the request; the message names what would be feasible.
- :class:`NoOfferError`: no price row for a GPU / pricing model / provider; the message lists what exists.
"""

from __future__ import annotations

from profiler.errors import InferplanError


class PlannerError(InferplanError):
    """Anything the planner refuses."""


class WorkloadError(PlannerError):
    """A workload that is impossible or inconsistent (the message names the field and what would work)."""


class InfeasibleError(PlannerError):
    """Nothing meets the request; the message says what would be feasible."""


class NoOfferError(PlannerError):
    """No price row matches (gpu, pricing model, provider); the message lists the offers that exist."""


__all__ = ["PlannerError", "WorkloadError", "InfeasibleError", "NoOfferError"]
