"""Per-replica capacity under SLOs from the analytic step model."""

import math

import pytest

from planner import capacity as cap_mod
from planner.capacity import replica_capacity, replicas_needed, utilisation
from planner.step_model import AnalyticStep, Deployment, roofline_step
from planner.workload import Workload
from profiler import catalogue
from profiler.analytic.efficiency import default_efficiency
from profiler.specs import KvDtype


def dep(model="llama-3.1-8b", gpu="h100-sxm", quant="bf16", tp=1):
    return Deployment(catalogue.get_model(model), catalogue.get_gpu(gpu), catalogue.get_quant(quant),
                      KvDtype.BF16, tp, default_efficiency(gpu, quant))


def test_capacity_meets_slos_and_is_the_largest_such_batch():
    w = Workload(tpot_p99_s=0.030)
    step = AnalyticStep(dep())
    c = replica_capacity(step, w)
    assert c.feasible and c.tpot_s <= 0.030 and c.ttft_s <= w.ttft_p99_s
    assert c.limited_by in ("tpot", "ttft", "memory", "max_num_seqs", "prefill")
    if c.limited_by == "tpot":
        ok, why = cap_mod._ok(step, c.batch + 1, w)
        assert not ok and why == "tpot"
    assert c.requests_per_s > 0 and c.batch <= c.max_batch_memory


def test_tighter_tpot_means_smaller_batch_and_less_throughput():
    step = AnalyticStep(dep())
    loose = replica_capacity(step, Workload(tpot_p99_s=0.1))
    tight = replica_capacity(step, Workload(tpot_p99_s=0.012))
    assert tight.batch < loose.batch and tight.requests_per_s < loose.requests_per_s


def test_impossible_tpot_is_infeasible_with_a_reason():
    c = replica_capacity(AnalyticStep(dep()), Workload(tpot_p99_s=0.001))
    assert not c.feasible and c.limited_by == "tpot" and "ms/token" in c.reason


def test_model_that_does_not_fit_is_a_memory_limit():
    c = replica_capacity(AnalyticStep(dep("llama-3.3-70b", "l4")), Workload())
    assert not c.feasible and c.limited_by == "memory" and "TP" in c.reason


def test_replicas_cover_the_peak_and_utilisation_is_below_the_cap():
    w = Workload(tokens_in_per_day=2e9, tokens_out_per_day=4e8, requests_per_day=1e6)
    c = replica_capacity(AnalyticStep(dep()), w)
    n = replicas_needed(c, w.requests_per_s_peak)
    assert n == math.ceil(w.requests_per_s_peak / c.requests_per_s)
    assert n * c.requests_per_s >= w.requests_per_s_peak > (n - 1) * c.requests_per_s
    u = utilisation(c, n, w.requests_per_s_mean)
    assert 0 < u <= cap_mod.MAX_UTILISATION


def test_roofline_step_agrees_with_the_analytic_mixed_step_for_decode():
    d = dep()
    a, r = AnalyticStep(d), roofline_step(d, batch_hint=32)
    assert r(0, 32, 32 * 2000) == pytest.approx(a(0, 32, 32 * 2000), rel=0.02)
