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


# ---- every candidate the search calls feasible fits its GPU, whatever the model, GPU, quant and TP ----

from hypothesis import given as _given  # noqa: E402
from hypothesis import settings as _settings  # noqa: E402
from hypothesis import strategies as _st  # noqa: E402

from planner.plan import load_catalogues as _load_catalogues  # noqa: E402
from planner.search import SearchSpace as _Space  # noqa: E402
from planner.search import search as _search  # noqa: E402
from planner.workload import Workload as _Workload  # noqa: E402
from profiler import catalogue as _catalogue  # noqa: E402
from profiler.analytic import memory as _memory  # noqa: E402
from profiler.analytic.efficiency import efficiency_for as _eff  # noqa: E402
from profiler.specs import KvDtype as _Kv  # noqa: E402

_CAT = _load_catalogues()
_MODELS = ("llama-3.1-8b", "qwen3-30b-a3b", "gemma-2-9b", "mixtral-8x7b", "deepseek-v3", "gpt-oss-20b")


@_settings(max_examples=15, deadline=None)
@_given(_st.sampled_from(_MODELS), _st.sampled_from(("h100-sxm", "a100-80gb", "l40s", "h200")),
        _st.sampled_from(("bf16", "fp8", "int8", "int4")), _st.sampled_from((_Kv.BF16, _Kv.FP8)),
        _st.floats(min_value=1e6, max_value=2e9), _st.sampled_from((200, 1000, 4000)))
def test_every_feasible_candidate_fits_its_gpu_with_activations_and_reserves(model, gpu, quant, kv, volume, prompt):
    m = _catalogue.get_model(model)
    w = _Workload(tokens_in_per_day=5_000 * prompt).scaled_to(volume)  # 5,000 requests/day of `prompt` tokens
    space = _Space(gpus=(gpu,), quants=(quant,), kv_dtypes=(kv,))
    df = _search(m, w, space, _CAT.gpus, _CAT.quants, _CAT.gpu_prices, _CAT.tco_defaults)
    ctx = int(w.mean_input_tokens + w.mean_output_tokens)
    g, q = _CAT.gpus[gpu], _CAT.quants[quant]
    for r in df[df["feasible"]].itertuples():
        tp = int(r.tp)
        b = _memory.memory_budget(m, g, q, kv, tp, _eff(gpu, quant))
        kv_need = int(r.batch) * _memory.kv_bytes_per_sequence(m, kv, tp, ctx)
        assert kv_need <= b.kv_budget_bytes, (model, gpu, quant, tp, r.batch)
        assert b.weights_bytes + b.activation_bytes + sum(b.reserves.values()) + kv_need <= b.usable_bytes
        assert b.usable_bytes <= g.hbm_bytes
