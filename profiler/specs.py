"""Frozen records that describe what is profiled: a model, a GPU, a quantisation scheme, efficiencies.

Every modelling function in :mod:`profiler.analytic` is a pure function of these records.
They are inert: no I/O, no defaults read from files. :mod:`profiler.catalogue` builds them.

Units are in the field names (``_bytes``, ``_per_s``, ``_s``); byte counts are exact integers,
fractional bytes (4-bit weights) are carried as bits and rounded only at the end.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from fractions import Fraction
from typing import Any

# ---------------------------------------------------------------------------------------------
# Model
# ---------------------------------------------------------------------------------------------


# Kinds of weight tensor, used to say which ones a quant scheme keeps in bf16 (quants.yaml `keep`).
TENSOR_KINDS = ("embedding", "lm_head", "attention", "mlp", "expert", "shared_expert", "router", "norm", "bias", "sink")
# GEMM dtypes a GPU may list in GpuSpec.tflops and a QuantScheme may compute in (gpus.yaml / quants.yaml check them).
COMPUTE_DTYPES = ("bf16", "fp16", "fp8", "int8", "fp4")


class LayerType(str, Enum):
    """How a decoder layer's attention sees the past (transformers ``config.layer_types`` names)."""

    FULL = "full_attention"
    SLIDING = "sliding_attention"


@dataclass(frozen=True)
class AttentionSpec:
    """Attention shape of one decoder layer.

    GQA/MQA/MHA: ``num_heads`` query heads of ``head_dim``, ``num_kv_heads`` key/value heads.
    MLA (DeepSeek-V2/V3): ``kv_lora_rank`` > 0; the serving engine caches one latent of
    ``kv_lora_rank + qk_rope_head_dim`` values per token per layer; queries go through a
    ``q_lora_rank`` bottleneck when it is set.
    Sliding window: ``sliding_window`` tokens for layers whose ``layer_types`` entry is SLIDING.
    """

    num_heads: int
    num_kv_heads: int
    head_dim: int
    qkv_bias: bool = False
    o_bias: bool = False
    qk_norm: bool = False  # per-head RMSNorm on q and k (Qwen3): 2 × head_dim weights per layer
    sinks: bool = False  # learned per-head attention sink logits (gpt-oss): num_heads weights per layer
    # MLA (0 = not MLA)
    kv_lora_rank: int = 0
    q_lora_rank: int = 0  # 0 = queries projected directly from the hidden state
    qk_nope_head_dim: int = 0
    qk_rope_head_dim: int = 0
    v_head_dim: int = 0
    # sliding window
    sliding_window: int | None = None
    layer_types: tuple[LayerType, ...] = ()  # empty = every layer FULL

    @property
    def is_mla(self) -> bool:
        return self.kv_lora_rank > 0

    @property
    def qk_head_dim(self) -> int:
        """Width of one query/key head (MLA: nope + rope part)."""
        return self.qk_nope_head_dim + self.qk_rope_head_dim if self.is_mla else self.head_dim

    @property
    def v_dim(self) -> int:
        """Width of one value head."""
        return self.v_head_dim if self.is_mla else self.head_dim

    def layer_type(self, layer: int) -> LayerType:
        return self.layer_types[layer] if self.layer_types else LayerType.FULL


@dataclass(frozen=True)
class MoeSpec:
    """Mixture-of-experts feed-forward.

    ``num_experts`` routed experts of width ``expert_intermediate``, ``top_k`` chosen per token,
    ``num_shared_experts`` always-on experts of width ``shared_intermediate`` (DeepSeek), and the
    first ``first_dense_layers`` layers using a dense MLP of the model's ``intermediate_size``.
    """

    num_experts: int
    top_k: int
    expert_intermediate: int
    num_shared_experts: int = 0
    shared_intermediate: int = 0
    first_dense_layers: int = 0
    router_bias: bool = False  # a bias on the router linear (gpt-oss)
    router_score_bias: bool = False  # an E-vector correction bias stored as a parameter (DeepSeek-V3)
    expert_bias: bool = False  # biases on the expert projections (gpt-oss)
    shared_expert_gate: bool = False  # a 1-wide sigmoid gate on the shared expert (Qwen2-MoE)


