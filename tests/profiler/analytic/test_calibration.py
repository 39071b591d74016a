"""Calibration recovers known efficiencies from synthetic 'measured' data, stores them, and is used afterwards."""

import numpy as np
import pandas as pd
import pytest

from profiler import catalogue
from profiler.analytic import calibration, timing
from profiler.analytic.efficiency import efficiency_for
from profiler.analytic.profile import Grid, analytic_profile
from profiler.errors import CatalogueError, ProfilerError
from profiler.specs import Efficiency, KvDtype

TRUE = Efficiency(bandwidth=0.7, compute=0.5, step_overhead_s=100e-6, kv_bandwidth=0.7)  # bf16: tied
POINTS = [(p, b, c) for p in ("prefill", "decode") for b in (1, 4, 16, 64) for c in (512, 2048, 8192)]


def synthetic(noise=0.0, seed=0, points=POINTS, model="llama-3.1-8b", gpu="h100-sxm", quant="bf16", **kw):
    """Measured-looking rows whose latency is the analytic model at TRUE efficiencies, times (1 + noise)."""
    rows = pd.DataFrame([{"model": model, "gpu": gpu, "quant": quant, "kv_dtype": "bf16", "tp": 1, "phase": p,
                          "batch": b, "context": c, "latency_ms": 1.0, "status": "ok", "source": "measured"}
                         for p, b, c in points])
    terms = calibration.analytic_terms(rows, **kw)
    rng = np.random.default_rng(seed)
    rows["latency_ms"] = calibration.predict(terms, TRUE) * 1e3 * (1 + noise * rng.standard_normal(len(rows)))
    return rows


@pytest.mark.parametrize("tp", [1, 2])
def test_the_fitted_model_is_the_timing_model(tp):
    """predict() over analytic_terms() must be exactly the roofline of profiler.analytic.timing at the same
    efficiencies (what a profile made with the fit will print), at TP 1 and with an all-reduce at TP 2. A
    measured decode row attends one more slot (STATIC_CACHE_EXTRA_SLOTS); analytic rows here attend none."""
    eff = Efficiency(bandwidth=0.45, compute=0.5, step_overhead_s=60e-6, kv_bandwidth=0.75)
    m, g, q = catalogue.get_model("llama-3.1-8b"), catalogue.get_gpu("h100-sxm"), catalogue.get_quant("int4")
    points = [(p, b, c) for p in ("prefill", "decode") for b in (1, 64) for c in (512, 4096)]
    rows = pd.DataFrame([{"model": m.name, "gpu": g.id, "quant": q.id, "kv_dtype": "bf16", "tp": tp, "phase": p,
                          "batch": b, "context": c, "latency_ms": 1.0, "status": "ok", "source": "analytic"}
                         for p, b, c in points])
    got = calibration.predict(calibration.analytic_terms(rows), eff)
    want = [(timing.prefill if p == "prefill" else timing.decode_step)(m, g, q, KvDtype.BF16, tp, b, c, eff).latency_s
            for p, b, c in points]
    assert got == pytest.approx(want, rel=1e-12)


def test_fit_recovers_a_kv_efficiency_distinct_from_the_weight_one():
    true = Efficiency(bandwidth=0.45, compute=0.5, step_overhead_s=60e-6, kv_bandwidth=0.75)
    rows = synthetic(quant="int4")
    terms = calibration.analytic_terms(rows)
    rows["latency_ms"] = calibration.predict(terms, true) * 1e3
    f = calibration.fit_efficiency(rows)[("h100-sxm", "int4")]
    assert "kv_bandwidth" in f.fitted
    assert f.efficiency.bandwidth == pytest.approx(0.45, rel=1e-4)
    assert f.efficiency.kv_bandwidth == pytest.approx(0.75, rel=1e-4)
    assert f.decode_error_after < 1e-6


def test_quantised_fits_take_the_kv_efficiency_of_the_bf16_fit_of_the_same_gpu():
    bf16 = synthetic()  # TRUE: bf16, eta_kv tied to eta_bw = 0.7
    int4 = synthetic(quant="int4")
    true4 = Efficiency(bandwidth=0.45, compute=0.5, step_overhead_s=100e-6, kv_bandwidth=0.7)
    int4["latency_ms"] = calibration.predict(calibration.analytic_terms(int4), true4) * 1e3
    fits = calibration.fit_efficiency(pd.concat([int4, bf16], ignore_index=True))
    assert fits[("h100-sxm", "bf16")].efficiency.kv_bandwidth == pytest.approx(0.7, rel=1e-6)
    f4 = fits[("h100-sxm", "int4")]
    assert "kv_bandwidth" not in f4.fitted
    assert f4.efficiency.kv_bandwidth == pytest.approx(0.7, rel=1e-6)
    assert f4.efficiency.bandwidth == pytest.approx(0.45, rel=1e-4)


