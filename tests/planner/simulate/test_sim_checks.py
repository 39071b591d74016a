"""What a run must tell its user (planner.simulate.checks): the share of requests beyond a length limit, the
rejections split by reason, and the caveats of a finished run. The CLI's wording of them:
tests/cli/test_cli_simulate_warnings.py."""

from __future__ import annotations

import math

import numpy as np
import pytest

from planner.simulate import EngineConfig, Fixed, FixedStepTime, LogNormal, Requests, SloTargets, simulate, summarize
from planner.simulate.checks import SMALL_SAMPLE, overflow, rejection_counts, run_warnings

STEP = FixedStepTime(prefill_s_per_token=1e-5, decode_s=0.005)


def test_the_check_uses_the_lengths_the_simulator_draws():
    assert overflow(Fixed(1000), Fixed(250), 1250) == (0.0, 1250.0)  # P + O = the limit: fits
    assert overflow(Fixed(1000), Fixed(251), 1250)[0] == 1.0  # one token more: every request over


def test_the_overflow_share_and_p99_follow_the_lognormal():
    """Prompts lognormal with mean 60,000 and sigma 0.6 (ln-mean mu = ln 60,000 − 0.6² / 2), outputs ~250:
    P(prompt > 131,072 − 250) = Q((ln 130,822 − mu) / 0.6) = Q(1.60) = 5.49 %; the sample of 100,000 is within
    ±0.07 % (one standard error), the outputs' spread moves it less. p99 ≈ exp(mu + 2.326 · 0.6) + 250."""
    share, p99 = overflow(LogNormal(60_000, 0.6), LogNormal(250, 0.6), 131_072)
    mu = math.log(60_000) - 0.18
    assert share == pytest.approx(0.5 * math.erfc((math.log(130_822) - mu) / 0.6 / math.sqrt(2)), abs=0.003)
    assert p99 == pytest.approx(math.exp(mu + 2.3263 * 0.6) + 250, rel=0.01)


def test_run_warnings_split_the_rejections_by_reason():
    cfg = EngineConfig(kv_blocks=100, max_num_seqs=8, max_num_batched_tokens=2048, max_model_len=1000)  # 1,600 KV
    n = 200
    ins = np.full(n, 100)
    ins[::20] = 1200  # 10 of 1,220 tokens: beyond max_model_len 1,000, within the KV cache (1,219 ≤ 1,600)
    req = Requests(np.arange(n) * 0.5, ins, np.full(n, 20))
    assert rejection_counts(req, cfg) == {"max_model_len": 10, "kv_cache": 0}
    # 70 blocks = 1,120 tokens < 1,219; no max_model_len: the same 10 are refused for the KV cache
    assert rejection_counts(req, EngineConfig(kv_blocks=70, max_num_seqs=8)) == {"max_model_len": 0, "kv_cache": 10}
    m = summarize(simulate(req, cfg, STEP), SloTargets(ttft_p99_s=1.0), warmup_s=0.0)
    (w,) = run_warnings(m, req, cfg)
    assert w.startswith(f"10 of {n} requests (5.0%) were rejected") and "max_model_len 1,000" in w
    few = Requests(req.arrival_s[: SMALL_SAMPLE // 2], np.full(SMALL_SAMPLE // 2, 100), np.full(SMALL_SAMPLE // 2, 20))
    (w,) = run_warnings(summarize(simulate(few, cfg, STEP), warmup_s=0.0), few, cfg)
    assert "only 50 requests measured" in w


def test_rejection_counts_draw_the_line_where_the_engine_does():
    """100 blocks of 16 = 1,600 KV tokens, max_model_len 1,700. A request caches P + O − 1 tokens at most:
    1,500 + 101 − 1 = 1,600 fits, 1,500 + 102 − 1 = 1,601 does not; 1,600 + 100 = 1,700 tokens is within
    max_model_len, 1,701 beyond it (and beyond the cache: counted once, for max_model_len)."""
    cfg = EngineConfig(kv_blocks=100, max_num_seqs=8, max_model_len=1700)
    req = Requests(np.arange(4.0), np.array([1500, 1500, 1600, 1601]), np.array([101, 102, 100, 100]))
    counts = rejection_counts(req, cfg)
    assert counts == {"max_model_len": 1, "kv_cache": 2}
    assert simulate(req, cfg, STEP).rejected.tolist() == [False, True, True, True]  # the engine agrees
    assert counts == rejection_counts(req, cfg, np.ones(4, dtype=bool))
    assert rejection_counts(req, cfg, np.array([True, True, False, False])) == {"max_model_len": 0, "kv_cache": 1}


@pytest.mark.parametrize(("n", "measured"), [(110, 99), (111, 100)])
def test_the_small_sample_warning_stops_at_a_hundred_measured_requests(n, measured):
    """n light requests one a second (0 .. n − 1 s); the default warm-up is 10 % of the span: n = 110: 10.9 s,
    requests 11 .. 109 = 99 measured, warned; n = 111: 11 s, requests 11 .. 110 = 100, nothing to say."""
    cfg = EngineConfig(kv_blocks=100, max_num_seqs=8)
    req = Requests(np.arange(n, dtype=float), np.full(n, 100), np.full(n, 20))
    m = summarize(simulate(req, cfg, STEP))
    assert m.requests_measured == measured
    warnings = run_warnings(m, req, cfg)
    if measured < SMALL_SAMPLE:
        (w,) = warnings
        assert w.startswith(f"only {measured} requests measured (after the warm-up)")
    else:
        assert warnings == []


def test_a_window_of_only_refused_requests_has_no_latencies_to_report():
    """Arrivals 0, 1, 2 s: warm-up 0.2 s, so requests 1 and 2 are measured; both (2,000 + 20 − 1 tokens) are
    larger than the 1,600-token cache, so no accepted request is left in the window."""
    cfg = EngineConfig(kv_blocks=100, max_num_seqs=8)
    req = Requests(np.array([0.0, 1.0, 2.0]), np.array([100, 2000, 2000]), np.full(3, 20))
    m = summarize(simulate(req, cfg, STEP))
    assert (m.requests_measured, m.requests_rejected) == (0, 2)
    rejected, nothing = run_warnings(m, req, cfg)
    assert rejected.startswith("2 of 2 requests (100.0%) were rejected") and "1,600-token KV cache" in rejected
    assert nothing.startswith("no accepted request arrived in the measurement window")
