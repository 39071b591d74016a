"""`inferplan compare` and `crossover`, and the crossover the plan's verdict refers to."""

import pytest

from tests.helpers import cli_json


def _row(rows, provider, model):
    return next(r for r in rows if (r["provider"], r["model"]) == (provider, model))


def test_compare_prices_the_workload_on_every_api():
    rows = cli_json("compare")
    # the seed's 5M input + 1M output tokens a day
    assert _row(rows, "openai", "gpt-4o")["daily_cost"] == pytest.approx(5 * 2.50 + 1 * 10)  # $22.50
    assert _row(rows, "anthropic", "claude-opus-4-1-20250805")["monthly_cost"] == pytest.approx(30 * (5 * 15 + 75))
    doubled = cli_json("compare", "--tokens-per-day-in", "10M", "--tokens-per-day-out", "2M")
    assert _row(doubled, "openai", "gpt-4o")["daily_cost"] == pytest.approx(10 * 2.50 + 2 * 10)  # $45
    cached = cli_json("compare", "--cached-input", "50%")
    # half the input at gpt-4o's $1.25 cached price: 2.5 x 2.50 + 2.5 x 1.25 + 10
    assert _row(cached, "openai", "gpt-4o")["daily_cost"] == pytest.approx(2.5 * 2.50 + 2.5 * 1.25 + 10)


# GPT-4o costs $3.75 per M tokens (5:1 mix) x 30 days = $1.125e-4 a month per token/day. Self-hosting llama-3.1-8b
# on H100s (2 GPUs at $2.80/GPU-h + $5,520 of other items = $9,608 at the seed volume) never costs less at a
# higher volume, so the API reaches it at 9,608 / 1.125e-4 = 85.4M tokens/day at the earliest. At 86.4M the
# peak passes 2,000 tokens/s and a second guardrail slice (+$250) is due: the API line crosses the self-hosted
# bill at ~85.5M, falls below it again at 86.4M and crosses for good at (9,612 + 250) / 1.125e-4 = 87.7M.
CROSSOVER_ARGS = ("crossover", "llama-3.1-8b", "--gpu", "h100-sxm", "--quant", "bf16", "--tp", "1")


def test_crossover_against_gpt4o_by_hand():
    r = _row(cli_json(*CROSSOVER_ARGS), "openai", "gpt-4o")
    assert r["monthly_cost"] == pytest.approx(675.0)  # $22.50 a day at the seed volume
    # at 100M tokens/day (a point of the search grid) GPT-4o costs $11,250, self-hosting < $9,900
    assert 9608 / 1.125e-4 <= r["crossover_tokens_per_day"] <= 100e6


def test_crossover_finds_the_first_window_where_self_hosting_is_cheaper():
    # the window 85.5M-86.4M lies between two grid points (75M, 100M): the crossover is its start, 9,608 / 1.125e-4
    r = _row(cli_json(*CROSSOVER_ARGS), "openai", "gpt-4o")
    assert 9608 / 1.125e-4 * (1 - 1e-9) <= r["crossover_tokens_per_day"] < 86.4e6


def test_the_residency_verdict_names_its_reference_api_and_that_apis_crossover():
    d = cli_json("plan", "--residency")
    ref = d["crossover_reference_api"]
    row = next(a for a in d["api"] if f"{a['provider']} / {a['model']}" == ref)
    assert d["crossover_tokens_per_day"] == row["crossover_tokens_per_day"]
    assert d["verdict"] == "dedicated-api-first"  # residency: Azure OpenAI, Bedrock or Vertex before self-hosting
