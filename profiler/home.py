"""Where inferplan keeps what it writes for the user between runs: ``$INFERPLAN_HOME``.

``INFERPLAN_HOME`` defaults to ``~/.config/inferplan``. It holds the calibration file, the simulated-capacity
cache and the cache of parsed packaged catalogues (:mod:`profiler.yaml_cache`).
"""

from __future__ import annotations

import os
from pathlib import Path


def inferplan_home() -> Path:
    """``$INFERPLAN_HOME``, or ``~/.config/inferplan`` when it is unset or empty."""
    home = os.environ.get("INFERPLAN_HOME") or Path.home() / ".config" / "inferplan"
    return Path(home).expanduser()
