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


class _LinearStep:
    """A step costing 1 ms plus 0.1 ms per prefill token, with a KV cache of `kv` tokens."""

    def __init__(self, kv=1_000_000):
        self.kv = kv

    def __call__(self, prefill_tokens, decode_seqs, context_tokens):
        return 1e-3 + 1e-4 * prefill_tokens

    def kv_capacity_tokens(self):
        return self.kv

    def max_batch(self, context):
        return self.kv // context

    def max_context(self):
        return 131072


def test_ttft_is_the_step_in_flight_plus_the_prompts_chunks_once():
    w = Workload()
    step = _LinearStep()
    b, l_in99 = 4, w.input_tokens_p99
    in_flight = cap_mod._tpot(step, b, w.mean_input_tokens, w.mean_output_tokens)
    chunk = cap_mod.CHUNK_TOKENS - b
    prompt = math.ceil(l_in99)
    chunks = [chunk] * (prompt // chunk) + ([prompt % chunk] if prompt % chunk else [])
    want = in_flight + sum(1e-3 + 1e-4 * c for c in chunks)
    assert cap_mod._ttft(step, b, w.mean_input_tokens, w.mean_output_tokens, l_in99) == pytest.approx(want)


def test_a_kv_cache_smaller_than_one_max_model_len_request_is_infeasible():
    w = Workload()  # p99 prompt + output ~3.4k tokens -> --max-model-len 4096
    longest = cap_mod.max_model_len(w.input_tokens_p99 + w.output_tokens_p99, 131072)
    assert longest == 4096
    assert not replica_capacity(_LinearStep(kv=longest - 1), w).feasible
    ok = replica_capacity(_LinearStep(kv=longest), w)
    assert ok.feasible and ok.batch == 1  # only the one long request's room: one sequence at a time
    roomy = replica_capacity(_LinearStep(kv=100 * longest), w)
    mean = math.ceil(w.mean_input_tokens + w.mean_output_tokens)
    assert roomy.max_batch_memory == 100 * longest // mean - math.ceil(longest / mean) + 1
