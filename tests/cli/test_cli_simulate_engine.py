"""`inferplan simulate` engine options: --engine vllm|trtllm, --capacity-policy, --max-num-seqs,
--max-num-batched-tokens, --max-model-len, --gpu-memory-utilization under each engine, --config; the engine dict
of the result; one-line errors naming the option.

The TensorRT-LLM budget worked by hand: tests/planner/test_throughput_api.py (465,856 tokens for llama-3.1-8b bf16
on one H100 SXM)."""

from __future__ import annotations

import json

import pytest

from tests.helpers import cli_error, cli_json

SIM = ("simulate", "llama-3.1-8b", "--rate", "2/s", "--duration", "1m")
TRTLLM_KV_TOKENS = 465_856  # llama-3.1-8b bf16, one H100 SXM, free fraction 0.9 (tests/planner/test_throughput_api)


def _vllm_kv_tokens(gpu: str = "h100-sxm", share: float | None = None) -> int:
    from planner.simulate_api import deployment
    from planner.step_model import AnalyticStep

    return AnalyticStep(deployment("llama-3.1-8b", gpu, "bf16", 1, "bf16", gpu_memory_utilization=share)) \
        .kv_capacity_tokens()


def test_vllm_is_the_default_engine_with_its_defaults():
    e = cli_json(*SIM)["engine"]
    assert {k: e[k] for k in ("engine", "policy", "max_num_seqs", "max_num_batched_tokens", "max_model_len",
                              "block_size")} == {"engine": "vllm", "policy": "vllm", "max_num_seqs": 1024,
                                                 "max_num_batched_tokens": 8192, "max_model_len": 131_072,
                                                 "block_size": 16}
    assert e["kv_tokens"] == _vllm_kv_tokens() // 16 * 16 and e["kv_blocks"] == e["kv_tokens"] // 16
    small = cli_json(*SIM, "--gpu", "l4")["engine"]  # under 70 GiB: vLLM's 256 / 2048
    assert (small["max_num_seqs"], small["max_num_batched_tokens"]) == (256, 2048)


def test_trtllm_engine_defaults_and_budget():
    d = cli_json(*SIM, "--engine", "trtllm")
    e = d["engine"]
    assert {k: e[k] for k in ("engine", "policy", "max_num_seqs", "max_num_batched_tokens", "block_size",
                              "kv_tokens")} == {"engine": "trtllm", "policy": "guaranteed-no-evict",
                                                "max_num_seqs": 2048, "max_num_batched_tokens": 8192,
                                                "block_size": 32, "kv_tokens": TRTLLM_KV_TOKENS}
    assert d["request"]["engine"] == "trtllm" and d["metrics"]["preemptions"] == 0
    assert cli_json(*SIM, "--engine", "trtllm", "--capacity-policy", "max-utilization")["engine"]["policy"] == \
        "max-utilization"


def test_sglang_engine_defaults():
    """SGLang: its policy, its default limits (planner.engines.sglang_default_limits: 2,048 running requests, chunks of
    8,192 on an H100; 2,048 / 2,048 on an L4), vLLM's KV budget in 1-token pages."""
    d = cli_json(*SIM, "--engine", "sglang")
    e = d["engine"]
    assert {k: e[k] for k in ("engine", "policy", "max_num_seqs", "max_num_batched_tokens", "block_size",
                              "kv_tokens")} == {"engine": "sglang", "policy": "sglang", "max_num_seqs": 2048,
                                                "max_num_batched_tokens": 8192, "block_size": 1,
                                                "kv_tokens": _vllm_kv_tokens()}
    assert d["request"]["engine"] == "sglang"
    small = cli_json(*SIM, "--engine", "sglang", "--gpu", "l4")["engine"]
    assert (small["max_num_seqs"], small["max_num_batched_tokens"]) == (2048, 2048)


def test_gpu_memory_utilization_means_each_engines_own_fraction():
    """vLLM: a share of the whole GPU (the memory model's budget); TensorRT-LLM: of the memory left free, so
    0.5 gives 0.5 / 0.9 of the default cache (to the block)."""
    assert cli_json(*SIM, "--gpu-memory-utilization", "0.8")["engine"]["kv_tokens"] == \
        _vllm_kv_tokens(share=0.8) // 16 * 16
    half = cli_json(*SIM, "--engine", "trtllm", "--gpu-memory-utilization", "0.5")["engine"]["kv_tokens"]
    assert half == pytest.approx(TRTLLM_KV_TOKENS * 0.5 / 0.9, abs=64)


