"""`inferplan compare` and `crossover`, and the crossover the plan's verdict refers to."""

import pytest

from tests.helpers import cli_json


def _row(rows, provider, model):
    return next(r for r in rows if (r["provider"], r["model"]) == (provider, model))


def test_compare_prices_the_workload_on_every_api():
    rows = cli_json("compare")
    # the seed's 5M input + 1M output tokens a day; a month is 730 h / 24 = 30.42 days, as for GPUs
    assert _row(rows, "openai", "gpt-4o")["daily_cost"] == pytest.approx(5 * 2.50 + 1 * 10)  # $22.50
    assert _row(rows, "anthropic", "claude-opus-4-1-20250805")["monthly_cost"] == pytest.approx(
        730 / 24 * (5 * 15 + 75))
    doubled = cli_json("compare", "--tokens-per-day-in", "10M", "--tokens-per-day-out", "2M")
    assert _row(doubled, "openai", "gpt-4o")["daily_cost"] == pytest.approx(10 * 2.50 + 2 * 10)  # $45
    cached = cli_json("compare", "--cached-input", "50%")
    # half the input at gpt-4o's $1.25 cached price: 2.5 x 2.50 + 2.5 x 1.25 + 10
    assert _row(cached, "openai", "gpt-4o")["daily_cost"] == pytest.approx(2.5 * 2.50 + 2.5 * 1.25 + 10)


# GPT-4o costs $3.75 per M tokens (5:1 mix) x 30.42 days = $1.1406e-4 a month per token/day. Self-hosting
# llama-3.1-8b bf16 on H100s at the seed volume: 2 GPUs at $2.80/GPU-h ($4,088) + $8,499.69 of other items (the
# guard model on half an H100 $1,022, upgrades $2,307.69, ...) = $12,587.69, and the bill only grows with volume:
# the API reaches it at 12,587.69 / 1.1406e-4 = 110.36M tokens/day at the earliest. Up to ~110.5M one replica
# still serves the peak and only logging (+$6) and egress past the free 100 GB (+$1) grow: the crossover lies
# below 12,600 / 1.1406e-4 = 110.47M.
CROSSOVER_ARGS = ("crossover", "llama-3.1-8b", "--gpu", "h100-sxm", "--quant", "bf16", "--tp", "1")
SLOPE = 3.75 * 730 / 24 / 1e6


def test_crossover_against_gpt4o_by_hand():
    r = _row(cli_json(*CROSSOVER_ARGS), "openai", "gpt-4o")
    assert r["monthly_cost"] == pytest.approx(22.50 * 730 / 24)  # $684.38 at the seed volume
    assert 12_587.69 / SLOPE <= r["crossover_tokens_per_day"] <= 12_600 / SLOPE
    assert r["comparison"] == "other tier (frontier)"  # the crossover command lists every API, tier named


def test_the_residency_verdict_names_its_dedicated_reference():
    # issue 11 item 4: under residency the reference is a dedicated offer billed per GPU-hour (Together's H100
    # endpoint at $3.99/h), not a per-token row, so no per-token crossover is reported for it
    d = cli_json("plan", "--residency")
    assert d["crossover_reference_api"] == "together / dedicated endpoint h100-sxm"
    assert not any(f"{a['provider']} / {a['model']}" == d["crossover_reference_api"] for a in d["api"])
    assert d["crossover_tokens_per_day"] is None
    assert d["verdict"] == "dedicated-api-first"  # residency: a dedicated deployment before self-hosting
