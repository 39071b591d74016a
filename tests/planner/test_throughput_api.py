"""The library behind `inferplan throughput` (planner.throughput_api), the engine choices (planner.engines) and
TensorRT-LLM's KV budget (profiler.analytic.memory), checked against numbers worked out by hand.

Most cases use a constant 10 ms step, so every time is a count of steps: with prompts that fit one step's token
budget, a request takes 1 prefill step (which emits its first token) and OSL - 1 decode steps.
"""

from __future__ import annotations

import math

import pytest

from planner import engines
from planner import simulate as sim
from planner.throughput_api import GRID, TABLE_COLUMNS, ThroughputRequest, offline_throughput, run_case
from profiler import catalogue
from profiler.analytic import memory
from profiler.errors import InvalidValueError

STEP_S = 0.010


def ten_ms(prefill_tokens: int, decode_seqs: int, context_tokens: int) -> float:
    return STEP_S


def test_batches_of_max_num_seqs_by_hand():
    """10 requests of 16 + 4 tokens, 4 at a time (max_num_seqs 4), a 10 ms step, KV to spare.

    Batches of 4, 4 and 2 each take 1 prefill step + 3 decode steps: makespan 3 x 4 x 10 ms = 0.12 s, so
    output 10 x 4 / 0.12 = 333.3 tokens/s, total 10 x 20 / 0.12 = 1,666.7 tokens/s, 83.3 requests/s. The batch
    is 4 for 8 of the 12 steps: steady batch 4. KV (16-token blocks): a batch of k holds k blocks in its prefill
    step and 2k in its 3 decode steps (the first decode fills block 2), 7k block-steps; 7 x 10 = 70 block-steps of
    10 ms over 0.12 s and 100 blocks = 0.0583.
    """
    config = sim.EngineConfig(kv_blocks=100, max_num_seqs=4, max_num_batched_tokens=1024, block_size=16)
    c = run_case(config, ten_ms, 16, 4, 10)
    assert c.status == "ok" and c.preemptions == 0
    assert c.makespan_s == pytest.approx(0.12)
    assert c.output_tokens_per_s == pytest.approx(1000 / 3)
    assert c.total_tokens_per_s == pytest.approx(5000 / 3)
    assert c.requests_per_s == pytest.approx(250 / 3)
    assert c.steady_batch == 4
    assert c.mean_kv_util_fraction == pytest.approx(70 * STEP_S / 0.12 / 100)
    assert c.output_tokens_per_s_per_gpu == c.output_tokens_per_s
    two = run_case(config, ten_ms, 16, 4, 10, gpus=2)
    assert two.output_tokens_per_s_per_gpu == pytest.approx(c.output_tokens_per_s / 2)


def test_guaranteed_no_evict_never_preempts_where_vllm_does():
    """8 requests of 16 + 64 tokens in a cache of 8 blocks of 16 tokens (128 tokens).

    A request ends holding ceil((16 + 64 - 1) / 16) = 5 blocks. vLLM admits all 8 on their first block, then the
    first decode needs a ninth block: it preempts. TensorRT-LLM's GUARANTEED_NO_EVICT admits a request only if
    its 5 final blocks fit beside the others' (5 + 5 > 8): one at a time, never preempting, 64 steps each:
    makespan 8 x 64 x 10 ms = 5.12 s, 8 x 64 / 5.12 = 100 output tokens/s, batch 1. KV: 1 block in the prefill
    step, then 2, 3, 4 blocks for 16 steps each and 5 for the last 15: 220 block-steps of 512 = 0.4297.
    """
    def case(policy: str):
        config = sim.EngineConfig(kv_blocks=8, max_num_seqs=8, max_num_batched_tokens=1024, block_size=16,
                                  policy=policy)
        return run_case(config, ten_ms, 16, 64, 8)

    vllm, max_util, no_evict = case("vllm"), case("max-utilization"), case("guaranteed-no-evict")
    assert vllm.preemptions > 0 and max_util.preemptions > 0
    assert no_evict.preemptions == 0
    assert no_evict.makespan_s == pytest.approx(5.12)
    assert no_evict.output_tokens_per_s == pytest.approx(100.0)
    assert no_evict.steady_batch == 1
    assert no_evict.mean_kv_util_fraction == pytest.approx(220 / 512)


