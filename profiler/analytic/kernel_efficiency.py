"""Shape-dependent kernel efficiencies for a per-kernel step-time model, fitted to public kernel measurements.

Each kernel is timed as ``max(bytes / (BW x eta_bw), flops / (F x eta_c)) + floor``; this module gives the
``eta`` of each op as a pure function of its shape. All fits are to ai-dynamo/aiconfigurator@095f58a5
``aic-core/src/aiconfigurator_core/systems/data/<gpu>/...`` parquet tables (latency column in ms, collected
by ``collector/vllm/*`` in CUDA graphs, 6 weight copies rotated per GEMM), re-fitted here with pandas/scipy.
Datasheet BW and FLOP/s are those of the same repo's ``systems/<gpu>.yaml`` (A100 2.039 TB/s, H100 3.35,
H200 4.8, B200 7.7, GB200 8.0, L40S 0.864, RTX PRO 6000 1.792; bf16 dense 312/989/989/2250/362 TFLOP/s).

Unknown GPU ids fall back to the H100 SXM (Hopper) fits, stated per function.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

AIC = "ai-dynamo/aiconfigurator@095f58a5:aic-core/src/aiconfigurator_core/systems/data"

# gpu_id (profiler/catalogues/gpus.yaml ids, plus a few likely additions) -> fit key below.
FAMILY: dict[str, str] = {
    "a100-80gb": "ampere", "a100-40gb": "ampere", "a100-pcie": "ampere", "a10g": "ampere", "rtx-3090": "ampere",
    "h100-sxm": "h100", "h100-pcie": "h100", "h20": "h100", "gh200": "h200", "h200": "h200",
    "b200": "b200", "gb200": "gb200", "l40s": "ada", "l40": "ada", "l4": "ada", "rtx-4090": "ada",
    "rtx-5090": "blackwell-gddr", "rtx-pro-6000": "blackwell-gddr",
}
DEFAULT_FAMILY = "h100"  # GPUs with no measured data (MI300X, MI250X, ...) use the H100 SXM fits
# Apple silicon (gpus.yaml class local): ids m<generation>-... (m3-pro, m4-max-128gb, a --gpus file's m1-max, ...)
APPLE_ID = re.compile(r"^m\d+(-|$)")


def family(gpu_id: str) -> str:
    gid = gpu_id.lower()
    return "apple" if APPLE_ID.match(gid) else FAMILY.get(gid, DEFAULT_FAMILY)


# ---- 0. Apple silicon under llama.cpp's Metal backend -------------------------------------------------------
# No kernel-level tables are public, so the family is fitted end to end: `python benchmarks/llamacpp_check.py
# --fit` on the FITTING split (M1 / M2 chips) of benchmarks/data/llamacpp_published.yaml (llama.cpp discussion
# #4167 llama-bench rows, LLaMA-2 7B; XiongjieDai/GPU-Benchmarks-on-LLM-Inference@00dd2bde LLaMA 3 8B rows),
# never on the M3 / M4 VALIDATION rows. Shapes are flat (no per-kernel size curve: every GEMM and the KV read
# stream at the family's fraction, design choice for want of data); fp16 here, the GGUF ratios in efficiency.py.
APPLE_BANDWIDTH = 0.847  # fitted: achieved / datasheet bandwidth of fp16 weight and KV streaming at batch 1 (TG)
APPLE_COMPUTE = 0.69  # fitted: achieved / dense fp16 peak of the fp16 prompt GEMMs (PP512)
APPLE_LAYER_OVERHEAD_S = 1.76e-04  # fitted: fixed time per decoder layer per step (Metal: no CUDA graphs)
APPLE_SOURCE = ("fitted by benchmarks/llamacpp_check.py --fit on the M1/M2 rows of "
                "benchmarks/data/llamacpp_published.yaml (llama.cpp discussion #4167; XiongjieDai@00dd2bde)")


# ---- 1. memory-bound bf16 GEMM (M <= 16): t = t0 + bytes / (BW x eta_max) --------------------------------
# Equivalently eta(b) = eta_max x b / (b + b_half), b_half = t0 x BW x eta_max. Fitted (weighted least squares,
# relative error) to bf16 rows with m <= 16, n, k >= 1024 and 6 x n x k x 2 > L2 (the collector rotates 6 weight
# copies, so smaller ones are L2-hot; L2: A100 40 MB, H100/H200 50 MB, B200 126 MB, L40S 96 MB, GB202 128 MB).
# key: (t0 s, eta_max, BW of the data GPU B/s, source: file; n rows; median |rel err|, p90)
GEMM_BW_FIT: dict[str, tuple[float, float, float, str]] = {
    "ampere": (5.56e-6, 0.751, 2.039e12, f"{AIC}/a100_sxm/gemm/vllm/0.14.0/gemm_perf.parquet; n=1060; 4.6%, p90 12%"),
    "h100": (3.73e-6, 0.879, 3.35e12, f"{AIC}/h100_sxm/gemm/vllm/0.24.0/gemm_perf.parquet; n=3824; 4.5%, p90 11%"),
    "h200": (3.99e-6, 0.849, 4.8e12, f"{AIC}/h200_sxm/gemm/vllm/0.24.0/gemm_perf.parquet; n=3824; 5.3%, p90 11%"),
    "b200": (3.87e-6, 0.857, 7.7e12, f"{AIC}/b200_sxm/gemm/vllm/0.24.0/gemm_perf.parquet; n=3168; 5.4%, p90 14%"),
    "gb200": (4.13e-6, 0.858, 8.0e12, f"{AIC}/gb200/gemm/vllm/0.24.0/gemm_perf.parquet; n=3168; 4.9%, p90 15%"),
    # L40S: the free fit gives t0 < 0 (L2-hot leftovers); t0 = median latency of GEMMs <= 64 KiB, eta_max from
    # the cold rows (>= 16.8 MB); n=3396; 5.6%, p90 12%.
    "ada": (2.13e-6, 0.783, 0.864e12, f"{AIC}/l40s/gemm/vllm/0.24.0/gemm_perf.parquet"),
    "blackwell-gddr": (2.05e-6, 0.823, 1.792e12,
                       f"{AIC}/rtx_pro_6000_server/gemm/vllm/0.24.0/gemm_perf.parquet; n=3168; 2.2%, p90 6.6%"),
    # t0 = 0: the fixed per-kernel time is in APPLE_LAYER_OVERHEAD_S (fitted per layer), so the curve is flat.
    "apple": (0.0, APPLE_BANDWIDTH, 0.4e12, APPLE_SOURCE),
}


def gemm_bandwidth_efficiency(weight_bytes_per_rank: float, gpu_id: str,
                              hbm_bytes_per_s: float | None = None) -> float:
    """Achieved / datasheet HBM bandwidth of one memory-bound bf16 GEMM streaming `weight_bytes_per_rank` [B].

    ``eta = eta_max x b / (b + t0 x BW x eta_max)`` with (t0, eta_max) of the GPU's family (GEMM_BW_FIT). Pass
    the GPU's own datasheet ``hbm_bytes_per_s`` for a GPU the data lack (its b_half scales with BW); default: the
    BW of the GPU the fit came from. E.g. H100, 64 MiB: 0.879 x 67.1 / (67.1 + 11.0) = 0.755.
    """
    t0, eta_max, bw, _ = GEMM_BW_FIT[family(gpu_id)]
    b_half = t0 * (hbm_bytes_per_s or bw) * eta_max  # bytes at which eta is half of eta_max
    b = max(float(weight_bytes_per_rank), 0.0)
    return eta_max * b / (b + b_half) if b > 0 else 0.0


def gemm_bandwidth_ceiling(gpu_id: str) -> float:
    """eta_max of the GPU's family: the bandwidth efficiency a very large streaming GEMM approaches."""
    return GEMM_BW_FIT[family(gpu_id)][1]


