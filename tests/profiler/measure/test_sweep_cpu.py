"""The measured sweep end to end on the CPU with tiny models: rows, MBU/MFU, OOM boundaries, unsupported levels,
the environment, bad requests. Points are timed with the quick policy (the policy a CPU gets by default:
test_timer_policy.py; resuming: test_resume.py)."""

import json
import subprocess
import sys
from dataclasses import asdict

import pytest

torch = pytest.importorskip("torch", reason="the measured profiler needs torch (the dev extra installs it)")

from profiler.errors import InvalidValueError, ProfilerError, UnknownNameError  # noqa: E402
from profiler.measure import STATIC_CACHE_EXTRA_SLOTS  # noqa: E402
from profiler.measure.environment import cpu_spec  # noqa: E402
from profiler.measure.journal import journal_path  # noqa: E402
from profiler.measure.sweep import run_measured_profile  # noqa: E402
from profiler.measure.timers import TimerPolicy  # noqa: E402
from profiler.schema import KEY_COLUMNS, read_profile, validate  # noqa: E402
from profiler.specs import KvDtype  # noqa: E402
from tests.profiler.measure.tiny import (  # noqa: E402
    TINY_BF16_BYTES,
    TINY_KV_BYTES_PER_TOKEN,
    TINY_RESIDENT_BYTES,
    decode_by_hand,
    prefill_by_hand,
)

LIMIT = 900_000  # bytes: the tiny model's weights (214 kB) plus room for a few dozen 64-token sequences
QUICK = TimerPolicy.quick()


def journal_records(out, kind):
    return [r for r in map(json.loads, journal_path(out).read_text().splitlines()) if r["type"] == kind]


@pytest.fixture(scope="module")
def swept(tiny, tmp_path_factory):
    out = tmp_path_factory.mktemp("sweep") / "profile.csv"
    df, meta = run_measured_profile(tiny, None, ["bf16", "int4"], [KvDtype.BF16, KvDtype.FP8], [1, 2, 256], [32, 64],
                                    device="cpu", out=out, memory_limit_bytes=LIMIT, progress=False, timer=QUICK)
    return df, meta, out


def test_every_point_is_a_valid_row(swept):
    df, meta, out = swept
    validate(df)
    assert len(df) == 2 * 2 * 2 * 3 * 2 and not df.duplicated(list(KEY_COLUMNS)).any()  # quant kv phase batch ctx
    assert set(df["source"]) == {"measured"} and set(df["gpu"]) == {"cpu"}
    back, back_meta = read_profile(out)
    assert back[list(KEY_COLUMNS)].equals(df[list(KEY_COLUMNS)]) and list(back["status"]) == list(df["status"])
    assert back_meta.environment == meta.environment


def test_ok_rows_hold_measured_numbers_that_agree_with_the_hand_counted_bytes(swept):
    df, _, out = swept
    ok = df[df["status"] == "ok"]
    assert set(ok["quant"]) == {"bf16"} and set(ok["kv_dtype"]) == {"bf16"}
    assert sorted(ok[["phase", "batch", "context"]].itertuples(index=False, name=None)) == sorted(
        (phase, b, c) for phase in ("decode", "prefill") for b in (1, 2) for c in (32, 64))
    assert (ok["weights_bytes"] == TINY_BF16_BYTES).all()
    assert (ok["kv_bytes_per_token"] == TINY_KV_BYTES_PER_TOKEN).all()
    assert ok["note"].str.contains(r"weights 213,632 B \(tensor census\) vs analytic 213,632 \(\+0\.00%\)").all()
    # tokens/s is tokens per step over the step's median: B for a decode step, B x T for a prefill
    tokens = ok["batch"] * ok["context"].where(ok["phase"] == "prefill", 1)
    assert list(ok["tokens_per_s"] * ok["latency_ms"] / 1e3) == pytest.approx(list(tokens.astype(float)))
    assert ok["power_w"].isna().all() and ok["note"].str.contains("power: unsupported on CPU").all()
    timings = [r["detail"]["timing"] for r in journal_records(out, "row") if r["row"]["status"] == "ok"]
    for row, t in zip(ok.itertuples(), timings, strict=True):  # the row is the journal's median and IQR, in ms
        assert t["count"] >= QUICK.min_count
        assert (row.latency_ms, row.latency_ms_spread) == pytest.approx((t["median_s"] * 1e3,
                                                                         (t["q3_s"] - t["q1_s"]) * 1e3))


