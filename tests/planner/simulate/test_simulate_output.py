"""What `inferplan simulate` and `inferplan crossover` print (issue 13): latencies in ms and rates to 3 significant
figures, no raw floats, 100 columns; a --diurnal run's window rate labelled, beside its daily mean and its peak;
--format json / csv keep the raw values in their documented units; break-even volumes to 2 significant figures."""

from __future__ import annotations

import json
import re

import pytest

from planner import units
from planner.cmd_simulate import TABLE_COLUMNS, latency_frame, run_record
from tests.helpers import cli

SIM = ("simulate", "llama-3.1-8b", "--rate", "5/s", "--duration", "1m")
DIURNAL = ("simulate", "llama-3.1-8b", "--rate", "1/s", "--diurnal", "default", "--duration", "1h",
           "--start-hour", "7.5")
DECIMAL = re.compile(r"\d[\d,]*\.\d+")


def too_precise(text: str) -> list[str]:
    """Decimals shown with more than 3 significant figures (counts such as 131,072 are exact, not precise)."""
    return [x for x in DECIMAL.findall(text) if len(x.replace(",", "").replace(".", "").lstrip("0")) > 3]


@pytest.fixture(autouse=True)
def piped_width(monkeypatch):
    monkeypatch.delenv("COLUMNS", raising=False)  # the width a pipe gets (planner.render_rows.PIPED_WIDTH)


def cells(output: str, first: str) -> list[str]:
    """The cells of the table row (or header) whose first cell is `first`."""
    for line in output.splitlines():
        parts = [c.strip() for c in re.split("[│┃]", line)[1:-1]]
        if parts and parts[0] == first:
            return parts
    raise AssertionError(f"no row {first!r} in:\n{output}")


def run(*args):
    r = cli(*args)
    assert r.exit_code == 0, r.output
    return r.stdout


def test_figures_and_milliseconds():
    assert [units.round_sig(x) for x in (7.4132, 1923.4, 0.028561, 0.0)] == [7.41, 1920.0, 0.0286, 0.0]
    assert [units.fmt_sig(x) for x in (1341.2, 5.2607, 0.028561, 19.92, 10.0, 129_115, 999.6)] == [
        "1,340", "5.26", "0.0286", "19.9", "10", "129,000", "1,000"]
    assert [units.fmt_ms(s) for s in (0.0074132, 0.7413, 1.9234, float("nan"))] == [
        "7.41 ms", "741 ms", "1,920 ms", "–"]


def test_latencies_are_milliseconds_to_three_figures_and_fit_100_columns():
    out = run(*SIM)
    m = json.loads(run(*SIM, "--format", "json"))["metrics"]  # the same seed: the same run
    assert cells(out, "metric") == list(TABLE_COLUMNS)  # the header: each latency column says ms
    for label, key in (("TTFT", "ttft"), ("TPOT", "tpot"), ("ITL", "itl"), ("E2E", "e2e"), ("queue wait",
                                                                                              "queue_wait")):
        assert cells(out, label)[1:] == [units.fmt_sig(m[key][q] * 1e3) for q in ("mean", "p50", "p90", "p99")]
    tpot = float(cells(out, "TPOT")[1])
    assert 1 < tpot < 100 and tpot == pytest.approx(m["tpot"]["mean"] * 1e3, rel=5e-3)  # ms, not s
    assert too_precise(out) == [], out
    assert too_precise("5.260673671753754 req/s, 0.0319 waiting, 1,340.5 tok/s") == ["5.260673671753754", "1,340.5"]
    assert max(len(line) for line in out.splitlines()) <= 100


