"""Catalogue loaders: YAML / config.json -> specs, and errors that name file, line, entry and field.

GPU and quant tests use small temporary files (load_file), so they hold whatever the packaged
gpus.yaml / quants.yaml contain.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from profiler import catalogue
from profiler.errors import CatalogueError, InvalidValueError, UnknownNameError
from profiler.specs import LayerType
from tests.profiler.catalogue_entries import CATALOGUE_IDS, TINY, tiny_cfg

ROOT = Path(__file__).resolve().parents[2]


# ------------------------------------------------------------------------------------------------
# The packaged model catalogue
# ------------------------------------------------------------------------------------------------


def test_packaged_catalogue_has_the_nineteen_models_each_with_a_source():
    models = catalogue.load_models()
    # CATALOGUE_IDS, the static list tests parametrise over, names every packaged model (sorted, no others)
    assert tuple(sorted(models)) == CATALOGUE_IDS and len(CATALOGUE_IDS) == 19  # llama-2-7b added (issue 15)
    for name, m in models.items():
        assert m.name == name and m.source and m.hf_config["model_type"] == m.model_type
        assert "source" not in m.hf_config and m.hf_config.get("hf_repo")


def test_repo_root_models_yaml_is_the_packaged_file():
    root = ROOT / "models.yaml"
    assert root.is_symlink()
    assert root.read_bytes() == (ROOT / "profiler" / "catalogues" / "models.yaml").read_bytes()


def test_catalogue_decisions_on_uncertain_values():
    m = catalogue.load_models()
    assert m["llama-3.1-405b"].attention.num_kv_heads == 8  # bf16 checkpoint, not the 16-head FP8 copies
    assert m["gemma-2-9b"].tie_word_embeddings and m["gemma-2-27b"].tie_word_embeddings
    assert m["gemma-2-9b"].norms_per_layer == 4
    gemma_types = m["gemma-2-9b"].attention.layer_types
    assert gemma_types[0] is LayerType.SLIDING and gemma_types[1] is LayerType.FULL and len(gemma_types) == 42
    assert m["gpt-oss-20b"].attention.sliding_window == 128 and m["gpt-oss-20b"].attention.sinks
    assert m["phi-3-mini-4k"].attention.layer_types == (LayerType.SLIDING,) * 32
    assert m["mistral-7b-v0.3"].attention.sliding_window is None
    assert m["qwen2.5-7b"].attention.sliding_window is None  # use_sliding_window: false
    assert m["qwen2.5-7b"].attention.qkv_bias and not m["qwen2.5-7b"].attention.o_bias
    assert m["qwen3-8b"].attention.qk_norm
    ds = m["deepseek-v3"]
    assert ds.attention.is_mla and ds.moe.first_dense_layers == 3 and ds.moe.num_shared_experts == 1
    assert ds.max_context == 163840


def test_catalogue_hashes_cover_the_three_packaged_files():
    import hashlib

    hashes = catalogue.catalogue_hashes()
    # the first 12 hex digits of sha256 over each file's bytes, read here independently of the package loader
    expected = {name: hashlib.sha256((ROOT / "profiler" / "catalogues" / name).read_bytes()).hexdigest()[:12]
                for name in ("models.yaml", "gpus.yaml", "quants.yaml")}
    assert hashes == expected


def test_unknown_model_suggests_close_names():
    with pytest.raises(UnknownNameError) as err:
        catalogue.get_model("llama-3.1-8")
    assert "llama-3.1-8b" in err.value.suggestions


# ------------------------------------------------------------------------------------------------
# User model files
# ------------------------------------------------------------------------------------------------


def test_user_file_adds_and_replaces_entries(write_file):
    path = write_file("m.yaml", TINY + """
  llama-3.1-8b:
    model_type: llama
    hidden_size: 128
    num_hidden_layers: 1
    num_attention_heads: 2
    intermediate_size: 256
    vocab_size: 10
