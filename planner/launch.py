"""Launch lines for a planned replica, in each engine's own flag names.

- vLLM V1: ``vllm serve MODEL --tensor-parallel-size ... --max-num-seqs ... --max-model-len ...``.
- TensorRT-LLM: ``trtllm-serve serve MODEL --backend pytorch --tp_size --max_batch_size --max_num_tokens
  --max_seq_len --kv_cache_free_gpu_memory_fraction --enable_chunked_prefill`` (the click options of
  NVIDIA/TensorRT-LLM tensorrt_llm/commands/serve.py ``serve``; chunked prefill is off by default there and the
  plan assumes it). Its KV dtype has no flag: ``kv_cache_config: {dtype: fp8}`` in an ``--extra_llm_api_options``
  YAML (a note says so).
- SGLang: ``python -m sglang.launch_server --model-path MODEL --tp-size --max-running-requests --chunked-prefill-size
  --context-length --mem-fraction-static --max-total-tokens [--quantization] [--kv-cache-dtype fp8_e4m3]``
  (python/sglang/srt/server_args.py). ``--mem-fraction-static`` is the static pool (weights + KV) as a share of the
  GPU's memory, here the planner's KV budget plus the weights (planner.engines: SGLang is sized like vLLM), and
  ``--max-total-tokens`` pins the KV pool to the tokens the plan counted.
"""

from __future__ import annotations

import math
import shlex
from pathlib import Path

from planner.capacity import CHUNK_TOKENS, MAX_MODEL_LEN_STEP, Capacity, launch_max_model_len
from planner.step_model import Deployment
from profiler.analytic import memory
from profiler.specs import ModelSpec, QuantScheme

ENGINES = ("vllm", "trtllm", "sglang")  # the engines a plan (and the simulator, planner.engines) can stand for
LAUNCHERS = {"vllm": "vLLM", "trtllm": "TensorRT-LLM", "sglang": "SGLang"}
SEQS_FLAG = {"vllm": "--max-num-seqs", "trtllm": "--max_batch_size", "sglang": "--max-running-requests"}


def max_model_len(dep: Deployment, longest_request_tokens: float, kv_capacity_tokens: int = 0) -> int:
    """The p99.9 request rounded up, within the model's context (planner.capacity.launch_max_model_len)."""
    return launch_max_model_len(longest_request_tokens, dep.model.max_context, kv_capacity_tokens)


CONFIG_SOURCE = "config.json at "  # profiler.catalogue.model_from_config's source prefix for a local model folder


def _model_repo(model: ModelSpec) -> str:
    """What the engine loads: a model read from a local folder is served from that folder (the path the user gave
    holds its config.json, and the weights beside it); a catalogue model from its Hugging Face repository."""
    if model.source.startswith(CONFIG_SOURCE):
        folder = Path(model.source.removeprefix(CONFIG_SOURCE)).parent
        return str(folder) if folder.is_absolute() or str(folder) == "." else f"./{folder}"  # a path, not a repo id
    return str(model.hf_config.get("hf_repo") or model.hf_config.get("_name_or_path") or model.name)


def _repo(dep: Deployment) -> str:
    return _model_repo(dep.model)


def is_native(dep: Deployment) -> bool:
    """The plan serves the released checkpoint in its own quantised format (models.yaml checkpoint_quant)."""
    return bool(dep.model.checkpoint_quant) and dep.quant.id == dep.model.checkpoint_quant


def _quant_flag(dep: Deployment) -> str | None:
    """--quantization value, or None: bf16, and a checkpoint served in its own format, whose config.json
    quantization_config the engine reads (a flag naming another method is refused, :func:`checkpoint_conflict`)."""
    return None if is_native(dep) else dep.quant.vllm_quantization


def checkpoint_conflict(model: ModelSpec, quant: QuantScheme) -> str:
    """Why `quant` cannot be planned for `model`'s released checkpoint, or "" when it can.

    A checkpoint released quantised (checkpoint_quant: gpt-oss's MXFP4 experts, DeepSeek-V3's block FP8) is
    served in that format: vLLM refuses a --quantization that differs from the checkpoint's quantization_config
    ("Quantization method specified in the model config (...) does not match the quantization method specified
    in the `quantization` argument (...)", vllm-project/vllm vllm/config/model.py ModelConfig._verify_quantization;
    SGLang raises the same message), and with no flag it loads the checkpoint's own format, so a plan in any other
    format sizes weights the engine never holds.
    """
    ckpt = model.checkpoint_quant
    if not ckpt or quant.id == ckpt:
        return ""
    flag = f"--quantization {quant.vllm_quantization}" if quant.vllm_quantization else f"{quant.id} weights"
    return (f"{_model_repo(model)} ships {ckpt} weights, which vLLM and SGLang serve only as {ckpt} (they refuse "
            f"{flag} for it: the checkpoint's quantization_config wins); plan --quant native, or describe a "
            f"checkpoint of it stored in {quant.id} in a --models file")


