from planner.capacity import Capacity
from planner.step_model import Deployment
from planner.vllm_args import max_model_len, vllm_args
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
    from planner.vllm_args import vllm_notes

    m, g = catalogue.get_model("llama-3.3-70b"), catalogue.get_gpu("h100-sxm")
    for q, word in (("int4", "AWQ"), ("int8", "W8A16")):
        d = Deployment(m, g, catalogue.get_quant(q), KvDtype.BF16, 1, default_efficiency("h100-sxm", q))
        (note,) = vllm_notes(d)
        assert word in note and "meta-llama/Llama-3.3-70B-Instruct" in note
    fp8 = Deployment(m, g, catalogue.get_quant("fp8"), KvDtype.BF16, 1, default_efficiency("h100-sxm", "fp8"))
    assert vllm_notes(fp8) == []  # vLLM quantises bf16 weights to fp8 on load


def _flag(args: list[str], name: str) -> str:
    return args[args.index(name) + 1]


def test_max_model_len_grows_to_what_the_kv_cache_holds_and_max_num_seqs_to_the_engine_limit():
    m, g, q = catalogue.get_model("llama-3.1-8b"), catalogue.get_gpu("h100-sxm"), catalogue.get_quant("bf16")
    d = Deployment(m, g, q, KvDtype.BF16, 1, default_efficiency("h100-sxm", "bf16"))
    # 50,000 KV tokens hold one 48 x 1,024 = 49,152-token sequence: rare long requests are served, not refused
    args = vllm_args(d, Capacity(True, batch=40, kv_capacity_tokens=50_000), 3000)
    assert _flag(args, "--max-model-len") == "49152" and _flag(args, "--max-num-seqs") == "40"
    # a cache larger than the model's context stops at the context (131,072 for Llama 3.1)
    assert _flag(vllm_args(d, Capacity(True, batch=40, kv_capacity_tokens=10**7), 3000), "--max-model-len") == "131072"
    # the simulator's engine limit, when it differs from the mean batch, is the flag
    assert _flag(vllm_args(d, Capacity(True, batch=40, max_num_seqs=64), 3000), "--max-num-seqs") == "64"
    assert _flag(args, "--max-num-batched-tokens") == "8192" and "--kv-cache-dtype" not in args
