"""Hugging Face config.json fields -> ModelSpec: one mapping for catalogue entries and user configs alike.

Each supported ``model_type`` is a :class:`_Family` row saying what transformers builds for it (which
projections carry biases, q/k norms, sinks, norms per layer, which layers slide, where the MoE fields
are). The rows were read from transformers' ``models/<type>/modeling_<type>.py`` and
``configuration_<type>.py``; tests/profiler/analytic/test_params_exact.py checks every catalogue model against
the model transformers builds from the same fields. Defaults for absent fields are transformers' own.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from profiler.errors import CatalogueError
from profiler.specs import AttentionSpec, LayerType, ModelSpec, MoeSpec

_MISSING: Any = object()
NOT_HF_FIELDS = ("source", "note", "checkpoint_quant")  # inferplan's own keys in an entry, kept out of hf_config


def located(exc: CatalogueError, file: str, line: int | None) -> CatalogueError:
    """The same error, now naming the file and line."""
    detail = getattr(exc, "detail", str(exc))
    new = CatalogueError(detail, file=file, line=line, entry=exc.entry, field=exc.field)
    new.detail = detail
    return new


# The largest integer a config field may hold: 2^24 = 16.8M, above every size in a published config (vocabularies
# reach 262,144 (Gemma 3), contexts 10,485,760 (Llama 4 Scout), intermediate sizes 53,248 (Llama 3.1 405B)) and
# small enough that the analytic model's per-layer and per-expert work stays instant.
MAX_INT = 1 << 24
# Layers are walked one by one: 1,024, eight times the deepest published decoder (Llama 3.1 405B: 126 layers).
# Experts: 4,096, sixteen times the most routed experts in a catalogued model (DeepSeek-V3: 256).
MAX_INTS = {"num_hidden_layers": 1024, "n_layer": 1024, "num_local_experts": 4096, "num_experts": 4096,
            "n_routed_experts": 4096}


class Fields:
    """Typed reads of one entry's fields; a wrong value raises a CatalogueError naming entry and field."""

    def __init__(self, entry: str, data: dict):
        self.entry, self.data = entry, data

    def error(self, key: str, message: str) -> CatalogueError:
        exc = CatalogueError(message, entry=self.entry, field=key)
        exc.detail = message
        return exc

    def _get(self, key: str, default: Any, aliases: Iterable[str] = ()) -> tuple[str, Any]:
        for k in (key, *aliases):
            if k in self.data and self.data[k] is not None:
                return k, self.data[k]
        if default is _MISSING:
            raise self.error(key, "required field is missing")
        return key, default

    def int(self, key: str, default: Any = _MISSING, *, minimum: int = 1, aliases: Iterable[str] = ()) -> Any:
        k, v = self._get(key, default, aliases)
        if v is default:
            return v
        if isinstance(v, bool) or not isinstance(v, int) or v < minimum:
            raise self.error(k, f"must be an integer >= {minimum}, got {v!r}")
        maximum = MAX_INTS.get(k, MAX_INT)
        if v > maximum:
            raise self.error(k, f"must be at most {maximum:,} (profiler/hf_mapping.py MAX_INTS), got {v:,}; "
                                "no published model comes near it")
        return v

    def number(self, key: str, default: Any = _MISSING) -> Any:
        k, v = self._get(key, default)
        if v is default:
            return v
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not v > 0:
            raise self.error(k, f"must be a positive number, got {v!r}")
        return float(v)

    def bool(self, key: str, default: Any = _MISSING) -> Any:
        k, v = self._get(key, default)
        if not isinstance(v, bool):
            raise self.error(k, f"must be true or false, got {v!r}")
        return v

    def str(self, key: str, default: Any = _MISSING, empty: bool = False) -> Any:
        k, v = self._get(key, default)
        if v is default:
            return v
        if not isinstance(v, str) or not (v or empty):
            raise self.error(k, f"must be a non-empty string, got {v!r}")
        return v

    def strs(self, key: str, default: Any = _MISSING) -> list[str]:
        k, v = self._get(key, default)
        if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
            raise self.error(k, f"must be a list of strings, got {v!r}")
        return v

    def ints(self, key: str, default: Any = _MISSING) -> list[int]:
        k, v = self._get(key, default)
        if not isinstance(v, list) or not all(isinstance(x, int) and not isinstance(x, bool) for x in v):
            raise self.error(k, f"must be a list of integers, got {v!r}")
        return v

    def numbers(self, key: str) -> dict[str, float]:
        _, v = self._get(key, _MISSING)
        if not isinstance(v, dict) or not v:
            raise self.error(key, f"must be a mapping such as {{bf16: 989, fp8: 1978}}, got {v!r}")
        for name, x in v.items():
            if isinstance(x, bool) or not isinstance(x, (int, float)) or not x > 0:
                raise self.error(f"{key}.{name}", f"must be a positive number, got {x!r}")
        return {str(name): float(x) for name, x in v.items()}

    def only(self, allowed: Iterable[str], hint: str = "") -> None:
        """Refuse a key not in `allowed` (a typo would otherwise be ignored), suggesting the closest one."""
        allowed = tuple(allowed)
        for key in self.data:
            if key not in allowed:
                close = difflib.get_close_matches(str(key), allowed, n=1, cutoff=0.6)
                head = f"unknown field; did you mean '{close[0]}'?" if close else "unknown field."
                raise self.error(str(key), f"{head} {hint or 'Known fields: ' + ', '.join(allowed)}")


