"""Planner commands registered on the `inferplan` app (filled in below as the planner lands)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Attach the planner's commands to `app`."""
