"""People costs that scale the way real fleets do (issue 11 item 3): patching per host, incident response and
on-call per GPU beyond the seed's fleet, model upgrades as a visible line outside the seed reproduction."""

from dataclasses import replace

import pytest

from planner.tco import seed_bill, tco_line_items
from planner.workload import DEFAULT_WORKLOAD

ENGINEER_HOUR = 192_000 / 2080  # $92.31: $192K/yr over 40 h x 52 weeks
INCIDENTS_PER_GPU_MONTH = 4.736e-4 * 730 / 24  # Llama 3 paper, Table 5: 419 / (54 days x 16,384 H100s), per 730 h
OFF_HOURS = 128 / 168  # the week's hours outside 40 business hours


def _lines(items):
    return items.set_index("id")["monthly_usd"]


def test_people_cost_grows_from_2_to_48_gpus():
    # 2 GPUs (1 replica + 1 spare) against 48 (42 replicas + 6 spares) at 99.9%
    small = _lines(tco_line_items(2044, 1, 1, 1, DEFAULT_WORKLOAD))
    big = _lines(tco_line_items(2044 * 42, 42, 6, 42, DEFAULT_WORKLOAD))
    # security patching is rolled out host by host: $100/host-month (seed $400 over its 4 hosts)
    assert small["security"] == pytest.approx(3 * 100)  # 2 replica hosts + 1 orchestration box
    assert big["security"] == pytest.approx((48 + 6) * 100)  # 48 replica hosts + ceil(48 / 8) = 6 orchestration
    # incidents: GPUs beyond the seed's 3 x rate x 6 engineer-hours (SRE book ch. 11), off-hours at +66% (5-minute
    # response tier at 99.9%)
    assert small["incidents"] == 0.0
    assert big["incidents"] == pytest.approx(45 * INCIDENTS_PER_GPU_MONTH * 6 * ENGINEER_HOUR * (1 + OFF_HOURS * 0.66))
    people = lambda s: s[["mlops", "security", "incidents", "upgrades"]].sum()  # noqa: E731
    assert people(big) > people(small) + 5_000


def test_a_lower_availability_needs_only_the_30_minute_on_call_tier():
    w = replace(DEFAULT_WORKLOAD, availability=0.99)
    line = _lines(tco_line_items(2044 * 10, 10, 2, 10, w))["incidents"]
    assert line == pytest.approx(9 * INCIDENTS_PER_GPU_MONTH * 6 * ENGINEER_HOUR * (1 + OFF_HOURS * 0.33))


def test_model_upgrades_are_a_visible_line_except_in_the_seed_reproduction():
    # seed §3: 2-3 upgrades a year of 2-4 engineer-weeks; mid values 2.5 x 3 weeks x $192,000 / 52 / 12
    assert _lines(tco_line_items(5100, 2, 1, 2, DEFAULT_WORKLOAD))["upgrades"] == pytest.approx(2307.69, abs=0.01)
    seed = _lines(seed_bill())
    assert seed["upgrades"] == 0.0 and seed.sum() == pytest.approx(13_275)


def test_existing_infrastructure_absorbs_the_scaling_people_costs():
    w = replace(DEFAULT_WORKLOAD, existing_infra=True)
    lines = _lines(tco_line_items(2044 * 42, 42, 6, 42, w))
    assert lines[["security", "incidents", "upgrades", "mlops"]].sum() == 0.0