""")
    models = catalogue.load_models(path)
    assert {"tiny", "mixtral-8x7b"} <= set(models)
    assert models["llama-3.1-8b"].hidden_size == 128  # replaced whole
    assert models["llama-3.1-8b"].attention.num_kv_heads == 2  # HF default: num_attention_heads
    assert models["tiny"].source.startswith("user file")
    assert catalogue.get_model("tiny", models_file=path).attention.head_dim == 16
    assert catalogue.load_models()["llama-3.1-8b"].hidden_size == 4096  # the catalogue itself is unchanged


def test_user_file_may_list_entries_at_top_level(write_file):
    path = write_file("m.yaml", "tiny:\n" + "\n".join(line[2:] for line in TINY.splitlines()[3:]) + "\n")
    assert catalogue.load_file("models", path)["tiny"].vocab_size == 100


def test_malformed_yaml_names_file_and_line(write_file):
    path = write_file("m.yaml", "models:\n  tiny:\n    model_type: llama\n    hidden_size: [1, 2\n")
    with pytest.raises(CatalogueError) as err:
        catalogue.load_models(path)
    # the parser notices at the end of the file (line 5) and says where the unclosed list starts (line 4)
    assert err.value.file == str(path) and err.value.line == 5
    assert "line 4" in str(err.value) and "not valid YAML" in str(err.value)


@pytest.mark.parametrize("field, value, line, words", [
    ("hidden_size", '"64"', 4, "integer"),
    ("hidden_size", "true", 4, "integer"),
    ("num_hidden_layers", "0", 5, ">= 1"),
    ("num_key_value_heads", "3", 7, "does not divide"),
    ("intermediate_size", "-5", 8, ">= 1"),
    ("vocab_size", "1.5", 9, "integer"),
])
def test_bad_field_names_file_line_entry_and_field(write_file, field, value, line, words):
    text = TINY.replace(f"    {field}: ", f"    {field}: {value} #")
    path = write_file("m.yaml", text)
    with pytest.raises(CatalogueError) as err:
        catalogue.load_models(path)
    e = err.value
    assert (e.file, e.line, e.entry, e.field) == (str(path), line, "tiny", field), str(e)
    assert words in str(e) and f"{path}:{line}" in str(e)


def test_missing_field_points_at_the_entry(write_file):
    path = write_file("m.yaml", TINY.replace("    vocab_size: 100\n", ""))
    with pytest.raises(CatalogueError) as err:
        catalogue.load_models(path)
    assert (err.value.line, err.value.entry, err.value.field) == (2, "tiny", "vocab_size")
    assert "required" in str(err.value)


def test_head_dim_required_when_hidden_is_not_a_multiple_of_heads(write_file):
    path = write_file("m.yaml", TINY.replace("hidden_size: 64", "hidden_size: 66"))
    with pytest.raises(CatalogueError, match="head_dim"):
        catalogue.load_models(path)


def test_duplicate_entry_is_refused_not_silently_dropped(write_file):
    path = write_file("m.yaml", TINY + TINY.split("models:\n")[1])
    with pytest.raises(CatalogueError, match="duplicate key 'tiny'") as err:
        catalogue.load_models(path)
    assert err.value.line == 10


def test_wrong_schema_version_and_layout(write_file):
    with pytest.raises(CatalogueError, match="schema_version 2"):
        catalogue.load_file("models", write_file("a.yaml", "schema_version: 2\n" + TINY))
    with pytest.raises(CatalogueError, match="mapping"):
        catalogue.load_file("models", write_file("b.yaml", "- just\n- a list\n"))
    with pytest.raises(CatalogueError, match="each entry"):
        catalogue.load_file("models", write_file("c.yaml", "models:\n  tiny: 3\n"))
    with pytest.raises(CatalogueError, match="cannot read"):
        catalogue.load_models(write_file("d.yaml", "").parent / "missing.yaml")
    with pytest.raises(InvalidValueError):
        catalogue.load_file("prices", write_file("e.yaml", TINY))


# ------------------------------------------------------------------------------------------------
# config.json
# ------------------------------------------------------------------------------------------------


def test_config_json_file_or_folder(write_file):
    path = write_file("my-model/config.json", json.dumps(tiny_cfg(tie_word_embeddings=True)))
    by_file = catalogue.get_model("", config_path=path)
    by_dir = catalogue.get_model("", config_path=path.parent)
    assert by_file == by_dir and by_dir.name == "my-model" and by_dir.tie_word_embeddings
    assert catalogue.get_model("named", config_path=path).name == "named"


def test_config_json_errors_name_file_and_line(write_file):
    bad = write_file("a/config.json", '{"model_type": "llama",\n "hidden_size": 64,,\n}')
    with pytest.raises(CatalogueError, match="not valid JSON") as err:
        catalogue.get_model("", config_path=bad)
    assert err.value.line == 2
    wrong = write_file("b/config.json", json.dumps(tiny_cfg(num_hidden_layers=-1), indent=1))
    with pytest.raises(CatalogueError) as err:
        catalogue.get_model("", config_path=wrong)
    assert err.value.field == "num_hidden_layers"
    assert err.value.line == 4  # "{", model_type, hidden_size, then this field
    with pytest.raises(CatalogueError, match="cannot read"):
        catalogue.get_model("", config_path=wrong.parent.parent / "nowhere")


def test_unknown_model_type_is_refused_with_the_supported_types():
    # falcon_h1 (hybrid attention + Mamba) with full llama-style fields: read as llama it would be wrong
    with pytest.raises(CatalogueError, match="falcon_h1' is not an architecture") as err:
        catalogue.spec_from_hf_config("x", tiny_cfg(model_type="falcon_h1"), "here")
    assert err.value.field == "model_type" and "supported: llama, mistral" in str(err.value)
    with pytest.raises(CatalogueError, match="not an architecture"):
        catalogue.spec_from_hf_config("x", tiny_cfg(model_type="new_moe", num_local_experts=8), "")
    with pytest.raises(CatalogueError, match="did you mean 'qwen3_moe'"):
        catalogue.spec_from_hf_config("x", tiny_cfg(model_type="Qwen3-MoE"), "")
    with pytest.raises(CatalogueError, match="required"):
        catalogue.spec_from_hf_config("x", {"hidden_size": 64}, "")


# ------------------------------------------------------------------------------------------------
# The HF -> ModelSpec mapping, per family
# ------------------------------------------------------------------------------------------------


def test_family_defaults_follow_transformers():
    g = catalogue.spec_from_hf_config("g", tiny_cfg(model_type="gemma2", num_hidden_layers=4), "")
    assert g.tie_word_embeddings and g.attention.head_dim == 256 and g.norms_per_layer == 4  # Gemma2Config
    assert g.attention.sliding_window == 4096 and g.attention.layer_types[::2] == (LayerType.SLIDING,) * 2
    q3 = catalogue.spec_from_hf_config("q", tiny_cfg(model_type="qwen3"), "")
    assert q3.attention.head_dim == 128 and q3.attention.qk_norm and not q3.attention.qkv_bias
    q2 = catalogue.spec_from_hf_config("q", tiny_cfg(model_type="qwen2", attention_bias=False), "")
    assert q2.attention.qkv_bias and not q2.attention.o_bias  # Qwen2Attention ignores attention_bias
    oss = catalogue.spec_from_hf_config("o", tiny_cfg(model_type="gpt_oss", num_local_experts=4,
                                                      experts_per_token=2), "")
    assert oss.attention.qkv_bias and oss.attention.o_bias and oss.attention.sinks
    assert oss.attention.head_dim == 64
    assert oss.moe.top_k == 2 and oss.moe.router_bias and oss.moe.expert_bias
    ll = catalogue.spec_from_hf_config("l", tiny_cfg(mlp_bias=True, attention_bias=True), "")
    assert ll.mlp_bias and ll.attention.qkv_bias and ll.attention.o_bias


def test_sliding_window_layouts():
    m = catalogue.spec_from_hf_config("m", tiny_cfg(model_type="mistral", sliding_window=4096), "")
    assert m.attention.layer_types == (LayerType.SLIDING,) * 2
    cfg = tiny_cfg(model_type="qwen2", num_hidden_layers=4, sliding_window=512, use_sliding_window=True,
                   max_window_layers=3)
    q = catalogue.spec_from_hf_config("q", cfg, "")
    assert q.attention.layer_types == (LayerType.FULL,) * 3 + (LayerType.SLIDING,)
    explicit = ["full_attention", "sliding_attention"]
    e = catalogue.spec_from_hf_config("e", tiny_cfg(layer_types=explicit, sliding_window=64), "")
    assert e.attention.layer_types == (LayerType.FULL, LayerType.SLIDING) and e.attention.sliding_window == 64
    with pytest.raises(CatalogueError, match="layer_types"):
        catalogue.spec_from_hf_config("e", tiny_cfg(layer_types=["full_attention"]), "")


def test_moe_layouts():
    base = tiny_cfg(model_type="qwen3_moe", num_hidden_layers=4, num_experts=8, num_experts_per_tok=2,
                    moe_intermediate_size=32)
    assert catalogue.spec_from_hf_config("q", base, "").moe.first_dense_layers == 0
    first = catalogue.spec_from_hf_config("q", {**base, "mlp_only_layers": [0, 1]}, "")
    assert first.moe.first_dense_layers == 2 and first.moe.expert_intermediate == 32
    with pytest.raises(CatalogueError, match="dense layers first"):
        catalogue.spec_from_hf_config("q", {**base, "decoder_sparse_step": 2}, "")
    with pytest.raises(CatalogueError, match="more than the 8 experts"):
        catalogue.spec_from_hf_config("q", {**base, "num_experts_per_tok": 9}, "")
    ds = catalogue.spec_from_hf_config("d", tiny_cfg(
        model_type="deepseek_v3", n_routed_experts=8, n_shared_experts=2, num_experts_per_tok=2,
        moe_intermediate_size=16, first_k_dense_replace=1, q_lora_rank=None, kv_lora_rank=32,
        qk_rope_head_dim=8, qk_nope_head_dim=16, v_head_dim=16), "")
    assert ds.attention.q_lora_rank == 0 and ds.attention.qk_head_dim == 24
    assert ds.moe.shared_intermediate == 16 and ds.moe.num_shared_experts == 2
    assert not ds.moe.router_score_bias


# ------------------------------------------------------------------------------------------------
# GPUs and quantisation schemes (temporary files only)
# ------------------------------------------------------------------------------------------------

GPUS = """
schema_version: 1
gpus:
  fast:
    name: Fast GPU
    memory_gib: 80
    hbm_bandwidth_tb_s: 3.35
    tflops: {bf16: 989, fp8: 1978}
    interconnect: NVLink
    interconnect_gb_s: 450
    tdp_w: 700
    source: test
  small:
    name: Small GPU
    memory_gb: 24
    hbm_bandwidth_tb_s: 0.3
    tflops: {bf16: 121}
    interconnect: PCIe Gen4 x16
    interconnect_gb_s: 32
    tdp_w: 72
    gpus_per_node: 4
    vendor: other