def test_limits_reach_the_scheduler():
    """20 requests/s of 1000 + 250 tokens keep about 88 running on vLLM's 1024 seats; with 64 seats the batch is
    full all the time and the queue grows."""
    d = cli_json("simulate", "llama-3.1-8b", "--rate", "20/s", "--duration", "2m", "--max-num-seqs", "64",
                 "--max-num-batched-tokens", "4k", "--max-model-len", "32k")
    e = d["engine"]
    assert (e["max_num_seqs"], e["max_num_batched_tokens"], e["max_model_len"]) == (64, 4096, 32768)
    m = d["metrics"]
    assert 63.9 < m["running_mean"] <= 64 and not m["stable"]
    assert cli_json("simulate", "llama-3.1-8b", "--rate", "20/s", "--duration", "2m")["metrics"]["running_mean"] > 64
    assert d["request"]["max_num_seqs"] == 64 and d["request"]["max_model_len"] == 32768


def test_max_model_len_refuses_requests_over_it():
    out = cli_error(*SIM, "--max-model-len", "1000")  # mean request 1,000 + 250 tokens
    assert "exceeds --max-model-len 1,000 tokens (prompt + output)" in out and "vLLM refuses" in out
    out = cli_error(*SIM, "--max-model-len", "1000", "--engine", "trtllm")
    assert "TensorRT-LLM refuses" in out


def test_trtllm_says_when_prompts_need_chunked_prefill():
    d = cli_json(*SIM, "--engine", "trtllm", "--input-tokens", "10k", "--output-tokens", "100", "--sigma", "0")
    assert any("prompts of up to 10,000 tokens exceed max_num_tokens 8,192" in w for w in d["warnings"])
    plain = cli_json(*SIM, "--input-tokens", "10k", "--output-tokens", "100", "--sigma", "0")
    assert not any("max_num_tokens" in w for w in plain["warnings"])  # vLLM chunks by default


def test_config_folder(tmp_path):
    from profiler import catalogue

    cfg = dict(catalogue.get_model("llama-3.1-8b").hf_config)
    cfg.pop("hf_repo")
    (tmp_path / "my-llama").mkdir()
    (tmp_path / "my-llama" / "config.json").write_text(json.dumps(cfg))
    mine = cli_json("simulate", "--config", tmp_path / "my-llama", *SIM[2:])
    ref = cli_json(*SIM)
    assert mine["request"]["model"] == "my-llama" and mine["engine"] == ref["engine"]
    assert mine["metrics"]["ttft"] == ref["metrics"]["ttft"]
    labelled = cli_json("simulate", "mine", "--config", tmp_path / "my-llama" / "config.json", *SIM[2:])
    assert labelled["request"]["model"] == "mine"


@pytest.mark.parametrize(("args", "message"), [
    (("--engine", "tgi"), "--engine must be one of vllm, trtllm, sglang, not 'tgi'"),
    (("--capacity-policy", "max-utilization"), "add --engine trtllm or drop --capacity-policy"),
    (("--engine", "trtllm", "--capacity-policy", "fcfs"), "--capacity-policy must be one of guaranteed-no-evict, "
                                                          "max-utilization"),
    (("--max-num-seqs", "0"), "--max-num-seqs must be an integer >= 1, got 0"),
    (("--max-num-seqs", "-4"), "--max-num-seqs must be an integer >= 1"),
    (("--max-num-seqs", "2.5"), "--max-num-seqs: cannot read '2.5' as a whole number of sequences"),
    (("--max-num-batched-tokens", "0"), "--max-num-batched-tokens must be an integer >= 1"),
    (("--max-num-seqs", "64", "--max-num-batched-tokens", "32"),
     "--max-num-batched-tokens (max_num_batched_tokens 32) must be >= --max-num-seqs (max_num_seqs 64)"),
    (("--max-num-seqs", "9000"), "(max_num_batched_tokens 8,192, vLLM V1's default) must be >= --max-num-seqs"),
    (("--max-model-len", "200k"), "--max-model-len 204,800 exceeds llama-3.1-8b's max context of 131,072 tokens"),
    (("--max-model-len", "1"), "--max-model-len must be an integer >= 2"),
    (("--max-model-len", "lots"), "--max-model-len: cannot read 'lots'"),
    (("--engine", "trtllm", "--gpu-memory-utilization", "0"), "free_gpu_memory_fraction"),
])
def test_bad_engine_options_are_one_line_naming_the_option(args, message):
    assert message in cli_error(*SIM, *args)


def test_neither_model_nor_config_is_one_line():
    assert "name a catalogue model (see `inferplan models`) or give --config PATH" in cli_error(
        "simulate", "--rate", "2/s")
