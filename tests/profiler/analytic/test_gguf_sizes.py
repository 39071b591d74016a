"""llama.cpp GGUF schemes (quants.yaml q4_0, q8_0, q4_k_s, q4_k_m, q5_k_m, q6_k): block sizes, llama.cpp's per-tensor
mix and the analytic weight bytes against published GGUF sizes.

Block layouts (bytes per block / values per block) are read off ggml-org/llama.cpp@01243c58:ggml/src/ggml-common.h
(the block_q* structs and their static_asserts); the mix off src/llama-quant.cpp@007dbbf3 llama_tensor_get_type_impl.
"""

from __future__ import annotations

from fractions import Fraction

import pytest

from profiler import catalogue
from profiler.analytic.params import tensor_inventory
from profiler.analytic.weights import group_bytes, kept_layers, tensor_formats, use_more_bits, weight_bytes
from profiler.specs import LINEAR_TENSOR_NAMES

# (bytes per block, values per block) from the structs in ggml-common.h@01243c58, summed field by field:
BLOCKS = {
    "q4_0": (2 + 32 // 2, 32),                    # ggml_half d; uint8_t qs[QK4_0/2]
    "q8_0": (2 + 32, 32),                         # ggml_half d; int8_t qs[QK8_0]
    "q5_0": (2 + 4 + 32 // 2, 32),                # d; qh[4]; qs[QK5_0/2]
    "q5_1": (2 * 2 + 4 + 32 // 2, 32),            # d, m; qh[4]; qs[QK5_1/2]
    "q4_K": (2 * 2 + 12 + 256 // 2, 256),         # d, dmin; scales[K_SCALE_SIZE=12]; qs[QK_K/2]
    "q5_K": (2 * 2 + 12 + 256 // 8 + 256 // 2, 256),  # d, dmin; scales[12]; qh[QK_K/8]; qs[QK_K/2]
    "q6_K": (256 // 2 + 256 // 4 + 256 // 16 + 2, 256),  # ql[QK_K/2]; qh[QK_K/4]; scales[QK_K/16]; d
}


def bpw(block: str) -> Fraction:
    size, values = BLOCKS[block]
    return Fraction(size * 8, values)


@pytest.fixture(scope="module")
def quants():
    return catalogue.load_quants()


def test_block_bits_per_weight_match_the_ggml_structs(quants):
    assert [bpw(b) for b in ("q4_0", "q8_0", "q4_K", "q5_K", "q6_K")] == [4.5, 8.5, 4.5, 5.5, Fraction(105, 16)]
    for quant_id, block in (("q4_0", "q4_0"), ("q8_0", "q8_0"), ("q4_k_s", "q4_K"), ("q4_k_m", "q4_K"),
                            ("q5_k_m", "q5_K"), ("q6_k", "q6_K")):
        assert quants[quant_id].bits_per_weight(4096) == bpw(block), quant_id


def test_rows_that_do_not_fill_256_blocks_take_llama_cpp_fallbacks(quants):
    # tensor_type_fallback: Q4_K -> Q5_0, Q5_K -> Q5_1, Q6_K -> Q8_0; 2880 = gpt-oss hidden (11.25 x 256, 90 x 32)
    assert quants["q4_k_m"].bits_per_weight(2880) == bpw("q5_0")
    assert quants["q5_k_m"].bits_per_weight(2880) == bpw("q5_1")
    assert quants["q6_k"].bits_per_weight(2880) == bpw("q8_0")
    assert quants["q8_0"].stored_as(2880) is quants["q8_0"]
    assert quants["q8_0"].bits_per_weight(100) == 16  # not a multiple of 32 either: F16
    assert quants["q4_k_m"].tensor_bits(3, 4096) == 3 * 4096 * bpw("q4_K")


def test_use_more_bits_layers_for_32_and_80_layers():
    # read off llama-quant.cpp: i < n/8 || i >= 7n/8 || (i - n/8) % 3 == 2, written out for n = 32 (n/8 = 4, 7n/8 = 28)
    expected_32 = [0, 1, 2, 3, 6, 9, 12, 15, 18, 21, 24, 27, 28, 29, 30, 31]
    assert [i for i in range(32) if use_more_bits(i, 32)] == expected_32
    # n = 80: 0..9, 70..79 and 12, 15, ..., 69 (20 layers)
    assert [i for i in range(80) if use_more_bits(i, 80)] == [*range(10), *range(12, 70, 3), *range(70, 80)]


def _formats(model_id: str, quant_id: str, name: str) -> dict[float, int]:
    """{bits per weight at the group's in_features: tensor count} for one tensor group."""
    model, quant = catalogue.get_model(model_id), catalogue.load_quants()[quant_id]
    group = next(g for g in tensor_inventory(model) if g.name == name)
    out: dict[float, int] = {}
    for fmt, n in tensor_formats(group, model, quant, kept_layers(model, quant)).items():
        bits = float(fmt.bits_per_weight(group.shape[-1]))
        out[bits] = out.get(bits, 0) + n
    return out


def test_q4_k_m_mix_on_llama_3_1_8b():
    q4, q6 = float(bpw("q4_K")), float(bpw("q6_K"))
    assert _formats("llama-3.1-8b", "q4_k_m", "layers.self_attn.v_proj.weight") == {q6: 16, q4: 16}
    assert _formats("llama-3.1-8b", "q4_k_m", "layers.mlp.down_proj.weight") == {q6: 16, q4: 16}
    for name in ("layers.self_attn.q_proj.weight", "layers.self_attn.k_proj.weight", "layers.self_attn.o_proj.weight",
                 "layers.mlp.gate_proj.weight", "layers.mlp.up_proj.weight", "embed_tokens.weight"):
        assert _formats("llama-3.1-8b", "q4_k_m", name) == {q4: 32 if name.startswith("layers") else 1}, name
    assert _formats("llama-3.1-8b", "q4_k_m", "lm_head.weight") == {q6: 1}


def test_tied_embedding_70b_and_mixtral_rules():
    q5, q6, q8 = float(bpw("q5_K")), float(bpw("q6_K")), float(bpw("q8_0"))
    # llama-3.2-1b ties its embedding: llama.cpp quantises token_embd as the output tensor (Q6_K)
    assert _formats("llama-3.2-1b", "q4_k_m", "embed_tokens.weight") == {q6: 1}
    # LLM_TYPE_70B: attn_v Q4_K -> Q5_K outside the use_more_bits layers
    assert _formats("llama-3.3-70b", "q4_k_m", "layers.self_attn.v_proj.weight") == {q6: 40, q5: 40}
    # n_expert == 8: attn_v, attn_k Q8_0 and (Q4_K_M only) attn_output Q5_K
    assert _formats("mixtral-8x7b", "q4_k_m", "layers.self_attn.v_proj.weight") == {q8: 32}
    assert _formats("mixtral-8x7b", "q4_k_m", "layers.self_attn.o_proj.weight") == {q5: 32}
    assert _formats("mixtral-8x7b", "q5_k_m", "layers.self_attn.o_proj.weight") == {q5: 32}
    assert _formats("mixtral-8x7b", "q4_k_m", "layers.mlp.experts.down_proj.weight") == {q6: 16 * 8, 4.5: 16 * 8}


def test_f32_vectors_and_router_and_fallback_bytes():
    quant = catalogue.load_quants()["q4_k_m"]
    for model_id, name, bits in (("llama-3.1-8b", "layers.layernorms.weight", 32),  # GGUF norms are F32
                                 ("mixtral-8x7b", "layers.mlp.gate.weight", 32),  # ffn_gate_inp stays F32
                                 ("gpt-oss-20b", "layers.self_attn.q_proj.weight", bpw("q5_0"))):  # 2880 inputs
        model = catalogue.get_model(model_id)
        group = next(g for g in tensor_inventory(model) if g.name == name)
        fmt, plain = group_bytes(group, model, quant)
        assert fmt + plain == group.numel * bits / 8, name


def test_tp_shards_add_up_to_the_whole_model(quants):
    model = catalogue.get_model("llama-3.1-8b")
    replicated = (2 * 32 + 1) * 4096 * 4  # F32 norms, whole on every rank
    for quant_id in ("q4_k_m", "q5_k_m", "q8_0"):
        whole = weight_bytes(model, quants[quant_id])
        for tp in (2, 4, 8):
            assert weight_bytes(model, quants[quant_id], tp) * tp == whole + (tp - 1) * replicated, (quant_id, tp)


def test_tp_rank_rows_that_no_longer_fill_256_blocks_fall_back(quants):
    # qwen2.5-7b down_proj has 18944 inputs = 74 x 256; at TP 4 a rank holds 4736 = 18.5 x 256: Q5_0 / Q8_0 rows
    model, quant = catalogue.get_model("qwen2.5-7b"), quants["q4_k_m"]
    group = next(g for g in tensor_inventory(model) if g.name == "layers.mlp.down_proj.weight")
    rank_numel = 3584 * 4736
    more = sum(use_more_bits(i, 28) for i in range(28))  # Q6_K layers -> Q8_0 fallback; the rest Q4_K -> Q5_0
    expected = rank_numel * (more * bpw("q8_0") + (28 - more) * bpw("q5_0")) / 8
    assert sum(group_bytes(group, model, quant, tp=4)) == expected
    assert sum(group_bytes(group, model, quant, tp=2)) == 3584 * 9472 * (more * bpw("q6_K") + (28 - more) * 4.5) / 8


def test_tensor_names_cover_every_catalogue_linear_weight():
    names = {g.name for m in catalogue.load_models().values() for g in tensor_inventory(m) if g.linear}
    assert names <= set(LINEAR_TENSOR_NAMES)
    # every listed name is a real one: all appear in catalogue models but Qwen2-MoE's shared-expert gate
    # (params._feed_forward emits it when MoeSpec.shared_expert_gate; no catalogue model has one)
    assert set(LINEAR_TENSOR_NAMES) - names == {"layers.mlp.shared_expert_gate.weight"}


# ---------------------------------------------------------------------------------------------
# Published sizes
# ---------------------------------------------------------------------------------------------

# ggml-org/llama.cpp@311c2c9f:tools/quantize/README.md, table "meta-llama/Llama-3.1-8B" (llama-bench model size and
# bits/weight: tensor bytes only, no GGUF metadata). quant id -> (bits/weight, size GiB).
LLAMA_CPP_LLAMA31_8B = {"q4_k_s": (4.6672, 4.36), "q4_k_m": (4.8944, 4.58), "q5_k_m": (5.7036, 5.33),
                        "q6_k": (6.5633, 6.14), "q8_0": (8.5008, 7.95)}
# The GGUF holds one tensor transformers has not: rope_freqs.weight, 64 F32 values (head_dim / 2) for Llama 3.1's
# rope scaling (convert_hf_to_gguf.py LlamaModel.generate_extra_tensors), in llama.cpp's size and parameter count.
ROPE_FREQS = 64


@pytest.mark.parametrize("quant_id", sorted(LLAMA_CPP_LLAMA31_8B))
def test_llama_3_1_8b_matches_llama_cpp_bits_per_weight(quant_id, quants):
    model = catalogue.get_model("llama-3.1-8b")
    params = sum(g.numel for g in tensor_inventory(model)) + ROPE_FREQS
    size = weight_bytes(model, quants[quant_id]) + ROPE_FREQS * 4
    bits, gib = LLAMA_CPP_LLAMA31_8B[quant_id]
    assert abs(size * 8 / params - bits) <= 0.00005  # the table's 4 decimals
    assert abs(size / 2**30 - gib) <= 0.005  # its 2 decimals


# TheBloke/Luna-AI-Llama2-Uncensored-GGUF README "Provided files" (https://huggingface.co/TheBloke/Luna-AI-Llama2-
# Uncensored-GGUF; a Llama-2-7B fine-tune: 32 layers, 4096 / 11008, vocab 32000; TheBloke/Wizard-Vicuna-7B-Uncensored-
# GGUF lists the same sizes): file sizes in GB (10^9 B) to 2 decimals. A file holds the tensors plus the GGUF header
# and metadata: the 32,000-token vocabulary (strings, scores, types: ~0.7 MB) and tensor infos; bound: < 2 MB.
THEBLOKE_LLAMA2_7B_GB = {"q4_0": 3.83, "q4_k_s": 3.86, "q4_k_m": 4.08, "q5_k_m": 4.78, "q6_k": 5.53, "q8_0": 7.16}
METADATA_BOUND = 2_000_000


@pytest.mark.parametrize("quant_id", sorted(THEBLOKE_LLAMA2_7B_GB))
def test_llama_2_7b_matches_published_gguf_file_sizes(quant_id, quants):
    ours = weight_bytes(catalogue.get_model("llama-2-7b"), quants[quant_id])
    published = THEBLOKE_LLAMA2_7B_GB[quant_id] * 1e9
    assert published - 0.005e9 - METADATA_BOUND <= ours <= published + 0.005e9
