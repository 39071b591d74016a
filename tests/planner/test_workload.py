"""Workload record: seed defaults, derivations, human-unit building and YAML loading."""

import math
from dataclasses import replace
from pathlib import Path

import pytest

from planner.errors import WorkloadError
from planner.workload import DEFAULT_WORKLOAD, LengthDist, Workload, build_workload, load_workload
from profiler.errors import CatalogueError, InvalidValueError

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
Z99 = 2.3263478740408408  # standard normal 99th percentile


def test_default_is_the_seed_scenario():
    w = DEFAULT_WORKLOAD
    assert (w.tokens_in_per_day, w.tokens_out_per_day) == (5e6, 1e6)
    assert (w.mean_input_tokens, w.mean_output_tokens) == (1000, 200)
    assert w.availability == 0.999
    assert (w.ttft_p99_s, w.tpot_p99_s, w.peak_to_average) == (2.0, 0.05, 2.0)
    per_hour = w.requests_per_day / 24
    assert 200 <= per_hour <= 500  # seed: "a few hundred requests per hour"
    assert per_hour == pytest.approx(208.333, rel=1e-4)


def test_rates():
    w = DEFAULT_WORKLOAD
    assert w.requests_per_s_mean == pytest.approx(5000 / 86400)
    assert w.requests_per_s_peak == pytest.approx(2 * 5000 / 86400)
    assert w.tokens_per_s_peak == pytest.approx(2 * 6e6 / 86400)


def test_lognormal_p99_keeps_the_mean():
    w = DEFAULT_WORKLOAD
    mu = math.log(1000) - 0.5 ** 2 / 2
    assert w.input_tokens_p99 == pytest.approx(math.exp(mu + Z99 * 0.5), rel=1e-9)
    assert w.input_tokens_p99 == pytest.approx(2824.06, rel=1e-5)
    fixed = replace(w, input_dist=LengthDist("fixed"), output_dist=LengthDist("lognormal", 1.0, max_tokens=500))
    assert fixed.input_tokens_p99 == 1000
    assert fixed.output_tokens_p99 == 500  # clipped


def test_scaled_to_keeps_mix_and_lengths():
    w = DEFAULT_WORKLOAD.scaled_to(60e6)
    assert w.tokens_per_day == pytest.approx(60e6)
    assert w.tokens_in_per_day / w.tokens_out_per_day == pytest.approx(5.0)
    assert (w.mean_input_tokens, w.mean_output_tokens) == pytest.approx((1000, 200))
    assert w.peak_to_average == 2.0 and w.availability == 0.999
    with pytest.raises(WorkloadError):
        DEFAULT_WORKLOAD.scaled_to(0)


def test_hourly_profile_normalised_and_sets_peak():
    profile = [1.0] * 12 + [3.0] * 12  # mean 2, max 3 → peak/avg 1.5
    w = Workload(hourly_profile=profile)
    assert sum(w.hourly_profile) == pytest.approx(24)
    assert w.peak_to_average == pytest.approx(1.5)
    assert replace(w).peak_to_average == pytest.approx(1.5)  # replace keeps it consistent
    with pytest.raises(WorkloadError, match="contradicts"):
        Workload(hourly_profile=profile, peak_to_average=2.0)
    with pytest.raises(WorkloadError, match="24 numbers"):
        Workload(hourly_profile=[1.0] * 23)
    with pytest.raises(WorkloadError, match="not all zero"):
        Workload(hourly_profile=[0.0] * 24)


@pytest.mark.parametrize("kwargs, match", [
    ({"availability": 1.0}, "strictly between"),
    ({"availability": 0.0}, "strictly between"),
    ({"tokens_in_per_day": -5.0}, "tokens_in_per_day"),
    ({"requests_per_day": 0}, "requests_per_day"),
    ({"requests_per_day": 1e7}, "below 1 token"),
    ({"cached_input_fraction": 1.5}, "cached_input_fraction"),
    ({"peak_to_average": 0.5}, "peak_to_average"),
    ({"ttft_p99_s": 0.0}, "ttft_p99_s"),
    ({"tpot_p99_s": math.nan}, "tpot_p99_s"),
])
def test_impossible_workloads(kwargs, match):
    with pytest.raises(WorkloadError, match=match):
        Workload(**kwargs)


