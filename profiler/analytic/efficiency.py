"""Default efficiency factors of the analytic timing model, each with its source, and their lookup.

Order of precedence for (gpu, quant): a user calibration file written by ``inferplan calibrate``
(:mod:`profiler.analytic.calibration`) > the defaults below. Defaults are deliberately the
published figures for the implementation a serving engine runs (CUDA graphs, fused kernels); a
measured sweep on your GPU replaces them.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from profiler.specs import Efficiency

# The per-kernel step model (profiler.analytic.timing) scales these ceilings by each kernel's shape
# (profiler.analytic.kernel_efficiency): bandwidth and compute below are what a LARGE kernel reaches.
# bf16 ceilings are the GPU family's fitted eta_max (kernel_efficiency.GEMM_BW_FIT / GEMM_COMPUTE_FIT, from
# aiconfigurator's measured vLLM GEMMs). A quantised format's ceiling is the bf16 one times its ratio here.

# Weight-streaming ceiling of a quantised GEMV relative to bf16 streaming (same bytes, dequantising kernels).
BANDWIDTH_RATIO: dict[str, tuple[float, str]] = {
    "bf16": (1.0, "the family's bf16 ceiling"),
    "fp16": (1.0, "as bf16"),
    "fp8": (0.85, "torchao README @bcb3ff6af: vLLM fp8 rowwise decode 1.214x bf16 on H100 at batch 128 "
                  "(measurement.md §4, §6.5) -> 0.68 of peak against bf16 0.80 = 0.85"),
    "int8": (0.780, "fitted: `python benchmarks/fidelity.py --fit-ratios` (fit_bandwidth_ratio: median "
                    "measured/predicted batch-1 rate of the int8 rows of the FITTING split of "
                    "benchmarks/data/fidelity_measurements.yaml, gpt-fast int8 weight-only on A100: 70B TP8, 405B TP8, "
                    "Mixtral TP2) from a start of 0.69 (gpt-fast 1030-1151 GB/s of 2039 vs bf16 0.80)"),
    "int4": (0.808, "fitted: `python benchmarks/fidelity.py --fit-ratios`, as int8, on the int4 rows of the "
                    "FITTING split (gpt-fast/torchao tinygemm int4, A100: Llama-2-7B, Llama-2-70B, Llama-3-8B) from a "
                    "start of 0.50 (gpt-fast 751-863 GB/s of 2039 vs bf16 0.80)"),
    "mxfp4": (0.808, "no published figure found; assumed equal to int4 weight-only until calibrated"),
    "nvfp4": (0.808, "no published figure found; assumed equal to int4 weight-only until calibrated"),
    "w8a8": (0.85, "assumed equal to fp8 (an int8 GEMM with per-token activation scales, no dequantisation)"),
    # llama.cpp GGUF block formats (kernel families below), relative to the family's fp16 streaming: fitted on
    # Apple silicon (benchmarks/llamacpp_check.py --fit, M1/M2 rows only), taken as the format's kernel ratio on
    # any GPU until a calibration replaces it.
    "gguf-q8": (1.05, "fitted: `python benchmarks/llamacpp_check.py --fit` (Q8_0 tg rows, M1/M2, llama.cpp #4167)"),
    "gguf-q4": (0.967, "fitted: `python benchmarks/llamacpp_check.py --fit` (Q4_0 and Q4_K_M tg rows, M1/M2, "
                       "llama.cpp #4167 and XiongjieDai@00dd2bde)"),
}

# Compute ceiling of a quantised GEMM relative to the bf16 one at the quant's compute dtype: fp8 has its own
# measured fit (kernel_efficiency.GEMM_COMPUTE_FIT), so 1.0; weight-only formats dequantise into bf16 GEMMs.
COMPUTE_RATIO: dict[str, tuple[float, str]] = {
    "bf16": (1.0, "the family's bf16 ceiling"),
    "fp16": (1.0, "as bf16"),
    "fp8": (1.0, "kernel_efficiency fp8 fit (vLLM Cutlass fp8 GEMMs) where the family has one"),
    "int8": (0.91, "torchao README @bcb3ff6af: vLLM int8 weight-only prefill 0.912x bf16"),
    "int4": (0.83, "assumed: dequantising W4A16 GEMMs below int8's 0.91 (no published H100 prefill ratio found)"),
    "mxfp4": (0.83, "assumed equal to int4 weight-only"),
    "nvfp4": (1.0, "native fp4 tensor cores: kernel_efficiency fp4 fit (vLLM nvfp4 GEMMs, B200) where the family "
                   "has one, else the bf16 family's efficiency at the fp4 peak (assumed)"),
    "w8a8": (1.0, "native int8 tensor cores at the bf16 family's efficiency (assumed)"),
    "gguf-q8": (0.911, "fitted: `python benchmarks/llamacpp_check.py --fit` (Q8_0 pp512 rows, M1/M2)"),
    "gguf-q4": (0.869, "fitted: `python benchmarks/llamacpp_check.py --fit` (Q4_0 and Q4_K_M pp512 rows, M1/M2)"),
}

# llama.cpp GGUF ids -> kernel family. q8_0 alone; the 4-6 bit block formats share one family: llama.cpp's Metal
# K-quant GEMVs stream at about Q4_0's bytes/s (ggml-org/llama.cpp PR #1778 commit notes, M2 Max 30-core: Q4_K
# 28.1 ms/token vs Q4_0 27 ms; "Q6_K ... 28.3 ms / token ... 290 GB/s"), so q4_k_m / q5_k_m / q6_k take the
# ratios fitted on Q4_0 and Q4_K_M rows (q5_k_m, q6_k: assumed, no rows of their own).
GGUF_FAMILY = {"q8_0": "gguf-q8", "q4_0": "gguf-q4", "q4_k_s": "gguf-q4", "q4_k_m": "gguf-q4", "q5_k_m": "gguf-q4",
               "q6_k": "gguf-q4"}


def kernel_family(quant_id: str) -> str:
    """The kernel family of a quant id: int4-g64 -> int4, fp8-fbgemm / fp8-block -> fp8, w8a8-int8 -> w8a8,
    q4_k_m -> gguf-q4, q8_0 -> gguf-q8."""
    if quant_id.lower() in GGUF_FAMILY:
        return GGUF_FAMILY[quant_id.lower()]
    head = quant_id.split("-")[0].lower()
    return head if head in BANDWIDTH_RATIO else "bf16"


# Fixed time per engine step: CUDA-graph launch, sampling, scheduler. measurement.md §6.3 estimates
# "tens of microseconds" with CUDA graphs; 40 us is used (estimate) until a calibration replaces it.
STEP_OVERHEAD_S = (40e-6, "estimate: measurement.md §6.3, graph launch + sampling are tens of us")

# Fixed time per transformer layer per step of the small kernels besides the GEMMs and attention (two fused
# add+RMSNorms, rotary, SiLU x mul: kernels.MISC_LAUNCHES_PER_LAYER); the GEMMs' and attention's own floors are
# inside their shape curves (kernel_efficiency).
LAYER_OVERHEAD_S = (4 * 2.13e-6, "4 small kernels x 2.13 us: the median latency of GEMMs <= 64 KiB on L40S in "
                                 "CUDA graphs (kernel_efficiency.GEMM_BW_FIT 'ada', aiconfigurator data), a tiny "
                                 "kernel's floor; AIC systems/h100_sxm.yaml's mem_empirical_constant_latency is 3 us")


# vLLM default --gpu-memory-utilization.
GPU_MEMORY_UTILIZATION = (0.90, "vLLM EngineArgs default gpu_memory_utilization=0.9 (anchors.md §2.10)")
# Apple silicon keeps it too: llama.cpp has no memory fraction (it allocates weights, KV context and compute buffers
# within Metal's recommendedMaxWorkingSetSize, which the Apple rows' memory already is), but the memory accounting
# is vLLM's (context and activations in the 10% headroom, memory.py), and llama.cpp's compute buffers are not
# modelled: keeping 0.9 leaves them that room (design choice, conservative: "will it fit" errs towards no).


def _overheads(gpu_id: str) -> tuple[float, float]:
    """(step, per-layer) fixed times: a serving engine's in CUDA graphs, or llama.cpp on Metal for Apple silicon
    (no CUDA graphs; the whole fixed cost fitted per layer, kernel_efficiency.APPLE_LAYER_OVERHEAD_S, step 0)."""
    from profiler.analytic import kernel_efficiency as ke

    if ke.family(gpu_id) == "apple":
        return 0.0, ke.APPLE_LAYER_OVERHEAD_S
    return STEP_OVERHEAD_S[0], LAYER_OVERHEAD_S[0]


def default_efficiency(gpu_id: str, quant_id: str, compute_dtype: str = "") -> Efficiency:
    """The published defaults for a (GPU, quant): the GPU family's measured bf16 ceilings (fp8 compute: its own
    fit) times the quant's ratios. `compute_dtype` defaults to the quant family's (fp8 for fp8 schemes)."""
    from profiler.analytic import kernel_efficiency as ke

    fam = kernel_family(quant_id)
    bw_ratio, bw_src = BANDWIDTH_RATIO[fam]
    c_ratio, c_src = COMPUTE_RATIO[fam]
    dtype = compute_dtype or ("fp8" if fam == "fp8" else "bf16")
    ceiling_bw = ke.gemm_bandwidth_ceiling(gpu_id)
    step_s, layer_s = _overheads(gpu_id)
    return Efficiency(
        bandwidth=ceiling_bw * bw_ratio,
        compute=ke.gemm_compute_ceiling(dtype, gpu_id) * c_ratio,
        step_overhead_s=step_s,
        kv_bandwidth=ceiling_bw,
        layer_overhead_s=layer_s,
        gpu_memory_utilization=GPU_MEMORY_UTILIZATION[0],
        source=f"defaults ({gpu_id}/{quant_id}): {ke.family(gpu_id)} kernel ceilings (kernel_efficiency); "
               f"bandwidth x {bw_ratio} ({bw_src}); compute x {c_ratio} ({c_src}); per-layer floor: "
               f"{ke.APPLE_SOURCE if ke.family(gpu_id) == 'apple' else LAYER_OVERHEAD_S[1]}",
    )


def efficiency_for(gpu_id: str, quant_id: str, calibration_path: str | Path | None = None,
                   gpu_memory_utilization: float | None = None) -> Efficiency:
    """Calibrated factors when a calibration file has this (gpu, quant), else the defaults; either way with the
    file's calibrated TP all-reduce lines for the GPU when it has them (Efficiency.allreduce)."""
    from profiler.analytic.calibration import calibrated_collectives, load_calibration  # numpy/yaml, no torch

    eff = (load_calibration(gpu_id, quant_id, calibration_path)
           or calibrated_collectives(default_efficiency(gpu_id, quant_id), gpu_id, calibration_path))
    if gpu_memory_utilization is not None:
        eff = replace(eff, gpu_memory_utilization=gpu_memory_utilization)
    return eff
