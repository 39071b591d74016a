"""`inferplan seed`, `sensitivity` and `scenarios`: parse -> one library call -> render (issue 14).

Each command lives in its own module (planner.cmd_seed, planner.cmd_sensitivity, planner.cmd_scenarios); this one
re-exports them for planner.cmd_plan.register_all.
"""

from __future__ import annotations

from planner.cmd_scenarios import scenarios_cmd
from planner.cmd_seed import seed_cmd
from planner.cmd_sensitivity import sensitivity_cmd

__all__ = ["scenarios_cmd", "seed_cmd", "sensitivity_cmd"]