def test_the_run_record_states_rates_to_three_figures_with_their_units():
    out = run(*SIM)
    m = json.loads(run(*SIM, "--format", "json"))["metrics"]
    assert cells(out, "throughput")[1] == (f"{units.fmt_sig(m['throughput_rps'])} req/s, "
                                           f"{units.fmt_sig(m['output_tokens_per_s'])} output tokens/s")
    assert cells(out, "arrival rate")[1] == f"{units.fmt_sig(m['arrival_rate_per_s'])} req/s, mean over the " \
                                            "measured window"
    assert cells(out, "requests")[1] == f"{m['requests_measured']:,} measured, 0 rejected (0%)"
    assert "daily mean rate" not in out and "peak rate" not in out  # a steady run has neither


def test_a_diurnal_run_labels_the_window_rate_and_shows_the_daily_mean_and_the_peak():
    """The default curve is 2x the daily mean from 08:00 to 20:00 (planner/simulate_api.py); a run from 07:30 to
    08:30 measures its window (after the first 10 % of the arrivals) in the busy hours: the peak, not the mean."""
    from planner.simulate_api import SimRequest, run_simulation

    result = run_simulation(SimRequest(model="llama-3.1-8b", rate_per_s=1.0, duration_s=3600.0, diurnal="default",
                                       start_hour=7.5))
    rec = run_record(result)
    m = result.metrics
    assert m.arrival_rate_per_s == pytest.approx(2.0, rel=0.1)
    assert rec["arrival rate"].startswith(f"{units.fmt_sig(m.arrival_rate_per_s)} req/s, mean over the measured "
                                          "window (clock 08:")
    assert rec["arrival rate"].endswith("-08:30)")  # the window ends at the last arrival, just before 08:30
    assert rec["daily mean rate"] == "1 req/s (--rate: the mean over the 24-hour curve)"
    assert rec["peak rate"] == "2 req/s, the curve's busiest hour (2x the daily mean)"
    out = run(*DIURNAL)
    assert cells(out, "peak rate")[1] == rec["peak rate"] and cells(out, "daily mean rate")[1] == rec[
        "daily mean rate"]


def test_json_and_csv_keep_raw_seconds_under_their_keys():
    d = json.loads(run(*SIM, "--format", "json"))
    m = d["metrics"]
    assert set(m["ttft"]) == {"count", "mean", "p50", "p90", "p99"} and 0.001 < m["tpot"]["mean"] < 0.1  # seconds
    csv = run(*SIM, "--format", "csv").splitlines()
    assert csv[0] == "metric,stat,value,unit"
    row = next(r.split(",") for r in csv if r.startswith("tpot,mean,"))
    assert float(row[2]) == m["tpot"]["mean"] and row[3] == "s"  # unrounded, in seconds


def test_the_default_table_leaves_the_sample_counts_to_wide_and_the_frame_keeps_them():
    from planner.simulate_api import SimRequest, run_simulation

    m = run_simulation(SimRequest(model="llama-3.1-8b", rate_per_s=5.0, duration_s=60.0)).metrics
    frame = latency_frame(m)
    assert list(frame.columns) == ["metric", "count", *TABLE_COLUMNS[1:]]
    assert list(frame["count"]) == [m.ttft.count, m.tpot.count, m.itl.count, m.e2e.count, m.queue_wait.count]
    assert frame.loc[frame["metric"] == "E2E", "p99_ms"].item() == units.round_sig(m.e2e.p99 * 1e3)
    assert "count" not in cells(run(*SIM), "metric")
    assert "count" in cells(run(*SIM, "--wide"), "metric")


def test_crossover_volumes_have_two_significant_figures():
    out = run("crossover", "llama-3.1-8b")
    header = next(i for i, line in enumerate(out.splitlines()) if line.startswith("┡"))
    volumes = [line.split("│")[-2].strip() for line in out.splitlines()[header + 1:] if line.startswith("│")]
    volumes = [v for v in volumes if v]  # continuation lines of a wrapped model name
    assert volumes and any(v != "–" for v in volumes)
    for v in volumes:
        assert v == "–" or re.fullmatch(r"([1-9](\.\d)?|[1-9]\d0?)[kMBT]?", v), v  # at most 2 significant figures
    assert "crossover_tokens_per_day: to 2 significant figures" in out
