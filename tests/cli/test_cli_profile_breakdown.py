"""`inferplan profile --breakdown`: the kernels of each point add up to the profile's own latency."""

import pytest

from tests.helpers import cli_error, cli_json


def test_breakdown_kernels_sum_to_the_profiled_latency_and_shares_to_one():
    args = ("profile", "llama-3.1-8b", "--batch", "1,64", "--context", "1024", "--tp", "2")
    rows = cli_json(*args, "--breakdown")
    points = {(r["phase"], r["batch"]) for r in rows}
    assert points == {("prefill", 1), ("prefill", 64), ("decode", 1), ("decode", 64)}
    profiled = {(r["phase"], r["batch"]): r["latency_ms"] for r in cli_json(*args)}
    for point in points:
        kernels = [r for r in rows if (r["phase"], r["batch"]) == point]
        assert sum(r["time_ms"] for r in kernels) == pytest.approx(profiled[point], rel=1e-9)
        assert sum(r["share"] for r in kernels) == pytest.approx(1.0, rel=1e-9)
        ops = {r["op"] for r in kernels}
        assert {"qkv", "o_proj", "gate_up", "down", "allreduce", "lm_head", "step_overhead"} <= ops
    # TP2 halves the decode GEMM weights each rank streams: qkv 32 x 4,096 x 6,144 x 2 B / 2 = 805,306,368 B
    qkv = next(r for r in rows if (r["phase"], r["batch"], r["op"]) == ("decode", 1, "qkv"))
    assert qkv["bytes"] == 32 * 4096 * 6144 * 2 // 2 and qkv["bound"] == "memory"


def test_breakdown_of_a_measured_profile_is_refused():
    msg = cli_error("profile", "llama-3.1-8b", "--measure", "--breakdown")
    assert "drop --measure" in msg