"""


def test_gpu_file_maps_units_to_bytes(write_file):
    gpus = catalogue.load_file("gpus", write_file("g.yaml", GPUS))
    fast, small = gpus["fast"], gpus["small"]
    assert fast.hbm_bytes == 80 * 2**30 and small.hbm_bytes == 24_000_000_000
    assert fast.hbm_bandwidth_bytes_per_s == pytest.approx(3.35e12)
    assert fast.interconnect_bytes_per_s == pytest.approx(450e9)
    assert fast.peak_flops("fp8") == pytest.approx(1978e12)
    assert fast.gpus_per_node == 8 and small.gpus_per_node == 4 and small.vendor == "other"
    assert fast.source == "test" and "user file" in small.source


# Lines of GPUS as written (leading newline stripped): schema_version 1, gpus 2, fast 3, name 4, memory_gib 5,
# hbm_bandwidth_tb_s 6, tflops 7, interconnect 8, interconnect_gb_s 9, tdp_w 10.
@pytest.mark.parametrize("old, new, field, words, line", [
    ("memory_gib: 80", "memory_gib: 80\n    memory_gb: 85", "memory_gb", "exactly one", 6),  # the added line
    ("memory_gib: 80", "memory_gbs: 80", "memory_gbs", "unknown field", 5),
    ("{bf16: 989, fp8: 1978}", "{fp8: 1978}", "tflops", "bf16", 7),
    ("tdp_w: 700", "tdp_w: fast", "tdp_w", "positive number", 10),
])
def test_bad_gpu_entries(write_file, old, new, field, words, line):
    path = write_file("g.yaml", GPUS.replace(old, new, 1))
    with pytest.raises(CatalogueError, match=words) as err:
        catalogue.load_file("gpus", path)
    assert (err.value.entry, err.value.field, err.value.line) == ("fast", field, line)
    assert str(err.value).startswith(f"{path}:{line}, entry 'fast', field '{field}': ")


QUANTS = """
quants:
  w4:
    weight_bits: 4
    group_size: 128
    scale_bits: 16
    zero_bits: 16
    keep: [embedding, lm_head]
    vllm_quantization:
    source: test
"""


def test_quant_file(write_file):
    q = catalogue.load_file("quants", write_file("q.yaml", QUANTS))["w4"]
    assert q.keep == frozenset({"embedding", "lm_head"}) and q.group_size == 128 and q.compute_dtype == "bf16"
    assert q.vllm_quantization == "" and float(q.bits_per_weight(4096)) == 4.25
    with pytest.raises(CatalogueError, match="unknown tensor kind 'lmhead'"):
        catalogue.load_file("quants", write_file("b.yaml", QUANTS.replace("lm_head]", "lmhead]")))
    with pytest.raises(CatalogueError, match="at most 32"):
        catalogue.load_file("quants", write_file("c.yaml", QUANTS.replace("bits: 4", "bits: 64")))


def test_get_gpu_and_quant_unknown_names():
    with pytest.raises(UnknownNameError, match="Unknown GPU"):
        catalogue.get_gpu("no-such-gpu")
    with pytest.raises(UnknownNameError, match="Unknown quant"):
        catalogue.get_quant("no-such-quant")