# ---- 2. compute-bound GEMM: eta = eta_max x m/(m+m0) x n/(n+n0) x k/(k+k0) ------------------------------
# Fitted (least squares in log eta) to rows with n, k >= 1024, m >= 64 and arithmetic intensity > 2 x the
# ridge (peak FLOP/s / BW), so memory-bound shapes do not leak in. (eta_max, m0, n0, k0, source; n; median, p90)
GEMM_COMPUTE_FIT: dict[tuple[str, str], tuple[float, float, float, float, str]] = {
    ("ampere", "bf16"): (1.0, 107, 372, 442, f"{AIC}/a100_sxm/gemm/vllm/0.14.0; n=1489; 7.7%, p90 18%"),
    ("h100", "bf16"): (0.829, 6, 44, 212, f"{AIC}/h100_sxm/gemm/vllm/0.24.0; n=7678; 4.0%, p90 10%"),
    ("h100", "fp8"): (0.647, 256, 1517, 210, f"{AIC}/h100_sxm/gemm/vllm/0.24.0 fp8 Cutlass; n=6557; 9.8%, p90 23%"),
    ("h200", "bf16"): (0.827, 17, 60, 214, f"{AIC}/h200_sxm/gemm/vllm/0.24.0; n=8631; 4.3%, p90 11%"),
    ("h200", "fp8"): (0.830, 317, 2236, 509, f"{AIC}/h200_sxm/gemm/vllm/0.24.0 fp8 Cutlass; n=8055; 11%, p90 28%"),
    ("b200", "bf16"): (0.744, 76, 143, 147, f"{AIC}/b200_sxm/gemm/vllm/0.24.0; n=7730; 4.8%, p90 12%"),
    ("b200", "fp8"): (0.840, 236, 4309, 819, f"{AIC}/b200_sxm/gemm/vllm/0.24.0 fp8 Cutlass; n=6626; 6.7%, p90 18%"),
    # NVFP4 (E2M1 weights and activations, E4M3 scale per 16) against the fp4 dense peak, 9000 TFLOP/s; same
    # selection with the nvfp4 bytes (0.5 B per weight) in the intensity test. fp4 GEMMs of these shapes reach
    # about half the fp4 peak, so fp4 is ~1.7x fp8, not 2x.
    ("b200", "fp4"): (0.561, 130, 1625, 651, f"{AIC}/b200_sxm/gemm/vllm/0.24.0 nvfp4; n=2710; 7.0%, p90 16%"),
    ("ada", "bf16"): (0.659, 0, 168, 169, f"{AIC}/l40s/gemm/vllm/0.24.0; n=5823; 9.0%, p90 19%"),
    ("ada", "fp8"): (0.579, 0, 844, 650, f"{AIC}/l40s/gemm/vllm/0.24.0 fp8 Cutlass; n=4433; 5.7%, p90 14%"),
    ("apple", "bf16"): (APPLE_COMPUTE, 0, 0, 0, APPLE_SOURCE),  # flat in shape (see section 0)
}
# Families without their own fit borrow one: GB200 = B200, RTX PRO 6000/5090 = B200 (both sm_100/120 tensor cores
# assumed alike), Ampere fp8 -> not supported in hardware (bf16 used).
_COMPUTE_ALIAS = {"gb200": "b200", "blackwell-gddr": "b200"}