# ------------------------------------------------------------------------------------------------
# Sliding-window layouts and MoE layouts, per family
# ------------------------------------------------------------------------------------------------


def _window_none(f: Fields, n: int) -> tuple[int | None, tuple[LayerType, ...]]:
    return None, ()


def window_all_layers(f: Fields, n: int) -> tuple[int | None, tuple[LayerType, ...]]:
    """Mistral, Mixtral, Phi-3: `sliding_window` (when set) applies to every layer."""
    window = f.int("sliding_window", None)
    return window, (LayerType.SLIDING,) * n if window else ()


def _window_alternate(default: int) -> Callable[[Fields, int], tuple[int | None, tuple[LayerType, ...]]]:
    """Gemma-2, gpt-oss: even layers (0, 2, ...) slide, odd ones are global (transformers' layer_types)."""
    def rule(f: Fields, n: int) -> tuple[int | None, tuple[LayerType, ...]]:
        window = f.int("sliding_window", None) if "sliding_window" in f.data else default
        types = tuple(LayerType.SLIDING if i % 2 == 0 else LayerType.FULL for i in range(n))
        return window, types if window else ()
    return rule


def _window_qwen(f: Fields, n: int) -> tuple[int | None, tuple[LayerType, ...]]:
    """Qwen2/Qwen3: only with use_sliding_window, and then on layers >= max_window_layers."""
    window = f.int("sliding_window", None)
    if not f.bool("use_sliding_window", False) or not window:
        return None, ()
    first = f.int("max_window_layers", 28, minimum=0)  # Qwen2Config default
    types = tuple(LayerType.SLIDING if i >= first else LayerType.FULL for i in range(n))
    return (window, types) if LayerType.SLIDING in types else (None, ())


def _explicit_layer_types(f: Fields, n: int) -> tuple[LayerType, ...]:
    names = f.strs("layer_types")
    known = {t.value: t for t in LayerType}
    if len(names) != n or any(x not in known for x in names):
        raise f.error("layer_types", f"must list {n} entries (one per layer), each one of {', '.join(known)}")
    return tuple(known[x] for x in names)


def _moe_mixtral(f: Fields, n: int) -> MoeSpec:
    return MoeSpec(num_experts=f.int("num_local_experts", aliases=("num_experts",)),
                   top_k=f.int("num_experts_per_tok"), expert_intermediate=f.int("intermediate_size"))


