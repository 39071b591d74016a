"""`inferplan simulate` with bad or oversized inputs (issue 12): each ends in one line `error: ...` and exit 1,
fast, and never draws or simulates a run larger than planner/simulate/limits.py allows.

The reproducers of the fuzzing report first (a trace that is not UTF-8, token counts past 2^63, a CSV field past
the csv module's limit, --cv 1e-320, a NUL byte or 24 x 1e308 as --diurnal, --rate 1e15 and 3M, a --plot of a
suffix matplotlib cannot write), then the other options' bad values."""

from __future__ import annotations

import random
import time

import pytest

import planner.simulate_api as api
from planner.simulate.limits import MAX_ENGINE_ITERATIONS, MAX_PLOT_TRACE_REQUESTS, MAX_SIM_REQUESTS
from tests.helpers import cli, cli_error, cli_json, write_trace

SIM = ("simulate", "llama-3.1-8b")
RUN = (*SIM, "--rate", "2/s", "--duration", "1m")
HEADER = "timestamp,input_tokens,output_tokens\n"
FAST_S = 5.0  # a refusal is arithmetic on the options: well under this even on a loaded CI machine


def timed_error(*args) -> tuple[str, float]:
    start = time.perf_counter()
    out = cli_error(*args)
    return out, time.perf_counter() - start


@pytest.fixture
def no_simulation(monkeypatch):
    """The refusal must come before the simulator: any run fails the test."""
    monkeypatch.setattr(api.sim, "simulate_workload", lambda *a, **k: pytest.fail("the simulator ran"))


# --- 1. a trace that is not UTF-8 ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("data", "says"), [
    ((HEADER + "0,1,1\n").encode("utf-16"), "is UTF-16 text"),  # with its byte-order mark
    (HEADER.encode() + "café,1,1\n".encode("latin-1"), "not UTF-8 text (byte 0xe9 at offset 40"),
    (random.Random(0).randbytes(4000), "not UTF-8 text"),
])
def test_a_trace_that_is_not_utf8_is_named(tmp_path, data, says):
    trace = tmp_path / "trace.csv"
    trace.write_bytes(data)
    out = cli_error(*SIM, "--trace", trace)
    assert f"{trace}" in out and says in out and "must be a UTF-8 CSV file" in out, out


def test_a_latin1_byte_is_placed_on_its_line(tmp_path):
    trace = tmp_path / "t.csv"
    trace.write_bytes(HEADER.encode() + b"0,1,1\ncaf\xe9,1,1\n")
    assert f"{trace}:3: is not UTF-8 text" in cli_error(*SIM, "--trace", trace)


# --- 2. token counts and fields past the bounds -------------------------------------------------------------------


@pytest.mark.parametrize("cell", ["1e30", "100000001", str(2**63)])
def test_trace_token_counts_beyond_the_bound_are_refused_with_file_and_line(tmp_path, cell):
    trace = tmp_path / "t.csv"
    trace.write_text(HEADER + "0,10,10\n1," + cell + ",10\n")
    out = cli_error(*SIM, "--trace", trace)
    assert f"{trace}:3: column 'input_tokens': {cell} tokens is more than the 100,000,000" in out, out
    assert "Llama 4 Scout" in out


def test_a_csv_field_past_the_csv_limit_is_refused_with_its_line(tmp_path):
    trace = tmp_path / "t.csv"
    trace.write_text(HEADER + "0," + "9" * 200_000 + ",1\n")
    out = cli_error(*SIM, "--trace", trace)
    assert f"{trace}:2: not a CSV row (field larger than field limit" in out, out


def test_a_long_cell_is_shortened_in_the_message(tmp_path):
    trace = tmp_path / "t.csv"
    trace.write_text(HEADER + "0,x" + "9" * 5000 + ",1\n")
    out = cli_error(*SIM, "--trace", trace)
    assert "... (5,001 characters)" in out and len(out) < 300, out


