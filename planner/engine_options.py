"""The engine options `simulate` and `throughput` share, as typer options, and their parsing (planner.engines)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

EngineOpt = Annotated[str, typer.Option(
    "--engine", help="the serving engine simulated: vllm (vLLM V1: its scheduler, defaults and memory accounting), "
                     "trtllm (TensorRT-LLM: its default limits, capacity policy and free-memory KV sizing) or sglang "
                     "(SGLang: its new_token_ratio admission and retraction, its default limits; vLLM's KV sizing)")]
PolicyOpt = Annotated[str | None, typer.Option(
    "--capacity-policy", help="with --engine trtllm: guaranteed-no-evict (TensorRT-LLM's default: admit a request "
                              "only if its whole prompt + output fits, never preempt) or max-utilization (pack the "
                              "cache, pause the newest requests when it runs short)")]
MaxSeqsOpt = Annotated[str | None, typer.Option(
    "--max-num-seqs", help="most requests running at once (vLLM max_num_seqs, TensorRT-LLM max_batch_size, SGLang "
                           "max_running_requests; default: vLLM 1024 on GPUs of >= 70 GiB but A100, else 256; "
                           "TensorRT-LLM 2048; SGLang 2048-4096 by KV cache and context, at most KV tokens / 2)")]
MaxTokensOpt = Annotated[str | None, typer.Option(
    "--max-num-batched-tokens", help="token budget of one engine step, >= --max-num-seqs (vLLM "
                                     "max_num_batched_tokens, TensorRT-LLM max_num_tokens, SGLang "
                                     "chunked_prefill_size; default: vLLM 8192 on GPUs of >= 70 GiB but A100, else "
                                     "2048; TensorRT-LLM 8192; SGLang 8192 on 60-160 GiB GPUs, 16384 above, 4096 / "
                                     "2048 below)")]
MaxLenOpt = Annotated[str | None, typer.Option(
    "--max-model-len", help="longest prompt + output accepted, at most the model's context (default: the model's "
                            "context; 32k = 32768)")]
EngineGpuMemOpt = Annotated[float | None, typer.Option(
    "--gpu-memory-utilization", help="vLLM (and SGLang, sized the same way): fraction of GPU memory the engine may "
                                     "use, in (0, 1] (default 0.9); "
                                     "with --engine trtllm: the fraction of the memory left free after weights and "
                                     "activations that goes to the KV cache (free_gpu_memory_fraction, default 0.9)")]
ConfigOpt = Annotated[Path | None, typer.Option(
    "--config", help="a local Hugging Face config.json or model folder to simulate instead of a catalogue entry "
                     "(MODEL, if given, labels it; never downloads)")]


def knob_values(engine: str, capacity_policy: str | None, max_num_seqs: str | None,
                max_num_batched_tokens: str | None, max_model_len: str | None) -> dict:
    """The engine fields of a request (SimRequest, ThroughputRequest), parsed; checked by planner.engines."""
    from profiler.cli import count_option

    return {"engine": engine.strip().lower(), "capacity_policy": capacity_policy,
            "max_num_seqs": count_option(max_num_seqs, "--max-num-seqs", "sequences"),
            "max_num_batched_tokens": count_option(max_num_batched_tokens, "--max-num-batched-tokens", "tokens"),
            "max_model_len": count_option(max_model_len, "--max-model-len", "tokens")}
