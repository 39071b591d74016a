"""`inferplan simulate` on the command line: diurnal runs, --duration with a trace, the load plot, option
errors in the command's own terms, the defaults it runs with, and the spinner (stderr, terminals only).

Refusals and warnings: test_cli_simulate_warnings.py. The library behind it: tests/planner/simulate/."""

from __future__ import annotations

import json

import pytest

import planner.cmd_simulate as cmd
from tests.helpers import cli, cli_error, cli_json, write_trace

SIM = ("simulate", "llama-3.1-8b")


def test_diurnal_run_follows_the_curve():
    """The default curve is 2x the daily mean from 08:00 to 20:00 and 0 otherwise (planner/simulate_api.py):
    a daily mean of 2/s arrives at 4/s in the working day."""
    d = cli_json(*SIM, "--rate", "2/s", "--diurnal", "default", "--start-hour", "8", "--duration", "1h")
    assert d["engine"]["arrivals"].startswith("diurnal")
    assert d["metrics"]["arrival_rate_per_s"] == pytest.approx(4.0, rel=0.1)  # 08:00-09:00 is at 2x the mean
    night = cli_json(*SIM, "--rate", "2/s", "--diurnal", "default", "--start-hour", "20", "--duration", "13h")
    assert night["metrics"]["arrival_rate_per_s"] == pytest.approx(4.0, rel=0.1)  # idle until 08:00, then 2x


def test_diurnal_curve_from_a_file(tmp_path):
    f = tmp_path / "curve.txt"
    f.write_text("# hour 0 first\n" + ",".join(["1"] * 12) + "\n" + " ".join(["3"] * 12) + "  # afternoon\n")
    d = cli_json(*SIM, "--rate", "1/s", "--diurnal", f, "--start-hour", "12", "--duration", "30m")
    assert d["metrics"]["arrival_rate_per_s"] == pytest.approx(1.5, rel=0.15)  # 3 / mean(1, 3) = 1.5x
    f.write_text("1, 2, 3\n")
    assert "24 numbers" in cli_error(*SIM, "--rate", "1/s", "--diurnal", f)
    f.write_text(",".join(["1"] * 23) + ",x\n")
    assert "'x' is not a number" in cli_error(*SIM, "--rate", "1/s", "--diurnal", f)


def test_duration_truncates_a_trace(tmp_path):
    """200 requests every 0.5 s (0 .. 99.5 s). The window runs from the first arrival + 10 % of the arrival
    span (the warm-up) to the last arrival (planner/simulate/metrics.py):

    - whole trace: span 99.5 s, warm-up 9.95 s: arrivals 10.0 .. 99.5 s = requests 20 .. 199 = 180 measured;
    - --duration 30s: arrivals before 30 s = requests 0 .. 59 (60), span 29.5 s, warm-up 2.95 s:
      arrivals 3.0 .. 29.5 s = requests 6 .. 59 = 54 measured.
    """
    trace = write_trace(tmp_path / "t.csv", [(i * 0.5, 200 + i, 50) for i in range(200)])
    whole = cli_json(*SIM, "--trace", trace)
    first = cli_json(*SIM, "--trace", trace, "--duration", "30s")
    assert "first 30 s (60 of 200 requests)" in first["engine"]["arrivals"]
    w, f = whole["metrics"], first["metrics"]
    assert (w["window_start_s"], w["window_end_s"], w["requests_measured"]) == (pytest.approx(9.95), 99.5, 180)
    assert (f["window_start_s"], f["window_end_s"], f["requests_measured"]) == (pytest.approx(2.95), 29.5, 54)


@pytest.mark.parametrize(("args", "message"), [
    (("--trace", "{trace}", "--diurnal", "default"), "--diurnal shapes a --rate run"),
    (("--rate", "2/s", "--start-hour", "3"), "--start-hour sets the clock"),
    (("--rate", "2/s", "--diurnal", "default", "--start-hour", "24"), "--start-hour must be in [0, 24)"),
    (("--rate", "2/s", "--trace", "{trace}"), "exactly one of --rate"),
    ((), "exactly one of --rate"),
    (("--rate", "2/s", "--duration", "soon"), "--duration"),
])
def test_bad_combinations_are_one_line_errors(tmp_path, args, message):
    trace = str(write_trace(tmp_path / "t.csv", [(i * 0.5, 200, 50) for i in range(20)]))
    assert message in cli_error(*SIM, *(a.format(trace=trace) for a in args))