@pytest.mark.parametrize(("rows", "says"), [
    ("-1e308,1,1\n1e308,1,1\n", ":3: column 'timestamp': the timestamps span more than 1e+09 s"),
    ("0,1,1\n1e300,1,1\n", ":3: column 'timestamp': the timestamps span more than 1e+09 s"),
    ("0001-01-01T00:00:00,1,1\n9999-12-31T00:00:00,1,1\n", ":3: column 'timestamp': the timestamps span"),
])
def test_timestamps_spanning_more_than_the_clock_keeps_are_refused(tmp_path, rows, says):
    trace = tmp_path / "t.csv"
    trace.write_text(HEADER + rows)
    assert says in cli_error(*SIM, "--trace", trace)


# --- 3. --cv ------------------------------------------------------------------------------------------------------


def test_a_tiny_cv_runs_as_evenly_spaced_arrivals():
    """--cv 1e-320 squared is 0 (it divided by zero in the gamma's shape): below 1e-6 the arrivals are evenly
    spaced (tests/planner/simulate/test_sim_limits.py checks the gaps), here 2/s."""
    d = cli_json(*SIM, "--rate", "2/s", "--duration", "2m", "--cv", "1e-320")
    assert d["request"]["cv"] == 1e-320
    assert d["metrics"]["arrival_rate_per_s"] == pytest.approx(2.0, rel=0.01)


@pytest.mark.parametrize("cv", ["0", "-1", "nan", "inf", "11", "1e308"])
def test_cv_outside_its_range_is_refused(cv):
    assert "--cv must be > 0 and at most 10" in cli_error(*RUN, "--cv", cv)


# --- 4. --diurnal -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["\x00", "a\x00b", "", "  "])
def test_a_diurnal_value_that_names_no_file_is_refused(value):
    assert "give 'default' or the name of a file of 24 hourly multipliers" in cli_error(*RUN, "--diurnal", value)


def test_a_curve_of_huge_multipliers_is_the_flat_curve(tmp_path):
    """24 x 1e308 sums past the float maximum (it hung for 58 s and 6.5 GB): only ratios matter, so it is
    the flat curve, the same run as 24 x 1."""
    huge, flat = tmp_path / "huge.txt", tmp_path / "flat.txt"
    huge.write_text(" ".join(["1e308"] * 24) + "\n")
    flat.write_text(" ".join(["1"] * 24) + "\n")
    args = ("--rate", "1/s", "--duration", "10m")
    a = cli_json(*SIM, *args, "--diurnal", huge)
    b = cli_json(*SIM, *args, "--diurnal", flat)
    assert a["metrics"] == b["metrics"]


@pytest.mark.parametrize(("text", "says"), [
    (" ".join(["1"] * 23 + ["-1"]), "hour 23 is -1"),
    (" ".join(["1"] * 23 + ["nan"]), "hour 23 is nan"),
    (" ".join(["1"] * 23 + ["1e999"]), "hour 23 is inf"),
    (" ".join(["0"] * 24), "all are zero"),
    ("", "found 0"),
])
def test_a_bad_curve_says_what_is_wrong(tmp_path, text, says):
    f = tmp_path / "c.txt"
    f.write_text(text)
    assert says in cli_error(*RUN, "--diurnal", f)


def test_a_curve_file_that_is_large_binary_or_a_folder_is_refused(tmp_path):
    big, binary = tmp_path / "big.txt", tmp_path / "bin.txt"
    big.write_text("1 " * 100_000)
    binary.write_bytes(b"\xff\xfe\x00\x01" * 10)
    assert "larger than 64 KiB" in cli_error(*RUN, "--diurnal", big)
    assert "not UTF-8 text (byte 0xff at offset 0)" in cli_error(*RUN, "--diurnal", binary)
    assert "cannot read the diurnal curve" in cli_error(*RUN, "--diurnal", tmp_path)


# --- 5. the request cap -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("rate", "duration", "count"), [
    ("1e15", "2m", "1.2e+17"),  # MemoryError (853 PiB) before
    ("3M", "2m", "360,000,000"),  # never finished before
    ("1000/s", None, "600,000"),  # the default 10 minutes
    ("1e308", "1m", "over 1e308"),
])
def test_more_requests_than_the_cap_are_refused_before_drawing_any(no_simulation, rate, duration, count):
    args = (*SIM, "--rate", rate) + (("--duration", duration) if duration else ())
    out, took = timed_error(*args)
    assert f"is {count} requests, more than the {MAX_SIM_REQUESTS:,} one simulation takes" in out, out
    assert "shorter --duration or a lower --rate" in out
    assert took < FAST_S
    if duration is None:
        assert "(the default)" in out


