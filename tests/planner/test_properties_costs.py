"""Properties: API cost and the full self-host TCO never fall as volume rises; spare counts are monotone."""

import math

import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from planner.api_costs import api_costs
from planner.redundancy import RedundancyPolicy, plan_redundancy, prob_at_least
from planner.tco import tco_line_items, tco_summary
from planner.workload import DEFAULT_WORKLOAD, Workload

volumes = st.floats(min_value=1e4, max_value=1e11, allow_nan=False)
prices = st.floats(min_value=0.0, max_value=200.0, allow_nan=False)
policies = st.builds(RedundancyPolicy, spares=st.integers(0, 4),
                     hot_standby_fraction=st.sampled_from([0, 0.25, 0.5, 1]), zones=st.integers(1, 4),
                     survive_node_loss=st.booleans(),
                     replica_availability=st.sampled_from([0.95, 0.99, 0.999]))
workloads = st.builds(Workload, tokens_in_per_day=st.floats(1e5, 1e9), tokens_out_per_day=st.floats(1e5, 1e9),
                      requests_per_day=st.floats(1, 1e4), cached_input_fraction=st.floats(0, 1),
                      peak_to_average=st.floats(1, 5), availability=st.sampled_from([0.99, 0.999, 0.9999]),
                      existing_infra=st.booleans())


@settings(max_examples=80, deadline=None)
@given(workloads, volumes, volumes, prices, prices, prices)
def test_api_cost_never_falls_with_volume(w, v1, v2, p_in, p_out, p_cached):
    lo, hi = sorted((v1, v2))
    table = pd.DataFrame([{"provider": "p", "model": "m", "usd_per_mtok_in": p_in, "usd_per_mtok_out": p_out,
                           "usd_per_mtok_cached_in": p_cached}])
    a = api_costs(w.scaled_to(lo), table)["monthly_cost"].iloc[0]
    b = api_costs(w.scaled_to(hi), table)["monthly_cost"].iloc[0]
    assert b >= a * (1 - 1e-12)


def _self_host(w: Workload, rps_per_replica: float, usd_per_gpu_hour: float, tp: int, policy: RedundancyPolicy):
    n = max(1, math.ceil(w.requests_per_s_peak / rps_per_replica - 1e-12))
    red = plan_redundancy(n, w.availability, policy, gpus_per_replica=tp, gpus_per_node=8)
    items = tco_line_items(usd_per_gpu_hour * 730 * n * tp, n * tp, red.spare_gpus, n, w)
    return tco_summary(items)[0], red.total_replicas


@settings(max_examples=80, deadline=None)
@given(workloads, volumes, volumes, st.floats(0.01, 50), st.floats(0.1, 15), st.sampled_from([1, 2, 4, 8]), policies)
def test_self_host_tco_never_falls_with_volume(w, v1, v2, rps, usd, tp, policy):
    lo, hi = sorted((v1, v2))
    cost_lo, reps_lo = _self_host(w.scaled_to(lo), rps, usd, tp, policy)
    cost_hi, reps_hi = _self_host(w.scaled_to(hi), rps, usd, tp, policy)
    assert reps_hi >= reps_lo
    assert cost_hi >= cost_lo * (1 - 1e-12)


@settings(max_examples=80, deadline=None)
@given(st.integers(1, 300), policies, st.sampled_from([0.99, 0.999, 0.9999]), st.sampled_from([1, 2, 4, 8]))
def test_total_replicas_monotone_and_target_met(n, policy, target, tp):
    a = plan_redundancy(n, target, policy, gpus_per_replica=tp)
    b = plan_redundancy(n + 1, target, policy, gpus_per_replica=tp)
    assert b.total_replicas > a.total_replicas  # every requirement's total grows by >= 1 per extra replica
    assert a.availability_achieved >= target
    assert prob_at_least(a.total_replicas, n, policy.replica_availability) >= target
    assert a.spare_replicas >= policy.spares


def test_default_workload_is_a_valid_example():
    assert _self_host(DEFAULT_WORKLOAD, 0.1, 3.49, 1, RedundancyPolicy())[0] > 0
