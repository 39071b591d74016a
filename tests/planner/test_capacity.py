"""Per-replica capacity under SLOs: the batch at the SLO and the sustained rate, checked against hand values.

Most tests drive :func:`replica_capacity` with a step-time double whose formula is simple enough to solve
by hand (``_Step``); the expected batch, limit and rate are derived in each test's comment from the
module's equations (planner/capacity.py docstring), never from the module's own helpers:

    p(B) = B x L_in / L_out prefill tokens per step, TPOT(B) = step(p(B), B, B x (L_in + L_out / 2)),
    TTFT(B) = TPOT(B) + the p99 prompt's chunks of (8192 - B) tokens beside B decodes,
    rate = B / ((L_out + ceil(L_in / (8192 - B))) x TPOT(B)) x 0.8.
"""

import math

import pandas as pd
import pytest

from planner import capacity as cap_mod
from planner.capacity import Capacity, launch_max_model_len, replica_capacity, replicas_needed, utilisation
from planner.guard import guard_capacity
from planner.prices import GPU_PRICE_COLUMNS
from planner.redundancy import SEED_POLICY
from planner.search import SearchSpace, search
from planner.step_model import AnalyticStep, Deployment
from planner.workload import LengthDist, Workload
from profiler import catalogue
from profiler.analytic.efficiency import default_efficiency
from profiler.specs import KvDtype

FIXED = LengthDist("fixed")  # every request at the mean length: p99 prompt = mean prompt


def fixed(l_in: float = 1000, l_out: float = 200, requests_per_day: float = 5000, **kw) -> Workload:
    """A workload whose requests are all `l_in` prompt + `l_out` output tokens."""
    return Workload(tokens_in_per_day=l_in * requests_per_day, tokens_out_per_day=l_out * requests_per_day,
                    requests_per_day=requests_per_day, input_dist=FIXED, output_dist=FIXED, **kw)


class _Step:
    """step(p, b, ctx) = t0 + per_prefill x p + per_seq x b + per_ctx x ctx seconds; a KV cache of `kv` tokens."""

    def __init__(self, t0, per_prefill=0.0, per_seq=0.0, per_ctx=0.0, kv=10**9):
        self.t0, self.per_prefill, self.per_seq, self.per_ctx, self.kv = t0, per_prefill, per_seq, per_ctx, kv

    def __call__(self, prefill_tokens, decode_seqs, context_tokens):
        return self.t0 + self.per_prefill * prefill_tokens + self.per_seq * decode_seqs + self.per_ctx * context_tokens

    def kv_capacity_tokens(self):
        return self.kv

    def max_batch(self, context):
        return self.kv // context

    def max_context(self):
        return 131072


def dep(model="llama-3.1-8b", gpu="h100-sxm", quant="bf16", tp=1):
    return Deployment(catalogue.get_model(model), catalogue.get_gpu(gpu), catalogue.get_quant(quant),
                      KvDtype.BF16, tp, default_efficiency(gpu, quant))


# ---- the batch at the SLO and the sustained rate, by hand ----

# 5 ms + 10 us per prefill token + 0.1 us per context token. With 1,000-token prompts and 200-token outputs:
# p(B) = 5B, context = 1,100B, so TPOT(B) = 0.005 + 5e-5 B + 1.1e-4 B = 0.005 + 1.6e-4 B.
TPOT_STEP = dict(t0=5e-3, per_prefill=1e-5, per_ctx=1e-7)


def test_tpot_limited_batch_and_sustained_rate_by_hand():
    c = replica_capacity(_Step(**TPOT_STEP), fixed())
    # TPOT <= 50 ms: B <= 0.045 / 1.6e-4 = 281.25 -> B = 281, TPOT = 0.005 + 0.01405 + 0.03091 = 0.04996 s
    # (B = 282 gives 0.05012 s). TTFT = 0.04996 + one 1,000-token chunk (0.005 + 0.01 + 1e-7 x 310,100)
    # = 0.04996 + 0.04601 = 0.09597 s, far inside 2 s; p(281) = 1,405 <= 8,192 - 281.
    assert (c.feasible, c.batch, c.limited_by) == (True, 281, "tpot")
    assert c.tpot_s == pytest.approx(0.04996, rel=1e-12)
    assert c.ttft_s == pytest.approx(0.09597, rel=1e-12)
    # Little's law: 281 sequences, each request 200 decode steps + ceil(1000 / 7911) = 1 prefill step
    rate = 281 / ((200 + 1) * 0.04996) * 0.8  # = 22.386 requests/s at the 80% load cap
    assert c.requests_per_s == pytest.approx(rate, rel=1e-12)
    assert c.tokens_out_per_s == pytest.approx(rate * 200, rel=1e-12)
    assert c.headroom == 0.8 and c.kv_capacity_tokens == 10**9


