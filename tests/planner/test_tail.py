"""The analytic p99 model (planner.tail): queueing cases solved by hand, monotonicity, and the simulator's answer.

With a step that takes the same time whatever it schedules, prefill costs nothing and every sequence leaves at rate
1 / (L_eff s), so the running batch is an M/M/inf (no cap binds) or M/M/c (the cap binds) queue, whose answers are
textbook: a Poisson batch, Erlang C's waiting probability, an exponential wait tail.
"""

from __future__ import annotations

import math

import pytest

from planner.tail import ReplicaTail
from planner.workload import LengthDist, Workload

FIXED = LengthDist("fixed")
CHUNK = 8192


def const_step(s: float):
    return lambda prefill_tokens, decode_seqs, context_tokens: s


def workload(l_in: float, l_out: float, ttft: float = 2.0, tpot: float = 0.05, dist: LengthDist = FIXED) -> Workload:
    return Workload(tokens_in_per_day=l_in * 1e5, tokens_out_per_day=l_out * 1e5, requests_per_day=1e5,
                    input_dist=dist, output_dist=dist, ttft_p99_s=ttft, tpot_p99_s=tpot)


def test_without_a_binding_cap_the_batch_is_poisson_and_tpot_is_the_step():
    # 200 output tokens + 1 prefill step = 200 steps in the system (L_eff = L_out - 1 + 1) of 10 ms: at 5 req/s the
    # offered load is 5 x 200 x 0.01 = 10 sequences, Poisson(10): p90 14, p99 18 (cdf(17) = 0.986, cdf(18) = 0.993)
    p = ReplicaTail.build(const_step(0.010), workload(100, 200), cap=1024, chunk=CHUNK).at(5.0)
    assert p.stable and p.running_mean == pytest.approx(10.0, rel=1e-9)
    assert (p.running_p90, p.running_p99) == (14, 18)
    assert p.tpot_p99_s == pytest.approx(0.010, rel=1e-12)  # every step takes 10 ms and no prompt adds to one
    assert p.queue_probability < 1e-12
    # no wait for a slot: the rest of the step in flight plus its own one prefill step, beside the others' decodes
    assert 0.010 <= p.ttft_p99_s <= 0.0201


def _erlang_c(c: int, a: float) -> float:
    top = a ** c / math.factorial(c) * c / (c - a)
    return top / (sum(a ** k / math.factorial(k) for k in range(c)) + top)


def test_a_binding_cap_is_an_m_m_c_queue_with_erlang_c_waits():
    # cap 4 slots, 100-step requests of 10 ms steps: 1 req/s per slot; at 3 req/s, a = 3 Erlangs on c = 4 servers
    tail = ReplicaTail.build(const_step(0.010), workload(100, 100), cap=4, chunk=CHUNK)
    p = tail.at(3.0)
    wait_prob = _erlang_c(4, 3.0)  # 13.5 / 26.5 = 0.5094
    assert p.queue_probability == pytest.approx(wait_prob, rel=1e-6)  # the chain is cut where 1e-7 is left
    # M/M/c: P(W > t) = C exp(-(c mu - lam) t), so the mean wait is C / (c mu - lam) = 0.509 s and the p99
    # ln(C / 0.01) / (c mu - lam) = 3.93 s; the model adds the step in flight and the prompt's own step (<= 20 ms)
    assert p.ttft_mean_s == pytest.approx(wait_prob / (4 - 3) + 0.015, abs=0.04)
    t99 = math.log(wait_prob / 0.01) / (4 - 3)
    assert p.ttft_p99_s == pytest.approx(t99 + 0.015, rel=0.06)
    assert p.running_mean == pytest.approx(3.0, rel=1e-6)  # Little: lam x L_eff x s = 3 x 100 x 0.01 in service