def _moe_qwen3(f: Fields, n: int) -> MoeSpec | None:
    """Qwen3MoeDecoderLayer: MoE where i not in mlp_only_layers and (i + 1) % decoder_sparse_step == 0."""
    experts = f.int("num_experts", 128, minimum=0, aliases=("num_local_experts",))
    if experts == 0:
        return None
    step, dense_only = f.int("decoder_sparse_step", 1), set(f.ints("mlp_only_layers", []))
    sparse = [i for i in range(n) if i not in dense_only and (i + 1) % step == 0]
    first = n - len(sparse)
    if sparse != list(range(first, n)):
        raise f.error("mlp_only_layers", "inferplan models MoE stacks as dense layers first, then MoE "
                      "layers; this decoder_sparse_step / mlp_only_layers interleaves them")
    return MoeSpec(num_experts=experts, top_k=f.int("num_experts_per_tok"),
                   expert_intermediate=f.int("moe_intermediate_size"), first_dense_layers=first)


def _moe_deepseek(f: Fields, n: int) -> MoeSpec:
    if f.int("moe_layer_freq", 1) != 1:
        raise f.error("moe_layer_freq", "only 1 (every layer after the dense ones is MoE) is supported")
    return MoeSpec(
        num_experts=f.int("n_routed_experts", aliases=("num_local_experts",)),
        top_k=f.int("num_experts_per_tok"),
        expert_intermediate=f.int("moe_intermediate_size"),
        num_shared_experts=f.int("n_shared_experts", 0, minimum=0),
        shared_intermediate=f.int("moe_intermediate_size"),  # HF: one shared MLP, moe_intermediate x n_shared
        first_dense_layers=f.int("first_k_dense_replace", 0, minimum=0),
        router_score_bias=False,  # e_score_correction_bias is a buffer in transformers, not a parameter
    )


def _moe_gpt_oss(f: Fields, n: int) -> MoeSpec:
    return MoeSpec(num_experts=f.int("num_local_experts", aliases=("num_experts",)),
                   top_k=f.int("num_experts_per_tok", aliases=("experts_per_token",)),
                   expert_intermediate=f.int("intermediate_size"), router_bias=True, expert_bias=True)


# ------------------------------------------------------------------------------------------------
# Families
# ------------------------------------------------------------------------------------------------

WindowRule = Callable[[Fields, int], tuple[int | None, tuple[LayerType, ...]]]


@dataclass(frozen=True)
class _Family:
    """What transformers builds for one model_type (from its modeling_<type>.py)."""

    bias: str = "config"  # "config": attention_bias on q/k/v/o; "qkv": q/k/v always, o never; "none"
    attention_bias: bool = False  # default of attention_bias when the config omits it
    head_dim: int | None = None  # default head_dim (None: hidden_size / num_attention_heads)
    tie: bool = False  # default of tie_word_embeddings
    mlp_bias: bool = False  # reads config.mlp_bias (Llama)
    qk_norm: bool = False
    sinks: bool = False
    norms_per_layer: int = 2
    window: WindowRule = _window_none
    moe: Callable[[Fields, int], MoeSpec | None] | None = None
    mla: bool = False
    fields: tuple[str, ...] = ()  # config fields of this type beyond COMMON_FIELDS (catalogue YAML check)


# Config fields every supported type has (transformers 4.x and 5.x names; PretrainedConfig's own keys).
# Together with a family's `fields` they are what a catalogue YAML entry may hold: anything else is
# refused as a probable typo (a user's config.json via --config keeps every field; see check_fields).
# tests/profiler/test_catalogue_fields.py checks these against transformers' config classes and
# against every field the mapping reads.
INFERPLAN_FIELDS = ("source", "note", "hf_repo", "checkpoint_quant")
COMMON_FIELDS = (
    "model_type", "architectures", "hidden_size", "num_hidden_layers", "intermediate_size", "vocab_size",
    "num_attention_heads", "num_key_value_heads", "head_dim", "attention_bias", "tie_word_embeddings",
    "max_position_embeddings", "hidden_act", "rms_norm_eps", "rope_theta", "rope_scaling", "rope_parameters",
    "attention_dropout", "initializer_range", "use_cache", "bos_token_id", "eos_token_id", "pad_token_id",
    "torch_dtype", "dtype", "transformers_version", "_name_or_path", "quantization_config", "auto_map",
    "id2label", "label2id", "problem_type", "return_dict", "output_hidden_states", "output_attentions",
    "is_encoder_decoder", "chunk_size_feed_forward",
)
_SLIDING_QWEN = ("sliding_window", "use_sliding_window", "max_window_layers", "layer_types")
_ROUTER = ("num_experts_per_tok", "output_router_logits", "router_aux_loss_coef")

