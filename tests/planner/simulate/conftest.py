"""Shared fixtures of the simulator tests."""

import pytest

import planner.simulate.capacity_cache as cc


@pytest.fixture(autouse=True)
def home(tmp_path, monkeypatch):
    """A private INFERPLAN_HOME and an empty in-process capacity cache: no test sees another's results."""
    monkeypatch.setenv("INFERPLAN_HOME", str(tmp_path / "home"))
    monkeypatch.setattr(cc, "_SHARED", {})
    return tmp_path / "home"
