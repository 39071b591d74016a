"""The timed forward passes on a static cache: right positions, right shapes, replayable, known memory."""

import pytest

torch = pytest.importorskip("torch", reason="the measured profiler needs torch (the dev extra installs it)")

from profiler.measure import STATIC_CACHE_EXTRA_SLOTS, build, steps  # noqa: E402
from profiler.measure.memory import LiveTensorCensus, cache_nbytes  # noqa: E402
from tests.profiler.measure.tiny import TINY_KV_BYTES_PER_TOKEN  # noqa: E402


@pytest.fixture(scope="module", params=["tiny", "tiny_moe"])
def model_spec(request):
    spec = request.getfixturevalue(request.param)
    return build.build_model(spec, torch.device("cpu")).model, spec


def positions(cache):
    return [int(layer.cumulative_length) for layer in cache.layers if hasattr(layer, "cumulative_length")]


def test_prefill_keeps_only_the_last_logits_and_rewinds_each_call(model_spec, cpu):
    model, spec = model_spec
    step = steps.prefill_step(model, cpu, batch=3, prompt=10)
    a, b = step.fn(), step.fn()
    assert a.shape == (3, 1, spec.vocab_size) and torch.equal(a, b)
    assert step.tokens == 30 and step.attended == 10 and set(positions(step.cache)) <= {10}


def test_decode_replays_at_the_same_position_and_attends_context_plus_one(model_spec, cpu):
    model, spec = model_spec
    step = steps.decode_step(model, cpu, batch=2, context=12, graphs=True)  # no graphs on CPU: eager
    outs = [step.fn() for _ in range(3)]
    assert step.method == "eager" and all(torch.equal(outs[0], o) for o in outs)
    assert outs[0].shape == (2, 1) and step.tokens == 2
    assert step.attended == 12 + STATIC_CACHE_EXTRA_SLOTS and set(positions(step.cache)) <= {13}
    assert step.cache.layers[0].keys.shape[2] == 12 + STATIC_CACHE_EXTRA_SLOTS
    assert "chunked prefill" in step.note


def test_a_decode_step_on_the_filled_cache_equals_a_full_forward(model_spec, cpu):
    """The cache fill, write position and mask are right: cached decode == uncached forward of L + 1 tokens."""
    model, _ = model_spec
    batch, context = 2, 12
    step = steps.decode_step(model, cpu, batch, context)
    prefix = steps.Inputs(model, cpu, batch, 0, context, seed=1).ids
    new = steps.Inputs(model, cpu, batch, context, 1, seed=2)
    with torch.inference_mode():
        steps.set_position(step.cache, context)
        cached = model(**new.kwargs(step.cache)).logits[:, -1].float()
        full = model(input_ids=torch.cat([prefix, new.ids], 1), use_cache=False).logits[:, -1].float()
    assert torch.allclose(cached, full, atol=0.05 * full.abs().max().item())


def test_a_large_decode_point_fills_the_rest_of_its_cache_randomly(model_spec, cpu, monkeypatch):
    model, _ = model_spec
    monkeypatch.setitem(steps.REAL_FILL_TOKENS, "cpu", 0)
    step = steps.decode_step(model, cpu, batch=2, context=200)
    assert "the rest random" in step.note and step.fn().shape == (2, 1)
    keys = step.cache.layers[0].keys
    assert keys[:, :, 150:200].abs().sum() > 0


def test_fit_probe_allocates_the_whole_cache(model_spec, cpu):
    model, spec = model_spec
    batch, context = 4, 40
    with LiveTensorCensus() as cen:
        steps.fit_probe(model, cpu, batch, context)
    kv = batch * (context + STATIC_CACHE_EXTRA_SLOTS) * TINY_KV_BYTES_PER_TOKEN  # 4 x 41 x 256 B
    assert kv <= cen.peak < kv + 2**20


def test_cache_census_counts_keys_and_values(model_spec, cpu):
    model, spec = model_spec
    step = steps.decode_step(model, cpu, batch=3, context=5)
    assert cache_nbytes(step.cache) == 3 * (5 + STATIC_CACHE_EXTRA_SLOTS) * TINY_KV_BYTES_PER_TOKEN  # 3 x 6 x 256 B


@pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA-graph capture needs a CUDA GPU")
def test_decode_is_captured_in_a_cuda_graph(tiny):
    dev = torch.device("cuda")
    model = build.build_model(tiny, dev).model
    step = steps.decode_step(model, dev, batch=4, context=64)
    assert step.method == "cuda-graph"
    step.fn()
    torch.cuda.synchronize()
    assert set(positions(step.cache)) <= {65}
