"""Bad `inferplan profile` input ends in one readable message and exit 1, never a traceback."""

import json
import os
import stat

import pytest
from typer.testing import CliRunner

from planner.cli import app

runner = CliRunner()


def run(*args):
    return runner.invoke(app, list(args))


@pytest.mark.parametrize("args, says", [
    (("--context", "0"), "contexts must be positive"),
    (("--context", "-5"), "contexts must be positive"),
    (("--batch", "99999999999"), "batches above 1,048,576"),
    (("--context", "200000", "--batch", "1"), "at most 131,072 tokens"),
    (("--quant", "mxfp4"), "quantises MoE expert weights only"),
    (("--calibration", "/nonexistent/calibration.yaml"), "does not exist"),
    (("--tp", "16", "--gpu", "l4"), "a l4 node holds 8"),
])
def test_bad_profile_input_is_one_message(args, says):
    r = run("profile", "llama-3.1-8b", *args)
    assert r.exit_code == 1, r.output
    assert says in r.output
    assert "Traceback" not in r.output


def test_nothing_fits_in_any_requested_configuration_says_what_would():
    r = run("profile", "llama-3.1-405b", "--gpu", "l4", "--quant", "bf16,fp8")
    assert r.exit_code == 1
    assert "does not fit" in r.output and "h200 (int4 TP=2" in r.output


def test_mxfp4_on_a_moe_model_quantises_its_experts():
    r = run("profile", "gpt-oss-20b", "--quant", "mxfp4,bf16", "--batch", "1", "--context", "1024",
            "--format", "json")
    assert r.exit_code == 0, r.output
    rows = json.loads(r.stdout)
    w = {row["quant"]: row["weights_bytes"] for row in rows}
    assert w["mxfp4"] < 0.4 * w["bf16"]


def test_written_profiles_are_readable_by_others(tmp_path):
    out = tmp_path / "p.csv"
    old = os.umask(0o022)
    try:
        r = run("profile", "llama-3.1-8b", "--batch", "1", "--context", "1024", "-o", str(out))
    finally:
        os.umask(old)
    assert r.exit_code == 0, r.output
    assert stat.S_IMODE(out.stat().st_mode) & 0o044 == 0o044
