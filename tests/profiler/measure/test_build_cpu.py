"""Building catalogue-style models from their config on the CPU: dtype, tying, exact bytes, no downloads."""

import os

import pytest

torch = pytest.importorskip("torch", reason="the measured profiler needs torch (the dev extra installs it)")

from profiler import catalogue  # noqa: E402
from profiler.analytic import memory as amem  # noqa: E402
from profiler.analytic.params import param_counts  # noqa: E402
from profiler.errors import ProfilerError  # noqa: E402
from profiler.measure import build, steps  # noqa: E402
from profiler.specs import KvDtype  # noqa: E402
from tests.profiler.measure.tiny import TINY_KV_BYTES_PER_TOKEN, TINY_PARAMS  # noqa: E402


def bf16():
    return catalogue.get_quant("bf16")


# Parameters counted by hand (tests/profiler/measure/tiny.py): tiny 106,816; tied, the 256 x 64 head shares the
# embedding: 90,432; the MoE per layer: q 4,096 + k 2,048 + v 2,048 + o 4,096 + q/k norms 2 x 16 + router 4 x 64
# + 4 experts x (gate_up 64 x 64 + down 32 x 64 = 6,144) + 2 norms x 64 = 37,280; x 2 layers + embedding and
# head 2 x 16,384 + final norm 64 = 107,392
HAND_PARAMS = {"tiny": TINY_PARAMS, "tiny_tied": TINY_PARAMS - 256 * 64, "tiny_moe": 107_392}


@pytest.mark.parametrize("name", ["tiny", "tiny_tied", "tiny_moe"])
def test_build_is_bf16_eval_no_grad_and_counts_exactly(name, request, cpu):
    spec = request.getfixturevalue(name)
    built = build.build_model(spec, cpu)
    model = built.model
    assert not model.training and not any(p.requires_grad for p in model.parameters())
    assert {p.dtype for p in model.parameters()} == {torch.bfloat16}
    assert sum(p.numel() for p in model.parameters()) == param_counts(spec).total == HAND_PARAMS[name]
    assert built.census.parameter_bytes == amem.weight_bytes(spec, bf16(), 1) == 2 * HAND_PARAMS[name]
    assert built.allocator_bytes is None and built.source == "random weights (seed 0)"
    assert all(torch.isfinite(p).all() for p in model.parameters())


def test_a_tied_head_shares_the_embedding(tiny_tied, cpu):
    model = build.build_model(tiny_tied, cpu).model
    assert model.get_output_embeddings().weight.data_ptr() == model.get_input_embeddings().weight.data_ptr()


def test_moe_uses_grouped_mm_experts(tiny_moe, cpu):
    built = build.build_model(tiny_moe, cpu)
    assert built.experts_implementation == "grouped_mm"
    assert any(p.ndim == 3 for n, p in built.model.named_parameters() if "experts" in n)


def test_the_seed_fixes_the_weights_and_norms_start_at_one(tiny, cpu):
    a, b = build.build_model(tiny, cpu, seed=3).model, build.build_model(tiny, cpu, seed=3).model
    c = build.build_model(tiny, cpu, seed=4).model
    wa, wb, wc = (m.model.layers[0].self_attn.q_proj.weight for m in (a, b, c))
    assert torch.equal(wa, wb) and not torch.equal(wa, wc)
    assert 0.015 < wa.float().std().item() < 0.025  # N(0, 0.02) pool
    assert torch.equal(a.model.norm.weight, torch.ones_like(a.model.norm.weight))
    rows = a.model.embed_tokens.weight
    assert not torch.equal(rows[0], rows[1])  # the tiled pool does not repeat row for row


def test_a_wrong_dtype_is_refused(tiny, cpu):
    model = build.build_model(tiny, cpu).model
    model.model.norm.weight.data = model.model.norm.weight.data.float()
    with pytest.raises(ProfilerError, match="not in torch.bfloat16"):
        build.check_dtypes(model, torch.bfloat16)


def test_the_hub_is_never_contacted(tiny, cpu, tmp_path, monkeypatch):
    """With the offline flags unset and every socket refusing to connect, a model builds from its config and from
    a local folder, and the flags are set for whatever transformers does next."""
    import socket

    for var in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):
        monkeypatch.delenv(var, raising=False)
    build.build_model(tiny, cpu).model.save_pretrained(tmp_path)

    def no_network(*args, **kwargs):
        raise AssertionError(f"network access: {args}")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    for var in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):
        monkeypatch.delenv(var, raising=False)
    assert build.build_model(tiny, cpu, weights_path=tmp_path).source == f"safetensors from {tmp_path}"
    assert (os.environ["HF_HUB_OFFLINE"], os.environ["TRANSFORMERS_OFFLINE"]) == ("1", "1")


def test_local_safetensors_are_loaded_instead_of_random_weights(tiny, cpu, tmp_path):
    original = build.build_model(tiny, cpu, seed=7).model
    original.save_pretrained(tmp_path)
    loaded = build.build_model(tiny, cpu, seed=0, weights_path=tmp_path)
    assert loaded.source.startswith("safetensors from")
    w0 = original.model.layers[1].mlp.down_proj.weight
    assert torch.equal(loaded.model.model.layers[1].mlp.down_proj.weight, w0)
    assert loaded.census.parameter_bytes == amem.weight_bytes(tiny, bf16(), 1)


def test_a_folder_without_weights_is_a_clear_error(tiny, cpu, tmp_path):
    with pytest.raises(ProfilerError, match=r"\*\.safetensors"):
        build.build_model(tiny, cpu, weights_path=tmp_path)


@pytest.mark.parametrize("name", ["tiny", "tiny_tied", "tiny_moe"])
def test_kv_bytes_per_token_from_two_cache_lengths_equals_the_analytic_count(name, request, cpu):
    spec = request.getfixturevalue(name)
    model = build.build_model(spec, cpu).model
    per_token, method = steps.kv_bytes_per_token(model, cpu)
    # every tiny model: 2 layers x 2 (K, V) x 2 KV heads x 16 dims x 2 B = 256 B per token
    assert per_token == amem.kv_bytes_per_token(spec, KvDtype.BF16, 1) == TINY_KV_BYTES_PER_TOKEN
    assert "census" in method


def test_smollm2_config_builds_at_catalogue_size_on_meta():
    """The catalogue's own entry goes through the same config path (on meta: no memory, no time)."""
    spec = catalogue.get_model("smollm2-135m")
    model, experts = build._from_config(spec, torch.device("meta"), torch.bfloat16)
    model.tie_weights()
    build._check_tied(model, spec)
    assert experts is None and sum(p.numel() for p in model.parameters()) == param_counts(spec).total


@pytest.mark.skipif(not torch.cuda.is_available(), reason="allocator deltas need a CUDA GPU")
def test_on_cuda_the_allocator_delta_matches_the_census(tiny):
    built = build.build_model(tiny, torch.device("cuda"))
    assert built.allocator_bytes == pytest.approx(built.census.total_bytes, rel=0.01, abs=4096)