FAMILIES: dict[str, _Family] = {
    "llama": _Family(mlp_bias=True, fields=("mlp_bias", "pretraining_tp")),
    "mistral": _Family(bias="none", window=window_all_layers, fields=("sliding_window",)),
    "mixtral": _Family(bias="none", window=window_all_layers, moe=_moe_mixtral,
                       fields=("sliding_window", "num_local_experts", "num_experts", *_ROUTER, "router_jitter_noise")),
    "qwen2": _Family(bias="qkv", window=_window_qwen, fields=_SLIDING_QWEN),  # bias on q/k/v, not o
    "qwen3": _Family(head_dim=128, qk_norm=True, window=_window_qwen, fields=_SLIDING_QWEN),
    "qwen3_moe": _Family(qk_norm=True, window=_window_qwen, moe=_moe_qwen3, fields=(
        *_SLIDING_QWEN, "num_experts", "num_local_experts", *_ROUTER, "moe_intermediate_size",
        "decoder_sparse_step", "mlp_only_layers", "norm_topk_prob")),
    "gemma2": _Family(head_dim=256, tie=True, norms_per_layer=4, window=_window_alternate(4096), fields=(
        "sliding_window", "layer_types", "hidden_activation", "query_pre_attn_scalar",
        "attn_logit_softcapping", "final_logit_softcapping", "cache_implementation",
        "use_bidirectional_attention")),
    "phi3": _Family(bias="none", window=window_all_layers, fields=(  # fused qkv_proj / gate_up_proj
        "sliding_window", "original_max_position_embeddings", "partial_rotary_factor", "embd_pdrop",
        "resid_pdrop")),
    "deepseek_v3": _Family(moe=_moe_deepseek, mla=True, fields=(  # attention_bias on q_a, kv_a and o only
        "kv_lora_rank", "q_lora_rank", "qk_nope_head_dim", "qk_rope_head_dim", "v_head_dim", "qk_head_dim",
        "n_routed_experts", "num_local_experts", "n_shared_experts", "moe_intermediate_size", "first_k_dense_replace",
        "moe_layer_freq", *_ROUTER, "norm_topk_prob", "n_group", "topk_group", "topk_method",
        "scoring_func", "routed_scaling_factor", "aux_loss_alpha", "seq_aux", "ep_size",
        "num_nextn_predict_layers", "num_mtp_layers", "rope_interleave", "pretraining_tp")),
    "gpt_oss": _Family(attention_bias=True, head_dim=64, sinks=True, window=_window_alternate(128),
                       moe=_moe_gpt_oss, fields=(
                           "sliding_window", "layer_types", "num_local_experts", "num_experts", "experts_per_token",
                           *_ROUTER, "swiglu_limit", "swiglu_alpha", "initial_context_length")),
}


def unknown_type_message(model_type: str) -> str:
    """Why an unknown model_type is refused, and what the user can do."""
    squash = {k.replace("_", ""): k for k in FAMILIES}
    close = squash.get(model_type.lower().replace("-", "").replace("_", ""))
    guess = f"did you mean '{close}'? " if close else ""
    return (f"{guess}model_type '{model_type}' is not an architecture inferplan can count exactly "
            f"(supported: {', '.join(FAMILIES)}). Reading it as another one would give wrong parameter, "
            "memory and timing numbers. If the model is built exactly like one of those (same layers, "
            "projections, norms, biases and experts), set model_type to that one in a --models entry or "
            "in a copy of its config.json.")


def check_fields(name: str, cfg: dict) -> None:
    """A catalogue YAML entry holds only fields its model_type has: a misspelt field is an error, not ignored.

    Not applied to a user's config.json (--config): those files are written by tools and hold many
    fields inferplan need not know. An unknown or missing model_type is left to spec_from_hf_config.
    """
    fam = FAMILIES.get(cfg.get("model_type"))  # type: ignore[arg-type]
    if fam is None:
        return
    f, allowed = Fields(name, cfg), (*INFERPLAN_FIELDS, *COMMON_FIELDS, *fam.fields)
    for key in cfg:
        others = [t for t, g in FAMILIES.items() if key in g.fields and key not in allowed]
        if others:
            raise f.error(str(key), f"model_type '{cfg['model_type']}' has no field '{key}' (transformers "
                          f"would ignore it); it belongs to {', '.join(others)}")
    f.only(allowed, hint="A field inferplan does not know would be ignored (the model profiled without "
           "it), so it is refused. Entries take the Hugging Face config.json fields of their model_type "
           "(see the built-in models.yaml) plus source, note, hf_repo and checkpoint_quant; to profile a "
           "config.json as it is, use --config PATH.")


