"""Weight bytes of the issue-9 quant variants on small specs, every expected count derived by hand in the comment.

tiny(): hidden 256, 4 layers, 8 query / 4 KV heads of 32, MLP 512, vocab 1,000, untied. Per layer: q and o
256 x 256 = 65,536 each, k and v 128 x 256 = 32,768 each (attention 196,608); gate and up 512 x 256 = 131,072 each,
down 256 x 512 = 131,072 (MLP 393,216): 589,824 linear values a layer, 2,359,296 in 4 layers. Norms 2 x 256 a layer
+ final 256 = 2,304 values = 4,608 B; embedding and lm_head 1,000 x 256 = 256,000 each = 1,024,000 B in bf16.
Every scheme below keeps norms, embedding and lm_head in bf16: PLAIN = 4,608 + 1,024,000 = 1,028,608 B.
"""

from __future__ import annotations

import pytest

from profiler import catalogue
from profiler.analytic.weights import weight_bytes, weight_bytes_by_kind
from profiler.errors import CatalogueError
from profiler.specs import AttentionSpec, ModelSpec, MoeSpec, QuantScheme

PLAIN = 1_028_608


def tiny() -> ModelSpec:
    att = AttentionSpec(num_heads=8, num_kv_heads=4, head_dim=32)
    return ModelSpec(name="tiny", model_type="llama", hidden_size=256, num_layers=4, intermediate_size=512,
                     vocab_size=1000, attention=att)


@pytest.fixture(scope="module")
def quants():
    return catalogue.load_quants()


@pytest.mark.parametrize(("quant_id", "expected"), [
    ("bf16", 5_747_200),  # 2,359,296 x 2 B = 4,718,592 + PLAIN
    # int4 with bf16 scale + zero per group: 4 + 32/g bits a value (256 and 512 inputs hold whole groups)
    ("int4-g32", 2_503_168),  # 2,359,296 x 5 / 8 = 1,474,560 + PLAIN
    ("int4-g64", 2_355_712),  # 2,359,296 x 4.5 / 8 = 1,327,104 + PLAIN
    ("int4-g128", 2_281_984),  # 2,359,296 x 4.25 / 8 = 1,253,376 + PLAIN
    ("int4", 2_281_984),  # the short id is the g128 scheme
    # nvfp4: 4 + 8/16 = 4.5 bits a value (1,327,104 B) + one fp32 scale per tensor: 7 tensors x 4 layers x 4 B = 112
    ("nvfp4", 2_355_824),
    # w8a8-int8: 8 bits a value (2,359,296 B) + an fp32 scale per output row: rows a layer 256 + 128 + 128 + 256 +
    # 512 + 512 + 256 = 2,048 x 4 B = 8,192 B a layer, 32,768 in 4 -> 2,392,064 + PLAIN
    ("w8a8-int8", 3_420_672),
    # fp8-block: 8 bits a value (2,359,296 B) + an fp32 scale per 128 x 128 block: q 2x2, k 1x2, v 1x2, o 2x2,
    # gate 4x2, up 4x2, down 2x4 = 36 blocks a layer x 4 B x 4 layers = 576 -> 2,359,872 + PLAIN
    ("fp8-block", 3_388_480),
    # fp8-fbgemm: attention (all layers) and layers 0 and 3 in bf16; the MLPs of layers 1 and 2 fp8 rowwise with an
    # fp32 row scale: gate, up 512 x 256 -> 131,072 + 512 x 4 = 133,120 B each, down 256 x 512 -> 131,072 + 256 x 4
    # = 132,096 B: 398,336 a layer, 796,672 for two. bf16: attention 196,608 x 4 x 2 = 1,572,864, MLPs of layers 0
    # and 3: 393,216 x 2 x 2 = 1,572,864 -> 796,672 + 1,572,864 + 1,572,864 + PLAIN = 4,971,008
    ("fp8-fbgemm", 4_971_008),
])
def test_weight_bytes_of_each_new_scheme_match_the_hand_count(quants, quant_id, expected):
    assert weight_bytes(tiny(), quants[quant_id]) == expected


