"""One copy of what many test modules need: the CLI driven in-process, and small constants with their derivation.

Nothing here loads a catalogue at import time; test modules import from here, never from one another.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

_RUNNER = CliRunner()


def cli(*args: Any):
    """Run `inferplan ARGS...` in-process (the real app) and return typer's Result; arguments are str()-ed."""
    from planner.cli import app  # imported on first use: collecting a test module stays cheap

    return _RUNNER.invoke(app, [str(a) for a in args])


def cli_json(*args: Any) -> Any:
    """Run `inferplan ARGS... --format json`, require exit 0, and return the parsed stdout."""
    r = cli(*args, "--format", "json")
    assert r.exit_code == 0, r.output
    return json.loads(r.stdout)


def cli_error(*args: Any, one_line: bool = True) -> str:
    """Run `inferplan ARGS...`, require the promised failure (exit 1, no traceback, one line) and return the output."""
    r = cli(*args)
    assert r.exit_code == 1, r.output
    assert "Traceback" not in r.output, r.output
    if one_line:
        assert r.output.strip().count("\n") == 0, r.output
    return r.output


def write_trace(path: Path, rows) -> Path:
    """Write a request trace CSV (timestamp s, input tokens, output tokens) with one line per (t, i, o) row."""
    path.write_text("timestamp,input_tokens,output_tokens\n" + "".join(f"{t},{i},{o}\n" for t, i, o in rows))
    return path


def llama8b_h100_step():
    """The simulator's roofline step time for llama-3.1-8b bf16 on one H100 SXM, every figure derived by hand:

    weights 15.01e9 B (8.03e9 params x 2 B, less the embedding gather), KV 131,072 B/token (32 layers x 8 KV heads
    x 128 dims x 2 (K, V) x 2 B), 15.0e9 FLOPs/token (2 x 7.5e9 matmul params), 524,288 attention FLOPs per
    context token (4 x 32 layers x 4096), H100 SXM 3.35 TB/s x 0.8 and 989 TFLOP/s x 0.6, 50 us per step.
    """
    from planner.simulate import RooflineStepTime

    return RooflineStepTime(overhead_s=50e-6, weight_bytes=15.01e9, kv_bytes_per_token=131072,
                            flops_per_token=15.0e9, attn_flops_per_context_token=524288,
                            bandwidth_bytes_per_s=3.35e12 * 0.8, flops_per_s=989e12 * 0.6)
