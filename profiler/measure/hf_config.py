"""ModelSpec -> transformers config, to build the model the spec describes (random weights, no download).

    hf_fields(spec)              -> dict of config.json fields (pure Python, no transformers needed)
    to_transformers_config(spec) -> transformers PretrainedConfig (imports transformers lazily)

When ``spec.hf_config`` still describes the spec (a catalogue entry or a config.json, unmodified), its
raw fields are used as they are. Otherwise (a spec built by hand, or changed with dataclasses.replace)
the architecture fields are written from the spec, keeping the raw file's other fields (rope, norm eps,
activation...). Either way the fields are read back through
:func:`profiler.hf_mapping.spec_from_hf_config` and must give the same spec, so the model transformers
builds is the one the analytic model counts.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from profiler.errors import ProfilerError
from profiler.hf_mapping import FAMILIES, NOT_HF_FIELDS, spec_from_hf_config, window_all_layers
from profiler.specs import LayerType, ModelSpec

# Raw fields never passed to transformers: inferplan's own keys, and fields that would make
# from_config quantise, pick a dtype or ask for remote code instead of building the plain model.
DROPPED_FIELDS = (*NOT_HF_FIELDS, "hf_repo", "quantization_config", "torch_dtype", "dtype", "auto_map")


def _filtered(raw: dict) -> dict[str, Any]:
    return {k: v for k, v in raw.items() if k not in DROPPED_FIELDS}


def _same(spec: ModelSpec, fields: dict) -> bool:
    try:
        back = spec_from_hf_config(spec.name, fields, spec.source)
    except ProfilerError:
        return False
    return replace(back, source=spec.source, model_type=spec.model_type) == spec  # unknown types: as llama


def _windows(spec: ModelSpec, window_rule_all: bool) -> dict[str, Any]:
    att = spec.attention
    if window_rule_all:  # Mistral / Mixtral / Phi-3: one window for every layer, or none
        return {"sliding_window": att.sliding_window if att.layer_types else None}
    if not att.layer_types:
        return {"sliding_window": None, "layer_types": None, "use_sliding_window": False}
    first = next(i for i, t in enumerate(att.layer_types) if t is LayerType.SLIDING)
    return {"sliding_window": att.sliding_window, "layer_types": [t.value for t in att.layer_types],
            "use_sliding_window": True, "max_window_layers": first}


def _moe(spec: ModelSpec) -> dict[str, Any]:
    moe, mt = spec.moe, spec.model_type
    if moe is None:
        return {"num_experts": 0} if mt == "qwen3_moe" else {}
    k = {"num_experts_per_tok": moe.top_k}
    if mt in ("mixtral", "gpt_oss"):
        return {**k, "num_local_experts": moe.num_experts, "intermediate_size": moe.expert_intermediate}
    if mt == "qwen3_moe":
        return {**k, "num_experts": moe.num_experts, "moe_intermediate_size": moe.expert_intermediate,
                "decoder_sparse_step": 1, "mlp_only_layers": list(range(moe.first_dense_layers))}
    if mt == "deepseek_v3":
        groups = {} if moe.num_experts % 8 == 0 else {"n_group": 1, "topk_group": 1}  # default n_group is 8
        return {**k, **groups, "n_routed_experts": moe.num_experts,
                "moe_intermediate_size": moe.expert_intermediate, "n_shared_experts": moe.num_shared_experts,
                "first_k_dense_replace": moe.first_dense_layers}
    raise ProfilerError(f"{spec.name}: transformers' {mt} has no mixture-of-experts layers; "
                        "use model_type mixtral, qwen3_moe, deepseek_v3 or gpt_oss")


def synthesised_fields(spec: ModelSpec) -> dict[str, Any]:
    """config.json architecture fields written from the spec alone (unknown model types as llama)."""
    att, mt = spec.attention, spec.model_type if spec.model_type in FAMILIES else "llama"
    fam = FAMILIES[mt]
    fields: dict[str, Any] = {
        "model_type": mt, "hidden_size": spec.hidden_size, "num_hidden_layers": spec.num_layers,
        "num_attention_heads": att.num_heads, "num_key_value_heads": att.num_kv_heads,
        "head_dim": att.head_dim,
        "intermediate_size": spec.intermediate_size, "vocab_size": spec.vocab_size,
        "tie_word_embeddings": spec.tie_word_embeddings, "max_position_embeddings": spec.max_context,
    }
    if fam.bias == "config":
        fields["attention_bias"] = att.qkv_bias
    if fam.mlp_bias:
        fields["mlp_bias"] = spec.mlp_bias
    if fam.mla:
        fields.update(q_lora_rank=att.q_lora_rank or None, kv_lora_rank=att.kv_lora_rank,
                      qk_nope_head_dim=att.qk_nope_head_dim, qk_rope_head_dim=att.qk_rope_head_dim,
                      v_head_dim=att.v_head_dim)
    return {**fields, **_windows(spec, fam.window is window_all_layers), **_moe(spec)}


def hf_fields(spec: ModelSpec) -> dict[str, Any]:
    """config.json fields that make transformers build exactly `spec` (see the module docstring)."""
    raw = _filtered(spec.hf_config)
    if raw.get("model_type") in FAMILIES and _same(spec, raw):
        return raw
    fields = {**raw, **synthesised_fields(spec)}
    if not _same(spec, fields):
        raise ProfilerError(f"{spec.name}: this spec cannot be written as a transformers "
                            f"'{fields['model_type']}' config (a feature of the spec has no config field)")
    return fields


def to_transformers_config(spec: ModelSpec, **overrides: Any):
    """A transformers PretrainedConfig for `spec`; `overrides` are extra fields (e.g. attn_implementation)."""
    from transformers import AutoConfig  # lazy: torch and transformers live only in profiler.measure

    fields = {**hf_fields(spec), **overrides}
    return AutoConfig.for_model(fields.pop("model_type"), **fields)
