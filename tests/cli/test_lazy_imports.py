"""`inferplan --help`, every command's --help, `models`, `gpus`, `quants` and flags refused while parsing answer
without loading pandas, numpy or the planner's and profiler's working modules (issue 18, "instant answers").

Each check runs the real app in a fresh interpreter (this test process has pandas loaded already) and lists the
heavy modules it found in sys.modules afterwards. Speed itself is measured by benchmarks, never asserted here.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

# What a command loads when it does its work, and --help or a refused flag must not.
HEAVY = ("pandas", "numpy", "planner.api", "planner.plan", "planner.search", "planner.render", "planner.simulate_api",
         "planner.throughput_api", "planner.engines", "planner.prices", "profiler.api", "profiler.schema",
         "profiler.analytic.profile", "profiler.analytic.timing")

COMMANDS = ("plan", "compare", "crossover", "simulate", "throughput", "models", "quants", "gpus", "profile",
            "calibrate")

# Runs `inferplan ARGS` for each ARGS in argv[1] (a JSON list of lists) in this fresh interpreter, then prints
# {"exit_codes": [...], "loaded": [heavy modules in sys.modules]}.
PROBE = """
import json, sys
from typer.testing import CliRunner
import planner.cli
runs = json.loads(sys.argv[1])
codes = [CliRunner().invoke(planner.cli.app, args).exit_code for args in runs]
heavy = json.loads(sys.argv[2])
print(json.dumps({"exit_codes": codes, "loaded": [m for m in heavy if m in sys.modules]}))
"""


def probe(*runs: list[str]) -> dict:
    done = subprocess.run([sys.executable, "-c", PROBE, json.dumps(list(runs)), json.dumps(HEAVY)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.splitlines()[-1])


def test_importing_the_cli_loads_nothing_heavy():
    assert probe() == {"exit_codes": [], "loaded": []}


def test_help_loads_nothing_heavy():
    assert probe(["--help"]) == {"exit_codes": [0], "loaded": []}


def test_plan_help_loads_nothing_heavy():
    assert probe(["plan", "--help"]) == {"exit_codes": [0], "loaded": []}


def test_every_commands_help_loads_nothing_heavy():
    result = probe(*([cmd, "--help"] for cmd in COMMANDS))
    assert result == {"exit_codes": [0] * len(COMMANDS), "loaded": []}


@pytest.mark.parametrize("cmd", ["models", "gpus", "quants"])
def test_catalogue_listings_load_no_pandas_in_any_format(cmd):
    result = probe([cmd], [cmd, "--format", "json"], [cmd, "--format", "csv"])
    assert result == {"exit_codes": [0, 0, 0], "loaded": []}


def test_flags_refused_while_parsing_load_nothing_heavy():
    result = probe(["plan", "--format", "xml"],  # typer's callback: a usage error
                   ["plan", "--tp", "0"], ["plan", "--margin", "lots"], ["plan", "--tokens-per-day-in", "many"],
                   ["crossover", "--tp", "x"], ["compare", "--requests-per-day", "-5"],
                   ["simulate", "llama-3.1-8b", "--rate", "fast"], ["simulate", "llama-3.1-8b", "--tp", "two"],
                   ["throughput", "llama-3.1-8b", "--input-tokens", "128,1000", "--output-tokens", "128"],
                   ["throughput", "llama-3.1-8b", "--grid", "--requests", "0"],
                   ["profile", "llama-3.1-8b", "--batch", "many"], ["profile", "llama-3.1-8b", "--kv-dtype", "fp4"],
                   ["models", "--format", "xml"], ["calibrate", "missing.csv", "--format", "xml"])
    assert result == {"exit_codes": [2, 1, 1, 1, 1, 1, 1, 2, 1, 1, 1, 1, 1, 1], "loaded": []}
