"""The real app through CliRunner: exit codes, JSON on stdout, no tracebacks."""

import json

import pytest
from typer.testing import CliRunner

from planner.cli import app

runner = CliRunner()


def run(*args):
    return runner.invoke(app, list(args))


def test_models_json_has_exact_counts_and_kv():
    r = run("models", "--format", "json")
    assert r.exit_code == 0, r.output
    rows = {m["name"]: m for m in json.loads(r.stdout)}
    assert len(rows) == 18
    assert rows["llama-3.1-8b"]["params_total"] == 8_030_261_248
    assert rows["llama-3.1-8b"]["kv_bytes_per_token"] == 131_072
    assert rows["llama-3.3-70b"]["params_total"] == 70_553_706_496
    for m in rows.values():
        assert {"name", "params_total", "params_active", "kv_bytes_per_token"} <= set(m)
        assert 0 < m["params_active"] <= m["params_total"]


def test_models_and_gpus_tables_render():
    for cmd in ("models", "gpus"):
        r = run(cmd)
        assert r.exit_code == 0, r.output
    assert "h100-sxm" in run("gpus").stdout


def test_profile_json_acceptance_row():
    r = run("profile", "llama-3.1-8b", "--gpu", "h100-sxm", "--quant", "bf16", "--batch", "1", "--context", "1024",
            "--format", "json")
    assert r.exit_code == 0, r.output
    rows = json.loads(r.stdout)
    dec = next(x for x in rows if x["phase"] == "decode")
    assert abs(dec["weights_bytes"] / (2 * 8_030_261_248) - 1) < 0.005
    roofline = 3.35e12 / dec["weights_bytes"]
    assert 0.6 * roofline <= dec["tokens_per_s"] <= roofline


def test_profile_writes_csv_with_meta(tmp_path):
    out = tmp_path / "p.csv"
    r = run("profile", "qwen3-30b-a3b", "--quant", "bf16,int4", "--batch", "1,8", "--context", "2k", "-o", str(out))
    assert r.exit_code == 0, r.output
    assert out.exists() and (tmp_path / "p.meta.json").exists()


def test_unknown_model_suggests_close_names_without_traceback():
    r = run("profile", "llama-3.1-8", "--format", "json")
    assert r.exit_code == 1
    assert "llama-3.1-8b" in r.output and "Traceback" not in r.output


def test_unknown_gpu_and_bad_numbers_are_one_line_errors():
    r = run("profile", "llama-3.1-8b", "--gpu", "h100")
    assert r.exit_code == 1 and "h100-sxm" in r.output
    r = run("profile", "llama-3.1-8b", "--batch", "1,x")
    assert r.exit_code == 1 and "--batch" in r.output
    r = run("profile", "llama-3.1-8b", "--batch", "0")
    assert r.exit_code == 1 and "Traceback" not in r.output
    r = run("profile", "llama-3.1-8b", "--format", "yaml")
    assert r.exit_code == 1 and "--format" in r.output


def test_model_too_large_for_gpu_says_what_fits():
    r = run("profile", "llama-3.1-405b", "--gpu", "h100-sxm", "--quant", "bf16")
    assert r.exit_code == 1
    assert "does not fit" in r.output and "TP=" in r.output


def test_fp8_on_a100_is_reported_unsupported():
    r = run("profile", "llama-3.1-8b", "--gpu", "a100-80gb", "--quant", "fp8", "--format", "json")
    assert r.exit_code == 1 and "fp8" in r.output


def test_gpus_show_the_source_of_every_row_and_int8_fp4_rates():
    rows = {g["id"]: g for g in json.loads(run("gpus", "--format", "json").stdout)}
    assert all(g["source"] for g in rows.values())
    assert rows["b200"]["fp4_tflops"] == 9000 and rows["h100-sxm"]["int8_tflops"] == 1978
    assert rows["h100-sxm"]["fp4_tflops"] is None  # no fp4 path: empty, never a zero
    table = run("gpus").stdout
    assert "int8_tflops" in table and "fp4_tflops" in table and "sources" in table
    assert "h100-sxm: AIC h100_sxm.yaml" in table


def test_a_list_that_is_not_numbers_says_integers():
    r = run("profile", "llama-3.1-8b", "--context", "abc")
    assert r.exit_code == 1 and "comma-separated list of integers" in r.output and "parse_count" not in r.output
    r = run("profile", "llama-3.1-8b", "--tp", "two")
    assert r.exit_code == 1 and "list of integers" in r.output


def test_the_analytic_default_gpu_is_still_h100_sxm():
    rows = json.loads(run("profile", "llama-3.1-8b", "--batch", "1", "--context", "1024", "--format", "json").stdout)
    assert {r["gpu"] for r in rows} == {"h100-sxm"}


