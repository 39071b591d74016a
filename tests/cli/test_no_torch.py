"""The core install has no torch: planning and analytic profiling never import it."""

import subprocess
import sys

CODE = """
import sys
import profiler, planner
import planner.cli
from profiler import catalogue
from profiler.analytic import memory, timing, profile
from typer.testing import CliRunner
r = CliRunner().invoke(planner.cli.app, ["profile", "llama-3.1-8b", "--format", "json"])
assert r.exit_code == 0, r.output
heavy = [m for m in ("torch", "transformers", "pynvml", "torchao") if m in sys.modules]
print("HEAVY", heavy)
"""


def test_core_commands_leave_torch_unimported():
    out = subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "HEAVY []" in out.stdout, out.stdout
