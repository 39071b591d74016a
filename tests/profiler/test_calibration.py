"""Calibration recovers known efficiencies from synthetic 'measured' data and is used afterwards."""

import numpy as np
import pytest

from profiler import catalogue
from profiler.analytic import calibration
from profiler.analytic.efficiency import efficiency_for
from profiler.analytic.profile import Grid, analytic_profile
from profiler.errors import ProfilerError
from profiler.specs import Efficiency

TRUE = Efficiency(bandwidth=0.7, compute=0.5, step_overhead_s=100e-6)


def synthetic(noise=0.0, seed=0):
    m, g, q = catalogue.get_model("llama-3.1-8b"), catalogue.get_gpu("h100-sxm"), catalogue.get_quant("bf16")
    grid = Grid(quants=(q,), batches=(1, 4, 16, 64), contexts=(512, 2048, 8192))
    df = analytic_profile(m, g, grid, lambda gpu, quant: TRUE)
    rng = np.random.default_rng(seed)
    df["latency_ms"] = df["latency_ms"] * (1 + noise * rng.standard_normal(len(df)))
    df["source"] = "measured"
    return df


def test_fit_recovers_known_efficiencies_exactly_without_noise():
    fits = calibration.fit_efficiency(synthetic())
    f = fits[("h100-sxm", "bf16")]
    assert f.efficiency.bandwidth == pytest.approx(0.7, rel=1e-3)
    assert f.efficiency.compute == pytest.approx(0.5, rel=1e-3)
    assert f.efficiency.step_overhead_s == pytest.approx(100e-6, rel=1e-2)
    assert f.decode_error_after < 1e-3 < f.decode_error_before
    assert f.prefill_error_after < 1e-3


def test_fit_with_noise_stays_close_and_reports_a_band():
    f = calibration.fit_efficiency(synthetic(noise=0.03))[("h100-sxm", "bf16")]
    assert f.efficiency.bandwidth == pytest.approx(0.7, rel=0.05)
    assert f.efficiency.compute == pytest.approx(0.5, rel=0.05)
    assert f.decode_error_after < 0.05 and 0 <= f.extrapolation_band < 0.1
    report = calibration.fit_report({("h100-sxm", "bf16"): f})
    assert {"decode_err_before_pct", "decode_err_after_pct", "extrapolation_band_pct"} <= set(report.columns)


def test_saved_calibration_is_used_by_later_analytic_profiles(tmp_path):
    path = calibration.save_calibration(calibration.fit_efficiency(synthetic()), tmp_path / "cal.yaml", "x.csv")
    eff = efficiency_for("h100-sxm", "bf16", path)
    assert eff.bandwidth == pytest.approx(0.7, rel=1e-3) and eff.source.startswith("calibrated")
    assert efficiency_for("h100-sxm", "int4", path).source.startswith("defaults")
    m, g, q = catalogue.get_model("llama-3.1-8b"), catalogue.get_gpu("h100-sxm"), catalogue.get_quant("bf16")
    df = analytic_profile(m, g, Grid(quants=(q,), batches=(1,), contexts=(1024,)),
                          lambda gpu, quant: efficiency_for(gpu, quant, path))
    assert set(df["source"]) == {"calibrated"}


def test_too_few_points_is_a_clear_error():
    df = synthetic()
    with pytest.raises(ProfilerError, match="memory-bound decode points"):
        calibration.fit_efficiency(df[(df["phase"] == "decode") & (df["batch"] == 1) & (df["context"] == 512)])


def test_calibrate_command_round_trip(tmp_path):
    import json

    from typer.testing import CliRunner

    from planner.cli import app
    from profiler.schema import ProfileMeta, write_profile

    src = tmp_path / "measured.csv"
    write_profile(synthetic(), src, ProfileMeta(tool_version="t"))
    out = tmp_path / "cal.yaml"
    r = CliRunner().invoke(app, ["calibrate", str(src), "-o", str(out), "--format", "json"])
    assert r.exit_code == 0, r.output
    row = json.loads(r.stdout)[0]
    assert row["bandwidth"] == pytest.approx(0.7, rel=1e-3) and out.exists()
