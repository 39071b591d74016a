"""`inferplan calibrate` of measured TP rows: the all-reduce line is fitted, reported, stored, and a later
`profile --breakdown` at that GPU and TP prices its all-reduce kernel on it."""

from __future__ import annotations

import pandas as pd
import pytest
import yaml
from rich.cells import cell_len
from typer.testing import CliRunner

from profiler import catalogue
from profiler.analytic import calibration, collective_fit
from profiler.analytic.profile import Grid, analytic_profile
from profiler.schema import ProfileMeta, write_profile
from profiler.specs import Efficiency
from tests.helpers import cli, cli_json

LAT, BUSBW = 12e-6, 150e9  # the synthetic TP2 group
TRUE = Efficiency(bandwidth=0.7, compute=0.5, step_overhead_s=100e-6, kv_bandwidth=0.7)
HIDDEN, LAYERS = 4096, 32  # llama-3.1-8b


def measured_tp(tmp_path, with_columns=True, noise=0.03):
    """A measured llama-3.1-8b bf16 TP2 sweep on h100-sxm (no tp=1 row; every schema column from the analytic
    profile): all-reduce timings on (LAT, BUSBW) times 1 +- `noise` (alternating), step latencies the analytic model
    at TRUE with that line."""
    grid = Grid(quants=(catalogue.get_quant("bf16"),), tps=(2,), batches=(1, 4, 16, 64), contexts=(512, 2048))
    rows = analytic_profile(catalogue.get_model("llama-3.1-8b"), catalogue.get_gpu("h100-sxm"), grid,
                            lambda g, q: TRUE).assign(source="measured")
    assert (rows["status"] == "ok").all()
    tokens = rows["batch"] * rows["context"].where(rows["phase"] == "prefill", 1)
    rows["allreduce_bytes"] = tokens * HIDDEN * 2
    sign = [(-1) ** i for i in range(len(rows))]
    rows["allreduce_ms"] = [collective_fit.ring_time_s(x, 2, LAT, BUSBW) * 1e3 * (1 + s * noise)
                            for x, s in zip(rows["allreduce_bytes"], sign, strict=True)]
    terms = calibration.analytic_terms(rows, collectives={"h100-sxm": ((2, LAT, BUSBW),)})
    rows["latency_ms"] = calibration.predict(terms, TRUE) * 1e3
    if not with_columns:
        rows[["allreduce_bytes", "allreduce_ms"]] = pd.NA
    path = tmp_path / "tp2.csv"
    write_profile(rows, path, ProfileMeta(tool_version="t"))
    return path


def test_calibrate_reports_the_all_reduce_fit_in_json_and_stores_it(tmp_path):
    out = tmp_path / "cal.yaml"
    rows = cli_json("calibrate", measured_tp(tmp_path), "-o", out)
    [eff] = [r for r in rows if r["fit"] == "efficiency"]
    [coll] = [r for r in rows if r["fit"] == "collective"]
    assert (eff["gpu"], eff["quant"], eff["decode_points"], eff["prefill_points"]) == ("h100-sxm", "bf16", 8, 8)
    assert eff["bandwidth"] == pytest.approx(0.7, rel=0.02)  # an all-TP profile calibrates
    assert set(coll) == {*collective_fit.REPORT_COLUMNS, "fit"}  # only its own table's fields
    assert (coll["gpu"], coll["tp"], coll["points"], coll["sizes"]) == ("h100-sxm", 2, 16, 9)
    assert coll["latency_us"] == pytest.approx(12, rel=0.15) and coll["busbw_gb_s"] == pytest.approx(150, rel=0.05)
    assert coll["err_after_pct"] < 4 < coll["err_before_pct"]
    stored = yaml.safe_load(out.read_text())["collectives"]["h100-sxm"][2]
    assert stored["latency_s"] == pytest.approx(coll["latency_us"] * 1e-6, rel=1e-5)


def test_the_table_shows_the_all_reduce_fit_within_100_columns(tmp_path):
    from planner.cli import app

    r = CliRunner().invoke(app, ["calibrate", str(measured_tp(tmp_path)), "-o", str(tmp_path / "cal.yaml")],
                           env={"COLUMNS": "100"})
    assert r.exit_code == 0, r.output
    assert "TP all-reduce fit: latency + 2(tp-1)/tp x bytes / busbw" in r.stdout
    assert max(cell_len(line) for line in r.stdout.splitlines()) <= 100
    text = " ".join(r.stdout.split())  # the summary line, unwrapped
    assert "h100-sxm tp 2 all-reduce: 12 us + 2(tp-1)/tp x bytes / 150.7 GB/s (16 points, 9 sizes)" in text
    assert "error (median abs) 55.9% -> 3.0%" in text


@pytest.mark.parametrize("tp", [2, 4])
def test_a_later_breakdown_prices_the_all_reduce_on_the_stored_line_exactly(tmp_path, tp):
    out = tmp_path / "cal.yaml"
    cli_json("calibrate", measured_tp(tmp_path), "-o", out)
    stored = yaml.safe_load(out.read_text())["collectives"]["h100-sxm"][2]
    lat, busbw = stored["latency_s"], stored["busbw_bytes_per_s"]
    args = ("profile", "llama-3.1-8b", "--gpu", "h100-sxm", "--tp", tp, "--batch", "1,16", "--context", "1024",
            "--calibration", out)
    rows = cli_json(*args, "--breakdown")
    for r in (r for r in rows if r["op"] == "allreduce"):
        tokens = r["batch"] * (r["context"] if r["phase"] == "prefill" else 1)
        one = lat + 2 * (tp - 1) / tp * tokens * HIDDEN * 2 / busbw  # tp 4: tp 2's line, the largest fitted <= 4
        assert r["launches"] == 2 * LAYERS and r["bound"] == "communication"
        assert r["time_ms"] == pytest.approx(2 * LAYERS * one * 1e3, rel=1e-12)
    # the profile (what plan sizes with) is the same steps: its latency is the breakdown's sum
    for p in cli_json(*args):
        kernels = [r["time_ms"] for r in rows if (r["phase"], r["batch"]) == (p["phase"], p["batch"])]
        assert sum(kernels) == pytest.approx(p["latency_ms"], rel=1e-9)


def test_without_a_fitted_tp_at_or_below_the_catalogue_prices_it(tmp_path):
    out = tmp_path / "cal.yaml"
    cli_json("calibrate", measured_tp(tmp_path), "-o", out)
    from profiler.analytic import kernel_efficiency as ke

    gpu = catalogue.get_gpu("h200")  # not calibrated: its own interconnect's catalogue time
    [r] = [r for r in cli_json("profile", "llama-3.1-8b", "--gpu", "h200", "--tp", "2", "--batch", "1", "--context",
                               "1024", "--calibration", out, "--breakdown")
           if r["op"] == "allreduce" and r["phase"] == "decode"]
    assert r["time_ms"] == pytest.approx(2 * LAYERS * ke.allreduce_time_s(HIDDEN * 2, 2, gpu.interconnect) * 1e3,
                                         rel=1e-12)


def test_tp_rows_without_all_reduce_timings_are_said_in_one_line(tmp_path):
    r = cli("calibrate", measured_tp(tmp_path, with_columns=False), "-o", tmp_path / "cal.yaml")
    assert r.exit_code == 0, r.output
    lines = [line for line in r.output.splitlines() if "lack allreduce_bytes" in line]
    assert len(lines) == 1 and "16 TP row(s) of h100-sxm (tp 2)" in lines[0]
    assert "TP all-reduce fit" not in r.output
    assert "collectives" not in yaml.safe_load((tmp_path / "cal.yaml").read_text())