def test_the_hand_rate_sets_the_replicas_and_the_bill(catalogues):
    # peak 100 requests/s: 4.32M requests/day (x 2 peak / 86,400 s) of 1,000 + 200 tokens
    w = fixed(requests_per_day=4.32e6)
    assert w.requests_per_s_peak == pytest.approx(100.0)
    prices = pd.DataFrame([{"provider": "acme", "gpu": "h100-sxm", "pricing": "reserved-1y", "usd_per_gpu_hour": 2.0,
                            "gpus_per_instance": 1.0, "instance": "1x H100", "region": "", "as_of": "2026",
                            "source": "test", "derived": False}], columns=list(GPU_PRICE_COLUMNS))
    space = SearchSpace(gpus=("h100-sxm",), quants=("bf16",), tps=(1,), redundancy=SEED_POLICY)
    df = search(catalogue.get_model("llama-3.1-8b"), w, space, catalogues.gpus, catalogues.quants, prices,
                catalogues.tco_defaults, capacity_fn=lambda d, step: replica_capacity(_Step(**TPOT_STEP), w))
    r = df.iloc[0]
    assert r["replica_rps"] == pytest.approx(281 / (201 * 0.04996) * 0.8, rel=1e-12)
    # ceil(100 / 22.386) = 5 replicas; the seed's 50% standby is for N <= 2, so the 99.9% target sets the spares:
    # P(>= 5 of 6 up) = 0.99853 < 0.999, P(>= 5 of 7 up) = 0.99997 -> 2 spares
    assert (r["replicas"], r["spare_replicas"], r["gpus_total"]) == (5, 2, 7)
    assert r["monthly_gpu_cost"] == pytest.approx(5 * 2.0 * 730)  # $7,300
    # The bill (tco_defaults.yaml), a month of 730 h = 30.42 days: GPUs 7,300 + failover 2 x 1,460 = 2,920;
    # orchestration ceil(7 / 8) = 1 x 340; network 180 + (0.864e9 out tokens/day x 30.42 x 200 B = 5,256 GB - 100
    # free) x $0.09 = 644.04; storage 85; monitoring (7 replica + 1 orchestration hosts) x 105 = 840; MLOps 3,200;
    # eval 600; security 8 hosts x 100 = 800; guardrails: the guard model screens 100 req/s x its GPU-seconds per
    # request on an H100 (the profiler's, planner.guard) / 0.7 = 3.24 GPUs -> 4 whole GPUs + 1 spare = 5 x 1,460;
    # logging 149.668 + 131.4M requests x $1.70/M + 630.7 GB x $0.10 = 436.120; upgrades 7.5 engineer-weeks x
    # $192,000 / 52 / 12 = 2,307.69; incidents (7 - 3) GPUs x 4.736e-4/day x 30.42 x 6 h x $92.31 x (1 + 128/168 x
    # 0.66) = 47.961.
    guard = guard_capacity(catalogues.gpus["h100-sxm"], "input-output", 1000.0, 200.0)
    assert 3 < 100 * guard.gpu_s_per_request / 0.7 <= 4
    hand = (7300 + 2920 + 340 + 644.04 + 85 + 840 + 3200 + 600 + 800 + 5 * 1460 + 436.1204583 + 7.5 * 192_000 / 52 / 12
            + 47.9612118)
    assert r["monthly_total_cost"] == pytest.approx(hand, abs=1e-6)  # $26,820.81


def test_ttft_limited_batch_by_hand():
    # 1 ms + 10 us per prefill token + 100 us per decode sequence: TPOT(B) = 0.001 + 5e-5 B + 1e-4 B;
    # TTFT(B) = TPOT(B) + (0.001 + 1,000 x 1e-5 + 1e-4 B) = 0.012 + 2.5e-4 B. TTFT <= 80.1 ms: B <= 272.4
    # -> 272, where TPOT = 0.0418 s <= 50 ms: the first-token target binds.
    c = replica_capacity(_Step(1e-3, per_prefill=1e-5, per_seq=1e-4), fixed(ttft_p99_s=0.0801))
    assert (c.feasible, c.batch, c.limited_by) == (True, 272, "ttft")
    assert c.ttft_s == pytest.approx(0.012 + 2.5e-4 * 272, rel=1e-12)
    assert c.requests_per_s == pytest.approx(272 / (201 * 0.0418) * 0.8, rel=1e-12)


