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

# Achieved / datasheet HBM bandwidth when streaming weights in decode, per weight format.
BANDWIDTH_EFFICIENCY: dict[str, tuple[float, str]] = {
    "bf16": (0.80, "aiconfigurator systems/*.yaml mem_bw_empirical_scaling_factor 0.8; "
                   "gpt-fast A100 bf16 compiled 0.82 of empirical peak (measurement.md §6.5)"),
    "fp16": (0.80, "as bf16"),
    "fp8": (0.68, "torchao README @bcb3ff6af (measurement.md §4, §6.5): vLLM fp8 rowwise decode 1.214x bf16 on H100, "
                  "128 prompts x 2048 out; reproduced by this model (KV at the plain rate, bf16 at 0.80) for "
                  "llama-3.1-8b at batch 128 with eta 0.68 at a mean context of 1,024 (0.57-0.83 for 512-1,536; the "
                  "prompt length is not stated)"),
    "int8": (0.55, "gpt-fast/torchao README: int8 weight-only fused by Inductor 1030-1151 GB/s of 2039 on A100 "
                   "= 0.51-0.56 at batch 1 (measurement.md §6.5); the vLLM + torchao int8-wo run at batch "
                   "128 (0.652x bf16) implies ~0.18 there: dequantising GEMVs lose efficiency with batch"),
    "int4": (0.40, "gpt-fast/torchao README: int4 weight-only g32/g64 751-863 GB/s of 2039 = 0.37-0.42 "
                   "(tinygemm, A100, batch 1); no published Marlin/AWQ H100 figure in the references"),
    "mxfp4": (0.40, "no published figure found; assumed equal to int4 weight-only until calibrated"),
}

# Achieved / datasheet HBM bandwidth of plain streaming: attention reading the KV cache (bf16/fp8 whatever the
# weight format) and bf16 GEMVs over the tensors a scheme leaves unquantised (lm_head, embedding, router...).
KV_BANDWIDTH_EFFICIENCY = (BANDWIDTH_EFFICIENCY["bf16"][0],
                           "as bf16 weight streaming (FlashAttention/FlashInfer decode kernels are bandwidth-bound "
                           "reads of contiguous pages; measurement.md §6.3)")

# Achieved / datasheet dense FLOP/s of prefill GEMMs (T >= 1k tokens), per weight format.
COMPUTE_EFFICIENCY: dict[str, tuple[float, str]] = {
    "bf16": (0.60, "measurement.md §6.5: prefill eta_flops 0.55-0.7 for T >= 1k; H100 GEMM ceiling 0.81"),
    "fp16": (0.60, "as bf16"),
    "fp8": (0.45, "torchao README @bcb3ff6af: vLLM fp8 prefill 1.464x bf16 on H100 -> 0.60 x 1.464 x 989/1978 = 0.44"),
    "int8": (0.55, "torchao README @bcb3ff6af: vLLM int8 weight-only prefill 0.912x bf16 -> 0.60 x 0.912 = 0.55"),
    "int4": (0.50, "assumed: dequantising W4A16 GEMMs below int8's 0.55 (no published H100 prefill ratio found)"),
    "mxfp4": (0.50, "assumed equal to int4 weight-only"),
}

# Fixed time per engine step: CUDA-graph launch, sampling, scheduler. measurement.md §6.3 estimates
# "tens of microseconds" with CUDA graphs; 40 us is used (estimate) until a calibration replaces it.
STEP_OVERHEAD_S = (40e-6, "estimate: measurement.md §6.3, graph launch + sampling are tens of us")

# Fixed time per transformer layer per step: each streaming op (qkv, attention, o-proj, gate-up, down) costs
# at least a constant latency however few bytes it moves, which is what bounds small models and tiny batches.
LAYER_OVERHEAD_S = (5 * 3e-6, "AIC systems/h100_sxm.yaml mem_empirical_constant_latency 3 us per memory op "
                              "(hardware_and_prices.md §1 notes; anchors.md); 5 such ops per layer (design count)")

# Achieved / datasheet GPU-to-GPU link bandwidth for TP all-reduce.
INTERCONNECT_EFFICIENCY = (0.8, "InferSim hardware/gpu.py derates NVLink/RDMA x0.8 (anchors.md §2.12)")

# Per-collective latency of one all-reduce step.
COLLECTIVE_LATENCY_S = (10e-6, "aiconfigurator h100_sxm.yaml: 10 us p2p latency (anchors.md, aiconfigurator)")

# vLLM default --gpu-memory-utilization.
GPU_MEMORY_UTILIZATION = (0.90, "vLLM EngineArgs default gpu_memory_utilization=0.9 (anchors.md §2.10)")


def default_efficiency(gpu_id: str, quant_id: str) -> Efficiency:
    """The published defaults for a (GPU, quant); the same on every GPU until calibrated."""
    bw, bw_src = BANDWIDTH_EFFICIENCY.get(quant_id, BANDWIDTH_EFFICIENCY["bf16"])
    fl, fl_src = COMPUTE_EFFICIENCY.get(quant_id, COMPUTE_EFFICIENCY["bf16"])
    return Efficiency(
        bandwidth=bw,
        compute=fl,
        step_overhead_s=STEP_OVERHEAD_S[0],
        interconnect=INTERCONNECT_EFFICIENCY[0],
        kv_bandwidth=KV_BANDWIDTH_EFFICIENCY[0],
        layer_overhead_s=LAYER_OVERHEAD_S[0],
        gpu_memory_utilization=GPU_MEMORY_UTILIZATION[0],
        source=f"defaults ({gpu_id}/{quant_id}): bandwidth: {bw_src}; compute: {fl_src}; "
               f"KV bandwidth: {KV_BANDWIDTH_EFFICIENCY[1]}; per-layer floor: {LAYER_OVERHEAD_S[1]}",
    )


def efficiency_for(gpu_id: str, quant_id: str, calibration_path: str | Path | None = None,
                   gpu_memory_utilization: float | None = None) -> Efficiency:
    """Calibrated factors when a calibration file has this (gpu, quant), else the defaults."""
    from profiler.analytic.calibration import load_calibration  # pure numpy/yaml, no torch

    eff = load_calibration(gpu_id, quant_id, calibration_path) or default_efficiency(gpu_id, quant_id)
    if gpu_memory_utilization is not None:
        eff = replace(eff, gpu_memory_utilization=gpu_memory_utilization)
    return eff
