"""Human units: tokens, durations, rates, percentages; YAML line numbers."""

import math

import pytest

from planner.units import (
    fmt_tokens,
    fmt_usd,
    parse_duration_s,
    parse_fraction,
    parse_rate_per_s,
    parse_tokens,
    parse_yaml,
)
from profiler.errors import CatalogueError, InvalidValueError


@pytest.mark.parametrize("text, expected", [
    ("5M", 5e6), ("5m", 5e6), ("1.2B", 1.2e9), ("500k", 5e5), ("500K", 5e5), ("2e6", 2e6),
    ("1,000,000", 1e6), ("1,234.5", 1234.5), ("  7 M  ", 7e6), ("3 million", 3e6), ("2T", 2e12),
    ("250 tokens", 250.0), ("0", 0.0), (".5k", 500.0), (1500, 1500.0), (2.5e6, 2.5e6),
])
def test_parse_tokens(text, expected):
    assert parse_tokens(text) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("bad", ["", "M", "five", "5X", "1,00,000", "1,2", "-5M", "nan", "inf", "5M5", "--3",
                                 None, True, [5], float("inf"), -1])
def test_parse_tokens_rejects(bad):
    with pytest.raises(InvalidValueError):
        parse_tokens(bad, "tokens_in_per_day")


def test_token_error_names_field_and_forms():
    with pytest.raises(InvalidValueError, match=r"tokens_in_per_day: cannot read '5X'.*5M, 1\.2B"):
        parse_tokens("5X", "tokens_in_per_day")


@pytest.mark.parametrize("text, seconds", [
    ("2s", 2.0), ("50ms", 0.05), ("1.5m", 90.0), ("1h", 3600.0), ("250us", 250e-6), ("250µs", 250e-6),
    ("3", 3.0), (0.05, 0.05), ("2 sec", 2.0), ("1.5 min", 90.0), ("1d", 86400.0), ("0.5 hours", 1800.0),
])
def test_parse_duration(text, seconds):
    assert parse_duration_s(text) == pytest.approx(seconds, rel=1e-12)


@pytest.mark.parametrize("bad", ["0s", "-2s", "2 fortnights", "ms", "2x", 0, -1.0, "", "5ms5"])
def test_parse_duration_rejects(bad):
    with pytest.raises(InvalidValueError):
        parse_duration_s(bad, "ttft_p99")


def test_duration_zero_allowed_when_asked():
    assert parse_duration_s("0ms", allow_zero=True) == 0.0


@pytest.mark.parametrize("text, per_s", [
    ("5/s", 5.0), ("300/min", 5.0), ("2000/h", 2000 / 3600), ("100/day", 100 / 86400), ("2k per hour", 2000 / 3600),
    ("1.2M/day", 1.2e6 / 86400), (7, 7.0), ("7", 7.0), ("10 / sec", 10.0),
])
def test_parse_rate(text, per_s):
    assert parse_rate_per_s(text) == pytest.approx(per_s, rel=1e-12)


@pytest.mark.parametrize("bad", ["5/fortnight", "0/s", "-3/h", "/s", "5/ms", "abc", 0])
def test_parse_rate_rejects(bad):
    with pytest.raises(InvalidValueError):
        parse_rate_per_s(bad, "request_rate")


@pytest.mark.parametrize("text, fraction", [
    ("99.9", 0.999), ("99.9%", 0.999), ("0.999", 0.999), (99.9, 0.999), (0.999, 0.999), ("50 %", 0.5),
    ("0.5%", 0.005), (1, 1.0), ("100%", 1.0), (0, 0.0),
])
def test_parse_fraction(text, fraction):
    assert parse_fraction(text) == pytest.approx(fraction, rel=1e-12)


@pytest.mark.parametrize("bad", ["101", "150%", "-1", "-0.5%", "high", "", None])
def test_parse_fraction_rejects(bad):
    with pytest.raises(InvalidValueError):
        parse_fraction(bad, "availability")


def test_availability_style_bounds():
    with pytest.raises(InvalidValueError, match="strictly between"):
        parse_fraction("100%", "availability", allow_one=False)
    with pytest.raises(InvalidValueError, match="strictly between"):
        parse_fraction(0, "availability", allow_zero=False)


def test_formatters():
    assert fmt_tokens(5e6) == "5M"
    assert fmt_tokens(1.25e9) == "1.25B"
    assert fmt_tokens(500) == "500"
    assert fmt_usd(13275) == "$13,275"
    assert fmt_usd(22.5) == "$22.50"
    assert fmt_usd(math.inf) == "n/a"


def test_yaml_lines_and_errors():
    doc = parse_yaml("a: 1\nitems:\n  - x: 2\n    y: 3\n", "f.yaml")
    assert doc.line("items", 0, "y") == 4
    assert doc.line("items", 0, "missing") == 3  # falls back to the entry's line
    with pytest.raises(CatalogueError, match=r"f\.yaml:2.*duplicate key 'a'"):
        parse_yaml("a: 1\na: 2\n", "f.yaml")
    with pytest.raises(CatalogueError, match=r"f\.yaml:\d+: not valid YAML"):
        parse_yaml("a: [1, 2\n", "f.yaml")


def test_a_bare_number_between_one_and_ten_is_ambiguous():
    import pytest

    from planner.units import parse_fraction
    from profiler.errors import InvalidValueError

    with pytest.raises(InvalidValueError, match="1.5%"):
        parse_fraction("1.5", "--cached-input")
    assert parse_fraction("1.5%") == pytest.approx(0.015)
    assert parse_fraction(1) == 1 and parse_fraction("99.9") == pytest.approx(0.999)


def test_negative_money_puts_the_sign_before_the_dollar():
    from planner.render_rows import _fmt
    from planner.units import fmt_usd

    assert (fmt_usd(-27_857.3), fmt_usd(-5.5), fmt_usd(-0.0)) == ("-$27,857", "-$5.50", "$0.00")
    assert (_fmt("vs_on_demand_usd", -27_857.3), _fmt("x_usd", -0.0)) == ("-$27,857", "$0.00")
