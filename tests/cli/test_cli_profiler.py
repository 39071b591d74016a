"""The real app through CliRunner: exit codes, JSON on stdout, no tracebacks."""

import json

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