def test_fp8_fbgemm_splits_by_kind(quants):
    by_kind = weight_bytes_by_kind(tiny(), quants["fp8-fbgemm"])
    assert by_kind["attention"] == 1_572_864  # 196,608 x 4 layers x 2 B: attention never converted
    assert by_kind["mlp"] == 796_672 + 1_572_864  # fp8 layers 1-2 + bf16 layers 0 and 3 (derivation above)


def test_keep_layers_split_the_per_layer_count_of_moe_groups():
    """3 layers (layer 0 dense), hidden 64, 2 heads of 32 (MHA), 4 experts of 32, top 2, vocab 100.

    A scheme of 8 bits with no scales stores 1 B a value; keep_layers [-1] keeps layer 2 in bf16 (2 B).
    Linear values: attention 4 x 64 x 64 = 16,384 a layer (49,152), dense MLP of layer 0 3 x 64 x 128 = 24,576,
    router 4 x 64 = 256 in layers 1-2 (512), experts 4 x 3 x 64 x 32 = 24,576 in layers 1-2 (49,152), embedding and
    lm_head 2 x 6,400 = 12,800 -> 136,192 B; layer 2's 16,384 + 256 + 24,576 = 41,216 values cost 1 B more; norms
    (3 x 128 + 64) x 2 B = 896 -> 136,192 + 41,216 + 896 = 178,304 B.
    """
    att = AttentionSpec(num_heads=2, num_kv_heads=2, head_dim=32)
    model = ModelSpec(name="tiny-moe", model_type="qwen3_moe", hidden_size=64, num_layers=3, intermediate_size=128,
                      vocab_size=100, attention=att,
                      moe=MoeSpec(num_experts=4, top_k=2, expert_intermediate=32, first_dense_layers=1))
    scheme = QuantScheme("w8-last-bf16", weight_bits=8, keep_layers=(-1,))
    assert weight_bytes(model, scheme) == 178_304


def test_existing_schemes_keep_their_bytes(quants):
    """Adding keep_layers / block_rows / tensor_scale_bits left the old rows' layout untouched."""
    for qid in ("bf16", "fp16", "fp8", "int8", "int4", "mxfp4"):
        q = quants[qid]
        assert (q.keep_layers, q.block_rows, q.tensor_scale_bits) == ((), 0, 0), qid
    # int8 weight-only with a bf16 row scale: 8 bits a value (2,359,296 B) + 2,048 rows a layer x 2 B x 4 layers
    assert weight_bytes(tiny(), quants["int8"]) == 2_359_296 + 16_384 + PLAIN


def test_keep_layers_outside_the_model_name_the_model_and_field():
    scheme = QuantScheme("bad", weight_bits=8, keep_layers=(0, 4))
    with pytest.raises(CatalogueError) as err:
        weight_bytes(tiny(), scheme)
    text = str(err.value)
    assert "entry 'bad'" in text and "field 'keep_layers'" in text and "tiny" in text and "4 decoder layers" in text


def test_nvfp4_needs_fp4_and_w8a8_needs_int8(quants):
    from profiler.analytic.timing import compute_dtype
    from profiler.errors import UnsupportedQuantError

    gpus = catalogue.load_gpus()
    assert (quants["nvfp4"].compute_dtype, quants["nvfp4"].requires) == ("fp4", "fp4")
    assert (quants["w8a8-int8"].compute_dtype, quants["w8a8-int8"].requires) == ("int8", "int8")
    runs_fp4 = {g for g, spec in gpus.items() if "fp4" in spec.tflops}
    assert {"b200", "gb200", "rtx-5090"} <= runs_fp4 and "h100-sxm" not in runs_fp4
    compute_dtype(gpus["b200"], quants["nvfp4"])
    with pytest.raises(UnsupportedQuantError):
        compute_dtype(gpus["h100-sxm"], quants["nvfp4"])
    with pytest.raises(UnsupportedQuantError):
        compute_dtype(gpus["rtx-3090"], quants["w8a8-int8"])  # no int8 figure in the 3090 row
