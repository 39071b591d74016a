"""`inferplan simulate`: diurnal runs, --duration with a trace, the load plot, and clean errors."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from planner.cli import app
from planner.simulate import SloTargets
from planner.simulate_api import DEFAULT_DIURNAL, read_hourly_curve
from profiler.errors import InvalidValueError


def _run(*args: str):
    return CliRunner().invoke(app, ["simulate", "llama-3.1-8b", *args])


def _json(*args: str) -> dict:
    r = _run(*args, "--format", "json")
    assert r.exit_code == 0, r.output
    return json.loads(r.stdout)


def _error(*args: str) -> str:
    r = _run(*args)
    assert r.exit_code == 1 and "Traceback" not in r.output, r.output
    return r.output


def _trace(tmp_path, n: int = 200, gap_s: float = 0.5):
    path = tmp_path / "t.csv"
    path.write_text("timestamp,input_tokens,output_tokens\n" + "".join(f"{i * gap_s},{200 + i},50\n" for i in range(n)))
    return path


def test_default_diurnal_curve_is_the_planners_peak_to_average():
    assert len(DEFAULT_DIURNAL) == 24 and sum(DEFAULT_DIURNAL) / 24 == pytest.approx(1.0)
    assert max(DEFAULT_DIURNAL) == 2.0  # planner/workload.py: peak_to_average 2 by default


def test_diurnal_run_follows_the_curve():
    d = _json("--rate", "2/s", "--diurnal", "default", "--start-hour", "8", "--duration", "1h")
    assert d["engine"]["arrivals"].startswith("diurnal")
    assert d["metrics"]["arrival_rate_per_s"] == pytest.approx(4.0, rel=0.1)  # 08:00-09:00 is at 2x the mean
    night = _json("--rate", "2/s", "--diurnal", "default", "--start-hour", "20", "--duration", "13h")
    assert night["metrics"]["arrival_rate_per_s"] == pytest.approx(4.0, rel=0.1)  # idle until 08:00, then 2x


def test_diurnal_curve_from_a_file(tmp_path):
    f = tmp_path / "curve.txt"
    f.write_text("# hour 0 first\n" + ",".join(["1"] * 12) + "\n" + " ".join(["3"] * 12) + "  # afternoon\n")
    assert read_hourly_curve(f) == (1.0,) * 12 + (3.0,) * 12
    d = _json("--rate", "1/s", "--diurnal", str(f), "--start-hour", "12", "--duration", "30m")
    assert d["metrics"]["arrival_rate_per_s"] == pytest.approx(1.5, rel=0.15)  # 3 / mean(2) = 1.5x
    f.write_text("1, 2, 3\n")
    assert "24 numbers" in _error("--rate", "1/s", "--diurnal", str(f))
    f.write_text(",".join(["1"] * 23) + ",x\n")
    assert "'x' is not a number" in _error("--rate", "1/s", "--diurnal", str(f))
    with pytest.raises(InvalidValueError, match="cannot read"):
        read_hourly_curve(tmp_path / "missing.txt")


def test_duration_truncates_a_trace(tmp_path):
    trace = _trace(tmp_path, n=200, gap_s=0.5)  # 100 s of requests
    whole = _json("--trace", str(trace))
    first = _json("--trace", str(trace), "--duration", "30s")
    assert "first 30 s (60 of 200 requests)" in first["engine"]["arrivals"]
    assert first["metrics"]["window_end_s"] < 30 <= whole["metrics"]["window_end_s"]
    assert first["metrics"]["requests_measured"] < whole["metrics"]["requests_measured"]


@pytest.mark.parametrize(("args", "message"), [
    (("--trace", "{trace}", "--diurnal", "default"), "--diurnal shapes a --rate run"),
    (("--rate", "2/s", "--start-hour", "3"), "--start-hour sets the clock"),
    (("--rate", "2/s", "--diurnal", "default", "--start-hour", "24"), "--start-hour must be in [0, 24)"),
    (("--rate", "2/s", "--trace", "{trace}"), "exactly one of --rate"),
    ((), "exactly one of --rate"),
    (("--rate", "2/s", "--duration", "soon"), "--duration"),
])
def test_bad_combinations_are_one_line_errors(tmp_path, args, message):
    trace = str(_trace(tmp_path))
    out = _error(*(a.format(trace=trace) for a in args))
    assert message in out and out.strip().count("\n") == 0


def test_plot_marks_the_slos_and_the_capacity(tmp_path, monkeypatch):
    import matplotlib.pyplot as plt

    figures = []
    monkeypatch.setattr(plt, "close", figures.append)  # keep the figure to look at its lines
    png = tmp_path / "load.png"
    d = _json("--rate", "5/s", "--duration", "2m", "--ttft-p99", "1s", "--tpot-p99", "40ms", "--plot", str(png))
    assert png.read_bytes()[:4] == b"\x89PNG"
    capacity = d["capacity"]["rate_per_s"]
    assert capacity > 0 and d["capacity"]["tpot_p99_s"] <= 0.04 and d["capacity"]["ttft_p99_s"] <= 1.0
    sweep = d["load_sweep"]
    assert [round(r["offered_rps"] / capacity, 2) for r in sweep] == [0.25, 0.5, 0.75, 0.9, 1.0, 1.1, 1.25, 1.5]
    assert next(r for r in sweep if r["load"] == 1.0)["meets"] and not sweep[-1]["meets"]
    ttft_ax, tpot_ax = figures[0].axes
    for ax, target in ((ttft_ax, 1.0), (tpot_ax, 40.0)):
        flat = [ln for ln in ax.lines if len(set(ln.get_ydata())) == 1 and ln.get_ydata()[0] == pytest.approx(target)]
        upright = [ln for ln in ax.lines if len(set(ln.get_xdata())) == 1
                   and ln.get_xdata()[0] == pytest.approx(capacity)]
        assert flat and upright, [ln.get_label() for ln in ax.lines]


def test_load_plot_without_slos(tmp_path):
    import pandas as pd

    from planner.plots import latency_vs_load

    sweep = pd.DataFrame({"offered_rps": [1.0, 2.0], **{f"{m}_{q}_s": [0.01, 0.02] for m in ("ttft", "tpot")
                                                       for q in ("p50", "p90", "p99")}})
    latency_vs_load(sweep, tmp_path / "p.png", SloTargets(), capacity_rps=0.0)
    assert (tmp_path / "p.png").stat().st_size > 0
