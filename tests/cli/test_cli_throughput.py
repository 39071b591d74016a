"""`inferplan throughput` on the command line: the grid, the offline metrics' definitions, rows for cases an engine
refuses, engine options, output files, progress (stderr, terminals only) and one-line errors.

The library and the hand-worked numbers: tests/planner/test_throughput_api.py."""

from __future__ import annotations

import json

import pytest

import planner.cmd_throughput as cmd
from tests.helpers import cli, cli_error, cli_json

TP = ("throughput", "llama-3.1-8b")
GRID = [(128, 128), (128, 2048), (1000, 1000), (2048, 2048), (5000, 500), (20000, 2000)]


def _check_definitions(case: dict, tp: int = 1) -> None:
    """The tools' conventions: every rate is a count over the time to the last token."""
    n, isl, osl, t = case["requests"], case["input_tokens"], case["output_tokens"], case["makespan_s"]
    assert case["output_tokens_per_s"] == pytest.approx(n * osl / t)
    assert case["total_tokens_per_s"] == pytest.approx(n * (isl + osl) / t)
    assert case["requests_per_s"] == pytest.approx(n / t)
    assert case["output_tokens_per_s_per_gpu"] == pytest.approx(case["output_tokens_per_s"] / tp)
    assert 0 < case["mean_kv_util_fraction"] <= 1 and 1 <= case["steady_batch"] <= n


def test_trtllm_grid_runs_every_case_without_preempting():
    d = cli_json(*TP, "--quant", "fp8", "--grid", "--engine", "trtllm")
    cases = d["cases"]
    assert [(c["input_tokens"], c["output_tokens"]) for c in cases] == GRID
    assert all(c["status"] == "ok" and c["requests"] == 1000 and c["preemptions"] == 0 for c in cases)
    for c in cases:
        _check_definitions(c)
        assert (c["engine"], c["policy"], c["model"], c["quant"]) == ("trtllm", "guaranteed-no-evict",
                                                                      "llama-3.1-8b", "fp8")
    e = d["engine"]
    assert (e["engine"], e["policy"], e["max_num_seqs"], e["max_num_batched_tokens"], e["block_size"]) == (
        "trtllm", "guaranteed-no-evict", 2048, 8192, 32)
    # GUARANTEED_NO_EVICT holds only whole requests: at 128 + 2048 tokens, 68 blocks of 32 each
    assert cases[1]["steady_batch"] <= e["kv_blocks"] // 68
    (w,) = d["warnings"]  # 20,000-token prompts need chunked prefill, which TensorRT-LLM leaves off
    assert "prompts of up to 20,000 tokens exceed max_num_tokens 8,192" in w


def test_vllm_preempts_and_says_so():
    d = cli_json(*TP, "--quant", "fp8", "--input-tokens", "128,1000", "--output-tokens", "2048,1000")
    cases = d["cases"]
    assert d["engine"]["engine"] == "vllm" and d["engine"]["policy"] == "vllm"
    assert (d["engine"]["max_num_seqs"], d["engine"]["max_num_batched_tokens"]) == (1024, 8192)
    for c in cases:
        _check_definitions(c)
    total = sum(c["preemptions"] for c in cases)
    assert total > 0
    (w,) = d["warnings"]
    assert w.startswith(f"{total:,} preemptions (128/2,048: {cases[0]['preemptions']:,}")
    assert ("vLLM V1 preempts by recompute under this load; TensorRT-LLM's default policy would not" in w)
    trt = cli_json(*TP, "--quant", "fp8", "--input-tokens", "128,1000", "--output-tokens", "2048,1000",
                   "--engine", "trtllm", "--capacity-policy", "max-utilization")
    assert trt["engine"]["policy"] == "max-utilization" and sum(c["preemptions"] for c in trt["cases"]) > 0
    assert "MAX_UTILIZATION" in trt["warnings"][0]


def test_per_gpu_divides_by_tp():
    (c,) = cli_json(*TP, "--tp", "2", "--input-tokens", "1000", "--output-tokens", "200", "--requests", "200")["cases"]
    _check_definitions(c, tp=2)
    assert c["tp"] == 2 and c["requests"] == 200