def gemm_compute_efficiency(m_tokens: int, n: int, k: int, dtype: str, gpu_id: str) -> float:
    """Achieved / dense peak FLOP/s of an (m x k) @ (k x n) GEMM in `dtype` ('bf16'/'fp16', 'fp8' or 'fp4').

    E.g. H100 bf16 4096^3: 0.829 x (4096/4102) x (4096/4140) x (4096/4308) = 0.779 (data: 0.837).
    """
    eta_max, m0, n0, k0, _ = _compute_fit(dtype, gpu_id)
    m, n, k = float(m_tokens), float(n), float(k)
    return eta_max * m / (m + m0) * n / (n + n0) * k / (k + k0)


def gemm_compute_ceiling(dtype: str, gpu_id: str) -> float:
    """eta_max of the GPU family's compute fit for `dtype` (bf16 when the family has no fit for it)."""
    return _compute_fit(dtype, gpu_id)[0]


def _compute_fit(dtype: str, gpu_id: str) -> tuple[float, float, float, float, str]:
    """The family's compute fit for `dtype` (fp8*, fp4 or bf16), its bf16 fit when it has none for the dtype."""
    fam = _COMPUTE_ALIAS.get(family(gpu_id), family(gpu_id))
    kind = "fp8" if dtype.startswith("fp8") else "fp4" if dtype.startswith("fp4") else "bf16"
    return GEMM_COMPUTE_FIT.get((fam, kind)) or GEMM_COMPUTE_FIT[(fam, "bf16")]