def test_ttft_out_of_reach_at_one_sequence_is_infeasible_with_the_time_it_takes():
    # the step above at B = 1: TPOT 0.00115 s, TTFT 0.012 + 2.5e-4 = 0.01225 s > a 10 ms target
    c = replica_capacity(_Step(1e-3, per_prefill=1e-5, per_seq=1e-4), fixed(ttft_p99_s=0.010))
    assert (c.feasible, c.limited_by, c.requests_per_s) == (False, "ttft", 0.0)
    assert c.tpot_s == pytest.approx(0.00115) and c.ttft_s == pytest.approx(0.01225)
    assert "1000-token prompt alone takes 0.01 s" in c.reason and "TTFT p99 target of 0.01 s" in c.reason


@pytest.mark.parametrize("l_in, l_out, batch", [
    (8000, 10, 10),  # p(B) = 800 B beside B decodes in the 8,192-token step: 801 B <= 8,192 -> B = 10
    (4000, 100, 199),  # p(B) = 40 B: 41 B <= 8,192 -> B = 199 (B = 200: 8,000 + 200 > 8,192)
])
def test_prefill_limited_batch_by_hand(l_in, l_out, batch):
    # a constant 1 ms step keeps TPOT and TTFT far inside their targets: the prefill budget binds
    c = replica_capacity(_Step(1e-3), fixed(l_in=l_in, l_out=l_out))
    assert (c.feasible, c.batch, c.limited_by) == (True, batch, "prefill")
    # each request: l_out decode steps + ceil(l_in / (8,192 - B)) = 1 prefill step, 1 ms each
    assert c.requests_per_s == pytest.approx(batch / ((l_out + 1) * 1e-3) * 0.8, rel=1e-12)


def test_a_prompt_longer_than_the_prefill_budget_at_one_sequence_is_infeasible():
    c = replica_capacity(_Step(1e-3), fixed(l_in=9000, l_out=1))  # p(1) = 9,000 > 8,192 - 1
    assert (c.feasible, c.limited_by) == (False, "prefill")
    assert math.isnan(c.tpot_s) and "prompts are too long for the prefill budget" in c.reason


def test_max_num_seqs_caps_a_fast_roomy_replica():
    # a constant 10 ms step and room for ~833k sequences: every SLO holds at 1,024 (p = 5,120 <= 7,168)
    c = replica_capacity(_Step(10e-3), fixed())
    assert (c.feasible, c.batch, c.limited_by) == (True, cap_mod.MAX_NUM_SEQS_CAP, "max_num_seqs")
    assert cap_mod.MAX_NUM_SEQS_CAP == 1024
    assert c.requests_per_s == pytest.approx(1024 / ((200 + 1) * 0.010) * 0.8, rel=1e-12)


def test_memory_limits_the_batch_with_room_for_one_longest_request():
    # 60,000 KV tokens; --max-model-len 2,048 (the 1,200-token p99 request rounded up to 1,024s):
    # 60,000 // 1,200 = 50 mean-length sequences, less ceil(2,048 / 1,200) - 1 = 1 for the longest -> 49
    c = replica_capacity(_Step(10e-3, kv=60_000), fixed())
    assert (c.feasible, c.batch, c.limited_by, c.max_batch_memory) == (True, 49, "memory", 49)


def test_ttft_is_the_step_in_flight_plus_the_prompts_chunks():
    # 20,000-token prompts, 200-token outputs, 4 running sequences; 1 ms + 0.1 ms per prefill token + 1e-8 s per
    # context token. Context 4 x 20,100 = 80,400. In flight: p = 4 x 100 = 400 -> 0.001 + 0.04 + 0.000804.
    # The prompt in chunks of 8,188, 8,188, 3,624 tokens attending 88,588, 96,776, 100,400 context tokens:
    # 3 x 0.001 + 20,000 x 1e-4 + 285,764 x 1e-8.
    step = _Step(1e-3, per_prefill=1e-4, per_ctx=1e-8)
    want = (0.001 + 0.04 + 0.000804) + (0.003 + 2.0 + 0.00285764)
    assert cap_mod._ttft(step, 4, 20_000, 200, 20_000) == pytest.approx(want, rel=1e-12)


def test_a_kv_cache_smaller_than_one_max_model_len_request_is_infeasible():
    w = Workload()  # p99.9 prompt + output: (1,000 + 200) x exp(0.5 x 3.0902 - 0.125) = 4,966 -> 5,120
    longest = cap_mod.max_model_len(w.longest_request_tokens, 131072)
    assert w.longest_request_tokens == pytest.approx(1200 * math.exp(0.5 * 3.090232306167813 - 0.125))
    assert longest == 5120
    assert not replica_capacity(_Step(1e-3, kv=longest - 1), w).feasible
    ok = replica_capacity(_Step(1e-3, kv=longest), w)
    assert ok.feasible and ok.batch == 1  # only the one long request's room: one sequence at a time
    roomy = replica_capacity(_Step(1e-3, kv=100 * longest), w)
    # 512,000 // 1,200 = 426 sequences of mean length, less ceil(5,120 / 1,200) - 1 = 4 -> 422
    assert roomy.max_batch_memory == 422


