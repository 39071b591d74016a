"""The TP all-reduce line (latency + 2 (tp-1)/tp x bytes / busbw): fitted from measured TP rows, stored beside the
efficiencies, and used by the analytic timing at that GPU and TP."""

import math

import numpy as np
import pandas as pd
import pytest
import yaml

from profiler import catalogue
from profiler.analytic import calibration, collective_fit, kernels, timing
from profiler.analytic import kernel_efficiency as ke
from profiler.analytic.efficiency import efficiency_for
from profiler.errors import CatalogueError
from profiler.schema import normalise
from profiler.specs import Efficiency, KvDtype

LAT, BUSBW = 12e-6, 150e9  # the synthetic group: 12 us, 150 GB/s bus bandwidth
TRUE = Efficiency(bandwidth=0.7, compute=0.5, step_overhead_s=100e-6, kv_bandwidth=0.7)
HIDDEN = 4096  # llama-3.1-8b
POINTS = [(p, b, c) for p in ("prefill", "decode") for b in (1, 4, 16, 64) for c in (512, 2048)]


def tp_rows(tp=2, gpu="h100-sxm", noise=0.03, seed=0, lat=LAT, busbw=BUSBW, points=POINTS, model="llama-3.1-8b",
            hidden=HIDDEN, **kw):
    """Measured-looking TP rows (profiler.schema.normalise): one all-reduce of tokens x hidden x 2 B timed on the
    line (lat, busbw) x (1 + noise), and a step latency that is the analytic model at TRUE with that line."""
    rng = np.random.default_rng(seed)
    rows = pd.DataFrame([{"model": model, "gpu": gpu, "quant": "bf16", "kv_dtype": "bf16", "tp": tp, "phase": p,
                          "batch": b, "context": c, "latency_ms": 1.0, "status": "ok", "source": "measured",
                          "allreduce_bytes": (b * c if p == "prefill" else b) * hidden * 2} for p, b, c in points])
    rows["allreduce_ms"] = [collective_fit.ring_time_s(x, tp, lat, busbw) * 1e3 * (1 + noise * rng.standard_normal())
                            for x in rows["allreduce_bytes"]]
    terms = calibration.analytic_terms(rows, collectives={gpu: ((tp, lat, busbw),)}, **kw)
    rows["latency_ms"] = calibration.predict(terms, TRUE) * 1e3
    return normalise(rows)


@pytest.mark.parametrize("tp, seed", [(2, 0), (4, 1), (8, 2)])
def test_the_line_is_recovered_from_timings_with_3_percent_noise(tp, seed):
    # 16 rows, 9 message sizes from 8 KiB (decode batch 1) to 512 MiB (prefill 64 x 2,048)
    rows = tp_rows(tp=tp, seed=seed)
    fits, notes = collective_fit.fit_collectives(rows, catalogue.load_gpus())
    f = fits[("h100-sxm", tp)]
    assert notes == [] and (f.points, f.sizes) == (16, 9)
    # 3 % noise on each time: the latency (from the small messages) within 15 %, the bus bandwidth within 5 %
    assert f.latency_s == pytest.approx(LAT, rel=0.15) and f.busbw_bytes_per_s == pytest.approx(BUSBW, rel=0.05)
    assert f.error_after < 0.04 and f.error_max_after < 0.10
    # before: the H100's interconnect (NVLink 4) in the catalogue's measured vLLM table, 4-5 us at small messages
    t = rows["allreduce_ms"].to_numpy(dtype=float) / 1e3
    catalogue_s = np.array([ke.allreduce_time_s(x, tp, "NVLink 4") for x in rows["allreduce_bytes"]])
    assert f.error_before == pytest.approx(np.median(np.abs(catalogue_s - t) / t), rel=1e-12)
    assert f.error_before > 5 * f.error_after


def test_the_fit_is_exact_without_noise_and_weights_the_relative_error():
    f = collective_fit.fit_collectives(tp_rows(noise=0.0))[0][("h100-sxm", 2)]
    assert f.latency_s == pytest.approx(LAT, rel=1e-9) and f.busbw_bytes_per_s == pytest.approx(BUSBW, rel=1e-9)
    assert f.error_after < 1e-9


