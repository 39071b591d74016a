"""Shared fixtures of the simulator tests (tests/conftest.py already gives every test its own INFERPLAN_HOME
and an empty in-process capacity cache)."""

import os
from pathlib import Path

import pytest


@pytest.fixture
def home() -> Path:
    """This test's private INFERPLAN_HOME, where the capacity cache file goes."""
    return Path(os.environ["INFERPLAN_HOME"])


@pytest.fixture
def forbid_simulation(monkeypatch):
    """Call it to make any further simulation fail the test: what follows must come from the capacity cache."""
    import planner.simulate.slo_capacity as cap

    def forbid() -> None:
        monkeypatch.setattr(cap, "simulate", lambda *a, **k: pytest.fail("cache miss: a simulation ran"))

    return forbid
