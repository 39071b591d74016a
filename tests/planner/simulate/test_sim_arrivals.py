"""Arrival processes and length distributions: rates, burstiness, the diurnal curve, seeding."""

from __future__ import annotations

import numpy as np
import pytest

from planner.simulate import (
    Diurnal,
    Empirical,
    Fixed,
    Gamma,
    LogNormal,
    Poisson,
    Uniform,
    WorkloadShape,
    make_requests,
    mean_length,
    with_rate,
)
from profiler.errors import InvalidValueError

ONE = Fixed(1)


def _gaps(process, n=40_000, seed=0):
    return np.diff(make_requests(WorkloadShape(process, ONE, ONE), n_requests=n, seed=seed).arrival_s)


def test_poisson_rate_and_cv():
    g = _gaps(Poisson(7.0))
    assert 1 / g.mean() == pytest.approx(7.0, rel=0.02)
    assert g.std() / g.mean() == pytest.approx(1.0, rel=0.03)


@pytest.mark.parametrize("cv", [0.5, 3.0])
def test_gamma_keeps_the_rate_and_sets_the_cv(cv):
    g = _gaps(Gamma(4.0, cv=cv))
    assert 1 / g.mean() == pytest.approx(4.0, rel=0.03)
    assert g.std() / g.mean() == pytest.approx(cv, rel=0.05)


def test_diurnal_follows_the_hourly_curve():
    curve = tuple([1.0] * 8 + [3.0] * 8 + [0.5] * 8)
    req = make_requests(WorkloadShape(Diurnal(2.0, curve), ONE, ONE), duration_s=2 * 86_400, seed=3)
    per_hour = np.bincount((req.arrival_s // 3600).astype(int) % 24, minlength=24) / 2 / 3600
    expected = 2.0 * np.array(curve) / np.mean(curve)
    np.testing.assert_allclose(per_hour, expected, rtol=0.08)
    assert len(req) / (2 * 86_400) == pytest.approx(2.0, rel=0.02)  # the daily mean is the rate


def test_diurnal_start_hour_shifts_the_curve():
    curve = tuple([0.0] * 12 + [1.0] * 12)  # nothing arrives in the first 12 clock hours
    shape = WorkloadShape(Diurnal(1.0, curve, start_hour=12.5), ONE, ONE)
    req = make_requests(shape, duration_s=86_400, seed=1)
    clock = (12.5 + req.arrival_s / 3600) % 24
    assert (clock >= 12).all()
    assert req.arrival_s.min() < 1800  # 12:30 is already in the busy half


def test_lengths_follow_their_distributions():
    rng_n = 50_000
    shape = WorkloadShape(Poisson(1.0), LogNormal(1000, 1.0), Uniform(10, 20))
    req = make_requests(shape, n_requests=rng_n, seed=2)
    assert req.input_tokens.mean() == pytest.approx(1000, rel=0.03)
    assert np.log(req.input_tokens).std() == pytest.approx(1.0, rel=0.03)
    assert req.output_tokens.min() == 10 and req.output_tokens.max() == 20
    emp = make_requests(WorkloadShape(Poisson(1.0), Empirical((5, 7)), LogNormal(50, 2.0, max_tokens=80)),
                        n_requests=1000, seed=2)
    assert set(emp.input_tokens.tolist()) == {5, 7}
    assert emp.output_tokens.max() == 80 and emp.output_tokens.min() >= 1
    assert mean_length(Uniform(10, 20)) == 15 and mean_length(Empirical((5, 7))) == 6


def test_seeding_is_reproducible_and_common_across_rates():
    shape = WorkloadShape(Poisson(3.0), LogNormal(500, 1.0), LogNormal(100, 1.0))
    a = make_requests(shape, n_requests=100, seed=5)
    b = make_requests(shape, n_requests=100, seed=5)
    c = make_requests(WorkloadShape(with_rate(shape.arrival, 6.0), shape.input_tokens, shape.output_tokens),
                      n_requests=100, seed=5)
    np.testing.assert_array_equal(a.arrival_s, b.arrival_s)
    np.testing.assert_array_equal(a.input_tokens, c.input_tokens)  # lengths do not depend on the rate
    np.testing.assert_allclose(c.arrival_s, a.arrival_s / 2)  # the same pattern, twice as fast
    assert not np.array_equal(make_requests(shape, n_requests=100, seed=6).input_tokens, a.input_tokens)


def test_duration_mode_stops_at_the_duration():
    req = make_requests(WorkloadShape(Gamma(5.0, cv=2.0), ONE, ONE), duration_s=600.0, seed=1)
    assert req.arrival_s.max() < 600.0
    assert len(req) == pytest.approx(3000, rel=0.15)


@pytest.mark.parametrize(("shape", "match"), [
    (WorkloadShape(Poisson(0.0), ONE, ONE), "rate_per_s"),
    (WorkloadShape(Gamma(1.0, cv=-1.0), ONE, ONE), "cv"),
    (WorkloadShape(Diurnal(1.0, (1.0,) * 23), ONE, ONE), "24"),
    (WorkloadShape(Poisson(1.0), Uniform(5, 2), ONE), "Uniform"),
    (WorkloadShape(Poisson(1.0), ONE, LogNormal(-3, 1.0)), "LogNormal.mean"),
    (WorkloadShape(Poisson(1.0), Empirical(()), ONE), "Empirical"),
])
def test_bad_shapes_raise_domain_errors(shape, match):
    with pytest.raises(InvalidValueError, match=match):
        make_requests(shape, n_requests=10)


def test_exactly_one_of_count_and_duration():
    shape = WorkloadShape(Poisson(1.0), ONE, ONE)
    with pytest.raises(InvalidValueError, match="exactly one"):
        make_requests(shape)
    with pytest.raises(InvalidValueError, match="exactly one"):
        make_requests(shape, n_requests=5, duration_s=10.0)