def test_the_peak_holds_the_resident_bytes_and_the_cache_and_stays_in_the_budget(swept):
    ok = swept[0][swept[0]["status"] == "ok"]
    slots = ok["context"] + (ok["phase"] == "decode") * STATIC_CACHE_EXTRA_SLOTS  # prefill: a tight cache
    floor = TINY_RESIDENT_BYTES + ok["batch"] * slots * TINY_KV_BYTES_PER_TOKEN
    assert (ok["peak_bytes"] >= floor).all() and (ok["peak_bytes"] <= LIMIT).all()


def test_measured_mbu_and_mfu_are_the_hand_counted_bytes_and_flops_at_the_measured_rates(swept):
    df, meta, _ = swept
    machine = meta.environment["machine_spec"]
    bandwidth, flops_per_s = machine["hbm_bandwidth_bytes_per_s"], machine["tflops"]["bf16"] * 1e12
    for r in df[df["status"] == "ok"].itertuples():
        nbytes, flops = (decode_by_hand if r.phase == "decode" else prefill_by_hand)(r.batch, r.context)
        t = r.latency_ms / 1e3
        assert r.mbu == pytest.approx(nbytes / t / bandwidth, rel=1e-9)
        assert r.mfu == pytest.approx(flops / t / flops_per_s, rel=1e-9)
        # Fractions of what this CPU was measured doing (its fastest 64 MiB copy and 512^3 bf16 matmul): usually
        # far below 1 (a few dozen eager ops, ~0.2 MB and 0.2 to 5 MFLOP). On a CPU without native bf16 a small
        # cache-resident matmul can outrun the 512^3 one (seen: prefill MFU 1.23 at 1.5 GFLOP/s measured); the sweep
        # then measures the CPU again, and a ratio still above 1 carries the note that says it is no utilisation.
        assert r.mbu > 0 and r.mfu > 0
        for name, value in (("mbu", r.mbu), ("mfu", r.mfu)):
            assert value <= 1 or f"{name} {value:.2f} > 1, not a utilisation" in r.note, r.note


def test_the_oom_boundary_is_a_measured_search_recorded_as_rows(swept):
    """Per context and phase: a decode point needs its cache, one prefill chunk and one step; a prefill point runs
    all B x T tokens in one forward, so its boundary is searched with the prefill step itself (up to the largest
    prefill batch asked for, 256). Every row at or below its max_batch fits; every row above is an oom row."""
    df, _, out = swept
    bf16 = df[(df["quant"] == "bf16") & (df["kv_dtype"] == "bf16")]
    found = {}
    for (context, phase), rows in bf16.groupby(["context", "phase"]):
        mb = found[context, phase] = int(rows["max_batch"].iloc[0])
        # the cache alone bounds it: (LIMIT - resident) // ((context + 1) x 256 B) = 81 at 32, 41 at 64
        room = (LIMIT - TINY_RESIDENT_BYTES) // ((context + STATIC_CACHE_EXTRA_SLOTS) * TINY_KV_BYTES_PER_TOKEN)
        assert room == {32: 81, 64: 41}[context]
        assert 2 <= mb <= room and (rows["max_batch"] == mb).all()
        slots = context + (STATIC_CACHE_EXTRA_SLOTS if phase == "decode" else 0)  # prefill: a tight cache
        assert (rows["kv_capacity_tokens"] == mb * slots).all()
        assert set(rows[rows["batch"] == 256]["status"]) == {"oom"}
        assert set(rows[rows["batch"] <= 2]["status"]) == {"ok"}
        what = "batch that fits" if phase == "decode" else "prefill batch that fits in one forward"
        assert rows[rows["batch"] == 256]["note"].str.startswith(
            f"largest {what} at context {context}: {mb} (injected memory limit of 1 MiB").all()
        name = f"max_batch/bf16/bf16/{context}" + ("/prefill" if phase == "prefill" else "")
        search = next(r["value"] for r in journal_records(out, "aux") if r["name"] == name)
        probes = dict(map(tuple, search["probes"]))
        assert probes[mb] is True and probes[mb + 1] is False  # the boundary itself was probed
        assert all(fits == (b <= mb) for b, fits in probes.items())
    assert found[64, "decode"] < found[32, "decode"] and found[64, "prefill"] < found[32, "prefill"]  # longer: fewer
    # a whole prefill's activations outweigh one chunk's: fewer prompts fit in one prefill forward than decode
    assert found[32, "prefill"] < found[32, "decode"] and found[64, "prefill"] < found[64, "decode"]