@pytest.mark.parametrize(("args", "message"), [
    (("--rate", "abc"), "use a rate such as 5/s, 300/min or 1000/h"),
    (("--rate", "0/s"), "--rate: must be > 0"),
    (("--rate", "5/s", "--cv", "0"), "--cv must be > 0"),
    (("--rate", "5/s", "--cv", "-2"), "--cv must be > 0"),
    (("--rate", "5/s", "--sigma", "-1"), "--sigma must be >= 0"),
    (("--rate", "5/s", "--sigma", "nan"), "--sigma must be >= 0"),
    (("--rate", "5/s", "--input-tokens", "0"), "--input-tokens must be at least 1 token"),
    (("--rate", "5/s", "--seed", "-1"), "--seed must be an integer >= 0"),
    (("--rate", "5/s", "--tp", "0"), "--tp must be an integer >= 1"),
    (("--rate", "5/s", "--duration", "0.1s"), "no request arrives in the first 0.1 s"),
])
def test_bad_options_are_named_in_the_commands_terms(args, message):
    out = cli_error(*SIM, *args)
    assert message in out
    assert "Gamma" not in out and "LogNormal" not in out and "suffixes k, M" not in out


def test_a_trace_refuses_the_options_it_would_ignore(tmp_path):
    trace = write_trace(tmp_path / "t.csv", [(i, 100, 10) for i in range(50)])
    out = cli_error(*SIM, "--trace", trace, "--input-tokens", "5k", "--output-tokens", "100")
    assert "--input-tokens and --output-tokens would be ignored" in out
    assert "--cv would be ignored" in cli_error(*SIM, "--trace", trace, "--cv", "2")


def test_the_defaults_shown_are_the_defaults_simulated():
    """The JSON request shows the lengths and shapes a --rate run used (not nulls), and they are what ran:
    giving the documented defaults (--help: 1000, 250, sigma 0.6, cv 1) explicitly gives the same run."""
    default = cli_json(*SIM, "--rate", "2/s", "--duration", "1m")
    explicit = cli_json(*SIM, "--rate", "2/s", "--duration", "1m", "--input-tokens", "1000", "--output-tokens", "250",
                        "--sigma", "0.6", "--cv", "1")
    req = default["request"]
    assert (req["input_tokens"], req["output_tokens"], req["sigma"], req["cv"]) == (1000, 250, 0.6, 1.0)
    assert explicit["request"] == req and explicit["metrics"] == default["metrics"]


def test_plot_marks_the_slos_and_the_capacity(tmp_path, monkeypatch):
    import matplotlib.pyplot as plt

    figures = []
    monkeypatch.setattr(plt, "close", figures.append)  # keep the figure to look at its lines
    png = tmp_path / "load.png"
    d = cli_json(*SIM, "--rate", "5/s", "--duration", "2m", "--ttft-p99", "1s", "--tpot-p99", "40ms", "--plot", png)
    assert png.read_bytes()[:4] == b"\x89PNG"
    capacity = d["capacity"]["rate_per_s"]
    assert capacity > 0 and d["capacity"]["tpot_p99_s"] <= 0.04 and d["capacity"]["ttft_p99_s"] <= 1.0
    sweep = d["load_sweep"]
    # the sweep's loads (planner/simulate_api.py LOAD_POINTS): shares of the capacity found
    assert [round(r["offered_rps"] / capacity, 2) for r in sweep] == [0.25, 0.5, 0.75, 0.9, 1.0, 1.1, 1.25, 1.5]
    assert next(r for r in sweep if r["load"] == 1.0)["meets"] and not sweep[-1]["meets"]
    ttft_ax, tpot_ax = figures[0].axes
    for ax, target in ((ttft_ax, 1.0), (tpot_ax, 40.0)):
        flat = [ln for ln in ax.lines if len(set(ln.get_ydata())) == 1 and ln.get_ydata()[0] == pytest.approx(target)]
        upright = [ln for ln in ax.lines if len(set(ln.get_xdata())) == 1
                   and ln.get_xdata()[0] == pytest.approx(capacity)]
        assert flat and upright, [ln.get_label() for ln in ax.lines]


def test_a_spinner_goes_to_a_terminal_stderr_only(monkeypatch):
    monkeypatch.setattr(cmd, "_stderr_is_terminal", lambda: True)
    r = cli(*SIM, "--rate", "5/s", "--duration", "1m", "--format", "json")
    assert r.exit_code == 0, r.output
    json.loads(r.stdout)  # stdout is exactly the JSON document
    assert "simulating llama-3.1-8b on 1x h100-sxm" in r.stderr
    monkeypatch.setattr(cmd, "_stderr_is_terminal", lambda: False)
    quiet = cli(*SIM, "--rate", "5/s", "--duration", "1m", "--format", "csv")
    assert quiet.exit_code == 0 and quiet.stderr == "" and quiet.stdout.startswith("metric,stat,value,unit")
