"""Planner fixtures computed once per test session: the packaged catalogues and the two reference plans.

Each is built under its own empty INFERPLAN_HOME (the per-test one of tests/conftest.py is not set yet
when a session fixture runs), so no user calibration file changes them.
"""

from __future__ import annotations

import pytest

from planner.workload import DEFAULT_WORKLOAD


@pytest.fixture(scope="session")
def catalogues(tmp_path_factory):
    """The packaged catalogues (GPUs, quants, GPU and API prices, TCO defaults)."""
    from planner.plan import load_catalogues

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("INFERPLAN_HOME", str(tmp_path_factory.mktemp("home-cat")))
        return load_catalogues()


def _plan(tmp_path_factory, **kw):
    from planner.api import PlanRequest, plan

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("INFERPLAN_HOME", str(tmp_path_factory.mktemp("home-plan")))
        return plan(PlanRequest(**kw))


@pytest.fixture(scope="session")
def seed_plan(tmp_path_factory):
    """`inferplan plan` with no arguments: llama-3.3-70b, the seed's 5M in + 1M out tokens/day."""
    return _plan(tmp_path_factory)


@pytest.fixture(scope="session")
def plan_600m(tmp_path_factory):
    """The seed workload scaled to 600M tokens/day (same mix, lengths and SLOs)."""
    return _plan(tmp_path_factory, workload=DEFAULT_WORKLOAD.scaled_to(600e6))