# ---- 3. grouped (MoE expert) GEMM -----------------------------------------------------------------------
# t = max(bytes / (BW x gemm_bandwidth_efficiency(bytes) x g_bw), flops / (F x eta_c_max x tpe / (tpe + tpe_half)))
# bytes = touched experts x 3 x hidden x inter/tp x 2, tpe = tokens x top_k / touched; fitted to bf16 fused-MoE
# rows, balanced routing, ep=1, inter/tp >= 256, tp <= 8. (g_bw, eta_c_max, tpe_half, source; n; median, p90;
# per-tpe-bin median bias within +-6% on Hopper, +-12% on B200 (-21% above 1536 tokens/expert)).
GROUPED_FIT: dict[str, tuple[float, float, float, str]] = {
    "h100": (0.961, 0.613, 179, f"{AIC}/h100_sxm/moe/vllm/0.24.0/moe_perf.parquet triton; n=1431; 7.3%, p90 40%"),
    "h200": (0.960, 0.649, 129, f"{AIC}/h200_sxm/moe/vllm/0.24.0/moe_perf.parquet triton; n=1458; 9.9%, p90 39%"),
    "b200": (0.978, 0.430, 95, f"{AIC}/b200_sxm/moe/vllm/0.24.0/moe_perf.parquet trtllm bf16; n=1269; 12%, p90 41%"),
}
_GROUPED_ALIAS = {"gb200": "b200", "blackwell-gddr": "b200"}  # ampere/ada: no bf16 balanced data -> H100


# The data GPU of each grouped fit: its bf16 ridge point, dense TFLOP/s / TB/s of systems/*.yaml (989/3.35,
# 989/4.8, 2250/7.7) in FLOP per byte.
GROUPED_FIT_RIDGE = {"h100": 989 / 3.35, "h200": 989 / 4.8, "b200": 2250 / 7.7}


def grouped_fit_ridge(gpu_id: str) -> float:
    """FLOP per byte of the GPU whose grouped-GEMM fit serves `gpu_id`."""
    fam = _GROUPED_ALIAS.get(family(gpu_id), family(gpu_id))
    return GROUPED_FIT_RIDGE.get(fam, GROUPED_FIT_RIDGE["h100"])


@dataclass(frozen=True)
class GroupedGemmEfficiency:
    """bandwidth: multiplier on gemm_bandwidth_efficiency(total touched-expert bytes); compute: achieved / dense
    bf16 peak FLOP/s of the grouped GEMM (absolute, not a multiplier)."""

    bandwidth: float
    compute: float


def grouped_gemm_efficiency(tokens_per_expert: float, gpu_id: str) -> GroupedGemmEfficiency:
    """Efficiency of a bf16 fused-MoE grouped GEMM whose touched experts each see `tokens_per_expert` tokens.

    E.g. H100, 64 tokens/expert: compute 0.613 x 64 / (64 + 179) = 0.161; bandwidth 0.961.
    """
    fam = _GROUPED_ALIAS.get(family(gpu_id), family(gpu_id))
    g_bw, eta_max, tpe_half, _ = GROUPED_FIT.get(fam, GROUPED_FIT["h100"])
    tpe = max(float(tokens_per_expert), 0.0)
    return GroupedGemmEfficiency(bandwidth=g_bw, compute=eta_max * tpe / (tpe + tpe_half))