def test_a_diurnal_day_over_the_cap_is_refused_with_the_default_duration(no_simulation):
    """The default diurnal run is 24 h: 6/s is 518,400 requests (5.8/s, 500,000, is the most a day takes)."""
    out, took = timed_error(*SIM, "--rate", "6/s", "--diurnal", "default")
    assert "--duration 86400 s (the default) is 518,400 requests" in out and took < FAST_S


def test_a_duration_past_the_clock_is_refused(no_simulation):
    out = cli_error(*SIM, "--rate", "1e-6/s", "--duration", "1e10s")
    assert "--duration must be at most 1e+09 s" in out


def test_the_cap_is_the_documented_one():
    """The cap is stated in --help (and planner/simulate/limits.py gives the timings behind it)."""
    r = cli(*SIM, "--help")
    assert f"{MAX_SIM_REQUESTS:,} requests" in r.output and f"{MAX_ENGINE_ITERATIONS:,} engine steps" in r.output


def test_a_trace_replaying_more_than_the_cap_is_refused(tmp_path, monkeypatch, no_simulation):
    """The cap counts the rows replayed: after the --duration cut, which can bring a long trace under it."""
    monkeypatch.setattr(api, "MAX_SIM_REQUESTS", 50)
    trace = write_trace(tmp_path / "t.csv", [(i, 10, 10) for i in range(60)])
    out = cli_error(*SIM, "--trace", trace)
    assert "60 requests to replay, more than the 50 one simulation takes" in out
    assert "--duration" in out and "split the trace" in out
    out = cli_error(*SIM, "--trace", trace, "--duration", "55s")
    assert "55 requests to replay in its first 55 s" in out


def test_plot_takes_a_shorter_trace(tmp_path, no_simulation):
    """--plot replays a trace at every rate probed and 8 loads: 20,000 requests at most (20,001 refused)."""
    trace = write_trace(tmp_path / "t.csv", [(i * 0.01, 10, 10) for i in range(MAX_PLOT_TRACE_REQUESTS + 1)])
    out, took = timed_error(*SIM, "--trace", trace, "--plot", tmp_path / "p.png")
    assert "20,001 requests to replay; --plot replays them" in out and "at most 20,000" in out, out
    assert "--duration" in out and took < FAST_S


def test_a_trace_with_more_rows_than_a_trace_may_hold_stops_reading(tmp_path, monkeypatch):
    import planner.simulate.trace as trace_mod

    monkeypatch.setattr(trace_mod, "MAX_TRACE_ROWS", 10)
    trace = write_trace(tmp_path / "t.csv", [(i, 10, 10) for i in range(20)])
    assert f"{trace}: 21 lines, more than the 10 requests (and a header)" in cli_error(*SIM, "--trace", trace)


def test_prompts_needing_more_steps_than_the_budget_are_refused_before_simulating(no_simulation):
    """2,000 prompts of 100,000 tokens at 1 token a step need 2e8 steps: refused from the options alone."""
    out, took = timed_error(*SIM, "--rate", "20/s", "--duration", "100s", "--input-tokens", "100k",
                            "--output-tokens", "1", "--sigma", "0", "--max-num-batched-tokens", "1",
                            "--max-num-seqs", "1")
    assert "need 200,000,000 engine steps, more than the 10,000,000 one simulation takes" in out, out
    assert took < FAST_S


def test_a_run_past_the_step_budget_stops_with_what_to_change(monkeypatch):
    """What no option shows beforehand (here one sequence at a time) the simulator stops at its step budget."""
    import planner.simulate.engine as engine

    monkeypatch.setattr(engine, "MAX_ENGINE_ITERATIONS", 2000)
    out = cli_error(*SIM, "--rate", "20/s", "--duration", "1m", "--max-num-seqs", "1")
    assert "the simulation stopped after 2,000 engine steps" in out, out
    assert "requests finished" in out and "--max-num-seqs" in out