def test_a_negative_latency_optimum_is_refitted_at_zero():
    # pure bandwidth, the smallest message 10 % fast: the free line would cross zero below the smallest size
    b = np.array([1e6, 1e7, 1e8])
    t = b / 100e9 * np.array([0.9, 1.0, 1.0])
    latency, busbw = collective_fit.fit_line(b, 2, t)
    assert latency == 0.0 and 90e9 < busbw < 110e9
    assert collective_fit.fit_line(b, 2, t[::-1]) is None  # time falling with size: no positive busbw


def test_one_message_size_warns_and_fits_nothing():
    rows = tp_rows(points=[("decode", 8, c) for c in (512, 1024, 2048)])  # decode: bytes = batch x hidden x 2
    fits, notes = collective_fit.fit_collectives(rows)
    assert fits == {}
    assert notes == ["h100-sxm tp 2: all-reduce timed at 1 message size (65,536 B) in 3 row(s); the latency + "
                     "bytes / busbw line needs at least 2 sizes: no all-reduce fit (measure more batch sizes or both "
                     "phases)"]


def test_tp_rows_without_the_columns_say_so_and_tp1_rows_are_not_counted():
    rows = tp_rows()
    rows.loc[rows["phase"] == "decode", ["allreduce_bytes", "allreduce_ms"]] = pd.NA
    tp1 = rows.assign(tp=1, allreduce_bytes=pd.NA, allreduce_ms=pd.NA)
    fits, notes = collective_fit.fit_collectives(pd.concat([rows, tp1], ignore_index=True))
    assert fits[("h100-sxm", 2)].points == 8  # the prefill rows still fit
    assert len(notes) == 1 and notes[0].startswith("8 TP row(s) of h100-sxm (tp 2) lack allreduce_bytes / allreduce_ms")


def test_a_machine_outside_the_catalogue_has_no_error_before():
    cpu = {"id": "cpu", "name": "x86_64", "hbm_bytes": 2**34, "hbm_bandwidth_bytes_per_s": 2e10,
           "tflops": {"bf16": 0.1}, "interconnect_bytes_per_s": 0.0, "interconnect": "none", "tdp_w": None}
    small = [(p, b, c) for p in ("prefill", "decode") for b in (1, 2, 4) for c in (32, 64)]
    rows = tp_rows(gpu="cpu", lat=200e-6, busbw=2e9, points=small, model="llama-3.2-1b", hidden=2048,
                   meta={"machine_spec": cpu})  # a gloo group on one CPU
    fits, _ = collective_fit.fit_collectives(rows, catalogue.load_gpus())
    f = fits[("cpu", 2)]
    assert math.isnan(f.error_before) and math.isnan(f.error_max_before) and f.error_after < 0.05
    report = collective_fit.collective_report(fits)
    assert list(report.columns) == list(collective_fit.REPORT_COLUMNS) and report["err_before_pct"].isna().all()


def test_an_all_tp_profile_calibrates_with_the_fitted_all_reduce():
    """No tp=1 row at all: the efficiency fit uses the TP rows, their all-reduce priced on the fitted line."""
    rows = tp_rows(noise=0.0)
    fits, _ = collective_fit.fit_collectives(rows)
    fit = calibration.fit_efficiency(rows, collectives=collective_fit.lines_by_gpu(fits))[("h100-sxm", "bf16")]
    assert fit.efficiency.bandwidth == pytest.approx(0.7, rel=1e-6)
    assert fit.efficiency.compute == pytest.approx(0.5, rel=1e-6)
    assert fit.efficiency.step_overhead_s == pytest.approx(100e-6, rel=1e-6)
    # with the catalogue's all-reduce (NVLink 4 table) instead, the same rows are fitted less well
    worse = calibration.fit_efficiency(rows)[("h100-sxm", "bf16")]
    assert worse.prefill_error_after > 100 * max(fit.prefill_error_after, 1e-12)


