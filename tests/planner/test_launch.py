import math

import pytest

from planner.capacity import Capacity
from planner.launch import max_model_len, vllm_args
from planner.step_model import Deployment
from profiler import catalogue
from profiler.analytic.efficiency import default_efficiency
from profiler.specs import KvDtype


def test_args_name_tp_seqs_len_memory_quant_and_kv():
    m, g, q = catalogue.get_model("llama-3.3-70b"), catalogue.get_gpu("h100-sxm"), catalogue.get_quant("fp8")
    d = Deployment(m, g, q, KvDtype.FP8, 2, default_efficiency("h100-sxm", "fp8"))
    args = vllm_args(d, Capacity(True, batch=96), 3000)
    text = " ".join(args)
    assert "--tensor-parallel-size 2" in text and "--max-num-seqs 96" in text
    assert "--max-model-len 3072" in text and "--gpu-memory-utilization 0.90" in text
    assert "--quantization fp8" in text and "--kv-cache-dtype fp8" in text
    assert args[2] == "meta-llama/Llama-3.3-70B-Instruct"
    assert max_model_len(d, 10**9) == m.max_context


def test_weight_only_int_formats_say_they_need_a_prequantised_checkpoint():
    from planner.launch import vllm_notes

    m, g = catalogue.get_model("llama-3.3-70b"), catalogue.get_gpu("h100-sxm")
    for q, word in (("int4", "AWQ"), ("int8", "W8A16")):
        d = Deployment(m, g, catalogue.get_quant(q), KvDtype.BF16, 1, default_efficiency("h100-sxm", q))
        (note,) = vllm_notes(d)
        assert word in note and "meta-llama/Llama-3.3-70B-Instruct" in note
    fp8 = Deployment(m, g, catalogue.get_quant("fp8"), KvDtype.BF16, 1, default_efficiency("h100-sxm", "fp8"))
    assert vllm_notes(fp8) == []  # vLLM quantises bf16 weights to fp8 on load


def _flag(args: list[str], name: str) -> str:
    return args[args.index(name) + 1]


def test_max_model_len_is_the_sized_request_whatever_the_kv_cache_holds_and_max_num_seqs_the_engine_limit():
    m, g, q = catalogue.get_model("llama-3.1-8b"), catalogue.get_gpu("h100-sxm"), catalogue.get_quant("bf16")
    d = Deployment(m, g, q, KvDtype.BF16, 1, default_efficiency("h100-sxm", "bf16"))
    # a 3,000-token p99 request launches at 3 x 1,024 = 3,072 tokens, however long a sequence 50,000 or 10^7 KV
    # tokens could hold (issue 11 item 10: it used to be 49,152 and 131,072)
    args = vllm_args(d, Capacity(True, batch=40, kv_capacity_tokens=50_000), 3000)
    assert _flag(args, "--max-model-len") == "3072" and _flag(args, "--max-num-seqs") == "40"
    assert _flag(vllm_args(d, Capacity(True, batch=40, kv_capacity_tokens=10**7), 3000), "--max-model-len") == "3072"
    # never above the model's context (131,072 for Llama 3.1)
    long_request = vllm_args(d, Capacity(True, batch=1, kv_capacity_tokens=10**7), 200_000)
    assert _flag(long_request, "--max-model-len") == "131072"
    # the simulator's engine limit, when it differs from the mean batch, is the flag
    assert _flag(vllm_args(d, Capacity(True, batch=40, max_num_seqs=64), 3000), "--max-num-seqs") == "64"
    assert _flag(args, "--max-num-batched-tokens") == "8192" and "--kv-cache-dtype" not in args


def test_trtllm_and_sglang_lines_carry_the_same_plan_in_their_own_flags():
    from planner.launch import launch_args, launch_notes
    from profiler.analytic import memory

    m, g, q = catalogue.get_model("llama-3.1-8b"), catalogue.get_gpu("h100-sxm"), catalogue.get_quant("fp8")
    d = Deployment(m, g, q, KvDtype.FP8, 2, default_efficiency("h100-sxm", "fp8"))
    cap = Capacity(True, batch=40, max_num_seqs=300, kv_capacity_tokens=50_000)
    trt = launch_args("trtllm", d, cap, 3000)
    assert trt[:3] == ["trtllm-serve", "serve", "meta-llama/Llama-3.1-8B-Instruct"]
    assert "--enable_chunked_prefill" in trt
    assert (_flag(trt, "--tp_size"), _flag(trt, "--max_batch_size"), _flag(trt, "--max_num_tokens")) == ("2", "300",
                                                                                                        "8192")
    assert _flag(trt, "--max_seq_len") == "3072" and _flag(trt, "--kv_cache_free_gpu_memory_fraction") == "0.90"
    assert any("kv_cache_config" in n for n in launch_notes("trtllm", d))  # fp8 KV has no trtllm-serve flag
    sg = launch_args("sglang", d, cap, 3000)
    assert sg[:4] == ["python", "-m", "sglang.launch_server", "--model-path"]
    assert (_flag(sg, "--tp-size"), _flag(sg, "--max-running-requests"), _flag(sg, "--chunked-prefill-size")) == (
        "2", "300", "8192")
    assert _flag(sg, "--max-total-tokens") == "50000" and _flag(sg, "--kv-cache-dtype") == "fp8_e4m3"
    assert _flag(sg, "--context-length") == "3072"  # the sized request, as vLLM's --max-model-len
    # the static pool holds the weights and the KV budget: (weights + KV) / HBM per GPU, rounded up to 0.01
    b = memory.memory_budget(m, g, q, KvDtype.FP8, 2, d.eff)
    assert float(_flag(sg, "--mem-fraction-static")) == pytest.approx(
        math.ceil((b.weights_bytes + b.kv_budget_bytes) / b.hbm_bytes * 100) / 100)