# ---- 4. TP all-reduce --------------------------------------------------------------------------------------
# NVLink: vLLM's own all-reduce as it runs in CUDA graphs, measured per message size (comm/vllm/*/
# custom_allreduce_perf.parquet, backend vllm_graph: the custom one-/two-shot kernels for small messages, NCCL for
# large ones, whichever vLLM picks). bf16 messages of 2^7 .. 2^29 elements = 256 B .. 1 GiB, doubling; latency in
# us, made non-decreasing in size by a running minimum from the large end (removes single-size spikes such as A100
# TP8 at 4 KiB, 14.9 us between 5.6 and 6.3). Read by log-log interpolation; above 1 GiB linear in bytes. One
# (latency + bytes / busbw) line does not fit both ends: the bus bandwidth rises from ~100 to 400+ GB/s between
# 1 MiB and 128 MiB as NCCL changes protocol, so a line fitted to medians over-predicted large-batch TP steps.
ALLREDUCE_TABLE_BYTES0 = 256  # bytes of the first entry
ALLREDUCE_TABLE: dict[str, tuple[dict[int, tuple[float, ...]], str]] = {
    "NVLink 3": ({
        2: (4.854, 4.854, 4.885, 4.885, 5.017, 5.222, 5.222, 5.222, 5.502, 5.743, 6.569, 7.986,
            10.7, 15.18, 25.24, 89.68, 126.3, 222.2, 388.5, 746.1, 1428, 2799, 5394),
        4: (5.15, 5.165, 5.195, 5.195, 5.332, 5.526, 5.998, 5.998, 6.567, 7.783, 9.913, 14.55,
            18.34, 26.05, 41.48, 118, 182.5, 288.1, 540, 996.3, 1921, 3721, 7295),
        8: (5.622, 5.622, 5.622, 5.622, 6.323, 6.323, 6.537, 6.905, 8.433, 11.35, 17.13, 18.86,
            21.71, 27.93, 45.37, 129, 214.2, 364.3, 594.2, 1161, 2170, 4223, 8251),
    }, f"{AIC}/a100_sxm/comm/vllm/0.14.0/custom_allreduce_perf.parquet (A100-SXM4-80GB)"),
    "NVLink 4": ({
        2: (4.183, 4.183, 4.183, 4.214, 4.3, 4.376, 4.436, 4.436, 4.515, 4.751, 5.18, 6.315,
            8.34, 12.38, 20.24, 44.96, 81.42, 156.3, 306.7, 468.8, 885.4, 1706, 3219),
        4: (4.517, 4.517, 4.548, 4.578, 4.703, 4.81, 4.832, 4.904, 5.234, 5.8, 7.178, 11.4,
            12.76, 18.6, 30.25, 53.53, 98.77, 191.2, 329.9, 618.8, 1180, 2305, 4535),
        8: (4.608, 4.608, 4.608, 4.649, 5.108, 5.108, 5.31, 5.581, 6.411, 7.864, 10.79, 11.99,
            14.97, 19.39, 30.81, 50.7, 92.38, 177.8, 344, 577.4, 1091, 2117, 4009),
    }, f"{AIC}/h100_sxm/comm/vllm/0.24.0/custom_allreduce_perf.parquet (H100 80GB HBM3)"),
    "NVLink 5": ({
        2: (6.587, 6.587, 6.868, 6.972, 6.972, 6.993, 7.006, 7.006, 7.083, 7.404, 7.659, 9.437,
            13.12, 25.34, 33.67, 50.55, 57.43, 87.16, 155.1, 280.4, 528.6, 1005, 1899),
        4: (6.671, 6.671, 6.985, 7.073, 7.132, 7.132, 7.363, 7.395, 7.395, 8.06, 8.629, 18.02,
            18.42, 23.76, 29.96, 43.23, 68.01, 119, 187.4, 352.9, 680.6, 1291, 2511),
        8: (7.332, 7.332, 7.463, 7.463, 7.791, 7.824, 8.073, 8.216, 8.641, 9.361, 17.17, 17.17,
            17.17, 20.72, 26.31, 39.24, 63.21, 111.3, 222.8, 442.3, 715, 1337, 2604),
    }, f"{AIC}/b200_sxm/comm/vllm/0.24.0/custom_allreduce_perf.parquet (B200)"),
}
# Line fits t = lat(tp) + 2 (tp - 1) / tp x bytes / busbw(tp) where no vLLM table is usable: {tp: (lat s, busbw B/s)}
ALLREDUCE: dict[str, tuple[dict[int, tuple[float, float]], str]] = {
    # One L40S server: NCCL busbw 10 / 3 / 1 GB/s at TP2/4/8, but its GPUs sit across CPU sockets with no P2P
    # beyond pairs, a worst case; the TP2 bus bandwidth (10 GB/s, a pair under one switch) is kept at TP4/8. lat:
    # median of bf16 messages <= 8 KiB of the vllm_graph series; busbw: median NCCL busbw of messages >= 64 MiB.
    "PCIe Gen4 x16": ({2: (5.65e-6, 10e9), 4: (14.2e-6, 10e9), 8: (27.05e-6, 10e9)},
                      f"{AIC}/l40s/comm/vllm/0.22.0 + comm/nccl/2.27.3 (L40S)"),
    "PCIe Gen5 x16": ({2: (4.54e-6, 19e9), 4: (13.25e-6, 13e9), 8: (26.26e-6, 12e9)},
                      f"{AIC}/rtx_pro_6000_server/comm/vllm/0.24.0 + comm/nccl/2.29.2 (RTX PRO 6000 Server)"),
    # ASSUMED, no verified public single-node RCCL table found: latency = AIC systems/*.yaml p2p_latency 10 us;
    # busbw = (tp - 1) XGMI links x 64 GB/s/dir (ROCm docs, MI300X fully connected, 7 links) x 0.8 (NCCL-like).
    "Infinity Fabric": ({2: (10e-6, 51e9), 4: (10e-6, 154e9), 8: (10e-6, 358e9)},
                        "assumed: see comment; replace with a measured rccl-tests all_reduce_perf table"),
}
ALLREDUCE_FALLBACK = "PCIe Gen4 x16"  # unknown interconnect strings