def test_fit_recovers_known_efficiencies_exactly_without_noise():
    f = calibration.fit_efficiency(synthetic())[("h100-sxm", "bf16")]
    assert f.efficiency.bandwidth == pytest.approx(0.7, rel=1e-6)
    assert f.efficiency.compute == pytest.approx(0.5, rel=1e-6)
    assert f.efficiency.step_overhead_s == pytest.approx(100e-6, rel=1e-4)
    assert f.decode_error_after < 1e-6 < 0.01 < f.decode_error_before
    assert f.prefill_error_after < 1e-6 < 0.01 < f.prefill_error_before
    assert f.extrapolation_band < 1e-6 and "scored on the other" in f.extrapolation_method
    assert f.decode_points == 12 and f.prefill_points == 12 and f.fitted == ("bandwidth", "compute", "step_overhead_s")


def test_a_compute_bound_decode_row_is_reassigned_from_its_phase():
    points = [*POINTS, ("decode", 512, 128), ("decode", 1024, 128)]
    terms = calibration.analytic_terms(synthetic(points=points))
    big = terms[(terms["phase"] == "decode") & (terms["batch"] >= 512)]
    # the test really has such rows: in each, some kernel's compute outlasts its weight streaming
    assert all((c / TRUE.compute > m / TRUE.bandwidth).any() for c, m in zip(big["c"], big["m"], strict=True))
    f = calibration.fit_efficiency(synthetic(points=points))[("h100-sxm", "bf16")]
    assert f.efficiency.compute == pytest.approx(0.5, rel=1e-6) and f.decode_error_max_after < 1e-6


def test_fit_with_noise_stays_close_and_reports_a_band():
    f = calibration.fit_efficiency(synthetic(noise=0.03))[("h100-sxm", "bf16")]
    assert f.efficiency.bandwidth == pytest.approx(0.7, rel=0.05)
    assert f.efficiency.compute == pytest.approx(0.5, rel=0.05)
    assert f.decode_error_after < 0.05 and 0.005 < f.extrapolation_band < 0.15
    report = calibration.fit_report({("h100-sxm", "bf16"): f})
    assert {"decode_err_before_pct", "decode_err_after_pct", "prefill_err_after_pct",
            "extrapolation_band_pct"} <= set(report.columns)
    assert report["extrapolation_band_pct"].iloc[0] == pytest.approx(100 * f.extrapolation_band)


def test_each_gpu_and_quant_gets_its_own_fit():
    both = pd.concat([synthetic(), synthetic(quant="int4")], ignore_index=True)
    fits = calibration.fit_efficiency(both)
    assert set(fits) == {("h100-sxm", "bf16"), ("h100-sxm", "int4")}
    assert fits[("h100-sxm", "int4")].efficiency.bandwidth == pytest.approx(0.7, rel=1e-6)


def test_only_decode_rows_fit_bandwidth_and_overhead_and_keep_the_default_compute():
    decode = [p for p in POINTS if p[0] == "decode"]
    f = calibration.fit_efficiency(synthetic(points=decode))[("h100-sxm", "bf16")]
    assert f.efficiency.bandwidth == pytest.approx(0.7, rel=1e-6)
    assert "compute" not in f.fitted and f.prefill_points == 0 and np.isnan(f.prefill_error_after)


def test_too_few_points_is_a_clear_error():
    with pytest.raises(ProfilerError, match="memory-bound decode points"):
        calibration.fit_efficiency(synthetic(points=[("decode", 1, 512), ("prefill", 1, 512)]))


def test_unknown_model_or_machine_is_a_clear_error():
    rows = synthetic()
    with pytest.raises(ProfilerError, match="not in the catalogue"):
        calibration.fit_efficiency(rows.assign(model="my-private-model"))
    with pytest.raises(ProfilerError, match="machine_spec"):
        calibration.fit_efficiency(rows.assign(gpu="cpu"))


def test_a_cpu_run_is_calibrated_against_its_measured_machine_record():
    cpu = {"id": "cpu", "name": "x86_64", "hbm_bytes": 2**34, "hbm_bandwidth_bytes_per_s": 2e10,
           "tflops": {"bf16": 0.1}, "interconnect_bytes_per_s": 0.0, "interconnect": "none", "tdp_w": None}
    env = {"machine_spec": cpu}
    small = [(p, b, c) for p in ("prefill", "decode") for b in (1, 2, 4) for c in (32, 64)]
    rows = synthetic(points=small, model="smollm2-135m", gpu="cpu", meta=env)
    f = calibration.fit_efficiency(rows, meta=env)[("cpu", "bf16")]
    assert f.efficiency.bandwidth == pytest.approx(0.7, rel=1e-6)


