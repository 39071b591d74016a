"""Like-for-like references (issue 11 items 5 and 6): same weights hosted, else the model's quality tier;
superseded rows are never references; stale prices are flagged."""

import datetime as dt
import textwrap

import pytest

from planner.api_costs import (
    api_costs,
    comparable_rows,
    current_rows,
    model_tier,
    reference_row,
    stale_api_rows,
    staleness_warning,
    tier_for_params,
)
from planner.errors import PlannerError
from planner.prices import TIERS, load_api_prices, load_model_tiers
from planner.verdict import decide
from planner.workload import DEFAULT_WORKLOAD
from profiler.analytic.params import param_counts
from profiler.catalogue import load_models
from profiler.errors import CatalogueError

# no hosted offer in litellm's 2026-07-24 price list (api_prices.yaml has no row serving them)
NOT_HOSTED_TINY = {"tinyllama-1.1b", "smollm2-135m"}
NOT_HOSTED = NOT_HOSTED_TINY | {"llama-2-7b"}


@pytest.fixture(scope="module")
def api():
    return api_costs(DEFAULT_WORKLOAD, load_api_prices())


def test_every_catalogue_model_has_a_tier_that_follows_the_stated_rule():
    tiers = load_model_tiers()
    for name, spec in load_models().items():
        assert tiers[name] == tier_for_params(param_counts(spec).total), name
    assert set(tiers.values()) <= set(TIERS)


def test_tier_rule_edges():
    assert [tier_for_params(p) for p in (3.99e9, 4e9, 14.9e9, 15e9, 49e9, 50e9, 199e9, 200e9)] == [
        "tiny", "small", "small", "medium", "medium", "large", "large", "frontier"]
    with pytest.raises(PlannerError, match="parameter count"):
        tier_for_params(0)


def test_llama_8b_is_compared_with_hosted_8b_not_70b(api):
    # before: deepinfra / Llama-3.3-70B-Instruct-Turbo ($31.20/month), a different model
    ref = reference_row(api, "llama-3.1-8b")
    assert f"{ref['provider']} / {ref['model']}" == "deepinfra / Meta-Llama-3.1-8B-Instruct-Turbo"
    assert ref["comparison"] == "same weights, hosted"
    assert ref["monthly_cost"] == pytest.approx((5 * 0.02 + 1 * 0.03) * 730 / 24)  # $3.95: a 730-hour month


@pytest.mark.parametrize("name", sorted(set(load_models()) - NOT_HOSTED))
def test_every_hosted_catalogue_model_is_compared_with_its_own_weights(api, name):
    ref = reference_row(api, name)
    assert ref["serves"] == name and ref["comparison"] == "same weights, hosted"
    assert ref["as_of"] and ref["source"]


def test_llama_2_7b_is_compared_within_the_small_tier(api):
    ref = reference_row(api, "llama-2-7b")
    assert ref["comparison"] == "same quality tier (small), different model"
    assert (comparable_rows(api, "llama-2-7b")["tier"] == "small").all()
    assert ref["serves"] != "llama-2-7b"


@pytest.mark.parametrize("name", sorted(NOT_HOSTED_TINY))
def test_an_unhosted_catalogue_model_is_compared_within_its_tier(api, name):
    ref = reference_row(api, name)
    assert ref["comparison"] == "same quality tier (tiny), different model"
    assert f"{ref['provider']} / {ref['model']}" == "sambanova / Meta-Llama-3.2-1B-Instruct"
    assert ref["monthly_cost"] == pytest.approx((5 * 0.04 + 0.08) * 730 / 24)  # $8.52
    assert (comparable_rows(api, name)["tier"] == "tiny").all()
    text = " ".join(decide(13_275, api, DEFAULT_WORKLOAD, name).reasons)
    assert f"No API hosts the {name} weights: it is compared within its quality tier (tiny)." in text


def test_a_private_fine_tune_says_which_comparisons_remain(api):
    v = decide(13_275, api, DEFAULT_WORKLOAD, "acme-support-8b", params_total=8.03e9)
    text = " ".join(v.reasons)
    assert "No API serves the same weights as acme-support-8b" in text
    assert "a hosted LoRA of its base model" in text and "quality tier (small, from its parameter count)" in text
    assert v.comparison == "same quality tier (small), different model"
    assert v.reference_api == "deepinfra / Meta-Llama-3.1-8B-Instruct-Turbo"
    assert model_tier("acme-support-8b") == ""  # without a parameter count the tier is unknown, and said so
    v = decide(13_275, api, DEFAULT_WORKLOAD, "acme-support-8b")
    assert "its quality tier unknown" in v.comparison
    assert "once its parameter count places it there" in " ".join(v.reasons)


def test_superseded_rows_are_never_references_or_compared(api):
    rows = api.set_index("label")
    assert rows.loc["anthropic / claude-opus-4-1-20250805", "superseded_by"] == "claude-opus-4-8"
    assert rows.loc["anthropic / claude-opus-4-1-20250805", "monthly_cost"] == pytest.approx(150 * 730 / 24)  # seed row
    current = set(current_rows(api)["label"])
    assert "anthropic / claude-opus-4-1-20250805" not in current and "anthropic / claude-opus-4-8" in current
    frontier = api[api["tier"] == "frontier"]
    assert "claude-opus-4-1-20250805" not in set(current_rows(frontier)["model"])


def test_superseded_by_must_name_a_row_of_the_same_provider(tmp_path):
    f = tmp_path / "api.yaml"
    f.write_text(textwrap.dedent("""\
        models:
          - {provider: openai, model: gpt-4o, superseded_by: gpt-9, usd_per_mtok_in: 2.5, usd_per_mtok_out: 10,
             as_of: 2026-07-24, source: test}
    """))
    with pytest.raises(PlannerError, match="superseded_by 'gpt-9' is no openai model"):
        load_api_prices(f)


def test_an_unknown_tier_is_a_catalogue_error_with_its_line(tmp_path):
    f = tmp_path / "api.yaml"
    f.write_text("models:\n  - {provider: x, model: y, tier: smal, usd_per_mtok_in: 1, usd_per_mtok_out: 1,\n"
                 "     as_of: 2026-07-24, source: test}\n")
    with pytest.raises(CatalogueError, match="did you mean 'small'"):
        load_api_prices(f)


def test_stale_rows_are_older_than_90_days(api):
    stale = stale_api_rows(api, dt.date(2026, 10, 20))  # litellm's 2026-07-24 rows are 88 days old: fresh
    assert set(stale["label"]) == {"together / DeepSeek-V3", "fireworks / deepseek-v3", "deepinfra / DeepSeek-V3"}
    assert (stale["age_days"] == (dt.date(2026, 10, 20) - dt.date(2025, 9, 1)).days).all()  # 414 days
    late = stale_api_rows(api, dt.date(2026, 12, 2))  # 131 days later every litellm row is stale too
    assert "openai / gpt-4o" in set(late["label"]) and "anthropic / claude-sonnet-5" in set(late["label"])  # 92 days
    line = staleness_warning(api, dt.date(2026, 10, 20))
    assert line.startswith(f"3 of {len(current_rows(api))} current API prices are more than 90 days old")
    assert "oldest 2025-09-01 (414 days)" in line
    fresh = api[api["as_of"] == "2026-07-24"]
    assert staleness_warning(fresh, dt.date(2026, 10, 20)) is None
