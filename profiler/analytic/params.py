"""Exact parameter counts from a ModelSpec: every weight tensor the model holds, as groups of equal tensors.

The inventory lists what ``transformers``' ``AutoModelForCausalLM`` registers as parameters, so

    sum(group.numel for group in tensor_inventory(spec)) == sum(p.numel() for p in model.parameters())

for every catalogue model (checked with ``==`` on the meta device in tests/profiler/analytic/test_params_exact.py,
in the manner of karpathy/nanoGPT transformer_sizing.ipynb). Shapes are per tensor, linear weights as
(out_features, in_features). Fused checkpoint tensors (Phi-3 ``qkv_proj``/``gate_up_proj``, the stacked
``experts.gate_up_proj`` of transformers' MoE blocks) are listed unfused: the count is the same, and the
unfused form is what quantisation (grouping along in_features) and tensor parallelism split.

Not counted, because transformers does not register them as parameters: rotary inverse frequencies,
Gemma's embedding scale, DeepSeek-V3's ``e_score_correction_bias`` (a buffer) and its multi-token-prediction
layer (not built).

Active parameters per token: everything except routed experts, which count at ``top_k`` of
``num_experts`` in each MoE layer; shared experts, router and embeddings always count.
``active_excl_embedding`` leaves out the input embedding table as well (a token's row is gathered, not
multiplied), which is how vendors quote active parameters: OpenAI's gpt-oss model card counts "5.1B active"
for gpt-oss-120b with the unembedding but not the embedding, and DeepSeek-V3's "37B activated" is the same count.
A tied table is the lm_head too, so it stays in.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

from profiler.specs import TENSOR_KINDS, ModelSpec

TP_SPLITS = ("col", "row", "kv", "vocab", "replicate")


@dataclass(frozen=True)
class TensorGroup:
    """``count`` tensors of one ``shape`` that play the same role in the model.

    ``tp_split`` says how tensor parallelism shards one tensor (vLLM's layers): ``col`` splits the output
    dim, ``row`` the input dim, ``kv`` splits over KV heads (replicated when KV heads < TP), ``vocab``
    splits embedding / lm_head rows, ``replicate`` keeps a full copy on every rank (norms, router, MLA
    down-projections, row-parallel biases).
    """

    name: str  # e.g. "layers.self_attn.q_proj.weight"
    kind: str  # one of TENSOR_KINDS
    shape: tuple[int, ...]  # one tensor; linear weights are (out_features, in_features)
    count: int  # tensors of this shape in the whole model (layers x experts x ...)
    linear: bool  # a GEMM weight a quant scheme may quantise; in_features = shape[-1]
    tp_split: str  # one of TP_SPLITS
    per_layer: bool  # lives in the decoder layers (False: embedding, final norm, lm_head)
    # decoder layers [first, stop) the `count` tensors are spread over evenly (count / (stop - first) per layer);
    # (0, 0) for tensors outside the decoder layers
    layers: tuple[int, int] = (0, 0)

    @property
    def numel(self) -> int:
        return math.prod(self.shape) * self.count


@dataclass(frozen=True)
class ParamCounts:
    """Parameter totals of one model (plain counts, not bytes)."""

    total: int  # every registered parameter, tied embedding counted once
    active: int  # used per token: routed experts at top_k, embedding and lm_head included
    active_excl_embedding: int  # `active` less the input embedding gather (vendors' "active"; a tied table stays)
    embedding: int  # the token embedding (the tied lm_head too, when tied)
    lm_head: int  # 0 when tied to the embedding
    by_kind: dict[str, int] = field(hash=False)  # every TENSOR_KINDS entry, 0 where absent


def _linear(name: str, kind: str, out_f: int, in_f: int, count: int, split: str,
            bias: bool = False, bias_split: str | None = None) -> list[TensorGroup]:
    """One nn.Linear(in_f, out_f) repeated `count` times, and its bias when it has one.

    A column-parallel linear shards its bias with the output; a row-parallel one keeps the whole bias
    on every rank (vLLM RowParallelLinear), so by default the bias of a "row" linear is replicated.
    """
    groups = [TensorGroup(f"{name}.weight", kind, (out_f, in_f), count, True, split, True)]
    if bias:
        b_split = bias_split or ("replicate" if split in ("row", "replicate") else split)
        groups.append(TensorGroup(f"{name}.bias", "bias", (out_f,), count, False, b_split, True))
    return groups


def _vector(name: str, kind: str, width: int, count: int, split: str = "replicate") -> TensorGroup:
    return TensorGroup(name, kind, (width,), count, False, split, True)


def _spread(groups: list[TensorGroup], first: int, stop: int) -> list[TensorGroup]:
    """The groups, marked as spread evenly over decoder layers [first, stop)."""
    return [replace(g, layers=(first, stop)) for g in groups]


def _attention(spec: ModelSpec) -> list[TensorGroup]:
    """q/k/v/o projections (or MLA's low-rank ones), their biases, q/k norms and sinks, for all layers."""
    att, h, n = spec.attention, spec.hidden_size, spec.num_layers
    p = "layers.self_attn"
    if att.is_mla:
        groups = _mla(spec)
    else:
        q_out = att.num_heads * att.head_dim  # query heads x head width
        kv_out = att.num_kv_heads * att.head_dim  # key (and value) heads x head width
        groups = [
            *_linear(f"{p}.q_proj", "attention", q_out, h, n, "col", att.qkv_bias),
            *_linear(f"{p}.k_proj", "attention", kv_out, h, n, "kv", att.qkv_bias),
            *_linear(f"{p}.v_proj", "attention", kv_out, h, n, "kv", att.qkv_bias),
        ]
    v_in = att.num_heads * att.v_dim  # concatenated value heads feed the output projection
    groups += _linear(f"{p}.o_proj", "attention", h, v_in, n, "row", att.o_bias)
    if att.qk_norm:  # Qwen3: RMSNorm over head_dim on every q and k head, weights shared across heads
        groups += [_vector(f"{p}.q_norm.weight", "norm", att.head_dim, n),
                   _vector(f"{p}.k_norm.weight", "norm", att.head_dim, n)]
    if att.sinks:  # gpt-oss: one learned sink logit per query head, sharded with the heads
        groups.append(_vector(f"{p}.sinks", "sink", att.num_heads, n, "col"))
    return _spread(groups, 0, n)


def _mla(spec: ModelSpec) -> list[TensorGroup]:
    """DeepSeek-V2/V3 multi-head latent attention, without o_proj (HF DeepseekV3Attention).

    Bias (attention_bias, carried as qkv_bias) exists only on q_a_proj and kv_a_proj_with_mqa.
    """
    att, h, n = spec.attention, spec.hidden_size, spec.num_layers
    p = "layers.self_attn"
    q_out = att.num_heads * att.qk_head_dim  # heads x (nope + rope) query width
    if att.q_lora_rank:
        groups = [
            *_linear(f"{p}.q_a_proj", "attention", att.q_lora_rank, h, n, "replicate", att.qkv_bias),
            _vector(f"{p}.q_a_layernorm.weight", "norm", att.q_lora_rank, n),
            *_linear(f"{p}.q_b_proj", "attention", q_out, att.q_lora_rank, n, "col"),
        ]
    else:
        groups = _linear(f"{p}.q_proj", "attention", q_out, h, n, "col")
    latent = att.kv_lora_rank + att.qk_rope_head_dim  # compressed KV latent + the shared rope key
    kv_b_out = att.num_heads * (att.qk_nope_head_dim + att.v_head_dim)  # per-head nope key + value
    return groups + [
        *_linear(f"{p}.kv_a_proj_with_mqa", "attention", latent, h, n, "replicate", att.qkv_bias),
        _vector(f"{p}.kv_a_layernorm.weight", "norm", att.kv_lora_rank, n),
        *_linear(f"{p}.kv_b_proj", "attention", kv_b_out, att.kv_lora_rank, n, "col"),
    ]


def _mlp(prefix: str, kind: str, width: int, hidden: int, count: int, gated: bool,
         bias: bool) -> list[TensorGroup]:
    """A (Swi/Ge)GLU MLP: gate and up (hidden -> width, column-parallel), down (width -> hidden, row)."""
    ins = ("gate_proj", "up_proj") if gated else ("up_proj",)
    groups = [g for name in ins for g in _linear(f"{prefix}.{name}", kind, width, hidden, count, "col", bias)]
    return groups + _linear(f"{prefix}.down_proj", kind, hidden, width, count, "row", bias)


def _feed_forward(spec: ModelSpec) -> list[TensorGroup]:
    """Dense MLPs, and for MoE layers the router, routed experts and shared experts."""
    h, moe = spec.hidden_size, spec.moe
    dense_layers = spec.num_layers if moe is None else moe.first_dense_layers
    dense = []
    if dense_layers:
        dense = _spread(_mlp("layers.mlp", "mlp", spec.intermediate_size, h, dense_layers, spec.gated_mlp,
                             spec.mlp_bias), 0, dense_layers)
    if moe is None:
        return dense
    n_moe = spec.num_layers - moe.first_dense_layers
    if n_moe <= 0:
        return dense
    p = "layers.mlp"
    groups = _linear(f"{p}.gate", "router", moe.num_experts, h, n_moe, "replicate", moe.router_bias)
    if moe.router_score_bias:  # DeepSeek-V3 remote code: e_score_correction_bias as an nn.Parameter
        groups.append(_vector(f"{p}.gate.e_score_correction_bias", "router", moe.num_experts, n_moe))
    groups += _mlp(f"{p}.experts", "expert", moe.expert_intermediate, h, n_moe * moe.num_experts,
                   spec.gated_mlp, moe.expert_bias)
    if moe.num_shared_experts:  # HF: one MLP of num_shared x shared_intermediate width
        width = moe.num_shared_experts * moe.shared_intermediate
        groups += _mlp(f"{p}.shared_experts", "shared_expert", width, h, n_moe, spec.gated_mlp, False)
    if moe.shared_expert_gate:  # Qwen2-MoE: sigmoid gate, Linear(hidden, 1)
        groups += _linear(f"{p}.shared_expert_gate", "router", 1, h, n_moe, "replicate")
    return dense + _spread(groups, moe.first_dense_layers, spec.num_layers)


def _norms(spec: ModelSpec) -> list[TensorGroup]:
    """Per-layer norms (input/post-attention; Gemma2 adds pre/post-feedforward) and the final norm."""
    per_layer = spec.num_layers * spec.norms_per_layer
    names = ["weight", "bias"] if spec.norm_bias else ["weight"]
    layer = _spread([_vector(f"layers.layernorms.{w}", "norm", spec.hidden_size, per_layer) for w in names],
                    0, spec.num_layers)
    final = [TensorGroup(f"norm.{w}", "norm", (spec.hidden_size,), 1, False, "replicate", False)
             for w in names]
    return layer + final


def tensor_inventory(spec: ModelSpec) -> tuple[TensorGroup, ...]:
    """Every parameter tensor of the model, grouped; tied embeddings appear once (kind "embedding")."""
    vocab = (spec.vocab_size, spec.hidden_size)  # one row per token id
    groups = [TensorGroup("embed_tokens.weight", "embedding", vocab, 1, True, "vocab", False)]
    groups += _attention(spec) + _feed_forward(spec) + _norms(spec)
    if not spec.tie_word_embeddings:
        groups.append(TensorGroup("lm_head.weight", "lm_head", vocab, 1, True, "vocab", False))
    return tuple(groups)


def expert_params_per_expert_layer(spec: ModelSpec) -> int:
    """Parameters of ONE routed expert in ONE MoE layer, weights and biases (0 for a dense model)."""
    moe = spec.moe
    if moe is None:
        return 0
    mats = 3 if spec.gated_mlp else 2  # gate, up, down (or up, down), each hidden x expert_intermediate
    weights = mats * spec.hidden_size * moe.expert_intermediate
    biases = (mats - 1) * moe.expert_intermediate + spec.hidden_size if moe.expert_bias else 0
    return weights + biases


def moe_layers(spec: ModelSpec) -> int:
    """Decoder layers whose feed-forward is a mixture of experts."""
    return 0 if spec.moe is None else max(0, spec.num_layers - spec.moe.first_dense_layers)


def param_counts(spec: ModelSpec) -> ParamCounts:
    """Total, active-per-token, embedding, lm_head and per-kind parameter counts."""
    by_kind = dict.fromkeys(TENSOR_KINDS, 0)
    for group in tensor_inventory(spec):
        by_kind[group.kind] += group.numel
    total = sum(by_kind.values())
    idle = 0  # routed experts a token does not visit: (E - top_k) per MoE layer
    if spec.moe is not None:
        unvisited = spec.moe.num_experts - spec.moe.top_k
        idle = unvisited * expert_params_per_expert_layer(spec) * moe_layers(spec)
    gathered = 0 if spec.tie_word_embeddings else by_kind["embedding"]  # a tied table is the lm_head's matmul too
    return ParamCounts(total=total, active=total - idle, active_excl_embedding=total - idle - gathered,
                       embedding=by_kind["embedding"], lm_head=by_kind["lm_head"], by_kind=by_kind)