def test_cases_the_engine_refuses_are_rows_not_errors():
    config = sim.EngineConfig(kv_blocks=4, max_num_seqs=4, max_num_batched_tokens=64, block_size=16,
                              max_model_len=100)
    too_long = run_case(config, ten_ms, 64, 64, 10)  # 128 > max_model_len 100
    too_big = run_case(config, ten_ms, 60, 10, 10)  # 60 + 10 - 1 = 69 > 4 x 16 = 64 tokens of KV
    assert (too_long.status, too_big.status) == ("exceeds-max-model-len", "exceeds-kv-cache")
    assert "max_model_len 100" in too_long.note and "64-token KV cache" in too_big.note
    assert math.isnan(too_long.output_tokens_per_s) and math.isnan(too_big.makespan_s)
    assert run_case(config, ten_ms, 60, 5, 10).status == "ok"  # 64 tokens: fits exactly


def test_offline_throughput_takes_a_step_model_and_the_engine_knobs():
    """The same 10-request case through the name-resolving API: llama-3.1-8b's cache holds far more than 4
    requests of 20 tokens, so the knobs (4 seats) alone set the 0.12 s of the hand-worked case above."""
    req = ThroughputRequest(model="llama-3.1-8b", cases=((16, 4),), requests=10, max_num_seqs=4,
                            max_num_batched_tokens=1024)
    r = offline_throughput(req, step_time=ten_ms)
    (c,) = r.cases
    assert c.makespan_s == pytest.approx(0.12) and c.output_tokens_per_s == pytest.approx(1000 / 3)
    assert (r.engine["max_num_seqs"], r.engine["max_num_batched_tokens"]) == (4, 1024)
    table = r.table()
    assert tuple(table.columns) == TABLE_COLUMNS and len(table) == 1
    assert table.loc[0, "model"] == "llama-3.1-8b" and table.loc[0, "engine"] == "vllm"


def test_progress_is_called_once_per_case_in_order():
    seen = []
    req = ThroughputRequest(model="llama-3.1-8b", cases=((16, 4), (32, 2)), requests=4)
    offline_throughput(req, step_time=ten_ms, on_case=lambda i, n, case: seen.append((i, n, case)))
    assert seen == [(0, 2, (16, 4)), (1, 2, (32, 2))]


def test_the_grid_is_the_usual_one():
    assert GRID == ((128, 128), (128, 2048), (1000, 1000), (2048, 2048), (5000, 500), (20000, 2000))


def _dep(model: str = "llama-3.1-8b", gpu: str = "h100-sxm", quant: str = "bf16", tp: int = 1):
    from planner.simulate_api import deployment

    return deployment(model, gpu, quant, tp, "bf16")


def test_engine_defaults():
    """vLLM: 1024 / 8192 on GPUs of >= 70 GiB but A100 (EngineArgs.get_batch_defaults), else 256 / 2048;
    TensorRT-LLM: max_batch_size 2048, max_num_tokens 8192 (BaseLlmArgs) whatever the GPU."""
    assert engines.default_limits("vllm", _dep()) == (1024, 8192)
    assert engines.default_limits("vllm", _dep(gpu="a100-80gb")) == (256, 2048)
    assert engines.default_limits("vllm", _dep(gpu="l4")) == (256, 2048)
    assert engines.default_limits("trtllm", _dep(gpu="l4")) == (2048, 8192)
    assert engines.EngineKnobs("trtllm").policy == "guaranteed-no-evict"
    assert engines.EngineKnobs("trtllm", "max-utilization").policy == "max-utilization"
    assert engines.EngineKnobs().policy == "vllm"