def test_saved_calibration_is_used_by_later_analytic_profiles(tmp_path):
    path = calibration.save_calibration(calibration.fit_efficiency(synthetic(noise=0.01)), tmp_path / "c.yaml", "m.csv")
    eff = efficiency_for("h100-sxm", "bf16", path)
    assert eff.bandwidth == pytest.approx(0.7, rel=0.03) and eff.source.startswith("calibrated")
    assert "m.csv" in eff.source and "extrapolation ±" in eff.source
    assert efficiency_for("h100-sxm", "int4", path).source.startswith("defaults")
    assert 0 < eff.latency_band < 0.1 and eff.calibrated_models == ("llama-3.1-8b",)
    assert efficiency_for("h100-sxm", "int4", path).latency_band is None
    m, g, q = catalogue.get_model("llama-3.1-8b"), catalogue.get_gpu("h100-sxm"), catalogue.get_quant("bf16")
    df = analytic_profile(m, g, Grid(quants=(q,), batches=(1,), contexts=(1024,)),
                          lambda gpu, quant: efficiency_for(gpu, quant, path))
    assert set(df["source"]) == {"calibrated"}
    assert np.allclose(df["latency_ms_spread"], df["latency_ms"] * eff.latency_band)  # the band, as ms


def test_a_second_model_of_the_family_gives_a_cross_model_band(tmp_path):
    two = pd.concat([synthetic(noise=0.02), synthetic(noise=0.02, seed=1, model="llama-3.2-1b")], ignore_index=True)
    f = calibration.fit_efficiency(two)[("h100-sxm", "bf16")]
    assert 0 < f.model_band < 0.15 and "llama-3.2-1b from llama-3.1-8b" in f.model_band_method
    path = calibration.save_calibration({("h100-sxm", "bf16"): f}, tmp_path / "c.yaml")
    eff = efficiency_for("h100-sxm", "bf16", path)
    assert eff.band_for("llama-3.3-70b") == max(eff.latency_band, eff.model_band)  # not measured: wider
    assert eff.band_for("llama-3.1-8b") == eff.latency_band
    one = calibration.fit_efficiency(synthetic(noise=0.02))[("h100-sxm", "bf16")]
    assert one.model_band != one.model_band and "measure a second model" in one.model_band_method


def test_saving_merges_with_what_the_file_already_holds(tmp_path):
    path = tmp_path / "c.yaml"
    calibration.save_calibration(calibration.fit_efficiency(synthetic()), path)
    calibration.save_calibration(calibration.fit_efficiency(synthetic(quant="int8", gpu="h200")), path)
    assert calibration.load_calibration("h100-sxm", "bf16", path).bandwidth == pytest.approx(0.7, rel=1e-6)
    assert calibration.load_calibration("h200", "int8", path).compute == pytest.approx(0.5, rel=1e-6)
    assert not list(tmp_path.glob(".c.yaml*"))  # the atomic writer left no temp file


def test_default_file_lives_under_inferplan_home(tmp_path, monkeypatch):
    monkeypatch.setenv("INFERPLAN_HOME", str(tmp_path / "ih"))
    assert calibration.calibration_path() == tmp_path / "ih" / "calibration.yaml"
    assert calibration.load_calibration("h100-sxm", "bf16") is None  # no file: uncalibrated
    calibration.save_calibration(calibration.fit_efficiency(synthetic()))
    assert (tmp_path / "ih" / "calibration.yaml").exists()
    assert efficiency_for("h100-sxm", "bf16").source.startswith("calibrated")
    monkeypatch.delenv("INFERPLAN_HOME")
    assert calibration.calibration_path().parts[-3:] == (".config", "inferplan", "calibration.yaml")


@pytest.mark.parametrize("text, field", [("calibrations: [1, 2]", None), ("a: [", None),
                                         ("calibrations: {h100-sxm: {bf16: {bandwidth: 7, compute: 0.5, "
                                          "step_overhead_s: 0}}}", "bandwidth")])
def test_a_malformed_calibration_file_names_the_file_and_field(tmp_path, text, field):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(CatalogueError) as err:
        calibration.load_calibration("h100-sxm", "bf16", path)
    assert str(path) in str(err.value) and (field is None or field in str(err.value))


def test_extra_slots_match_the_measured_harness():
    from profiler.measure import STATIC_CACHE_EXTRA_SLOTS

    assert calibration.STATIC_CACHE_EXTRA_SLOTS == STATIC_CACHE_EXTRA_SLOTS


@pytest.mark.parametrize("seed", range(5))
def test_the_fit_is_never_worse_than_the_defaults(seed):
    """Latencies the model cannot describe (random) still get a fit no worse than the published defaults."""
    rows = synthetic()
    rows["latency_ms"] = np.random.default_rng(seed).uniform(0.5, 500.0, len(rows))
    terms = calibration.analytic_terms(rows)
    f = calibration.fit_efficiency(rows)[("h100-sxm", "bf16")]
    base = efficiency_for("h100-sxm", "bf16")

    def sq(eff):
        return float((((calibration.predict(terms, eff) - terms["t"]) / terms["t"]) ** 2).sum())

    assert sq(f.efficiency) <= sq(base)
    assert 0 <= f.efficiency.step_overhead_s <= terms["t"].min()
