"""`inferplan calibrate` through the real app: a measured profile in, the efficiencies that made it out."""

from __future__ import annotations

import pytest
import yaml

from profiler import catalogue
from profiler.analytic import calibration
from profiler.analytic.efficiency import efficiency_for
from profiler.analytic.profile import Grid, analytic_profile
from profiler.schema import ProfileMeta, write_profile
from profiler.specs import Efficiency
from tests.helpers import cli_json

# The "GPU" that produced the file: 0.7 of the HBM bandwidth (weights and KV alike, as bf16 ties them), 0.5 of
# the FLOP/s, 100 us a step. The fit must find these again, not the published defaults (0.8, 0.6, 40 us).
TRUE = Efficiency(bandwidth=0.7, compute=0.5, step_overhead_s=100e-6, kv_bandwidth=0.7)


def measured_profile(tmp_path):
    """llama-3.1-8b on an H100, both phases, batches 1-64, contexts 512-8,192, with latencies that are exactly
    the analytic model at TRUE (a measured decode row attends one extra static-cache slot, as the harness does)."""
    grid = Grid(quants=(catalogue.get_quant("bf16"),), batches=(1, 4, 16, 64), contexts=(512, 2048, 8192))
    rows = analytic_profile(catalogue.get_model("llama-3.1-8b"), catalogue.get_gpu("h100-sxm"), grid,
                            lambda g, q: TRUE).assign(source="measured")
    ok = rows["status"] == "ok"  # analytic_terms keeps the ok rows, in order
    rows.loc[ok, "latency_ms"] = calibration.predict(calibration.analytic_terms(rows), TRUE) * 1e3
    path = tmp_path / "measured.csv"
    write_profile(rows, path, ProfileMeta(tool_version="t"))
    return path, rows


def test_calibrate_recovers_the_efficiencies_writes_them_and_later_profiles_use_them(tmp_path):
    src, rows = measured_profile(tmp_path)
    # 64 sequences of 8,192 tokens need 64 x 1 GiB of KV; one H100 holds 54 (58.6e9 B of KV budget / 2^30 B):
    # those two points (prefill and decode) are "oom" rows, which calibrate skips; the other 22 are fitted
    oom = rows[rows["status"] == "oom"]
    assert sorted(oom["phase"]) == ["decode", "prefill"] and set(oom["batch"]) == {64} and set(oom["context"]) == {8192}
    assert (rows["status"] == "ok").sum() == 22
    out = tmp_path / "cal.yaml"
    [row] = cli_json("calibrate", src, "-o", out)
    assert (row["gpu"], row["quant"]) == ("h100-sxm", "bf16")
    # noise-free data: the fit is exact, on 11 points per phase, with no error left
    assert row["bandwidth"] == pytest.approx(0.7, rel=1e-9) and row["compute"] == pytest.approx(0.5, rel=1e-9)
    assert row["kv_bandwidth"] == pytest.approx(0.7, rel=1e-9) and row["step_overhead_us"] == pytest.approx(100)
    assert (row["decode_points"], row["prefill_points"]) == (11, 11)
    assert row["decode_err_after_pct"] < 1e-9 and row["prefill_err_after_pct"] < 1e-9
    # the file holds the same factors, and an analytic profile afterwards runs at them
    saved = yaml.safe_load(out.read_text())["calibrations"]["h100-sxm"]["bf16"]
    assert saved["bandwidth"] == pytest.approx(0.7, rel=1e-9) and saved["compute"] == pytest.approx(0.5, rel=1e-9)
    assert saved["source_file"] == str(src) and saved["models"] == ["llama-3.1-8b"]
    eff = efficiency_for("h100-sxm", "bf16", out)
    assert eff.source.startswith("calibrated") and eff.bandwidth == pytest.approx(0.7, rel=1e-9)
    assert eff.step_overhead_s == pytest.approx(100e-6)
    assert efficiency_for("h100-sxm", "int4", out).source.startswith("defaults")  # only what was measured