# llama-3.1-8b bf16 on one H100 SXM, by hand:
HBM = 85_520_809_984  # h100-sxm memory_bytes (`inferplan gpus`)
WEIGHTS = 8_030_261_248 * 2  # params_total (`inferplan models`) x 2 bytes
# Activation peak of the 8,192-token dummy forward, per token: residual + normed hidden 2 x 4096, q 32 x 128,
# k and v 2 x 8 x 128, gate/up/product 3 x 14336, all bf16: (8192 + 4096 + 2048 + 43008) x 2 = 114,688 B; one dummy
# request (max_seq_len 131,072 >= 8,192) so one sampler row, far below: 8,192 x 114,688 B.
ACTIVATIONS = 8192 * 114_688
CONTEXT, NON_TORCH = 512 * 2**20, 128 * 2**20  # memory.CUDA_CONTEXT_BYTES, memory.NON_TORCH_PROFILE_BYTES
KV_PER_TOKEN = 32 * 8 * 128 * 2 * 2  # layers x KV heads x head dim x (K, V) x 2 bytes = 131,072


def test_trtllm_kv_budget_by_hand():
    """(HBM - weights - activations - CUDA context - non-torch) x 0.9 = 67,849,674,752 x 0.9 = 61,064,707,276 B:
    465,886 tokens of 131,072 B, 465,856 in whole 32-token blocks (14,558 blocks)."""
    m, g, q = catalogue.get_model("llama-3.1-8b"), catalogue.get_gpu("h100-sxm"), catalogue.get_quant("bf16")
    free = HBM - WEIGHTS - ACTIVATIONS - CONTEXT - NON_TORCH
    assert free == 67_849_674_752
    assert memory.trtllm_kv_budget_bytes(m, g, q, 1) == int(free * 0.9)
    assert memory.trtllm_kv_budget_bytes(m, g, q, 1, free_fraction=0.5) == int(free * 0.5)
    assert memory.trtllm_kv_capacity_tokens(m, g, q, memory.KvDtype.BF16, 1) == 465_856
    assert int(free * 0.9) // KV_PER_TOKEN == 465_886
    with pytest.raises(InvalidValueError, match="free_fraction"):
        memory.trtllm_kv_budget_bytes(m, g, q, 1, free_fraction=0)


