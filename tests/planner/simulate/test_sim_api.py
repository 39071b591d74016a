"""The library behind `inferplan simulate` (planner.simulate_api): the default diurnal curve, curve files,
options a trace would ignore, and the latency-vs-load plot. Driven through the CLI: tests/cli/test_cli_simulate*.py."""

from __future__ import annotations

import pandas as pd
import pytest

from planner.simulate import SloTargets
from planner.simulate_api import DEFAULT_DIURNAL, SimRequest, read_hourly_curve, run_simulation
from profiler.errors import InvalidValueError
from tests.helpers import write_trace


def test_default_diurnal_curve_is_the_planners_peak_to_average():
    assert len(DEFAULT_DIURNAL) == 24 and sum(DEFAULT_DIURNAL) / 24 == pytest.approx(1.0)
    assert max(DEFAULT_DIURNAL) == 2.0  # planner/workload.py: peak_to_average 2 by default


def test_a_curve_file_is_24_numbers_with_comments(tmp_path):
    f = tmp_path / "curve.txt"
    f.write_text("# hour 0 first\n" + ",".join(["1"] * 12) + "\n" + " ".join(["3"] * 12) + "  # afternoon\n")
    assert read_hourly_curve(f) == (1.0,) * 12 + (3.0,) * 12
    f.write_text(" ".join(["0"] * 24))
    with pytest.raises(InvalidValueError, match="not all zero"):
        read_hourly_curve(f)
    with pytest.raises(InvalidValueError, match="cannot read"):
        read_hourly_curve(tmp_path / "missing.txt")


def test_a_trace_refuses_a_sigma_it_would_ignore(tmp_path):
    trace = write_trace(tmp_path / "t.csv", [(i, 100, 10) for i in range(50)])
    with pytest.raises(InvalidValueError, match="--sigma would be ignored"):
        run_simulation(SimRequest("llama-3.1-8b", trace=trace, sigma=0.0))


def test_load_plot_without_slos_marks_nothing(tmp_path, monkeypatch):
    """No SLO and a capacity of 0 (none found): only the three percentile curves per panel, no target line and
    no capacity line; TPOT is drawn in ms (0.01 s → 10)."""
    import matplotlib.pyplot as plt

    from planner.plots import latency_vs_load

    figures = []
    monkeypatch.setattr(plt, "close", figures.append)  # keep the figure to look at its lines
    sweep = pd.DataFrame({"offered_rps": [1.0, 2.0], **{f"{m}_{q}_s": [0.01, 0.02] for m in ("ttft", "tpot")
                                                       for q in ("p50", "p90", "p99")}})
    latency_vs_load(sweep, tmp_path / "p.png", SloTargets(), capacity_rps=0.0)
    assert (tmp_path / "p.png").read_bytes()[:4] == b"\x89PNG"
    ttft_ax, tpot_ax = figures[0].axes
    for ax, ys in ((ttft_ax, [0.01, 0.02]), (tpot_ax, [10.0, 20.0])):
        assert [ln.get_label() for ln in ax.lines] == ["p50", "p90", "p99"]
        for ln in ax.lines:
            assert list(ln.get_xdata()) == [1.0, 2.0] and list(ln.get_ydata()) == pytest.approx(ys)