def test_levels_this_machine_cannot_run_are_unsupported_rows_with_the_reason(swept):
    df = swept[0]
    int4 = df[(df["quant"] == "int4") & (df["kv_dtype"] == "bf16")]
    assert set(int4["status"]) == {"unsupported"}
    assert set(int4["note"]) == {"int4: torchao's int4 kernels run on CUDA only, not on cpu"}
    fp8kv = df[df["kv_dtype"] == "fp8"]
    assert len(fp8kv) == 2 * 2 * 3 * 2 and set(fp8kv["status"]) == {"unsupported"}
    assert fp8kv["note"].str.startswith("fp8 KV cache: transformers' StaticCache stores K/V in the activation").all()
    assert df[df["status"] != "ok"][["latency_ms", "mbu", "mfu"]].isna().all().all()  # no zero stands in


def test_the_environment_names_the_machine_and_its_measured_rates(swept):
    env = swept[1].environment
    assert (env["device"], env["gpu"], env["torch"]) == ("cpu", "cpu", torch.__version__)
    # the record MBU/MFU divided by is this process's measured CPU (test_measured_rates.py: its arithmetic), or, when
    # a step outran it, the faster of each rate of that and a second measurement taken during the sweep
    first = {**asdict(cpu_spec()), "tdp_w": None}
    spec = env["machine_spec"]
    if spec != first:
        assert spec["source"].startswith("the faster of each rate of two measurements")
        assert spec["hbm_bandwidth_bytes_per_s"] >= first["hbm_bandwidth_bytes_per_s"]
        assert spec["tflops"]["bf16"] >= first["tflops"]["bf16"]
        spec = {**spec, "source": first["source"], "hbm_bandwidth_bytes_per_s": first["hbm_bandwidth_bytes_per_s"],
                "tflops": first["tflops"]}
    assert spec == first
    assert env["cpu_threads"] == torch.get_num_threads() and env["hf_hub_offline"] == "1"


def test_moe_json_output_prefill_batches_and_too_long_contexts(tiny_moe, tmp_path):
    out = tmp_path / "moe.json"
    df, _ = run_measured_profile(tiny_moe, None, ["bf16"], ["bf16"], [1, 4], [32, 1024], device="cpu", out=out,
                                 progress=False, prefill_batches=[1], timer=QUICK)
    assert len(df) == (1 + 2) * 2  # (prefill at batch 1 + decode at batches 1 and 4) x 2 contexts
    long = df[df["context"] == 1024]
    assert set(long["status"]) == {"unsupported"}  # beyond max_position_embeddings 512
    assert set(long["note"]) == {"context exceeds the model's max_context 512"}
    ok = df[df["status"] == "ok"]
    assert len(ok) == 3 and set(ok[ok["phase"] == "prefill"]["batch"]) == {1}
    back, _ = read_profile(out)
    assert back.shape == df.shape and list(back["status"]) == list(df["status"])


def test_bad_requests_are_clear_errors(tiny):
    with pytest.raises(InvalidValueError, match="batches"):
        run_measured_profile(tiny, None, ["bf16"], ["bf16"], [0], [16], device="cpu", progress=False)
    with pytest.raises(UnknownNameError, match="int3"):
        run_measured_profile(tiny, None, ["int3"], ["bf16"], [1], [16], device="cpu", progress=False)
    with pytest.raises(InvalidValueError, match="KV dtype"):
        run_measured_profile(tiny, None, ["bf16"], ["int2"], [1], [16], device="cpu", progress=False)
    with pytest.raises(InvalidValueError, match="--device"):
        run_measured_profile(tiny, None, ["bf16"], ["bf16"], [1], [16], device="tpu", progress=False)


@pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA GPU is present: the no-GPU message cannot be shown")
def test_cuda_request_without_a_gpu_is_a_clear_error(tiny):
    with pytest.raises(ProfilerError, match="--device cpu"):
        run_measured_profile(tiny, "h100-sxm", ["bf16"], ["bf16"], [1], [16], device="cuda", progress=False)


def test_importing_the_measure_package_does_not_import_torch():
    code = ("import sys\nimport profiler.measure, profiler.measure.sweep, profiler.measure.runner, "
            "profiler.measure.build, profiler.measure.steps, profiler.measure.power\n"
            "print([m for m in ('torch', 'transformers', 'torchao', 'pynvml') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


@pytest.mark.skipif(not torch.cuda.is_available(), reason="the CUDA sweep needs a CUDA GPU")
def test_cuda_sweep_rows_carry_power_or_say_why(tiny, tmp_path):
    df, meta = run_measured_profile(tiny, None, ["bf16"], ["bf16"], [1, 4], [64], device="cuda",
                                    out=tmp_path / "g.csv", progress=False, max_batch_cap=64)  # card detected
    ok = df[df["status"] == "ok"]
    assert len(ok) == 4 and ok["note"].str.contains("cuda-graph|eager").all()
    assert (ok["power_w"].notna() | ok["note"].str.contains("power")).all()
    assert meta.environment["gpu_name"] and "gpu_id_warning" not in meta.environment
