"""torchao quantisation: which levels run here, which are unsupported and why, and the bytes they leave."""

import sys

import pytest

torch = pytest.importorskip("torch", reason="the measured profiler needs torch (the dev extra installs it)")

from profiler import catalogue  # noqa: E402
from profiler.analytic import memory as amem  # noqa: E402
from profiler.errors import UnsupportedQuantError  # noqa: E402
from profiler.measure import build  # noqa: E402
from profiler.measure.memory import census  # noqa: E402
from profiler.measure.quantise import kv_unsupported_reason, quantise, tensor_kind  # noqa: E402
from profiler.specs import KvDtype  # noqa: E402


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
    assert quantise(model, tiny, catalogue.get_quant("bf16"), cpu).linears == 0


def test_without_torchao_every_quantised_level_is_unsupported_with_the_reason(tiny, cpu, monkeypatch):
    monkeypatch.setitem(sys.modules, "torchao", None)  # as on a machine where it is not installed
    monkeypatch.setitem(sys.modules, "torchao.quantization", None)
    model = build.build_model(tiny, cpu).model
    with pytest.raises(UnsupportedQuantError, match="torchao is not installed"):
        quantise(model, tiny, catalogue.get_quant("int8"), cpu)


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


def test_int8_weight_only_leaves_the_catalogue_bytes(tiny, cpu):
    pytest.importorskip("torchao", reason="torchao is optional (the [gpu] extra); this checks its int8 bytes")
    int8 = catalogue.get_quant("int8")
    model = build.build_model(tiny, cpu).model
    out = quantise(model, tiny, int8, cpu)
    cen = census(model)
    assert out.linears == 2 * 7 and cen.quantised == 14  # q, k, v, o, gate, up, down in 2 layers; head kept
    # torchao keeps an fp32 scale and an int8 zero point per row where the catalogue counts a bf16 scale:
    rows = sum(m.out_features for n, m in model.named_modules() if "layers" in n and hasattr(m, "out_features"))
    assert cen.parameter_bytes == amem.weight_bytes(tiny, int8, 1) + rows * (4 + 1 - 2)


def test_quantised_moe_experts_run_or_are_reported_unsupported(tiny_moe, cpu):
    pytest.importorskip("torchao", reason="torchao is optional (the [gpu] extra)")
    model = build.build_model(tiny_moe, cpu).model
    try:
        out = quantise(model, tiny_moe, catalogue.get_quant("int8"), cpu)
    except UnsupportedQuantError as exc:
        assert "fused MoE expert weights" in str(exc)
    else:
        assert out.expert_tensors == 4 and census(model).quantised >= 4


@pytest.mark.skipif(not torch.cuda.is_available(), reason="torchao int4 tile-packed runs on CUDA only")
def test_int4_tile_packed_on_cuda():
    pytest.importorskip("torchao", reason="torchao is optional (the [gpu] extra)")
    from tests.profiler.measure.conftest import TINY, spec

    wide = spec("wide", {**TINY, "hidden_size": 1024, "intermediate_size": 2048, "num_attention_heads": 8,
                         "num_key_value_heads": 2})  # K a multiple of 1024, as tile_packed_to_4d pads to
    dev = torch.device("cuda")
    model = build.build_model(wide, dev).model
    int4 = catalogue.get_quant("int4")
    quantise(model, wide, int4, dev)
    assert census(model).parameter_bytes == pytest.approx(amem.weight_bytes(wide, int4, 1), rel=0.02)
