"""The measured sweep end to end on the CPU with tiny models: rows, OOM boundaries, unsupported levels, resume."""

import json
import subprocess
import sys

import pytest

torch = pytest.importorskip("torch", reason="the measured profiler needs torch (the dev extra installs it)")

from profiler.analytic import memory as amem  # noqa: E402
from profiler.errors import InvalidValueError, ProfilerError, UnknownNameError  # noqa: E402
from profiler.measure import STATIC_CACHE_EXTRA_SLOTS  # noqa: E402
from profiler.measure.journal import journal_path  # noqa: E402
from profiler.measure.sweep import run_measured_profile  # noqa: E402
from profiler.measure.timers import TimerPolicy  # noqa: E402
from profiler.schema import KEY_COLUMNS, read_profile, validate  # noqa: E402
from profiler.specs import KvDtype  # noqa: E402

LIMIT = 900_000  # bytes: the tiny model's weights (214 kB) plus room for a few dozen 64-token sequences


def journal_records(out, kind):
    return [r for r in map(json.loads, journal_path(out).read_text().splitlines()) if r["type"] == kind]


@pytest.fixture(scope="module")
def swept(tiny, tmp_path_factory):
    out = tmp_path_factory.mktemp("sweep") / "profile.csv"
    df, meta = run_measured_profile(tiny, None, ["bf16", "int4"], [KvDtype.BF16, KvDtype.FP8], [1, 2, 256], [32, 64],
                                    device="cpu", out=out, memory_limit_bytes=LIMIT, progress=False)
    return df, meta, out


def test_every_point_is_a_valid_row(swept):
    df, meta, out = swept
    validate(df)
    assert len(df) == 2 * 2 * 2 * 3 * 2 and not df.duplicated(list(KEY_COLUMNS)).any()
    assert set(df["source"]) == {"measured"} and set(df["gpu"]) == {"cpu"}
    back, back_meta = read_profile(out)
    assert len(back) == len(df) and back_meta.environment["gpu"] == "cpu"


def test_ok_rows_hold_measured_numbers_that_agree_with_the_analytic_bytes(swept, tiny):
    df = swept[0]
    ok = df[df["status"] == "ok"]
    assert set(ok["batch"]) == {1, 2} and set(ok["quant"]) == {"bf16"} and set(ok["kv_dtype"]) == {"bf16"}
    assert (ok["latency_ms"] > 0).all() and (ok["latency_ms_spread"] >= 0).all()
    assert (ok["mbu"] > 0).all() and (ok["mfu"] > 0).all()
    bf16 = pytest.importorskip("profiler.catalogue").get_quant("bf16")
    assert (ok["weights_bytes"] == amem.weight_bytes(tiny, bf16, 1)).all()
    assert (ok["kv_bytes_per_token"] == amem.kv_bytes_per_token(tiny, KvDtype.BF16, 1)).all()
    assert ok["note"].str.contains(r"weights .* \(\+0\.00%\)").all()
    dec = ok[ok["phase"] == "decode"]
    assert list(dec["tokens_per_s"] * dec["latency_ms"] / 1e3) == pytest.approx(list(dec["batch"].astype(float)))
    assert (ok["peak_bytes"] > ok["weights_bytes"]).all()
    assert ok["power_w"].isna().all() and ok["note"].str.contains("power: unsupported on CPU").all()


def test_cpu_points_are_timed_with_the_robust_cpu_policy(swept):
    policy = TimerPolicy.cpu()
    timings = [r["detail"]["timing"] for r in journal_records(swept[2], "row") if r["row"]["status"] == "ok"]
    assert len(timings) == 8
    for t in timings:  # enough repetitions and time, or a spread already within the target
        assert t["count"] >= policy.min_count and t["total_s"] >= policy.min_time_s


def test_the_oom_boundary_is_a_measured_search_recorded_as_rows(swept):
    df, _, out = swept
    bf16 = df[(df["quant"] == "bf16") & (df["kv_dtype"] == "bf16")]
    for context, rows in bf16.groupby("context"):
        mb = int(rows["max_batch"].iloc[0])
        assert 2 <= mb < 256 and (rows["max_batch"] == mb).all()
        assert (rows["kv_capacity_tokens"] == mb * (context + STATIC_CACHE_EXTRA_SLOTS)).all()
        assert set(rows[rows["batch"] == 256]["status"]) == {"oom"}
        assert rows[rows["batch"] == 256]["note"].str.contains(f"largest batch that fits at context {context}").all()
        search = next(r["value"] for r in journal_records(out, "aux") if r["name"] == f"max_batch/bf16/bf16/{context}")
        probes = dict(map(tuple, search["probes"]))
        assert probes[mb] is True and probes[mb + 1] is False  # the boundary itself was probed
        assert "injected memory limit" in search["budget"]
    longer = bf16.groupby("context")["max_batch"].first()
    assert longer[64] < longer[32]  # longer contexts fit fewer sequences