def test_cases_beyond_the_context_are_rows_saying_so():
    """tinyllama-1.1b has a 2,048-token context: 128/128 and 1000/1000 run, the rest are over it."""
    r = cli("throughput", "tinyllama-1.1b", "--grid", "--format", "csv")
    assert r.exit_code == 0, r.output
    lines = r.stdout.splitlines()
    status = [line.split(",")[10] for line in lines[1:]]
    assert status == ["ok", "exceeds-max-model-len", "ok", "exceeds-max-model-len", "exceeds-max-model-len",
                      "exceeds-max-model-len"]
    table = cli("throughput", "tinyllama-1.1b", "--grid")
    assert table.exit_code == 0
    assert "note: prompt + output 22,000 tokens exceeds max_model_len 2,048" in table.stdout


def test_cases_beyond_the_kv_cache_are_rows_saying_so():
    """At 14 % of an H100, llama-3.1-8b fp8 leaves a cache of about 10k tokens: 5,500-token requests fit,
    22,000-token ones do not."""
    d = cli_json(*TP, "--quant", "fp8", "--gpu-memory-utilization", "0.14", "--input-tokens", "5000,20000",
                 "--output-tokens", "500,2000", "--requests", "50")
    kv = d["engine"]["kv_tokens"]
    assert 5500 <= kv < 21999
    assert [c["status"] for c in d["cases"]] == ["ok", "exceeds-kv-cache"]
    assert d["cases"][1]["output_tokens_per_s"] is None
    assert f"the whole {kv:,}-token KV cache" in d["cases"][1]["note"]


def test_engine_knobs_reach_the_engine():
    d = cli_json(*TP, "--input-tokens", "1000", "--output-tokens", "1000", "--requests", "200", "--max-num-seqs",
                 "64", "--max-num-batched-tokens", "4k", "--max-model-len", "16k")
    e, (c,) = d["engine"], d["cases"]
    assert (e["max_num_seqs"], e["max_num_batched_tokens"], e["max_model_len"]) == (64, 4096, 16384)
    assert c["steady_batch"] == 64  # 200 requests, 64 seats: full most of the time
    long = cli_json(*TP, "--input-tokens", "20k", "--output-tokens", "2k", "--max-model-len", "16k",
                    "--requests", "10")["cases"][0]
    assert long["status"] == "exceeds-max-model-len" and long["input_tokens"] == 20000


def test_table_shows_the_engine_and_warnings(tmp_path):
    out = tmp_path / "cases.json"
    r = cli(*TP, "--input-tokens", "128", "--output-tokens", "128", "--requests", "100", "-o", out)
    assert r.exit_code == 0, r.output
    assert "offline throughput, 100 requests per case queued at t = 0" in r.stdout
    assert "engine: vLLM V1, policy vllm, max_num_seqs 1,024, max_num_batched_tokens 8,192" in r.stdout
    assert f"wrote {out}" in r.stdout
    doc = json.loads(out.read_text())
    assert doc["cases"][0]["requests"] == 100 and doc["engine"]["engine"] == "vllm"


def test_csv_to_stdout_and_file(tmp_path):
    out = tmp_path / "cases.csv"
    r = cli(*TP, "--input-tokens", "128", "--output-tokens", "128", "--requests", "100", "--format", "csv", "-o", out)
    assert r.exit_code == 0, r.output
    assert r.stdout.startswith("model,gpu,quant,kv_dtype,tp,engine,policy,input_tokens,output_tokens,requests,status")
    assert out.read_text() == r.stdout


def test_config_folder_is_simulated_under_its_label(tmp_path):
    from profiler import catalogue

    cfg = dict(catalogue.get_model("llama-3.1-8b").hf_config)
    cfg.pop("hf_repo")
    folder = tmp_path / "my-llama"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps(cfg))
    args = ("--input-tokens", "1000", "--output-tokens", "100", "--requests", "100")
    mine = cli_json("throughput", "--config", folder, *args)
    ref = cli_json(*TP, *args)
    assert mine["cases"][0]["model"] == "my-llama"
    assert mine["cases"][0]["output_tokens_per_s"] == ref["cases"][0]["output_tokens_per_s"]