def test_trtllm_engine_uses_that_budget_and_its_defaults():
    r = offline_throughput(ThroughputRequest(model="llama-3.1-8b", engine="trtllm", cases=((16, 4),), requests=4),
                           step_time=ten_ms)
    assert r.engine == {"engine": "trtllm", "policy": "guaranteed-no-evict", "max_num_seqs": 2048,
                        "max_num_batched_tokens": 8192, "max_model_len": 131_072, "kv_tokens": 465_856,
                        "kv_blocks": 465_856 // 32, "block_size": 32}
    half = offline_throughput(ThroughputRequest(model="llama-3.1-8b", engine="trtllm", cases=((16, 4),),
                                                requests=4, gpu_memory_utilization=0.5), step_time=ten_ms)
    free = HBM - WEIGHTS - ACTIVATIONS - CONTEXT - NON_TORCH
    assert half.engine["kv_tokens"] == int(free * 0.5) // KV_PER_TOKEN // 32 * 32


def test_warnings_name_preemptions_and_unchunked_prompts():
    # 8 requests of 80 tokens fit llama-3.1-8b's 452,400-token cache (bf16, H100): nothing to warn about
    r = offline_throughput(ThroughputRequest(model="llama-3.1-8b", cases=((16, 64),), requests=8), step_time=ten_ms)
    assert r.warnings == () and r.cases[0].preemptions == 0
    # the 8-block cache of the test above does preempt under vLLM
    config = sim.EngineConfig(kv_blocks=8, max_num_seqs=8, max_num_batched_tokens=1024, block_size=16)
    pre = run_case(config, ten_ms, 16, 64, 8)
    from planner.throughput_api import _warnings

    (w,) = _warnings((pre,), config, engines.EngineKnobs())
    assert f"{pre.preemptions:,} preemptions" in w and "vLLM V1 preempts by recompute" in w
    trt = engines.EngineKnobs("trtllm")
    long = run_case(sim.EngineConfig(kv_blocks=1000, max_num_seqs=8, max_num_batched_tokens=1024, block_size=16,
                                     policy="guaranteed-no-evict"), ten_ms, 2000, 4, 2)
    (w,) = _warnings((long,), sim.EngineConfig(kv_blocks=1000, max_num_batched_tokens=1024), trt)
    assert "2,000 tokens exceed max_num_tokens 1,024" in w and "chunked prefill" in w


@pytest.mark.parametrize(("fields", "message"), [
    ({"cases": ()}, "give --input-tokens and --output-tokens"),
    ({"cases": ((0, 5),)}, "--input-tokens must be whole numbers of tokens >= 1"),
    ({"cases": ((5, 2.5),)}, "--output-tokens must be whole numbers of tokens >= 1"),
    ({"requests": 0}, "--requests must be an integer from 1"),
    ({"engine": "tgi"}, "--engine must be one of vllm, trtllm, sglang"),
    ({"capacity_policy": "max-utilization"}, "add --engine trtllm or drop --capacity-policy"),
    ({"max_num_seqs": 4096, "max_num_batched_tokens": 2048}, "must be >= --max-num-seqs"),
    ({"max_model_len": 200_000}, "exceeds llama-3.1-8b's max context of 131,072"),
])
def test_bad_requests_are_refused(fields, message):
    with pytest.raises(InvalidValueError, match=message.replace("(", r"\(").replace("+", r"\+")):
        offline_throughput(ThroughputRequest(model="llama-3.1-8b", **{"cases": ((16, 4),), **fields}),
                           step_time=ten_ms)


@pytest.mark.parametrize("kv_tokens, isl, osl, want", [
    # R = 513,760 / 2,000 = 256.9 requests -> bs_raw 256.9 (256-1,024: up to 128s) = 384; tokens 256.9 x 2 = 513.8
    #   (< 4,096: up to 256s, at least 2,048) = 2,048
    (513_760, 1000, 1000, (384, 2048)),
    # R = 513,760 / 256 = 2,006.9 (>= 1,024: up to 256s) = 2,048; tokens 2,006.9 x 2 = 4,013.8 -> 4,096
    (513_760, 128, 128, (2048, 4096)),
    # R = 513,760 / 22,000 = 23.4 -> at least 64; tokens 23.4 x 11 = 256.9 -> 2,048
    (513_760, 20000, 2000, (64, 2048)),
    # R capped at 4,096 -> 4,096; tokens 4,096 x (1 + 5000/500) = 45,056 capped at 32,768 (>= 8,192: 1,024s)
    (10**9, 5000, 500, (4096, 32768)),
    # R = 100,000 / 1,100 = 90.9 -> 96 (up to 32s); tokens 90.9 x 11 = 1,000 -> 2,048
    (100_000, 1000, 100, (96, 2048)),
])
def test_trtllm_bench_limits_by_hand(kv_tokens, isl, osl, want):
    """trtllm-bench's tuning of max_batch_size / max_num_tokens (tensorrt_llm/bench/build/tuning.py)."""
    assert engines.trtllm_bench_limits(kv_tokens, isl, osl) == want


def test_trtllm_cases_run_on_the_limits_trtllm_bench_tunes_unless_given():
    from planner.throughput_api import case_config

    config = sim.EngineConfig(kv_blocks=513_760 // 32, max_num_seqs=2048, max_num_batched_tokens=8192,
                              block_size=32, policy="guaranteed-no-evict")
    tuned = case_config(config, engines.EngineKnobs("trtllm"), 1000, 1000)
    assert (tuned.max_num_seqs, tuned.max_num_batched_tokens) == (384, 2048) and tuned.kv_blocks == config.kv_blocks
    assert case_config(config, engines.EngineKnobs("trtllm", max_num_seqs=512), 1000, 1000) == config
    assert case_config(config, engines.EngineKnobs("vllm"), 1000, 1000) == config
    c = run_case(tuned, ten_ms, 1000, 1000, 10)
    assert (c.max_num_seqs, c.max_num_batched_tokens) == (384, 2048)
