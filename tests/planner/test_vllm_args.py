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