def _interconnect_key(interconnect: str) -> str:
    for key in (*ALLREDUCE_TABLE, *ALLREDUCE):
        if interconnect.lower().startswith(key.lower()):
            return key
    if interconnect.lower().startswith("nvlink"):  # no generation given: the slowest measured one, NVLink 3
        return "NVLink 3"
    return ALLREDUCE_FALLBACK


def _table_time_s(row: tuple[float, ...], message_bytes: float) -> float:
    """Log-log interpolation of one measured row (us at 256 B x 2^i) at `message_bytes` [s]."""
    pos = math.log2(max(float(message_bytes), ALLREDUCE_TABLE_BYTES0) / ALLREDUCE_TABLE_BYTES0)
    last = len(row) - 1
    if pos >= last:
        return row[last] * 1e-6 * float(message_bytes) / (ALLREDUCE_TABLE_BYTES0 * 2**last)
    i = int(pos)
    frac = pos - i
    return math.exp((1 - frac) * math.log(row[i]) + frac * math.log(row[min(i + 1, last)])) * 1e-6


def allreduce_time_s(message_bytes: float, tp: int, interconnect: str) -> float:
    """Time [s] of one all-reduce of `message_bytes` over `tp` GPUs; 0 at tp=1. tp between measured sizes
    uses the next smaller measured tp (3 -> 2, 6 -> 4), above 8 the tp=8 figures.

    E.g. NVLink 4, TP8, 8 KiB (2^5 x 256 B): the table's 5.108 us; 64 MiB (2^18 x 256 B): 344 us (busbw 341 GB/s).
    PCIe Gen4, TP8, 8 KiB: 27.05 us + 2 x 7/8 x 8192 / 10e9 = 28.48 us.
    """
    if tp <= 1:
        return 0.0
    key = _interconnect_key(interconnect)
    if key in ALLREDUCE_TABLE:
        rows, _ = ALLREDUCE_TABLE[key]
        return _table_time_s(rows[max(t for t in rows if t <= tp)], message_bytes)
    table, _ = ALLREDUCE[key]
    lat, busbw = table[max(t for t in table if t <= tp)]
    return lat + 2.0 * (tp - 1) / tp * float(message_bytes) / busbw


