"""vLLM launch arguments for a planned replica (vLLM v1 `vllm serve` flag names)."""

from __future__ import annotations

import math
import shlex

from planner.capacity import CHUNK_TOKENS, Capacity
from planner.step_model import Deployment


def max_model_len(dep: Deployment, longest_request_tokens: float) -> int:
    """The p99 request (prompt + output) rounded up to 1,024 tokens, within the model's limit."""
    want = int(math.ceil(longest_request_tokens / 1024) * 1024)
    return max(1024, min(want, dep.model.max_context))


def vllm_args(dep: Deployment, capacity: Capacity, longest_request_tokens: float) -> list[str]:
    """Flags for `vllm serve MODEL ...` reproducing the planned configuration."""
    repo = dep.model.hf_config.get("hf_repo") or dep.model.hf_config.get("_name_or_path") or dep.model.name
    args = [
        "vllm", "serve", str(repo),
        "--tensor-parallel-size", str(dep.tp),
        "--max-num-seqs", str(max(1, capacity.batch)),
        "--max-model-len", str(max_model_len(dep, longest_request_tokens)),
        "--gpu-memory-utilization", f"{dep.eff.gpu_memory_utilization:.2f}",
        "--max-num-batched-tokens", str(CHUNK_TOKENS),
        "--enable-chunked-prefill",
    ]
    if dep.quant.vllm_quantization:
        args += ["--quantization", dep.quant.vllm_quantization]
    if dep.kv_dtype.value == "fp8":
        args += ["--kv-cache-dtype", "fp8"]
    return args


def command_line(args: list[str]) -> str:
    return " ".join(shlex.quote(a) for a in args)