# ---- replicas, utilisation, --max-model-len ----


def test_replicas_needed_rounds_up_except_at_an_exact_multiple():
    c = Capacity(True, requests_per_s=2.0)
    assert replicas_needed(c, 6.0) == 3  # exactly 3 x 2.0: no fourth replica for float dust
    assert replicas_needed(c, 6.000001) == 4
    assert replicas_needed(c, 4.2) == 3  # 2.1 replicas' worth: round() would give 2
    assert replicas_needed(c, 0.001) == 1


@pytest.mark.parametrize("capacity", [Capacity(False), Capacity(True, requests_per_s=0.0)])
def test_replicas_needed_refuses_a_capacity_that_serves_nothing(capacity):
    with pytest.raises(ValueError, match="infeasible capacity"):
        replicas_needed(capacity, 1.0)


def test_utilisation_is_mean_load_over_uncapped_capacity():
    # 8 req/s each at the 0.8 cap = 10 req/s full; 3 replicas = 30 req/s; a mean 6 req/s is 20% of it
    assert utilisation(Capacity(True, requests_per_s=8.0, headroom=0.8), 3, 6.0) == pytest.approx(0.2)
    assert utilisation(Capacity(True, requests_per_s=8.0, headroom=1.0), 2, 4.0) == pytest.approx(0.25)


@pytest.mark.parametrize("kv, model_max, want", [
    (0, 131072, 3072),  # capacity unknown: the 3,000-token p99 request rounded up to 3 x 1,024
    (2_000, 131072, 3072),  # a cache smaller than that still launches at the p99 request
    (50_000, 131072, 3072),  # issue 11 item 10: the workload's request, not the 50,000-token KV cache
    (10**9, 131072, 3072),
    (50_000, 2_048, 2_048),  # bounded by the model's context
])
def test_launch_max_model_len(kv, model_max, want):
    assert launch_max_model_len(3000, model_max, kv) == want


def test_max_model_len_is_never_above_the_models_context():
    assert cap_mod.max_model_len(3000, 2048) == 2048
    assert cap_mod.max_model_len(100, 131072) == 1024


# ---- the analytic step model ----


def test_analytic_capacity_meets_the_slos_and_one_more_sequence_breaks_the_limit_named():
    w = Workload(tpot_p99_s=0.030)
    step = AnalyticStep(dep())
    c = replica_capacity(step, w)
    assert c.feasible and c.tpot_s <= 0.030 and c.ttft_s <= w.ttft_p99_s and 1 <= c.batch <= c.max_batch_memory
    if c.limited_by in ("memory", "max_num_seqs"):
        assert c.batch == min(c.max_batch_memory, cap_mod.MAX_NUM_SEQS_CAP)
    else:
        assert cap_mod._ok(step, c.batch + 1, w) == (False, c.limited_by)


def test_tighter_tpot_means_smaller_batch_and_less_throughput():
    step = AnalyticStep(dep())
    loose = replica_capacity(step, Workload(tpot_p99_s=0.1))
    tight = replica_capacity(step, Workload(tpot_p99_s=0.012))
    assert tight.batch < loose.batch and tight.requests_per_s < loose.requests_per_s


def test_impossible_tpot_is_infeasible_with_a_reason():
    c = replica_capacity(AnalyticStep(dep()), Workload(tpot_p99_s=0.001))
    assert not c.feasible and c.limited_by == "tpot" and "ms/token" in c.reason
    assert f"{c.tpot_s * 1e3:.1f} ms/token" in c.reason and c.tpot_s > 0.001


def test_model_that_does_not_fit_is_a_memory_limit():
    c = replica_capacity(AnalyticStep(dep("llama-3.3-70b", "l4")), Workload())
    assert not c.feasible and c.limited_by == "memory" and "TP" in c.reason


@pytest.mark.parametrize("model", ["llama-3.1-8b", "qwen3-30b-a3b"])
def test_the_closed_form_decode_stretch_equals_the_step_by_step_analytic_time(model):
    """decode_affine's lines reproduce each decode step of a stretch: the j-th step attends n more tokens."""
    a = AnalyticStep(dep(model))
    rest, a1, b1, a2, b2 = a.decode_affine(32, 32 * 2000)
    assert min(a1, b1, a2, b2) >= 0 and rest > 0
    for j in (0, 1, 7, 300):
        assert rest + max(a1 + b1 * j, a2 + b2 * j) == pytest.approx(a(0, 32, 32 * 2000 + 32 * j), rel=1e-9)