def test_levels_this_machine_cannot_run_are_unsupported_rows_with_the_reason(swept):
    df = swept[0]
    int4 = df[(df["quant"] == "int4") & (df["kv_dtype"] == "bf16")]
    assert set(int4["status"]) == {"unsupported"} and int4["note"].str.contains("int4").all()
    fp8kv = df[df["kv_dtype"] == "fp8"]
    assert set(fp8kv["status"]) == {"unsupported"} and fp8kv["note"].str.contains("fp8 KV cache").all()
    assert df[df["status"] != "ok"]["latency_ms"].isna().all()  # never a zero standing in for a measurement


def test_the_environment_names_the_machine_and_its_measured_rates(swept):
    env = swept[1].environment
    assert env["device"] == "cpu" and env["torch"] == torch.__version__ and "transformers" in env
    spec = env["machine_spec"]
    assert spec["id"] == "cpu" and spec["hbm_bandwidth_bytes_per_s"] > 1e8 and spec["tflops"]["bf16"] > 0
    assert "measured" in spec["source"] and env["hf_hub_offline"] == "1"


def test_resume_after_a_kill_neither_repeats_nor_loses_a_point(tiny, tmp_path):
    out = tmp_path / "r.csv"
    grid = dict(model=tiny, gpu_id=None, quants=["bf16"], kv_dtypes=["bf16"], batches=[1, 2], contexts=[16, 32],
                device="cpu", out=out, progress=False, timer=TimerPolicy.quick())  # what is tested is the journal
    seen = []

    def kill_after_three(row):
        seen.append(row)
        if len(seen) == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_measured_profile(**grid, on_point=kill_after_three)
    first, _ = read_profile(out)  # the profile on disk is valid and holds what was finished
    assert len(first) == 3
    with journal_path(out).open("a") as fh:
        fh.write('{"type": "row", "row": {"model": "tiny')  # a line cut mid-write by the kill
    again = []
    df, _ = run_measured_profile(**grid, on_point=again.append)
    keys = [tuple(r[k] for k in KEY_COLUMNS) for r in seen + again]
    assert len(df) == 8 and len(again) == 5 and len(set(keys)) == 8
    assert set(map(tuple, df[list(KEY_COLUMNS)].astype(str).values)) == {tuple(map(str, k)) for k in keys}
    redo = []
    run_measured_profile(**grid, on_point=redo.append)
    assert redo == []  # a finished sweep resumes to nothing
    fresh = []
    run_measured_profile(**{**grid, "resume": False}, on_point=fresh.append)
    assert len(fresh) == 8


def test_a_journal_of_another_model_is_not_resumed(tiny, tiny_moe, tmp_path):
    out = tmp_path / "x.csv"
    run_measured_profile(tiny, None, ["bf16"], ["bf16"], [1], [16], device="cpu", out=out, progress=False,
                         phases=["decode"])
    with pytest.raises(ProfilerError, match="tiny-llama"):
        run_measured_profile(tiny_moe, None, ["bf16"], ["bf16"], [1], [16], device="cpu", out=out, progress=False)


def test_moe_json_output_prefill_batches_and_too_long_contexts(tiny_moe, tmp_path):
    out = tmp_path / "moe.json"
    df, _ = run_measured_profile(tiny_moe, None, ["bf16"], ["bf16"], [1, 4], [32, 1024], device="cpu", out=out,
                                 progress=False, prefill_batches=[1])
    assert len(df) == (1 + 2) * 2
    assert set(df[df["context"] == 1024]["status"]) == {"unsupported"}  # beyond max_position_embeddings 512
    ok = df[df["status"] == "ok"]
    assert len(ok) == 3 and set(ok[ok["phase"] == "prefill"]["batch"]) == {1}
    assert read_profile(out)[0].shape == df.shape


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
