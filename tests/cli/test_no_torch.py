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
    assert "EXIT 1" in out.stdout, out.stdout + out.stderr
    assert "pip install 'inferplan[gpu]'" in out.stdout and "Traceback" not in out.stdout
