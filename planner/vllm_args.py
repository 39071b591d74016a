"""vLLM launch arguments for a planned replica (vLLM v1 `vllm serve` flag names)."""

from __future__ import annotations

import shlex

from planner.capacity import CHUNK_TOKENS, Capacity, launch_max_model_len
from planner.step_model import Deployment


def max_model_len(dep: Deployment, longest_request_tokens: float, kv_capacity_tokens: int = 0) -> int:
    """As long as the KV cache holds, at least the p99 request (planner.capacity.launch_max_model_len)."""
    return launch_max_model_len(longest_request_tokens, dep.model.max_context, kv_capacity_tokens)


def vllm_args(dep: Deployment, capacity: Capacity, longest_request_tokens: float) -> list[str]:
    """Flags for `vllm serve MODEL ...` reproducing the planned configuration."""
    repo = dep.model.hf_config.get("hf_repo") or dep.model.hf_config.get("_name_or_path") or dep.model.name
    args = [
        "vllm", "serve", str(repo),
        "--tensor-parallel-size", str(dep.tp),
        "--max-num-seqs", str(max(1, capacity.max_num_seqs or capacity.batch)),
        "--max-model-len", str(max_model_len(dep, longest_request_tokens, capacity.kv_capacity_tokens)),
        "--gpu-memory-utilization", f"{dep.eff.gpu_memory_utilization:.2f}",
        "--max-num-batched-tokens", str(CHUNK_TOKENS),
        "--enable-chunked-prefill",
    ]
    if dep.quant.vllm_quantization:
        args += ["--quantization", dep.quant.vllm_quantization]
    if dep.kv_dtype.value == "fp8":
        args += ["--kv-cache-dtype", "fp8"]
    return args


# Weight formats vLLM loads only from a checkpoint already quantised that way (it quantises bf16 weights on load
# only to fp8; docs.vllm.ai "Quantization" → AutoAWQ / GPTQModel / LLM Compressor pages: produce the checkpoint
# offline, then serve it). mxfp4 is how gpt-oss checkpoints ship, so its own repository serves as is.
PREQUANTISED = {
    "int4": "an AWQ or GPTQ 4-bit (group 128) checkpoint",
    "int8": "a W8A16 (compressed-tensors, LLM Compressor) checkpoint",
}


def vllm_notes(dep: Deployment) -> list[str]:
    """What the launch line assumes that the flags cannot say."""
    repo = dep.model.hf_config.get("hf_repo") or dep.model.name
    need = PREQUANTISED.get(dep.quant.id)
    if need is None or (dep.quant.id == "mxfp4" and dep.model.moe):
        return []
    return [f"--quantization {dep.quant.vllm_quantization} needs {need} of {repo}: vLLM does not quantise bf16 "
            f"weights to {dep.quant.id} on load. Make one offline (AutoAWQ, GPTQModel or LLM Compressor) or use a "
            "published one, and pass its path or repository instead of the bf16 repository."]


def command_line(args: list[str]) -> str:
    return " ".join(shlex.quote(a) for a in args)