# --- 6. --plot is checked before the work -------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["out.bin", "empty.yaml", "x.png.txt"])
def test_a_plot_name_matplotlib_cannot_write_is_refused_before_simulating(tmp_path, no_simulation, name):
    out, took = timed_error(*RUN, "--plot", tmp_path / name)
    assert "--plot" in out and "name a .png, .svg, .pdf file" in out and took < FAST_S


# --- 7. every other option's bad values ---------------------------------------------------------------------------


@pytest.mark.parametrize(("args", "says"), [
    (("--rate", "0", "--duration", "1m"), "--rate"),
    (("--rate", "nan", "--duration", "1m"), "--rate: cannot read 'nan'"),
    (("--rate", "\u0663M", "--duration", "1m"), "--rate: cannot read"),  # Arabic-Indic 3: not a number here
    (("--rate", "2/s", "--duration", "inf"), "--duration: cannot read 'inf'"),
    (("--rate", "2/s", "--duration", "1e-9s"), "no request arrives in the first 1e-09 s"),
    (("--rate", "1e-320", "--duration", "1m"), "no request arrives"),  # a subnormal rate: no overflow warning
    ("--input-tokens 1e9", "--input-tokens must be at most 100,000,000 tokens"),
    ("--output-tokens 1e30", "--output-tokens must be at most 100,000,000 tokens"),
    ("--input-tokens 0", "--input-tokens must be at least 1 token"),
    ("--sigma 1e308", "--sigma must be >= 0 and at most 4"),
    ("--sigma nan", "--sigma must be >= 0 and at most 4"),
    ("--sigma -1", "--sigma must be >= 0 and at most 4"),
    ("--diurnal default --start-hour nan", "--start-hour must be in [0, 24)"),
    ("--diurnal default --start-hour 1e308", "--start-hour must be in [0, 24)"),
    ("--ttft-p99 nan", "--ttft-p99: cannot read 'nan'"),
    ("--tpot-p99 0", "--tpot-p99: must be > 0"),
    ("--seed -1", "--seed must be an integer >= 0"),
    ("--tp 0", "--tp must be an integer >= 1"),
    ("--tp 1000000", "TP=1000000 does not divide"),
    ("--max-num-seqs 0", "--max-num-seqs must be an integer >= 1"),
    ("--max-num-seqs 1000000000000", "must be >= --max-num-seqs"),
    ("--max-model-len 1000000000000", "--max-model-len 1,000,000,000,000 exceeds"),
    ("--gpu-memory-utilization nan", "--gpu-memory-utilization must be a fraction in (0, 1]"),
    ("--engine bogus", "--engine must be one of"),
    ("--kv-dtype bogus", "--kv-dtype must be bf16 or fp8"),
    ("--trace missing.csv", "exactly one of --rate"),
])
def test_bad_option_values_end_in_one_line(args, says):
    args = (*RUN, *args.split()) if isinstance(args, str) else (*SIM, *args)
    out = cli_error(*args)
    assert says in out, out


@pytest.mark.parametrize(("content", "says"), [
    (None, "cannot read the trace (No such file or directory)"),
    ("", "the file is empty"),
    (HEADER, "the trace has a header but no requests"),
    ("a,b\n0,1,1\n", ":1: missing column(s) timestamp, input_tokens, output_tokens"),
    (",".join(["x"] * 10_000) + "\n0,1,1\n", "found: x, x, x, x, x, x and 9,994 more"),
    (HEADER + "0,1\x00,1\n", ":2: column 'input_tokens': expected an integer >= 1, got '1\\x00'"),
    (HEADER + "nan,1,1\n", ":2: column 'timestamp': timestamp is not finite"),
    (HEADER + "0,1,1\n2025-01-01T00:00:00,1,1\n", ":3: column 'timestamp': mixes numeric and ISO timestamps"),
])
def test_bad_trace_files_end_in_one_line(tmp_path, content, says):
    trace = tmp_path / "t.csv"
    if content is not None:
        trace.write_text(content)
    out = cli_error(*SIM, "--trace", trace)
    assert says in out, out


def test_a_folder_as_the_trace_is_refused(tmp_path):
    assert "cannot read the trace (Is a directory)" in cli_error(*SIM, "--trace", tmp_path)