def test_progress_goes_to_a_terminal_stderr_only(monkeypatch):
    args = (*TP, "--input-tokens", "128,256", "--output-tokens", "16,16", "--requests", "20", "--format", "json")
    monkeypatch.setattr(cmd, "_stderr_is_terminal", lambda: True)
    r = cli(*args)
    assert r.exit_code == 0, r.output
    assert len(json.loads(r.stdout)["cases"]) == 2  # stdout is exactly the JSON document
    assert "simulating" in r.stderr and "2/2" in r.stderr
    monkeypatch.setattr(cmd, "_stderr_is_terminal", lambda: False)
    quiet = cli(*args)
    assert quiet.exit_code == 0 and quiet.stderr == ""


def test_the_command_is_listed():
    r = cli("--help")
    assert r.exit_code == 0 and "throughput" in r.stdout


@pytest.mark.parametrize(("args", "message"), [
    (("--grid", "--input-tokens", "128"), "--grid runs its own ISL/OSL cases"),
    (("--input-tokens", "128"), "give --input-tokens and --output-tokens"),
    ((), "give --input-tokens and --output-tokens"),
    (("--input-tokens", "128,256", "--output-tokens", "16"), "--input-tokens has 2 lengths and --output-tokens 1"),
    (("--input-tokens", "0", "--output-tokens", "16"), "whole number of tokens >= 1"),
    (("--input-tokens", "12.5", "--output-tokens", "16"), "whole number of tokens >= 1"),
    (("--input-tokens", "abc", "--output-tokens", "16"), "--input-tokens: cannot read 'abc'"),
    (("--grid", "--requests", "0"), "--requests must be a whole number >= 1"),
    (("--grid", "--engine", "tgi"), "--engine must be one of vllm, trtllm, sglang"),
    (("--grid", "--capacity-policy", "max-utilization"), "add --engine trtllm or drop --capacity-policy"),
    (("--grid", "--engine", "trtllm", "--capacity-policy", "static"), "--capacity-policy must be one of"),
    (("--grid", "--max-num-seqs", "0"), "--max-num-seqs must be an integer >= 1"),
    (("--grid", "--max-num-seqs", "many"), "--max-num-seqs: cannot read 'many'"),
    (("--grid", "--max-num-batched-tokens", "512"), "--max-num-batched-tokens (max_num_batched_tokens 512) must be "
                                                     ">= --max-num-seqs (max_num_seqs 1,024, vLLM V1's default)"),
    (("--grid", "--engine", "trtllm", "--max-num-seqs", "9000"), "(max_num_tokens 8,192, TensorRT-LLM's default)"),
    (("--grid", "--max-model-len", "256k"), "--max-model-len 262,144 exceeds llama-3.1-8b's max context"),
    (("--grid", "--max-model-len", "1"), "--max-model-len must be an integer >= 2"),
    (("--grid", "--engine", "trtllm", "--gpu-memory-utilization", "1.5"), "free_gpu_memory_fraction"),
    (("--grid", "--gpu-memory-utilization", "0"), "--gpu-memory-utilization must be a fraction in (0, 1]"),
    (("--grid", "-o", "cases.txt"), "write a .csv or .json file"),
    (("--grid", "--format", "xml"), "--format must be one of"),
    (("--grid", "--gpu", "h1000"), "h1000"),
])
def test_bad_options_are_one_line_errors(args, message):
    assert message in cli_error(*TP, *args)


def test_no_model_is_one_line():
    assert "name a catalogue model" in cli_error("throughput", "--grid")


def test_the_readme_example_is_the_real_output():
    from pathlib import Path

    readme = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")
    command = "inferplan throughput llama-3.1-8b --gpu h100-sxm --quant fp8 --grid"
    shown = readme.split(f"$ {command}\n")[1].split("```")[0].rstrip("\n").splitlines()
    r = cli(*command.split()[1:])
    assert r.exit_code == 0, r.output
    assert [line.strip() for line in r.stdout.rstrip("\n").splitlines()] == [line.strip() for line in shown]
