"""The analytic count equals transformers' own count, exactly, for every catalogue model.

Each model is built on the `meta` device (no memory, no weights) from its config fields, as in
karpathy/nanoGPT transformer_sizing.ipynb; on a mismatch the assertion message is a per-kind table
(analytic vs transformers) followed by transformers' parameters grouped by module name.
Two builds per model: from the catalogue's raw config fields (checks the HF -> ModelSpec mapping and
the counts), and from fields written back from the spec alone (checks profiler.measure.hf_config,
which the measured profiler uses to build models).
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import replace

import pytest

from profiler import catalogue
from profiler.analytic.params import TENSOR_KINDS, param_counts
from profiler.measure.hf_config import hf_fields, synthesised_fields, to_transformers_config
from profiler.specs import AttentionSpec, ModelSpec, MoeSpec
from tests.profiler.catalogue_entries import CATALOGUE_IDS  # static; test_catalogue.py checks it is the catalogue

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

# transformers parameter name -> inferplan tensor kind; first match wins (biases before their modules).
KIND_RULES = (
    (r"embed_tokens\.", "embedding"),
    (r"^lm_head\.", "lm_head"),
    (r"(norm|layernorm)\.weight$|norm\.bias$", "norm"),
    (r"\.sinks$", "sink"),
    (r"(\.bias|_bias)$", "bias"),
    (r"\.mlp\.(gate|router)\.|shared_expert_gate", "router"),
    (r"\.shared_experts?\.", "shared_expert"),
    (r"\.experts\.", "expert"),
    (r"\.self_attn\.", "attention"),
    (r"\.mlp\.", "mlp"),
)


def kind_of(param_name: str) -> str:
    return next((kind for pattern, kind in KIND_RULES if re.search(pattern, param_name)), "?")


def meta_model(fields: dict):
    cfg = transformers.AutoConfig.for_model(**fields)
    with torch.device("meta"):
        return transformers.AutoModelForCausalLM.from_config(cfg, dtype=torch.bfloat16)


def torch_counts(model) -> tuple[int, dict[str, int], dict[str, int]]:
    """(total, numel per kind, numel per module-name group with layer indices as *)."""
    by_kind: dict[str, int] = defaultdict(int)
    by_group: dict[str, int] = defaultdict(int)
    for name, p in model.named_parameters():  # shared (tied) tensors are listed once, as parameters() does
        by_kind[kind_of(name)] += p.numel()
        by_group[re.sub(r"\.\d+\.", ".*.", name)] += p.numel()
    return sum(p.numel() for p in model.parameters()), dict(by_kind), dict(by_group)


def table(spec: ModelSpec, by_kind: dict[str, int], by_group: dict[str, int]) -> str:
    analytic = param_counts(spec).by_kind
    rows = [f"{spec.name}: per kind      {'analytic':>18} {'transformers':>18} {'diff':>16}"]
    for kind in (*TENSOR_KINDS, "?"):
        a, t = analytic.get(kind, 0), by_kind.get(kind, 0)
        if a or t:
            rows.append(f"  {kind:<20} {a:>18,} {t:>18,} {a - t:>+16,}")
    rows.append("transformers parameters by module:")
    rows += [f"  {name:<60} {n:>18,}" for name, n in sorted(by_group.items())]
    return "\n".join(rows)


def check(spec: ModelSpec, fields: dict) -> None:
    total, by_kind, by_group = torch_counts(meta_model(fields))
    counts = param_counts(spec)
    assert counts.total == total, "\n" + table(spec, by_kind, by_group)
    analytic = {k: v for k, v in counts.by_kind.items() if v}
    assert analytic == by_kind, "\n" + table(spec, by_kind, by_group)


@pytest.mark.parametrize("name", CATALOGUE_IDS)
def test_catalogue_model_count_equals_transformers(name):
    spec = catalogue.get_model(name)
    fields = hf_fields(spec)
    assert fields.keys() <= spec.hf_config.keys()  # the catalogue's raw fields, unmodified
    check(spec, fields)


@pytest.mark.parametrize("name", CATALOGUE_IDS)
def test_fields_written_from_the_spec_build_the_same_model(name):
    bare = replace(catalogue.get_model(name), hf_config={})
    fields = hf_fields(bare)
    assert fields == synthesised_fields(bare)
    check(bare, fields)


def test_spec_changed_after_loading_is_rebuilt_from_the_spec():
    spec = replace(catalogue.get_model("llama-3.1-8b"), num_layers=2)  # hf_config still says 32 layers
    cfg = to_transformers_config(spec)
    assert cfg.num_hidden_layers == 2 and cfg.rope_parameters["rope_type"] == "llama3"  # raw rope kept
    check(spec, hf_fields(spec))


def test_hand_built_moe_and_mla_specs_build_and_match():
    att = AttentionSpec(num_heads=4, num_kv_heads=4, head_dim=16, q_lora_rank=0, kv_lora_rank=16,
                        qk_rope_head_dim=8, qk_nope_head_dim=16, v_head_dim=16)
    moe = MoeSpec(num_experts=6, top_k=2, expert_intermediate=32, num_shared_experts=2,
                  shared_intermediate=32, first_dense_layers=1)
    ds = ModelSpec(name="ds-tiny", model_type="deepseek_v3", hidden_size=64, num_layers=3,
                   intermediate_size=96, vocab_size=100, attention=att, moe=moe)
    check(ds, hf_fields(ds))
    q = ModelSpec(name="q-tiny", model_type="qwen3_moe", hidden_size=64, num_layers=3, intermediate_size=96,
                  vocab_size=100, attention=AttentionSpec(4, 2, 16, qk_norm=True),
                  moe=MoeSpec(num_experts=4, top_k=2, expert_intermediate=32, first_dense_layers=1))
    check(q, hf_fields(q))


def test_spec_transformers_cannot_express_is_refused():
    from profiler.errors import ProfilerError

    odd = replace(catalogue.get_model("llama-3.1-8b"), norms_per_layer=3)
    with pytest.raises(ProfilerError, match="cannot be written"):
        hf_fields(odd)