@dataclass(frozen=True)
class ModelSpec:
    """One model's architecture: the only description of a model in inferplan.

    Field names follow Hugging Face ``config.json`` where one exists. ``hf_config`` keeps the raw
    config fields the entry was read from, so the measured profiler can rebuild the transformers
    model exactly; the analytic model never reads it.
    """

    name: str
    model_type: str  # transformers model_type: llama, qwen2, gemma2, deepseek_v3, gpt_oss, ...
    hidden_size: int
    num_layers: int
    intermediate_size: int  # dense MLP width (MoE: the dense-layer width, if any)
    vocab_size: int
    attention: AttentionSpec
    moe: MoeSpec | None = None
    tie_word_embeddings: bool = False
    mlp_bias: bool = False
    gated_mlp: bool = True  # SwiGLU/GeGLU: gate, up, down (3 matrices); False = up, down
    norms_per_layer: int = 2  # RMSNorm/LayerNorm weight vectors of width hidden per layer
    norm_bias: bool = False  # LayerNorm with bias
    max_context: int = 4096
    source: str = ""
    # quant id of the released checkpoint (models.yaml; "" = bf16), what the quant id `native` stands for. Not part
    # of the architecture: left out of equality, so a config.json of the same model compares equal.
    checkpoint_quant: str = field(default="", compare=False)
    hf_config: dict[str, Any] = field(default_factory=dict, compare=False, hash=False, repr=False)

    @property
    def is_moe(self) -> bool:
        return self.moe is not None

    def layer_is_moe(self, layer: int) -> bool:
        return self.moe is not None and layer >= self.moe.first_dense_layers


# ---------------------------------------------------------------------------------------------
# GPU
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class GpuSpec:
    """One accelerator, per GPU. ``tflops`` maps a compute dtype (bf16, fp8, int8, fp4) to dense TFLOP/s."""

    id: str
    name: str
    hbm_bytes: int
    hbm_bandwidth_bytes_per_s: float
    tflops: dict[str, float] = field(hash=False)
    interconnect_bytes_per_s: float  # per direction, GPU to GPU inside a node (NVLink, or PCIe without it)
    interconnect: str
    tdp_w: float
    gpus_per_node: int = 8
    vendor: str = "nvidia"
    source: str = ""
    # "consumer" (GeForce: the driver licence bars datacenter use, gpus.yaml `class`), "local" (Apple silicon
    # laptops/desktops: no ECC, no datacenter support) or "datacenter"; a plan considers consumer and local GPUs
    # only when the user names them (planner.search), and marks such a plan not for production
    gpu_class: str = "datacenter"

    def peak_flops(self, dtype: str) -> float:
        """Dense FLOP/s for a compute dtype; falls back to bf16 when the GPU has no faster path."""
        return self.tflops.get(dtype, self.tflops["bf16"]) * 1e12

    def supports(self, dtype: str) -> bool:
        return dtype in self.tflops


# ---------------------------------------------------------------------------------------------
# Quantisation
# ---------------------------------------------------------------------------------------------


class KvDtype(str, Enum):
    BF16 = "bf16"
    FP8 = "fp8"

    @property
    def bytes(self) -> int:
        return {KvDtype.BF16: 2, KvDtype.FP8: 1}[self]


