"""The simulator's bounds (planner/simulate/limits.py) as a library sees them: numerically extreme inputs give
a stream or one InvalidValueError, and oversized runs are refused before they are drawn or stopped at the step
budget. The command-line side is tests/cli/test_cli_simulate_inputs.py."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from planner.simulate import (
    Diurnal,
    EngineConfig,
    Fixed,
    FixedStepTime,
    Gamma,
    LogNormal,
    Poisson,
    Requests,
    WorkloadShape,
    make_requests,
    read_trace,
    simulate,
)
from planner.simulate.arrivals import expected_arrivals, sample_lengths
from planner.simulate.limits import DETERMINISTIC_CV, MAX_CV, MAX_REQUEST_TOKENS
from profiler.errors import InvalidValueError

ONE = Fixed(1)


@pytest.mark.parametrize("cv", [1e-320, 1e-160, DETERMINISTIC_CV / 2])
def test_a_cv_below_the_deterministic_bound_spaces_arrivals_evenly(cv):
    """1e-320 squared is 0 and 1e-160 squared subnormal: the gamma's shape 1/cv^2 divided by zero or overflowed."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        req = make_requests(WorkloadShape(Gamma(4.0, cv=cv), ONE, ONE), n_requests=100, seed=0)
    np.testing.assert_allclose(np.diff(req.arrival_s), 0.25)
    assert req.arrival_s[0] == pytest.approx(0.25)


def test_a_cv_just_above_the_bound_is_still_a_gamma():
    gaps = np.diff(make_requests(WorkloadShape(Gamma(1.0, cv=1e-3), ONE, ONE), n_requests=20_000).arrival_s)
    assert gaps.std() / gaps.mean() == pytest.approx(1e-3, rel=0.05)


def test_a_cv_above_the_maximum_is_refused():
    with pytest.raises(InvalidValueError, match="cv must be at most 10"):
        make_requests(WorkloadShape(Gamma(1.0, cv=MAX_CV * 1.01), ONE, ONE), n_requests=10)


def test_a_curve_near_the_float_maximum_is_its_ratios():
    """24 x 1e308 sums to infinity (the knots were all 0: a hang); only the ratios count."""
    huge = WorkloadShape(Diurnal(2.0, (1e308,) * 12 + (5e307,) * 12), ONE, ONE)
    small = WorkloadShape(Diurnal(2.0, (2.0,) * 12 + (1.0,) * 12), ONE, ONE)
    a, b = (make_requests(s, duration_s=86_400, seed=4) for s in (huge, small))
    np.testing.assert_allclose(a.arrival_s, b.arrival_s)


def test_expected_arrivals_follow_the_curve():
    """Rate 2/s as the daily mean of 12 busy hours at 2x and 12 idle ones: the first 8 h (idle) expect none,
    08:00-20:00 at 4/s expects 172,800; the whole day 2 x 86,400; two days twice that."""
    shape = Diurnal(2.0, (0.0,) * 8 + (2.0,) * 12 + (0.0,) * 4)
    assert expected_arrivals(shape, 8 * 3600) == pytest.approx(0.0)
    assert expected_arrivals(shape, 20 * 3600) == pytest.approx(4.0 * 12 * 3600)
    assert expected_arrivals(shape, 86_400) == pytest.approx(172_800)
    assert expected_arrivals(shape, 2 * 86_400) == pytest.approx(345_600)
    assert expected_arrivals(Poisson(3.0), 100) == 300


def test_max_requests_refuses_before_drawing():
    shape = WorkloadShape(Poisson(1e15), ONE, ONE)
    with pytest.raises(InvalidValueError, match="requests expected in 120 s, more than the 1,000 one simulation"):
        make_requests(shape, duration_s=120, max_requests=1000)
    with pytest.raises(InvalidValueError, match="n_requests 2,000 is more than the 1,000"):
        make_requests(shape, n_requests=2000, max_requests=1000)


