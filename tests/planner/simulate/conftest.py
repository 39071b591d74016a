"""Shared fixtures of the simulator tests (tests/conftest.py already gives every test its own INFERPLAN_HOME
and an empty in-process capacity cache)."""

import os
from pathlib import Path

import pytest


@pytest.fixture
def home() -> Path:
    """This test's private INFERPLAN_HOME, where the capacity cache file goes."""
    return Path(os.environ["INFERPLAN_HOME"])
