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


MISSING = """
import builtins, sys
real = builtins.__import__
def fake(name, *a, **k):
    if name.split(".")[0] == "torch":
        raise ModuleNotFoundError("No module named 'torch'", name="torch")
    return real(name, *a, **k)
builtins.__import__ = fake
from typer.testing import CliRunner
import planner.cli
r = CliRunner().invoke(planner.cli.app, ["profile", "smollm2-135m", "--measure", "--device", "cpu"])
print("EXIT", r.exit_code)
print(r.output)
"""


def test_measuring_without_the_gpu_extra_says_what_to_install():
    out = subprocess.run([sys.executable, "-c", MISSING], capture_output=True, text=True, timeout=120)
    # the one line planner/cli.py promises for a missing optional package: torch belongs to the [gpu] extra
    # (pyproject.toml), so that is what to install
    assert out.stdout.strip().splitlines() == [
        "EXIT 1", "error: this needs torch, which the core install leaves out: pip install 'inferplan[gpu]'"], (
        out.stdout + out.stderr)
