"""planner.scenarios: a YAML file of named what-ifs -> PlanRequests -> plans and one comparison table.

Small files plan llama-3.1-8b on h100-sxm fp8 only (about a second each); the shipped example is loaded and run
once (five plans of the seed scenario's 70B model, a few seconds: the plans share their search caches).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from planner.api import PlanRequest, plan
from planner.scenarios import COLUMNS, NO_PLAN, load_scenarios, run_scenarios
from planner.units import MONTHS_PER_YEAR
from planner.workload import build_workload
from profiler import progress
from profiler.errors import CatalogueError

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "scenarios.yaml"

SMALL = """\
defaults:
  model: llama-3.1-8b
  gpu: h100-sxm
  quant: fp8
  tokens_in_per_day: 5M
  tokens_out_per_day: 1M
  mean_input_tokens: 1000
scenarios:
  - name: base
  - name: too fast
    tpot_p99: 1ms          # below one sequence's decode step on any GPU searched: nothing can serve it
  - name: on-demand x3
    pricing: on-demand
    volume_factor: 3
    note: three times the volume
"""


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    """The SMALL file, loaded and run once for the module (under its own INFERPLAN_HOME)."""
    folder = tmp_path_factory.mktemp("scenarios")
    path = folder / "s.yaml"
    path.write_text(SMALL)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("INFERPLAN_HOME", str(folder / "home"))
        scenarios = load_scenarios(path)
        return scenarios, run_scenarios(scenarios)


def test_example_loads_and_runs():
    scenarios = load_scenarios(EXAMPLE)
    assert 3 <= len(scenarios) <= 5
    assert len({s.name for s in scenarios}) == len(scenarios)
    results = run_scenarios(scenarios)
    df = results.comparison
    assert list(df.columns) == list(COLUMNS)
    assert list(df["scenario"]) == [s.name for s in scenarios]
    assert not results.not_planned  # every shipped scenario has a plan
    assert (df["monthly_total_usd"] > 0).all()
    by_name = df.set_index("scenario")
    assert by_name.loc["On-demand", "pricing"] == "on-demand"
    assert by_name.loc["Buy the GPUs", "pricing"] == "buy"
    assert by_name.loc["10x the volume", "tokens_per_day"] == pytest.approx(10 * by_name.loc["Today, reserved-1y",
                                                                                              "tokens_per_day"])
    # the marginal bill on an existing platform is below the full one on the same offers
    assert by_name.loc["Existing ML platform", "monthly_total_usd"] < by_name.loc["Today, reserved-1y",
                                                                                  "monthly_total_usd"]


def test_request_is_the_one_written_by_hand(small):
    scenarios, _ = small
    by_hand = PlanRequest(model="llama-3.1-8b", gpus=("h100-sxm",), quants=("fp8",), pricing=("on-demand",),
                          workload=build_workload({"name": "on-demand x3", "tokens_in_per_day": "15M",
                                                   "tokens_out_per_day": "3M", "mean_input_tokens": 1000}))
    assert scenarios[2].request == by_hand
    assert scenarios[2].note == "three times the volume"
    assert scenarios[0].request.pricing == ("reserved-1y",)  # PlanRequest's default when no key sets it


def test_comparison_equals_individual_plans(small):
    scenarios, results = small
    for s, (name, p, _), (_, row) in zip(scenarios, results.plans, results.comparison.iterrows(), strict=True):
        assert name == s.name == row["scenario"]
        if p is None:
            continue
        alone = plan(s.request)
        assert row["monthly_total_usd"] == pytest.approx(alone.monthly_total_cost, rel=1e-12)
        assert row["annual_total_usd"] == pytest.approx(alone.monthly_total_cost * MONTHS_PER_YEAR, rel=1e-12)
        assert row["monthly_gpu_usd"] == pytest.approx(alone.monthly_gpu_cost, rel=1e-12)
        assert row["gpus_total"] == alone.deployment["gpus_total"]
        assert (row["gpu"], row["quant"], row["pricing"]) == ("h100-sxm", "fp8", s.request.pricing[0])
        assert row["verdict"] == alone.verdict.decision
        assert row["api_monthly_usd"] == pytest.approx(alone.verdict.api_to_tco_ratio * alone.monthly_total_cost)


def test_an_infeasible_scenario_does_not_stop_the_rest(small):
    _, results = small
    names = [name for name, _, _ in results.plans]
    assert names == ["base", "too fast", "on-demand x3"]
    assert [p is None for _, p, _ in results.plans] == [False, True, False]
    row = results.comparison.iloc[1]
    assert row["verdict"] == NO_PLAN
    assert "no configuration" in row["note"] and "TPOT" in row["note"]
    assert results.not_planned == (("too fast", row["note"]),)
    assert results.comparison["monthly_total_usd"].isna().tolist() == [False, True, False]


def test_progress_counts_the_scenarios(small, monkeypatch):
    scenarios, _ = small
    seen = []
    token = progress._REPORTER.set(lambda stage, done, total: seen.append((stage, done, total)))
    try:
        run_scenarios(scenarios[:1])
    finally:
        progress._REPORTER.reset(token)
    counts = [s for s in seen if s[0] == "scenario"]
    assert counts == [("scenario", 0, 1), ("scenario", 1, 1)]


def test_defaults_merge_and_null_clears(write_file):
    path = write_file("s.yaml", """\
        defaults:
          model: llama-3.1-8b
          gpu: [h100-sxm, a100-80gb]
          pricing: spot
          owned: {h100-sxm: 8}
        scenarios:
          - name: a
          - name: b
            gpu: null
            owned: {a100-80gb: 2}
            growth_per_month: 8%/month
            months: 12
            hot_standby: 50%
    """)
    a, b = load_scenarios(path)
    assert a.request.gpus == ("h100-sxm", "a100-80gb") and a.request.pricing == ("spot",)
    assert a.request.owned == (("h100-sxm", 8),)
    assert b.request.gpus == () and b.request.owned == (("a100-80gb", 2),)
    assert (b.request.growth_per_month, b.request.months, b.request.hot_standby) == (pytest.approx(0.08), 12, 0.5)
    assert b.line == 8 and b.file == str(path)  # "- name: b" is the file's 8th line


def test_files_are_relative_to_the_scenarios_file(write_file):
    prices = write_file("sub/prices.yaml", "x: 1\n")
    path = write_file("sub/s.yaml", "scenarios:\n  - name: a\n    api_prices: prices.yaml\n")
    assert load_scenarios(path)[0].request.api_prices == prices
    bad = write_file("s2.yaml", "scenarios:\n  - name: a\n    api_prices: prices.yaml\n")
    with pytest.raises(CatalogueError, match=r"s2\.yaml:3, entry 'a', field 'api_prices': api_prices: no file"):
        load_scenarios(bad)


@pytest.mark.parametrize(("text", "pattern"), [
    ("scenarios:\n  - model: llama-3.1-8b\n", r"s\.yaml:2: scenario 1 has no name"),
    ("scenarios:\n  - name: a\n  - name: a\n", r"s\.yaml:3, entry 'a': scenario name 'a' is used twice \(first at "
                                               r"line 2\)"),
    ("scenarios:\n  - name: a\n    pricng: spot\n", r"s\.yaml:3, entry 'a': unknown key 'pricng' \(did you mean "
                                                    r"'pricing'\?\)"),
    ("scenarios:\n  - name: a\n    model: llama-3.1-8c\n", r"s\.yaml:3, entry 'a', field 'model': Unknown model "
                                                          r"'llama-3.1-8c'\. Did you mean: llama-3\.1-8b"),
    ("defaults:\n  tpot_p99: fast\nscenarios:\n  - name: a\n", r"s\.yaml:2, entry 'a', field 'tpot_p99'"),
    ("scenarios:\n  - name: a\n    pricing: bye\n", r"s\.yaml:3, entry 'a', field 'pricing': unknown pricing model "
                                                   r"'bye' \(did you mean 'buy'\?\)"),
    ("scenarios:\n  - name: a\n    gpu: h100-sx\n", r"s\.yaml:3, entry 'a', field 'gpu': Unknown GPU 'h100-sx'"),
    ("scenarios:\n  - name: a\n    months: 12\n", r"s\.yaml:3, entry 'a', field 'months': .*growth_per_month"),
    ("scenarios:\n  - name: a\n    tp: [1, zero]\n", r"s\.yaml:3, entry 'a', field 'tp'"),
    ("scenarios:\n  - name: a\n    volume_factor: 1e9\n", r"s\.yaml:3, entry 'a', field 'volume_factor'"),
    ("scenarioz:\n  - name: a\n", r"s\.yaml:1: unknown top-level key 'scenarioz' \(did you mean 'scenarios'\?\)"),
    ("scenarios: []\n", r"s\.yaml:1: scenarios: expected a list"),
    ("defaults:\n  name: x\nscenarios:\n  - name: a\n", r"s\.yaml:2: defaults cannot hold a name"),
])
def test_bad_files_name_file_line_and_scenario(write_file, text, pattern):
    path = write_file("s.yaml", text)
    with pytest.raises(CatalogueError, match=pattern) as info:
        load_scenarios(path)
    assert "\n" not in str(info.value)


def test_a_refusal_at_plan_time_names_the_scenario(write_file):
    path = write_file("s.yaml", "scenarios:\n  - name: a\n    model: llama-3.1-8b\n    provider: nosuch\n")
    with pytest.raises(CatalogueError, match=r"s\.yaml:2, entry 'a': no GPU offers from provider 'nosuch'"):
        run_scenarios(load_scenarios(path))
