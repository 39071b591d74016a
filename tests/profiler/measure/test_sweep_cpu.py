"""The measured path on CPU with tiny models: build, KV census, timing, injected OOM, resume."""

import pytest

torch = pytest.importorskip("torch", reason="the measured profiler needs torch (installed by the dev extra)")

from profiler import catalogue  # noqa: E402
from profiler.analytic import memory as amem  # noqa: E402
from profiler.measure import build, sweep  # noqa: E402
from profiler.measure.timers import time_call  # noqa: E402
from profiler.schema import read_profile, validate  # noqa: E402
from profiler.specs import KvDtype  # noqa: E402

TINY = {"model_type": "llama", "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2,
        "num_attention_heads": 4, "num_key_value_heads": 2, "vocab_size": 256, "max_position_embeddings": 512,
        "tie_word_embeddings": False}
TINY_MOE = {"model_type": "qwen3_moe", "hidden_size": 64, "intermediate_size": 128, "moe_intermediate_size": 32,
            "num_experts": 4, "num_experts_per_tok": 2, "num_hidden_layers": 2, "num_attention_heads": 4,
            "num_key_value_heads": 2, "head_dim": 16, "vocab_size": 256, "max_position_embeddings": 512}


@pytest.fixture(scope="module")
def tiny():
    return catalogue.spec_from_hf_config("tiny-llama", TINY, source="test")


def test_build_matches_the_analytic_weight_bytes_and_kv_per_token(tiny):
    model = build.build_model(tiny, "cpu")
    bf16 = catalogue.get_quant("bf16")
    assert sweep.weight_bytes_on_device(model, "cpu", 0) == amem.weight_bytes(tiny, bf16, 1)
    assert sweep.kv_bytes_per_token(model, "cpu", KvDtype.BF16) == amem.kv_bytes_per_token(tiny, KvDtype.BF16, 1)


def test_moe_model_builds_and_counts_exactly():
    spec = catalogue.spec_from_hf_config("tiny-moe", TINY_MOE, source="test")
    model = build.build_model(spec, "cpu")
    assert sweep.weight_bytes_on_device(model, "cpu", 0) == amem.weight_bytes(spec, catalogue.get_quant("bf16"), 1)


def test_timer_reads_a_known_sleep():
    import time

    t = time_call(lambda: time.sleep(0.01), "cpu", warmup=1, min_reps=3, min_time_s=0.0)
    assert t.reps >= 3 and 0.009 < t.median_s < 0.05


def test_sweep_rows_validate_and_oom_is_a_boundary(tiny, tmp_path):
    out = tmp_path / "m.csv"
    # weights 214 kB; batch 2 x 65 tokens needs ~0.42 MB with KV and activations, batch 64 ~5.5 MB
    df, meta = sweep.run_measured_profile(tiny, None, ["bf16", "int4"], [KvDtype.BF16], [1, 2, 64], [64],
                                          device="cpu", out=out, memory_limit_bytes=600_000, progress=False)
    validate(df)
    ok = df[(df["status"] == "ok")]
    assert set(ok["batch"]) == {1, 2} and (ok["source"] == "measured").all()
    assert (ok["latency_ms"] > 0).all() and (ok["mbu"] > 0).all()
    assert set(df[(df["quant"] == "bf16") & (df["batch"] == 64)]["status"]) == {"oom"}
    assert 2 <= ok["max_batch"].iloc[0] < 64
    uns = df[df["quant"] == "int4"]
    assert set(uns["status"]) == {"unsupported"} and uns["note"].str.contains("torchao").all()
    back, _ = read_profile(out)
    assert len(back) == len(df) and meta.environment["device"] == "cpu"


def test_resume_after_a_kill_repeats_and_loses_nothing(tiny, tmp_path):
    out = tmp_path / "r.csv"
    seen = []

    def killer(row):
        seen.append(row)
        if len(seen) == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        sweep.run_measured_profile(tiny, None, ["bf16"], [KvDtype.BF16], [1, 2], [32, 64], device="cpu", out=out,
                                   progress=False, on_point=killer)
    first, _ = read_profile(out)
    assert len(first) == 3
    again = []
    df, _ = sweep.run_measured_profile(tiny, None, ["bf16"], [KvDtype.BF16], [1, 2], [32, 64], device="cpu",
                                       out=out, progress=False, on_point=again.append)
    keys = list(zip(df["phase"], df["batch"], df["context"], strict=True))
    assert len(df) == 8 and len(set(keys)) == 8
    assert len(again) == 8 - 3  # only the missing points, including the other half of an interrupted pair


def test_cuda_request_without_a_gpu_is_a_clear_error(tiny):
    if torch.cuda.is_available():
        pytest.skip("a CUDA GPU is present: the no-GPU message cannot be shown here")
    from profiler.errors import ProfilerError

    with pytest.raises(ProfilerError, match="--device cpu"):
        sweep.run_measured_profile(tiny, "h100-sxm", ["bf16"], [KvDtype.BF16], [1], [16], device="cuda",
                                   progress=False)