def _seqs(capacity: Capacity) -> int:
    return max(1, capacity.max_num_seqs or capacity.batch)


def launch_args(engine: str, dep: Deployment, capacity: Capacity, longest_request_tokens: float) -> list[str]:
    """The launch line of `engine` (vllm | trtllm | sglang) for the planned replica."""
    return {"vllm": vllm_args, "trtllm": trtllm_args, "sglang": sglang_args}[engine](dep, capacity,
                                                                                      longest_request_tokens)


def startup_log(engine: str, dep: Deployment, capacity: Capacity, longest_request_tokens: float) -> list[str]:
    """The lines vLLM V1 logs at start-up (on each GPU of the replica) when launched with :func:`launch_args`: the
    weights it loaded, the KV cache memory and tokens, and the concurrency at max_model_len
    (profiler.analytic.memory.engine_log_lines, which cites the vLLM files that print them). A user checks the
    plan against a real server's log in one glance. [] for TensorRT-LLM and SGLang, whose logs say it otherwise."""
    if engine != "vllm":
        return []
    budget = memory.memory_budget(dep.model, dep.gpu, dep.quant, dep.kv_dtype, dep.tp, dep.eff)
    mml = max_model_len(dep, longest_request_tokens, capacity.kv_capacity_tokens)
    return memory.engine_log_lines(budget, dep.model, dep.kv_dtype, dep.tp, mml)


def launch_notes(engine: str, dep: Deployment) -> list[str]:
    """What the launch line assumes that its flags cannot say."""
    notes = vllm_notes(dep) if engine == "vllm" else _checkpoint_notes(engine, dep)
    if is_native(dep):
        notes.append(f"{_repo(dep)} is served in its own {dep.quant.id} format, which the engine reads from the "
                     "checkpoint's quantization_config: no --quantization flag")
    notes.append(length_note(engine, dep))
    if engine == "trtllm" and dep.kv_dtype.value == "fp8":
        notes.append("an fp8 KV cache has no trtllm-serve flag: pass --extra_llm_api_options with a YAML holding "
                     "`kv_cache_config: {dtype: fp8}`")
    return notes


LENGTH_FLAG = {"vllm": "--max-model-len", "trtllm": "--max_seq_len", "sglang": "--context-length"}


def length_note(engine: str, dep: Deployment) -> str:
    """How requests longer than the launch line's length limit (:func:`max_model_len`) are handled."""
    flag = LENGTH_FLAG[engine]
    refused = ("vLLM refuses a longer prompt with an HTTP 400 error and, when max_tokens is not set, stops the "
               "output at the limit (vllm-project/vllm vllm/v1/engine/input_processor.py: _validate_prompt_len, "
               "and max_tokens = max_model_len - prompt)"
               if engine == "vllm" else f"it is the longest prompt + output {LAUNCHERS[engine]} accepts")
    return (f"{flag} is the workload's p99.9 request (prompt + output) rounded up to {MAX_MODEL_LEN_STEP:,} tokens, "
            f"the longest the replicas were sized to hold, not the whole KV cache: about 0.1% of requests are longer "
            f"and refused; {refused}. To serve longer requests "
            f"raise {flag} "
            f"(up to the model's {dep.model.max_context:,}) and re-plan with the longer lengths (--input-tokens, "
            "--output-tokens), as each long request holds KV and prefill time the sizing did not count")


def trtllm_args(dep: Deployment, capacity: Capacity, longest_request_tokens: float) -> list[str]:
    """Flags for `trtllm-serve serve MODEL ...` (PyTorch backend) reproducing the planned configuration."""
    return ["trtllm-serve", "serve", _repo(dep), "--backend", "pytorch", "--tp_size", str(dep.tp),
            "--max_batch_size", str(_seqs(capacity)), "--max_num_tokens", str(CHUNK_TOKENS),
            "--max_seq_len", str(max_model_len(dep, longest_request_tokens, capacity.kv_capacity_tokens)),
            "--kv_cache_free_gpu_memory_fraction", f"{memory.TRTLLM_FREE_GPU_MEMORY_FRACTION:.2f}",
            "--enable_chunked_prefill"]