@pytest.mark.parametrize("args, says", [
    (("--tp", "2"), "multi-GPU tensor parallelism is not implemented"),
    (("--tp", "1,4"), "runs on one GPU"),
    (("--calibration", "c.yaml"), "--calibration applies to analytic profiles"),
    (("--device", "cpu", "--gpu", "h100-sxm"), "drop --gpu"),
    (("--force-gpu",), "--force-gpu needs --gpu"),
])
def test_measured_options_it_cannot_honour_are_refused(args, says, monkeypatch):
    import profiler.measure.sweep as sweep

    monkeypatch.setattr(sweep, "run_measured_profile", lambda *a, **k: pytest.fail("must be refused first"))
    r = run("profile", "llama-3.1-8b", "--measure", *args)
    assert r.exit_code == 1 and says in r.output and "Traceback" not in r.output


def test_measured_only_options_without_measure_are_refused():
    r = run("profile", "llama-3.1-8b", "--weights", "/tmp")
    assert r.exit_code == 1 and "--weights applies to measured profiles only" in r.output
    r = run("profile", "llama-3.1-8b", "--gpu", "h200", "--force-gpu")
    assert r.exit_code == 1 and "--force-gpu applies to measured profiles only" in r.output


@pytest.mark.parametrize("args, gpu_id, force", [((), None, False), (("--gpu", "h200"), "h200", False),
                                                 (("--gpu", "h200", "--force-gpu"), "h200", True)])
def test_measure_detects_the_gpu_unless_one_is_named(args, gpu_id, force, monkeypatch):
    import profiler.measure.sweep as sweep
    from profiler.schema import ProfileMeta, normalise

    seen = {}

    def fake(model, gpu, *grid, **kw):  # the outermost side effect: the GPU sweep itself
        seen.update(gpu=gpu, **kw)
        return normalise([]), ProfileMeta(tool_version="t", environment={"gpu": gpu or "h100-sxm", "torch": "x"})

    monkeypatch.setattr(sweep, "run_measured_profile", fake)
    monkeypatch.setattr("sys.argv", ["inferplan", "profile", "llama-3.1-8b", "--measure", *args])
    r = run("profile", "llama-3.1-8b", "--measure", *args, "--format", "json")
    assert r.exit_code == 0, r.output
    assert seen["gpu"] == gpu_id and seen["force_gpu"] is force
    assert seen["command"] == " ".join(["inferplan", "profile", "llama-3.1-8b", "--measure", *args])
    assert json.loads(r.stdout) == []  # json on stdout stays machine-readable; the summary goes to stderr


def _profile_file(tmp_path, scale: float):
    """An analytic llama-3.1-8b sweep posing as a measured one, decode latencies scaled by `scale`."""
    from profiler import api
    from profiler.schema import write_profile

    df, meta = api.profile(api.ProfileRequest(model="llama-3.1-8b", batches=(1, 8, 64), contexts=(1024, 8192)))
    dec = df["phase"] == "decode"
    df.loc[dec, "latency_ms"] = df.loc[dec, "latency_ms"] * scale
    df["source"] = "measured"  # calibrate fits measured rows only
    path = tmp_path / f"m{scale}.csv"
    write_profile(df, path, meta)
    return path


def test_calibrate_warns_when_a_fitted_factor_sits_at_its_clipping_limit(tmp_path):
    from profiler.analytic.calibration import ETA_RANGE

    r = run("calibrate", str(_profile_file(tmp_path, 0.2)), "-o", str(tmp_path / "c.yaml"))
    assert r.exit_code == 0, r.output
    warning = next(x for x in r.output.splitlines() if x.startswith("warning:"))
    assert "h100-sxm/bf16" in warning and f"clipping limit {ETA_RANGE[1]:g}" in warning
    plain = run("calibrate", str(_profile_file(tmp_path, 1.0)), "-o", str(tmp_path / "d.yaml"))
    assert plain.exit_code == 0 and "warning:" not in plain.output
    assert "h100-sxm/bf16 fit error (median abs): decode" in plain.output


def test_the_environment_summary_names_the_card_driver_and_versions():
    from profiler.tables import environment_summary

    gpu = {"gpu_name": "NVIDIA H200", "gpu": "h100-sxm", "nvml": {"driver": "570.1"}, "cuda_runtime": "12.8",
           "torch": "2.9.0", "transformers": "5.2.0", "torchao": "0.15.0",
           "gpu_id_warning": "device reports 'NVIDIA H200' (h200), profile labelled h100-sxm"}
    line = environment_summary(gpu)
    assert line.startswith("measured on NVIDIA H200 (rows labelled h100-sxm), driver 570.1, CUDA 12.8")
    assert "torch 2.9.0, transformers 5.2.0, torchao 0.15.0" in line and "warning: device reports" in line
    cpu = environment_summary({"cpu": "x86_64", "cpu_threads": 2, "gpu": "cpu", "torch": "2.13",
                               "transformers": "5.24", "torchao": "not installed"})
    assert cpu == ("measured on CPU x86_64 (2 threads, rows labelled cpu); torch 2.13, transformers 5.24, "
                   "torchao not installed")