def test_the_capacity_is_the_rate_where_a_slo_binds():
    # the same M/M/4 queue with a TTFT target at the p99 of 3 req/s: the bisection lands on 3 req/s (within its
    # 1% tolerance and the sampling noise of a p99)
    t99 = math.log(_erlang_c(4, 3.0) / 0.01) + 0.02
    tail = ReplicaTail.build(const_step(0.010), workload(100, 100, ttft=t99), cap=4, chunk=CHUNK)
    got = tail.capacity()
    assert got.limited_by == "ttft" and got.rate_per_s == pytest.approx(3.0, rel=0.04)
    assert got.point.ttft_p99_s <= t99


def test_unstable_when_the_full_batch_cannot_keep_up():
    tail = ReplicaTail.build(const_step(0.010), workload(100, 100), cap=4, chunk=CHUNK)
    assert not tail.at(4.0).stable and math.isinf(tail.at(4.5).ttft_p99_s)
    assert tail.at(3.9).stable


@pytest.fixture(scope="module")
def llama_h100():
    from planner.simulate_api import deployment
    from planner.step_model import AnalyticStep

    return AnalyticStep(deployment("llama-3.1-8b", "h100-sxm", "fp8", 1, "bf16"))


def test_p99s_and_the_batch_grow_with_the_rate(llama_h100):
    tail = ReplicaTail.build(llama_h100, workload(2000, 300, dist=LengthDist()), cap=200, chunk=CHUNK)
    points = [tail.at(r) for r in (1.0, 2.0, 4.0, 6.0, 8.0)]
    assert all(p.stable for p in points)
    for a, b in zip(points, points[1:], strict=False):
        assert b.running_mean > a.running_mean
        assert b.tpot_p99_s >= a.tpot_p99_s and b.ttft_p99_s >= a.ttft_p99_s * 0.98  # p99s from 4,000 draws
        assert b.tpot_p99_s >= b.tpot_mean_s and b.ttft_p99_s >= b.ttft_mean_s


def test_long_prompts_and_short_outputs_spread_tpot(llama_h100):
    # a spread of lengths (lognormal, sigma 0.5) puts the p99 TPOT further above the mean than fixed lengths do
    fixed = ReplicaTail.build(llama_h100, workload(4000, 200), cap=100, chunk=CHUNK).at(3.0)
    spread = ReplicaTail.build(llama_h100, workload(4000, 200, dist=LengthDist()), cap=100, chunk=CHUNK).at(3.0)
    assert spread.tpot_p99_s / spread.tpot_mean_s > fixed.tpot_p99_s / fixed.tpot_mean_s > 1.0


def test_prefill_work_makes_the_batch_burstier_than_a_birth_death_chain_with_the_same_mean_step():
    # step A: 10 ms per decode step plus 100 us per prefill token (a 1,000-token prompt costs c = 0.1 s); at 5 req/s
    # the prefill share is lam x c = 0.5, so the mean step is 20 ms and the mean batch 5 x 200 x 0.02 = 20. Step B
    # takes that mean step flat, no prefill cost: the same departure rates, so the same mean batch, but none of the
    # bursts: around 20 sequences the decode-only departure rate is mu0 = 20 / (200 x 0.01) = 10/s, and the chain's
    # variance per unit time grows from lam + mu = 10 to 10 + lam (mu0^2 c^2 + 2 mu0 c) = 25 (its spread x ~1.6)
    lam, s0, alpha = 5.0, 0.010, 1e-4

    def step_a(prefill_tokens, decode_seqs, context_tokens, *chunks):
        return (s0 if decode_seqs else 0.0) + alpha * prefill_tokens

    a = ReplicaTail.build(step_a, workload(1000, 200), cap=1024, chunk=CHUNK).at(lam)
    b = ReplicaTail.build(const_step(s0 / (1 - lam * alpha * 1000)), workload(1000, 200), cap=1024,
                          chunk=CHUNK).at(lam)
    assert b.running_mean == pytest.approx(20.0, rel=1e-6) and a.running_mean == pytest.approx(20.0, rel=0.05)
    assert a.running_p99 - a.running_mean > 1.3 * (b.running_p99 - b.running_mean)