def _attention(f: Fields, fam: _Family, hidden: int, n: int) -> AttentionSpec:
    heads = f.int("num_attention_heads")
    kv = f.int("num_key_value_heads", heads)
    if heads % kv:
        raise f.error("num_key_value_heads", f"{kv} does not divide num_attention_heads ({heads})")
    if f.data.get("head_dim") is not None or fam.head_dim:
        head_dim = f.int("head_dim", fam.head_dim)
    elif hidden % heads:
        raise f.error("head_dim", f"required: hidden_size {hidden} is not a multiple of "
                      f"num_attention_heads {heads}")
    else:
        head_dim = hidden // heads
    bias = {"config": f.bool("attention_bias", fam.attention_bias), "qkv": True, "none": False}[fam.bias]
    window, types = fam.window(f, n)
    if "layer_types" in f.data and f.data["layer_types"] is not None:
        types = _explicit_layer_types(f, n)
        window = f.int("sliding_window") if LayerType.SLIDING in types else None
    mla = {}
    if fam.mla:
        mla = dict(kv_lora_rank=f.int("kv_lora_rank"), q_lora_rank=f.int("q_lora_rank", 0, minimum=0),
                   qk_nope_head_dim=f.int("qk_nope_head_dim"), qk_rope_head_dim=f.int("qk_rope_head_dim"),
                   v_head_dim=f.int("v_head_dim"))
        head_dim = mla["v_head_dim"]  # nominal for MLA; the spec's qk_head_dim / v_dim are what count
    types = types if LayerType.SLIDING in types else ()  # all-full is written as "no layer types"
    return AttentionSpec(num_heads=heads, num_kv_heads=kv, head_dim=head_dim, qkv_bias=bias,
                         o_bias=bias and fam.bias == "config", qk_norm=fam.qk_norm, sinks=fam.sinks,
                         sliding_window=window, layer_types=types, **mla)


def spec_from_hf_config(name: str, cfg: dict, source: str = "") -> ModelSpec:
    """The ModelSpec of a Hugging Face config (a catalogue entry or a config.json), checked field by field."""
    f = Fields(name, cfg)
    model_type = f.str("model_type")
    fam = FAMILIES.get(model_type)
    if fam is None:
        raise f.error("model_type", unknown_type_message(model_type))
    hidden, n = f.int("hidden_size"), f.int("num_hidden_layers")
    moe = fam.moe(f, n) if fam.moe else None
    if moe is not None:
        if moe.top_k > moe.num_experts:
            raise f.error("num_experts_per_tok", f"{moe.top_k} is more than the {moe.num_experts} experts")
        if moe.first_dense_layers > n:
            raise f.error("first_k_dense_replace", f"{moe.first_dense_layers} is more than the {n} layers")
    optional = {"max_context": f.int("max_position_embeddings", None),
                "checkpoint_quant": f.str("checkpoint_quant", None)}  # the quant id `native` stands for
    return ModelSpec(
        name=name, model_type=model_type, hidden_size=hidden, num_layers=n,
        intermediate_size=f.int("intermediate_size"), vocab_size=f.int("vocab_size"),
        attention=_attention(f, fam, hidden, n), moe=moe,
        tie_word_embeddings=f.bool("tie_word_embeddings", fam.tie),
        mlp_bias=f.bool("mlp_bias", False) if fam.mlp_bias else False,
        norms_per_layer=fam.norms_per_layer, source=source,
        hf_config={k: v for k, v in cfg.items() if k not in NOT_HF_FIELDS},
        **{k: v for k, v in optional.items() if v is not None},
    )
