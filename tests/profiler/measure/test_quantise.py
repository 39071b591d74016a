"""torchao quantisation: which levels run here, which are unsupported and why, and the bytes they leave.

torchao is optional (the [gpu] extra). Tests that need it assert what it does where it is installed and the refusal
naming the missing package where it is not (CI runs the suite both ways): none is skipped for want of it."""

import pytest

torch = pytest.importorskip("torch", reason="the measured profiler needs torch (the dev extra installs it)")

from profiler import catalogue  # noqa: E402
from profiler.analytic import memory as amem  # noqa: E402
from profiler.errors import UnsupportedQuantError  # noqa: E402
from profiler.measure import build  # noqa: E402
from profiler.measure.memory import census  # noqa: E402
from profiler.measure.quantise import QuantOutcome, kv_unsupported_reason, quantise, tensor_kind  # noqa: E402
from profiler.specs import KvDtype  # noqa: E402
from tests.profiler.measure.fakes import hide_torchao, torchao_importable  # noqa: E402
from tests.profiler.measure.tiny import (  # noqa: E402
    TINY,
    TINY_BF16_BYTES,
    TINY_LINEAR_PARAMS_PER_LAYER,
    TINY_LINEAR_ROWS_PER_LAYER,
    spec,
)

NO_TORCHAO = ("torchao is not installed (No module named 'torchao'); install the [gpu] extra (pip install torchao), "
              "or on an offline GPU host carry its wheel")


@pytest.mark.parametrize("fqn, kind", [
    ("lm_head", "lm_head"), ("model.embed_tokens", "embedding"), ("model.layers.3.self_attn.q_proj", "attention"),
    ("model.layers.0.mlp.down_proj", "mlp"), ("model.layers.1.mlp.gate", "router"),
    ("model.layers.1.mlp.experts.gate_up_proj", "expert"), ("model.layers.1.mlp.shared_expert.up_proj",
                                                             "shared_expert"),
    ("model.layers.1.mlp.shared_expert_gate", "router"), ("model.layers.0.mlp.router", "router")])
def test_module_names_map_to_catalogue_tensor_kinds(fqn, kind):
    assert tensor_kind(fqn) == kind


def test_bf16_is_left_alone(tiny, cpu):
    model = build.build_model(tiny, cpu).model
    before = {n: p.clone() for n, p in model.named_parameters()}
    assert quantise(model, tiny, catalogue.get_quant("bf16"), cpu) == QuantOutcome("none (bf16)", 0, 0)
    assert census(model).parameter_bytes == TINY_BF16_BYTES
    assert all(torch.equal(p, before[n]) for n, p in model.named_parameters())


def test_without_torchao_every_quantised_level_is_unsupported_with_the_reason(tiny, cpu, monkeypatch):
    hide_torchao(monkeypatch)  # as on a machine where it is not installed, whether or not it is here
    model = build.build_model(tiny, cpu).model
    with pytest.raises(UnsupportedQuantError) as err:
        quantise(model, tiny, catalogue.get_quant("int8"), cpu)
    assert str(err.value).startswith("torchao is not installed (import of torchao halted; None in sys.modules); "
                                     "install the [gpu] extra")
    assert census(model).quantised == 0  # nothing was touched


@pytest.mark.parametrize("quant", ["int4", "fp8"])
def test_cuda_only_kernels_are_unsupported_on_the_cpu(tiny, cpu, quant):
    with pytest.raises(UnsupportedQuantError, match="CUDA only"):
        quantise(build.build_model(tiny, cpu).model, tiny, catalogue.get_quant(quant), cpu)


def test_a_scheme_without_a_torchao_recipe_says_so(tiny, cpu):
    with pytest.raises(UnsupportedQuantError, match="fp8, int8, int4 only"):
        quantise(build.build_model(tiny, cpu).model, tiny, catalogue.get_quant("mxfp4"), cpu)


def test_fp8_kv_cache_is_unsupported_by_this_stack():
    assert kv_unsupported_reason(KvDtype.BF16) is None
    assert "StaticCache" in kv_unsupported_reason(KvDtype.FP8)


def test_int8_weight_only_leaves_the_catalogue_bytes_or_names_the_missing_package(tiny, cpu):
    int8 = catalogue.get_quant("int8")
    model = build.build_model(tiny, cpu).model
    if not torchao_importable():
        with pytest.raises(UnsupportedQuantError) as err:
            quantise(model, tiny, int8, cpu)
        assert str(err.value) == NO_TORCHAO and census(model).quantised == 0
        return
    out = quantise(model, tiny, int8, cpu)
    cen = census(model)
    assert (out.recipe, out.linears, out.expert_tensors) == ("Int8WeightOnlyConfig", 2 * 7, 0)
    assert cen.quantised == 14  # q, k, v, o, gate, up, down in 2 layers; embedding and lm_head kept in bf16
    # bf16 kept: embedding + lm_head 2 x 16,384 x 2 B, norms (2 x 2 x 64 + 64) x 2 B = 66,176 B; int8 linears:
    # 36,864 B of weights per layer, and per output row torchao's fp32 scale + int8 zero point, 512 rows x 5 B
    kept = 2 * 16_384 * 2 + (2 * 2 * 64 + 64) * 2
    per_layer = TINY_LINEAR_PARAMS_PER_LAYER * 1 + TINY_LINEAR_ROWS_PER_LAYER * (4 + 1)
    assert cen.parameter_bytes == kept + 2 * per_layer == 145_024
    # the catalogue counts a bf16 scale per row instead (3 B per row less)
    assert amem.weight_bytes(tiny, int8, 1) == cen.parameter_bytes - 2 * TINY_LINEAR_ROWS_PER_LAYER * 3


def test_int8_moe_experts_torchao_cannot_run_make_the_level_unsupported(tiny_moe, cpu):
    """transformers' fused expert weights are quantised by name, then the forward probe runs the model: torchao's
    Int8Tensor has no transpose for grouped_mm on the CPU, so the level is unsupported, not measured with bf16
    experts (when a torchao version runs it, this test says so and should assert the run instead)."""
    model = build.build_model(tiny_moe, cpu).model
    with pytest.raises(UnsupportedQuantError) as err:
        quantise(model, tiny_moe, catalogue.get_quant("int8"), cpu)
    if torchao_importable():
        assert str(err.value).startswith("int8 via torchao on cpu failed on the fused MoE expert weights: "
                                         "NotImplementedError")
    else:
        assert str(err.value) == NO_TORCHAO


@pytest.mark.skipif(not torch.cuda.is_available(), reason="torchao int4 tile-packed runs on CUDA only")
def test_int4_tile_packed_on_cuda():
    pytest.importorskip("torchao", reason="torchao is optional (the [gpu] extra)")
    wide = spec("wide", {**TINY, "hidden_size": 1024, "intermediate_size": 2048, "num_attention_heads": 8,
                         "num_key_value_heads": 2})  # K a multiple of 1024, as tile_packed_to_4d pads to
    dev = torch.device("cuda")
    model = build.build_model(wide, dev).model
    int4 = catalogue.get_quant("int4")
    quantise(model, wide, int4, dev)
    assert census(model).parameter_bytes == pytest.approx(amem.weight_bytes(wide, int4, 1), rel=0.02)