def test_a_burst_over_max_requests_is_refused_while_drawing():
    """At cv 10 a window of a few expected arrivals can hold many more; the draw stops at the cap."""
    shape = WorkloadShape(Gamma(1.0, cv=10.0), ONE, ONE)
    counts = [len(make_requests(shape, duration_s=50, seed=s)) for s in range(40)]
    seed = int(np.argmax(counts))
    assert counts[seed] > 60  # expected 50
    with pytest.raises(InvalidValueError, match="more than (the )?60 (one simulation takes|requests arrive)"):
        make_requests(shape, duration_s=50, seed=seed, max_requests=60)


def test_lengths_past_the_float_range_are_clipped_to_the_request_bound():
    """A lognormal tail past 1e308 cast to int64 gave negative lengths; they are clipped at MAX_REQUEST_TOKENS."""
    rng = np.random.default_rng(0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        x = sample_lengths(LogNormal(mean=1e300, sigma=30.0), rng, 1000)
    assert x.min() >= 1 and x.max() == MAX_REQUEST_TOKENS


def test_a_sigma_whose_square_overflows_is_refused():
    with pytest.raises(InvalidValueError, match="LogNormal.sigma must be >= 0"):
        make_requests(WorkloadShape(Poisson(1.0), LogNormal(100, 1e200), ONE), n_requests=10)


def test_the_engine_stops_at_its_step_budget():
    """One sequence at a time: 50 requests of 100 output tokens need 5,000 steps; a budget of 1,000 stops it."""
    requests = Requests(np.arange(50, dtype=float) * 1e-3, np.full(50, 10), np.full(50, 100))
    config = EngineConfig(kv_blocks=1000, max_num_seqs=1, max_num_batched_tokens=64)
    step = FixedStepTime(1e-6, 1e-3)
    simulate(requests, config, step)  # within the default budget
    with pytest.raises(InvalidValueError, match=r"stopped after 1,000 engine steps .* of 50 requests finished"):
        simulate(requests, config, step, max_iterations=1000)


def test_a_step_model_without_a_closed_form_stops_inside_a_decode_stretch():
    """A decode-only stretch stepped one by one (no decode_affine) honours the budget too."""
    requests = Requests(np.zeros(1), np.full(1, 10), np.full(1, 50_000))
    config = EngineConfig(kv_blocks=10_000, max_num_seqs=1, max_num_batched_tokens=64)

    def step(prefill_tokens, decode_seqs, context_tokens, *chunks):
        return 1e-3

    with pytest.raises(InvalidValueError, match="stopped after 500 engine steps"):
        simulate(requests, config, step, max_iterations=500)


@pytest.mark.parametrize(("data", "says"), [
    (b"\xff\xfet\x00o\x00k\x00", r"t\.csv: is UTF-16 text"),
    (b"timestamp,input_tokens,output_tokens\n0,1,1\n\xe9", r"t\.csv:3: is not UTF-8 text \(byte 0xe9 at offset 43\)"),
    (b"timestamp,input_tokens,output_tokens\n0,1e30,1\n", r"t\.csv:2: column 'input_tokens': 1e30 tokens is more"),
    (b"timestamp,input_tokens,output_tokens\n0," + b"9" * 200_000 + b",1\n", r"t\.csv:2: not a CSV row"),
])
def test_read_trace_refuses_with_the_file_and_line(tmp_path, data, says):
    path = tmp_path / "t.csv"
    path.write_bytes(data)
    with pytest.raises(InvalidValueError, match=says):
        read_trace(path)


def test_read_trace_refuses_a_file_over_its_byte_bound(tmp_path, monkeypatch):
    import planner.simulate.trace as trace

    monkeypatch.setattr(trace, "MAX_TRACE_BYTES", 100)
    path = tmp_path / "t.csv"
    path.write_text("timestamp,input_tokens,output_tokens\n" + "0,1,1\n" * 20)
    with pytest.raises(InvalidValueError, match="larger than 100 bytes"):
        read_trace(path)


def test_a_trace_at_the_token_bound_is_read(tmp_path):
    """The bound is inclusive: MAX_REQUEST_TOKENS itself is a count (a model's context refuses it later)."""
    path = tmp_path / "t.csv"
    path.write_text(f"timestamp,input_tokens,output_tokens\n0,{MAX_REQUEST_TOKENS},1\n")
    assert read_trace(path).input_tokens[0] == MAX_REQUEST_TOKENS