def test_timing_uses_the_largest_fitted_tp_at_or_below_and_the_catalogue_below_all():
    gpu = catalogue.get_gpu("h100-sxm")
    lines = ((2, 10e-6, 100e9), (8, 20e-6, 300e9))
    msg = 1 << 20
    assert kernels.allreduce_time_s(msg, 2, gpu, lines) == 10e-6 + 1.0 * msg / 100e9
    assert kernels.allreduce_time_s(msg, 4, gpu, lines) == 10e-6 + 1.5 * msg / 100e9  # tp 2's line, tp 4's ring
    assert kernels.allreduce_time_s(msg, 8, gpu, lines) == 20e-6 + 1.75 * msg / 300e9
    assert kernels.allreduce_time_s(msg, 4, gpu, ((8, 20e-6, 300e9),)) == ke.allreduce_time_s(msg, 4, "NVLink 4")
    assert kernels.allreduce_time_s(msg, 1, gpu, lines) == 0.0
    m, q = catalogue.get_model("llama-3.1-8b"), catalogue.get_quant("bf16")
    eff = Efficiency(bandwidth=0.7, compute=0.5, step_overhead_s=1e-4, allreduce=lines)
    est = timing.decode_step(m, gpu, q, KvDtype.BF16, 2, 8, 1024, eff)
    [ar] = [k for k in est.kernels if k.op == "allreduce"]
    assert ar.time_s == pytest.approx(2 * 32 * (10e-6 + 8 * HIDDEN * 2 / 100e9), rel=1e-12)


def _saved(tmp_path, rows=None):
    rows = tp_rows() if rows is None else rows
    fits, _ = collective_fit.fit_collectives(rows, catalogue.load_gpus())
    eff_fits = calibration.fit_efficiency(rows, collectives=collective_fit.lines_by_gpu(fits))
    return calibration.save_calibration(eff_fits, tmp_path / "c.yaml", "tp.csv", collectives=fits), fits


def test_the_calibrated_file_round_trips_and_later_profiles_use_its_line(tmp_path):
    path, fits = _saved(tmp_path)
    doc = yaml.safe_load(path.read_text())
    assert set(doc) == {"schema_version", "calibrations", "collectives"}  # `calibrations` as before, beside it
    stored = doc["collectives"]["h100-sxm"][2]
    f = fits[("h100-sxm", 2)]
    assert stored["latency_s"] == pytest.approx(f.latency_s, rel=1e-5) and stored["points"] == 16
    assert stored["busbw_bytes_per_s"] == pytest.approx(f.busbw_bytes_per_s, rel=1e-5)
    assert stored["source_file"] == "tp.csv" and stored["error_after"]["median"] < 0.04
    eff = efficiency_for("h100-sxm", "bf16", path)
    assert eff.allreduce == ((2, stored["latency_s"], stored["busbw_bytes_per_s"]),)
    assert eff.source.startswith("calibrated") and "; collective: calibrated" in eff.source
    other = efficiency_for("h100-sxm", "int4", path)  # the line is the GPU's, whatever the quant
    assert other.allreduce == eff.allreduce and other.source.startswith("defaults")
    assert efficiency_for("h200", "bf16", path).allreduce == ()
    # a later save for another TP keeps this one
    calibration.save_calibration({}, path, "tp4.csv", collectives=collective_fit.fit_collectives(tp_rows(tp=4))[0])
    assert [t for t, *_ in efficiency_for("h100-sxm", "bf16", path).allreduce] == [2, 4]
    assert calibration.load_calibration("h100-sxm", "bf16", path).bandwidth == pytest.approx(0.7, rel=0.01)


@pytest.mark.parametrize("section, entry, field", [
    ("{h100-sxm: {2: {latency_s: -1.0e-6, busbw_bytes_per_s: 1.0e+11}}}", "collectives/h100-sxm/2", "latency_s"),
    ("{h100-sxm: {2: {latency_s: 1.0e-5, busbw_bytes_per_s: fast}}}", "collectives/h100-sxm/2", "busbw_bytes_per_s"),
    ("{h100-sxm: {2: {latency_s: 1.0e-5}}}", "collectives/h100-sxm/2", "busbw_bytes_per_s"),
    ("{h100-sxm: {two: {latency_s: 1.0e-5, busbw_bytes_per_s: 1.0e+11}}}", "collectives/h100-sxm", None),
    ("[1, 2]", "collectives", None),
])
def test_bad_collective_values_are_a_catalogue_error_naming_file_entry_and_field(tmp_path, section, entry, field):
    path = tmp_path / "bad.yaml"
    path.write_text(f"calibrations: {{}}\ncollectives: {section}\n")
    with pytest.raises(CatalogueError) as err:
        efficiency_for("h100-sxm", "bf16", path)
    assert err.value.file == str(path) and err.value.entry == entry and err.value.field == field
    assert str(path) in str(err.value)
