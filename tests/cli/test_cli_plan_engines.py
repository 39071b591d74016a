"""`plan --engine vllm|trtllm|sglang` and the p99 sizing's own report: the launch line of the engine planned for,
the KV cache it sizes, the simulated scheduler under --simulate, and the mean-value comparison."""

import math

from planner.simulate_api import deployment
from profiler.analytic import memory
from tests.helpers import cli, cli_error, cli_json

NARROW = ("plan", "llama-3.1-8b", "--gpu", "h100-sxm", "--quant", "fp8", "--tp", "1", "--tokens-per-day-in", "500M",
          "--tokens-per-day-out", "100M")


def _flag(args: list[str], name: str) -> str:
    return args[args.index(name) + 1]


def test_trtllm_plans_with_its_own_kv_cache_and_launch_line():
    d = cli_json(*NARROW, "--engine", "trtllm")
    assert d["engine"] == "trtllm" and d["vllm_args"] is None
    args = d["launch_args"]
    assert args[:2] == ["trtllm-serve", "serve"] and _flag(args, "--tp_size") == "1"
    # --max_batch_size: the mean-length sequences TensorRT-LLM's KV cache holds beside one longest request
    w = d["workload"]
    dep = deployment("llama-3.1-8b", "h100-sxm", "fp8", 1, "bf16")
    # the longest request admitted: the p99.9 prompt + output (z = 3.0902), lognormal sigma 0.5
    longest_req = 1000 * math.exp(0.5 * 3.090232306167813 - 0.125) + 200 * math.exp(0.5 * 3.090232306167813 - 0.125)
    longest = math.ceil(longest_req / 1024) * 1024
    kv = memory.trtllm_kv_capacity_tokens(dep.model, dep.gpu, dep.quant, dep.kv_dtype, 1, max_num_tokens=8192,
                                          max_seq_len=longest)
    mean = math.ceil(w["tokens_in_per_day"] / w["requests_per_day"] + w["tokens_out_per_day"] / w["requests_per_day"])
    seqs = min(kv // mean - math.ceil(longest / mean) + 1, 1024)
    assert d["p99"]["max_num_seqs"] == seqs and _flag(args, "--max_batch_size") == str(seqs)


def test_sglang_plans_with_its_launch_server_flags():
    d = cli_json(*NARROW, "--engine", "sglang")
    args = d["launch_args"]
    assert d["engine"] == "sglang" and args[:3] == ["python", "-m", "sglang.launch_server"]
    assert _flag(args, "--max-running-requests") == str(d["p99"]["max_num_seqs"])
    r = cli(*NARROW, "--engine", "sglang")
    assert r.exit_code == 0 and "SGLang: python -m sglang.launch_server" in r.stdout


def test_an_unknown_engine_is_one_line_with_the_closest_name():
    out = cli_error("plan", "--engine", "sglng")
    assert "--engine must be one of vllm, trtllm, sglang" in out and "did you mean 'sglang'" in out


def test_simulate_runs_the_engine_planned_for():
    d = cli_json(*NARROW, "--engine", "trtllm", "--simulate")
    s = d["simulated"]
    assert s["engine"] == "trtllm" and s["policy"] == "guaranteed-no-evict"  # TensorRT-LLM's default policy
    assert _flag(d["launch_args"], "--max_batch_size") == str(s["max_num_seqs"])


def test_the_plan_says_when_the_mean_value_model_would_run_other_replicas():
    # 200-token prompts and outputs on an H100: the mean-value model's 80% cap is more headroom than the p99s
    # need, so it buys 12 replicas where the p99 sizing buys 10 (benchmarks/p99_sizing.py's "over" cases)
    args = ("plan", "llama-3.1-8b", "--gpu", "h100-sxm", "--quant", "fp8", "--tp", "1", "--tokens-per-day-in", "8B",
            "--tokens-per-day-out", "8B", "--requests-per-day", "40M")
    q = cli_json(*args)["p99"]
    assert q["replicas_differ"] and q["mean_value_replicas"] >= 12
    r = cli(*args)
    line = next(x for x in r.stdout.splitlines() if x.startswith("Sizing differs:"))
    assert f"would run {q['mean_value_replicas']} replica(s)" in line
    mean_value = cli_json(*args, "--sizing", "mean-value")
    assert mean_value["p99"] is None and mean_value["replicas"] == q["mean_value_replicas"]
