"""The verdict's margin is an input, and break-even volumes are shown to the precision they carry (issue 11 item 9)."""

import math
from types import SimpleNamespace

import pandas as pd
import pytest

from planner.api import PlanRequest, plan
from planner.crossover import PARITY_BAND, breakeven_tokens_per_day, parity_band
from planner.render import _fmt, break_even_line
from planner.units import fmt_tokens
from planner.workload import DEFAULT_WORKLOAD
from tests.helpers import cli_error


def test_break_even_volumes_print_to_two_significant_figures():
    assert fmt_tokens(740_260_823, 2) == "740M" and fmt_tokens(15_519_209_368, 2) == "16B"
    assert fmt_tokens(999_999, 2) == "1M" and fmt_tokens(5e6) == "5M"
    assert _fmt("crossover_tokens_per_day", 740_260_823.0) == "740M"
    assert _fmt("tokens_per_day", 740_260_823.0) == "740,260,823"  # a volume the user gave stays exact


def _step_cost(v: float) -> tuple[float, int]:
    """A replica of $10,000/month serves 1B tokens/day; $5,000 fixed."""
    n = math.ceil(v / 1e9 - 1e-12)
    return 5_000 + 10_000 * n, n


def test_parity_band_brackets_the_break_even():
    # API slope 0.4 $/M x 30.42 days = 1.2167e-5 $/month per token/day; self-hosting n replicas costs 5,000 +
    # 10,000 n for up to n x 1B tokens/day. Break-even: n = 1, 2 fail (15,000 / 1.2167e-5 = 1.23B > 1B; 25,000 ->
    # 2.05B > 2B), n = 3 holds (35,000 -> 2.88B <= 3B). At 0.9x: n = 2 (22,500 -> 1.85B <= 2B). At 1.1x: n = 5
    # (60,500 -> 4.97B): the replica steps make a 10% price change move the break-even from 1.8B to 5B tokens/day.
    api = pd.DataFrame([{"provider": "p", "model": "m", "usd_per_mtok_in": 0.4, "usd_per_mtok_out": 0.4}])
    slope = 0.4 / 1e6 * 730 / 24
    v1 = breakeven_tokens_per_day(lambda v: _step_cost(v), slope)
    lo, hi = parity_band(_step_cost, DEFAULT_WORKLOAD, api)
    assert v1 == pytest.approx(35_000 / slope, rel=1e-3)
    assert lo == pytest.approx(22_500 / slope, rel=1e-3) and PARITY_BAND == 0.10
    assert hi == pytest.approx(60_500 / slope, rel=1e-3)


def test_break_even_line_names_the_band_and_the_margin():
    api = pd.DataFrame([{"provider": "p", "model": "m", "crossover_margin_tokens_per_day": 2.6e9}])
    p = SimpleNamespace(crossover_tokens_per_day=1_234_567_890.0, reference_api="p / m", parity_band=(1.1e9, 1.4e9),
                        api=api, margin=2.0)
    line = break_even_line(p)
    assert "~1.2B tokens/day" in line and "parity band 1.1B-1.4B" in line and "2x margin at ~2.6B" in line
    assert "1,234,567,890" not in line


@pytest.fixture(scope="module")
def plan_600m_margin_2_5():
    return plan(PlanRequest(workload=DEFAULT_WORKLOAD.scaled_to(600e6), margin=2.5))


def test_margin_moves_the_verdict_and_the_margin_break_even(plan_600m, plan_600m_margin_2_5):
    two, three = plan_600m.api.set_index("label"), plan_600m_margin_2_5.api.set_index("label")
    at2, at3 = two["crossover_margin_tokens_per_day"], three["crossover_margin_tokens_per_day"]
    both = at2.notna() & at3.notna()
    assert both.any()
    assert (at3[both] >= at2[both]).all() and (at3[both] > at2[both]).any()
    assert "at least 2.5× the self-hosted bill" in plan_600m_margin_2_5.verdict.reasons[0]
    assert plan_600m_margin_2_5.margin == 2.5


@pytest.mark.parametrize("value, words", [("abc", "expected a number"), ("0.5", "from 1 to 100"),
                                          ("inf", "from 1 to 100")])
def test_bad_margin_is_one_line(value, words):
    assert words in cli_error("plan", "--margin", value)