def sglang_args(dep: Deployment, capacity: Capacity, longest_request_tokens: float) -> list[str]:
    """Flags for `python -m sglang.launch_server ...` reproducing the planned configuration."""
    budget = memory.memory_budget(dep.model, dep.gpu, dep.quant, dep.kv_dtype, dep.tp, dep.eff)
    kv_tokens = capacity.kv_capacity_tokens or budget.kv_capacity_tokens
    static = math.ceil((budget.weights_bytes + max(budget.kv_budget_bytes, 0)) / budget.hbm_bytes * 100) / 100
    args = ["python", "-m", "sglang.launch_server", "--model-path", _repo(dep), "--tp-size", str(dep.tp),
            "--max-running-requests", str(_seqs(capacity)), "--chunked-prefill-size", str(CHUNK_TOKENS),
            "--context-length", str(max_model_len(dep, longest_request_tokens, kv_tokens)),
            "--mem-fraction-static", f"{min(static, 0.99):.2f}", "--max-total-tokens", str(kv_tokens)]
    if _quant_flag(dep):
        args += ["--quantization", _quant_flag(dep)]
    if dep.kv_dtype.value == "fp8":
        args += ["--kv-cache-dtype", "fp8_e4m3"]
    return args


def _checkpoint_notes(engine: str, dep: Deployment) -> list[str]:
    need = PREQUANTISED.get(dep.quant.id)
    if is_native(dep):
        return []
    if engine == "trtllm" and dep.quant.id not in ("bf16", "native"):
        source = f"NVIDIA ModelOpt, or {need}" if need else "NVIDIA ModelOpt"
        return [f"trtllm-serve loads {dep.quant.id} weights from a checkpoint quantised offline ({source}): pass its "
                f"path instead of {_repo(dep)}"]
    if engine == "sglang" and need is not None:
        return [f"--quantization {dep.quant.vllm_quantization} needs {need} of {_repo(dep)}; pass its path"]
    return []


# llama.cpp GGUF schemes: vLLM serves one GGUF file (a local path, or `repo_id:QUANT` from the hub) with the base
# model's tokenizer, and needs the vllm-gguf-plugin (docs.vllm.ai features/quantization/gguf, read 2026-12-03:
# "vllm serve ./Qwen3-0.6B-Q4_K_M.gguf --tokenizer Qwen/Qwen3-0.6B"; "GGUF support has migrated to OOT
# vllm-gguf-plugin"; "highly experimental and under-optimized"). The file's quant type names the format: no flag.
GGUF = "gguf"


def _gguf_file(dep: Deployment) -> str:
    return f"./{_repo(dep).rsplit('/', 1)[-1]}-{dep.quant.id.upper()}.gguf"


def vllm_args(dep: Deployment, capacity: Capacity, longest_request_tokens: float) -> list[str]:
    """Flags for `vllm serve MODEL ...` reproducing the planned configuration."""
    repo = _repo(dep)
    gguf = dep.quant.vllm_quantization == GGUF
    args = [
        "vllm", "serve", _gguf_file(dep) if gguf else str(repo), *(["--tokenizer", str(repo)] if gguf else []),
        "--tensor-parallel-size", str(dep.tp),
        "--max-num-seqs", str(_seqs(capacity)),
        "--max-model-len", str(max_model_len(dep, longest_request_tokens, capacity.kv_capacity_tokens)),
        "--gpu-memory-utilization", f"{dep.eff.gpu_memory_utilization:.2f}",
        "--max-num-batched-tokens", str(CHUNK_TOKENS),
        "--enable-chunked-prefill",
    ]
    if _quant_flag(dep) and not gguf:
        args += ["--quantization", _quant_flag(dep)]
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
    repo = _repo(dep)
    if dep.quant.vllm_quantization == GGUF:
        return [f"{_gguf_file(dep)} is a llama.cpp {dep.quant.id.upper()} file of {repo} (convert it with llama.cpp's "
                "convert_hf_to_gguf.py and llama-quantize, or download a published one; `REPO:"
                f"{dep.quant.id.upper()}` loads it from the hub); vLLM needs `pip install vllm-gguf-plugin` and calls "
                "its GGUF support experimental and under-optimised (docs.vllm.ai, quantization/gguf)"]
    need = PREQUANTISED.get(dep.quant.id)
    if need is None or is_native(dep):
        return []
    return [f"--quantization {dep.quant.vllm_quantization} needs {need} of {repo}: vLLM does not quantise bf16 "
            f"weights to {dep.quant.id} on load. Make one offline (AutoAWQ, GPTQModel or LLM Compressor) or use a "
            "published one, and pass its path or repository instead of the bf16 repository."]


def command_line(args: list[str]) -> str:
    return " ".join(shlex.quote(a) for a in args)
