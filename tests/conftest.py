"""Shared fixtures: small files written into a per-test temporary folder."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest


@pytest.fixture
def write_file(tmp_path: Path) -> Callable[[str, str], Path]:
    """write_file(name, text) -> path of a file holding the dedented `text` under tmp_path."""

    def write(name: str, text: str) -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
        return path

    return write


@pytest.fixture(autouse=True)
def private_inferplan_home(tmp_path_factory, monkeypatch):
    """Every test gets its own INFERPLAN_HOME: no user calibration or cache leaks in, nothing is written out."""
    monkeypatch.setenv("INFERPLAN_HOME", str(tmp_path_factory.mktemp("inferplan-home")))


@pytest.fixture(autouse=True)
def empty_capacity_cache(monkeypatch):
    """An empty in-process simulated-capacity cache per test: no test sees another's simulated results."""
    import planner.simulate.capacity_cache as cc

    monkeypatch.setattr(cc, "_SHARED", {})