# ---- 5. paged-attention decode ---------------------------------------------------------------------------
# eta = eta_max x B / (B + b_half), B = batch x KV bytes per sequence per layer. From the H100 FA3 table
# (generation_attention_perf, 32 q heads / 8 KV heads / d 128, bf16 KV): eta_max 0.92 = the plateau at
# B >= 256 MB (0.86-0.93); b_half 27 MB from batch 1 at 8k context (B = 33.5 MB, eta 0.51) and batch 8 at 1k
# (33.5 MB, 0.55). Short contexts (< ~512 tokens) at large batch run below this (per-sequence cost, e.g. 0.38
# at batch 128 x 128 tokens): a bytes-only form over-predicts them. Other GPUs: same form, not fitted.
ATTENTION_DECODE = (0.92, 27e6, f"{AIC}/h100_sxm/attention/vllm/0.24.0/generation_attention_perf.parquet")


# Apple: the KV read streams at the family's fitted fraction, no size curve (design choice, section 0).
ATTENTION_DECODE_FAMILY = {"apple": (APPLE_BANDWIDTH, 0.0, APPLE_SOURCE)}


def attention_decode_bandwidth_efficiency(kv_bytes_per_seq_layer: float, batch: int, gpu_id: str) -> float:
    """Achieved / datasheet BW of one decode attention kernel reading `batch` x `kv_bytes_per_seq_layer` [B]."""
    eta_max, b_half, _ = ATTENTION_DECODE_FAMILY.get(family(gpu_id), ATTENTION_DECODE)
    b = max(float(kv_bytes_per_seq_layer) * batch, 0.0)
    return eta_max * b / (b + b_half) if b > 0 else 0.0


# ---- 6. prefill attention (FlashAttention forward, causal, head dim 128, bf16, long sequences) -----------
# Achieved / dense bf16 peak, read off the papers' forward-pass benchmark figures at 8k-16k tokens:
# FlashAttention-2 (Dao, arXiv 2307.08691, Fig. 4: A100 causal hdim 128 ~ 190 of 312 TFLOP/s = 0.61) for Ampere
# and Ada (vLLM runs FA2 there); FlashAttention-3 (Shah et al., arXiv 2407.08608, Fig. 5: H100 causal hdim 128
# BF16 ~ 640 of 989 TFLOP/s = 0.65) for Hopper; Blackwell: no published vLLM figure, the Hopper value assumed.
ATTENTION_PREFILL: dict[str, float] = {"ampere": 0.61, "ada": 0.61, "h100": 0.65, "h200": 0.65,
                                       "apple": APPLE_COMPUTE}  # apple: assumed = its GEMM fraction (no data)
ATTENTION_PREFILL_DEFAULT = 0.65  # other families (assumed, see above)


def attention_prefill_compute_efficiency(gpu_id: str) -> float:
    """Achieved / dense bf16 peak FLOP/s of causal FlashAttention prefill on this GPU's family."""
    return ATTENTION_PREFILL.get(family(gpu_id), ATTENTION_PREFILL_DEFAULT)


SOURCES: dict[str, str] = {
    "ai-dynamo/aiconfigurator@095f58a51c4ca8e61b66ec108d86f223f8d559ce": (
        "aic-core/src/aiconfigurator_core/systems/data/{a100_sxm,h100_sxm,h200_sxm,b200_sxm,gb200,l40s,"
        "rtx_pro_6000_server}/{gemm,moe,comm,attention}/... parquet; systems/*.yaml for datasheet BW/FLOP/s; "
        "collector/vllm/collect_gemm.py for the method (CUDA graphs, 6 rotated weight copies)"),
    "microsoft/vidur": "fetched, not used (time box): data/profiling/compute/{a100,h100}/*/mlp.csv, attention.csv",
}