@dataclass(frozen=True)
class QuantScheme:
    """How weights are stored.

    A quantised matrix of ``rows × cols`` (out × in features) holds ``weight_bits`` per value plus,
    per group of ``group_size`` values along the input dimension (``0`` = one group per row,
    i.e. per-channel), ``scale_bits`` and ``zero_bits``. Tensors whose kind is in ``keep`` stay
    in ``unquantised_bits`` (bf16). ``compute_dtype`` is the GEMM dtype used for the FLOP roofline.

    A llama.cpp GGUF type stores whole blocks only: with ``fallback`` set, a row whose ``cols`` is not a multiple
    of ``group_size`` is stored in the fallback format (ggml-org/llama.cpp src/llama-quant.cpp
    tensor_type_fallback: Q4_K -> Q5_0, Q5_K -> Q5_1, Q6_K -> Q8_0). ``tensor_formats`` is a llama.cpp mix
    (Q4_K_M): named tensors in selected layers stored in another format (:class:`TensorFormat`, applied by
    profiler.analytic.weights).
    """

    id: str
    weight_bits: int
    group_size: int = 0
    scale_bits: int = 0
    zero_bits: int = 0
    keep: frozenset[str] = frozenset()
    unquantised_bits: int = 16
    compute_dtype: str = "bf16"
    requires: str = ""  # GPU compute dtype the scheme needs natively ("" = any GPU), e.g. fp8
    vllm_quantization: str = ""  # value for vLLM --quantization ("" = none)
    source: str = ""
    # Decoder layers whose linear tensors all stay in `unquantised_bits` (-1 = the last layer), as Meta's FBGEMM FP8
    # checkpoints keep layers 0 and L-1; checked against a model's layer count when applied (weights.py).
    keep_layers: tuple[int, ...] = ()
    # 2-D block scales: one scale per `block_rows` output rows x `group_size` inputs (DeepSeek-V3 fp8: 128 x 128);
    # 0 = a scale (and zero point) per row per group, as before.
    block_rows: int = 0
    tensor_scale_bits: int = 0  # one more scale per whole matrix (NVFP4's fp32 per-tensor scale: 32)
    # Whole blocks only (llama.cpp): rows whose width is not a multiple of group_size use this format instead.
    fallback: QuantScheme | None = None
    # Per-tensor, per-layer overrides in order, a later one winning (llama.cpp's Q4_K_M / Q5_K_M mixes).
    tensor_formats: tuple[TensorFormat, ...] = ()

    def stored_as(self, cols: int) -> QuantScheme:
        """The format a row of ``cols`` inputs is stored in: this one, or its ``fallback`` (followed on) when the row
        does not fill whole blocks of ``group_size``."""
        if self.fallback is not None and self.group_size and cols % self.group_size:
            return self.fallback.stored_as(cols)
        return self

    def bits_per_weight(self, cols: int) -> Fraction:
        """Average stored bits per value of a quantised row of ``cols`` inputs, metadata included.

        For 2-D block scales (``block_rows`` > 0) this is the asymptotic figure of a matrix whose rows fill whole
        blocks; :meth:`tensor_bits` gives the exact total of one matrix."""
        if self.stored_as(cols) is not self:
            return self.stored_as(cols).bits_per_weight(cols)
        if self.weight_bits >= self.unquantised_bits:
            return Fraction(self.weight_bits)
        group = self.group_size or cols
        groups = -(-cols // group)  # ceil
        per_group = Fraction(groups * (self.scale_bits + self.zero_bits), cols)
        return Fraction(self.weight_bits) + (per_group / self.block_rows if self.block_rows else per_group)

    def tensor_bits(self, rows: int, cols: int) -> Fraction:
        """Exact stored bits of one quantised ``rows x cols`` matrix: values plus a scale (and zero point) per
        group of ``group_size`` inputs in each row, or per ``block_rows x group_size`` block (ceil at the edges)."""
        if self.stored_as(cols) is not self:
            return self.stored_as(cols).tensor_bits(rows, cols)
        if self.weight_bits >= self.unquantised_bits:
            return Fraction(rows * cols * self.weight_bits)
        if not self.block_rows:
            return rows * cols * self.bits_per_weight(cols) + self.tensor_scale_bits
        blocks = -(-rows // self.block_rows) * -(-cols // (self.group_size or cols))  # ceil x ceil
        return Fraction(rows * cols * self.weight_bits + blocks * (self.scale_bits + self.zero_bits)
                        + self.tensor_scale_bits)


# quants.yaml tensor_formats: the layer selections (`layers:`) and the model fields a `when:` may test.
# llama.cpp-use-more-bits: src/llama-quant.cpp llama_tensor_get_type_impl's use_more_bits(i_layer, n_layers):
# i < n/8 or i >= 7n/8 or (i - n/8) % 3 == 2 (integer division), the layers whose attn_v / ffn_down Q4_K_M and
# Q5_K_M store in Q6_K; llama.cpp-first-eighth: i < n/8 (Q4_K_S's ffn_down in Q5_K).
LAYER_SELECTIONS = ("all", "llama.cpp-use-more-bits", "llama.cpp-first-eighth")
WHEN_FIELDS = ("model_type", "num_layers", "num_experts", "tie_word_embeddings")
# Names a tensor_formats entry may list: the linear weights profiler.analytic.params.tensor_inventory emits
# (TensorGroup.name; tests/profiler/analytic/test_gguf_sizes.py checks the list against every catalogue model).
LINEAR_TENSOR_NAMES = (
    "embed_tokens.weight", "lm_head.weight",
    *(f"layers.self_attn.{p}.weight" for p in ("q_proj", "k_proj", "v_proj", "o_proj", "q_a_proj", "q_b_proj",
                                                "kv_a_proj_with_mqa", "kv_b_proj")),
    *(f"layers.mlp.{m}{p}.weight" for m in ("", "experts.", "shared_experts.")
      for p in ("gate_proj", "up_proj", "down_proj")),
    "layers.mlp.gate.weight", "layers.mlp.shared_expert_gate.weight",
)


@dataclass(frozen=True)
class TensorFormat:
    """One quants.yaml ``tensor_formats`` entry: the tensors named (TensorGroup names) in the selected decoder
    layers are stored in ``format`` when the model matches every ``when`` condition ((field, allowed values)
    pairs, fields from WHEN_FIELDS). ``layers``: a LAYER_SELECTIONS name or explicit layer indices (-1 = the last);
    tensors outside the decoder layers (embedding, lm_head) match "all" only."""

    tensors: tuple[str, ...]
    format: QuantScheme
    layers: str | tuple[int, ...] = "all"
    when: tuple[tuple[str, tuple[Any, ...]], ...] = ()


# ---------------------------------------------------------------------------------------------
# Efficiency
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Efficiency:
    """Achievable fractions of datasheet peaks and fixed overheads for one (GPU, quant).

    Defaults and their sources live in :mod:`profiler.analytic.efficiency`; a calibration fit
    replaces them and names its file in ``source``.
    """

    bandwidth: float  # achieved / datasheet HBM bandwidth streaming this quant's weights
    compute: float  # achieved / datasheet dense FLOP/s on prefill GEMMs
    step_overhead_s: float  # fixed time per engine step (launch, sampling, scheduler)
    # The defaults below stand for profiler.analytic.efficiency's (the GPU family's bandwidth ceiling,
    # LAYER_OVERHEAD_S, sources there); default_efficiency always sets them. TP all-reduce time is
    # profiler.analytic.kernel_efficiency.allreduce_time_s per interconnect, not an efficiency factor, unless a
    # calibration fitted a line for this GPU (`allreduce` below).
    kv_bandwidth: float = 0.8  # achieved / datasheet HBM bandwidth streaming the KV cache (attention kernels)
    layer_overhead_s: float = 8.52e-6  # per-layer floor of the small kernels (LAYER_OVERHEAD_S); calibration keeps it
    # Calibrated only (None otherwise): p90 relative latency error of the fit away from its points, to other
    # batches/contexts and to other models of the family (profiler.analytic.calibration_bands), and the models
    # the fit was measured on. Calibrated analytic rows carry latency_ms_spread = band x latency_ms.
    latency_band: float | None = None
    model_band: float | None = None
    calibrated_models: tuple[str, ...] = ()
    gpu_memory_utilization: float = 0.9  # vLLM default --gpu-memory-utilization
    source: str = ""
    # Calibrated TP all-reduce lines of this GPU, (tp, latency_s, busbw_bytes_per_s) each, from `inferplan calibrate`
    # (profiler.analytic.collective_fit); a step at tp uses the line of the largest fitted tp <= tp, and the
    # catalogue's per-interconnect time (kernel_efficiency.allreduce_time_s) when none is fitted. () = catalogue.
    allreduce: tuple[tuple[int, float, float], ...] = ()

    def band_for(self, model: str) -> float | None:
        """The latency band that applies to `model`: the point band for a measured model, else the larger of
        the point and cross-model bands (None when uncalibrated or unknown)."""
        if self.latency_band is None:
            return None
        if model in self.calibrated_models or self.model_band is None:
            return self.latency_band
        return max(self.latency_band, self.model_band)