def test_bad_length_dist():
    with pytest.raises(WorkloadError, match="fixed, lognormal"):
        LengthDist("pareto")
    with pytest.raises(WorkloadError, match="sigma"):
        LengthDist("lognormal", -1.0)


def test_build_from_tokens_only_keeps_mean_lengths():
    w = build_workload({"tokens_in_per_day": "50M", "tokens_out_per_day": "10M"})
    assert w.requests_per_day == pytest.approx(50_000)
    assert (w.mean_input_tokens, w.mean_output_tokens) == pytest.approx((1000, 200))


def test_build_from_request_rate_and_lengths():
    w = build_workload({"request_rate": "300/h", "mean_input_tokens": "2k", "mean_output_tokens": 400})
    assert w.requests_per_day == pytest.approx(7200)
    assert w.tokens_in_per_day == pytest.approx(14.4e6)
    assert w.tokens_out_per_day == pytest.approx(2.88e6)


def test_build_tokens_and_requests_derive_lengths():
    w = build_workload({"tokens_in_per_day": "5M", "tokens_out_per_day": "1M", "requests_per_day": 2500})
    assert (w.mean_input_tokens, w.mean_output_tokens) == pytest.approx((2000, 400))


def test_build_inconsistent_is_an_error():
    with pytest.raises(WorkloadError, match="inconsistent input"):
        build_workload({"tokens_in_per_day": "5M", "requests_per_day": 2500, "mean_input_tokens": 1000})
    with pytest.raises(WorkloadError, match="not both"):
        build_workload({"requests_per_day": 100, "request_rate": "5/h"})


def test_build_human_units_and_aliases():
    w = build_workload({"ttft_p99": "500ms", "tpot_p99": "30ms", "availability": "99.95%",
                        "cached_input_fraction": "20%", "data_residency": True})
    assert (w.ttft_p99_s, w.tpot_p99_s, w.availability) == pytest.approx((0.5, 0.03, 0.9995))
    assert w.cached_input_fraction == pytest.approx(0.2) and w.data_residency
    with pytest.raises(WorkloadError, match="Did you mean 'availability'"):
        build_workload({"availabilty": "99%"})
    assert build_workload({"peak_to_average": "2.5x"}).peak_to_average == 2.5  # CLI flags arrive as text
    with pytest.raises(InvalidValueError, match="peak_to_average: expected a number"):
        build_workload({"peak_to_average": "high"})


def test_load_example_file():
    w = load_workload(EXAMPLES / "support_agent_workload.yaml")
    assert (w.tokens_in_per_day, w.tokens_out_per_day, w.requests_per_day) == (5e6, 1e6, 5000)
    assert w == replace(DEFAULT_WORKLOAD, name=w.name)


def test_load_errors_name_file_line_and_field(write_file):
    path = write_file("w.yaml", """
        tokens_in_per_day: 5M
        tokens_out_per_day: 1M
        ttft_p99: soon
    """)
    with pytest.raises(CatalogueError, match=r"w\.yaml:3, field 'ttft_p99'.*cannot read 'soon'"):
        load_workload(path)
    path = write_file("v.yaml", "tokens_in_per_day: 5M\navailability: 100%\n")
    with pytest.raises(CatalogueError, match=r"v\.yaml:2, field 'availability'.*strictly between"):
        load_workload(path)
    path = write_file("u.yaml", "tokens_per_dya: 5M\n")
    with pytest.raises(CatalogueError, match=r"u\.yaml:1.*unknown workload key 'tokens_per_dya'"):
        load_workload(path)
    path = write_file("l.yaml", "- 5M\n")
    with pytest.raises(CatalogueError, match="mapping"):
        load_workload(path)
