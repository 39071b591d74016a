"""SLO capacity search: bracket, bisection, what limits it, and the cache."""

from __future__ import annotations

import json

import numpy as np
import pytest

import planner.simulate.slo_capacity as cap
from planner.simulate import (
    MAX_REJECTED_FRACTION,
    CapacityCache,
    CapacitySearch,
    Empirical,
    EngineConfig,
    Fixed,
    FixedStepTime,
    LogNormal,
    Poisson,
    Requests,
    SloTargets,
    WorkloadShape,
    find_slo_capacity,
    rate_upper_bound,
    simulate_point,
    simulate_workload,
)
from planner.simulate.capacity_cache import CACHE_VERSION
from profiler.errors import InvalidValueError
from tests.helpers import llama8b_h100_step

LLAMA8B_H100 = llama8b_h100_step()  # llama-3.1-8b bf16 on one H100 SXM (tests/helpers.py: derivation)
CFG = EngineConfig(kv_blocks=28_000, max_num_seqs=1024, max_num_batched_tokens=8192)
CHAT = WorkloadShape(Poisson(1.0), LogNormal(1000, 1.0), LogNormal(250, 1.0))
FAST = CapacitySearch(n_requests=1500)


def _probe(rate, slo, shape=CHAT, cfg=CFG, step=LLAMA8B_H100, search=FAST):
    scaled = WorkloadShape(Poisson(rate), shape.input_tokens, shape.output_tokens)
    return simulate_workload(scaled, cfg, step, slo=slo, n_requests=search.n_requests, seed=search.seed)[1]


def test_capacity_meets_the_slo_and_a_little_more_does_not():
    slo = SloTargets(ttft_p99_s=1.0, tpot_p99_s=0.04)
    res = find_slo_capacity(CHAT, CFG, LLAMA8B_H100, slo, search=FAST)
    assert 0 < res.rate_per_s < res.upper_bound_rate_per_s
    assert res.ttft_p99_s <= 1.0 and res.tpot_p99_s <= 0.04
    assert res.infeasible_rate_per_s <= res.rate_per_s * (1 + FAST.rel_tol) + 1e-12
    at = _probe(res.rate_per_s, slo)
    assert at.meets() and at.stable and at.ttft.p99 == pytest.approx(res.ttft_p99_s)
    # probed again independently, the failing rate fails, and `limited_by` names its first failure in the
    # documented order (slo_capacity.py: rejections, ttft, tpot, stability; no request is refused here)
    over = _probe(res.infeasible_rate_per_s, slo)
    failures = [name for name, failed in (("rejections", over.rejected_fraction > MAX_REJECTED_FRACTION),
                                          ("ttft", over.ttft.p99 > 1.0), ("tpot", over.tpot.p99 > 0.04),
                                          ("stability", not over.stable)) if failed]
    assert failures and res.limited_by == failures[0] != "rejections"
    assert res.probes <= 15


def test_looser_slos_give_more_capacity():
    tight = find_slo_capacity(CHAT, CFG, LLAMA8B_H100, SloTargets(0.5, 0.025), search=FAST)
    loose = find_slo_capacity(CHAT, CFG, LLAMA8B_H100, SloTargets(2.0, 0.05), search=FAST)
    assert loose.rate_per_s > tight.rate_per_s * 1.1


def test_batch_of_one_capacity_is_below_the_service_rate():
    """One request at a time, 50 ms each: capacity < 20 req/s, and a loose TTFT SLO lets ρ go high."""
    step = FixedStepTime(prefill_s_per_token=1e-4, decode_s=0.01)
    cfg = EngineConfig(kv_blocks=100, max_num_seqs=1, max_num_batched_tokens=512)
    shape = WorkloadShape(Poisson(1.0), Fixed(100), Fixed(5))  # service = 0.01 + 4 × 0.01 s
    res = find_slo_capacity(shape, cfg, step, SloTargets(ttft_p99_s=1.0),
                            search=CapacitySearch(n_requests=3000))
    assert res.upper_bound_rate_per_s == pytest.approx(1 / (4 * 0.01))  # B = 1: 1 / ((O − 1) · decode_s)
    assert 0.75 * 20 < res.rate_per_s < 20


def test_with_latency_slos_out_of_reach_stability_limits_the_capacity():
    """The batch-of-one replica above (service 0.05 s: at most 20 req/s) with objectives no queue of 3,000
    requests can miss (10,000 s): the search stops where the queue starts to grow, near 20 req/s. (A run of
    3,000 requests cannot tell a load a few % over 1 from a stable one: the queue's drift over the ~150 s run,
    (λ − 20/s) · 150 s, is then within the random walk of the arrivals, √3000 ≈ 55 requests; hence the 10 %.)"""
    step = FixedStepTime(prefill_s_per_token=1e-4, decode_s=0.01)
    cfg = EngineConfig(kv_blocks=100, max_num_seqs=1, max_num_batched_tokens=512)
    shape = WorkloadShape(Poisson(1.0), Fixed(100), Fixed(5))
    res = find_slo_capacity(shape, cfg, step, SloTargets(ttft_p99_s=1e4, tpot_p99_s=1e4),
                            search=CapacitySearch(n_requests=3000))
    assert res.limited_by == "stability" and 0.75 * 20 < res.rate_per_s < 1.1 * 20
    assert res.ttft_p99_s < 1e4 and res.tpot_p99_s == pytest.approx(0.01)  # every decode step is 10 ms


def test_unreachable_slo_gives_zero():
    """1 ms objectives: any step reads the 15.01 GB of weights at 2.68 TB/s, 5.6 ms, so even an idle replica
    misses both; `limited_by` names the first in the documented order (ttft before tpot)."""
    res = find_slo_capacity(CHAT, CFG, LLAMA8B_H100, SloTargets(ttft_p99_s=0.001, tpot_p99_s=0.001), search=FAST)
    assert res.rate_per_s == 0.0 and res.limited_by == "ttft"
    assert res.ttft_p99_s > 15.01e9 / 2.68e12 and res.tpot_p99_s > 15.01e9 / 2.68e12


def test_trace_shaped_capacity():
    rng = np.random.default_rng(1)
    n = 1500
    trace = Requests(np.cumsum(rng.gamma(0.25, 4.0, n)), rng.integers(200, 2000, n), rng.integers(20, 400, n))
    slo = SloTargets(1.0, 0.04)
    res = find_slo_capacity(trace, CFG, LLAMA8B_H100, slo, search=FAST)
    assert 0 < res.rate_per_s < res.upper_bound_rate_per_s
    # the trace replayed at the capacity meets the SLOs; replayed at the failing rate it does not
    assert simulate_point(trace, res.rate_per_s, CFG, LLAMA8B_H100, slo, search=FAST).meets
    over = simulate_point(trace, res.infeasible_rate_per_s, CFG, LLAMA8B_H100, slo, search=FAST)
    assert not over.meets or (res.limited_by == "stability" and not over.stable)


def test_upper_bound_formula():
    step = FixedStepTime(prefill_s_per_token=1e-4, decode_s=0.02)
    cfg = EngineConfig(kv_blocks=1000, max_num_seqs=64, max_num_batched_tokens=2048)
    shape = WorkloadShape(Poisson(1.0), Fixed(100), Fixed(11))
    # decode: B = min(64, 16000 // 101) = 64 → 64 / (10 × 0.02) = 320; prefill: 2048 / (100 × 0.2048) = 100
    assert rate_upper_bound(shape, cfg, step) == pytest.approx(100.0)


def test_memory_cache_skips_the_search(monkeypatch):
    cache = CapacityCache()
    slo = SloTargets(1.0, 0.04)
    first = find_slo_capacity(CHAT, CFG, LLAMA8B_H100, slo, search=FAST, cache=cache, labels={"model": "m"})
    monkeypatch.setattr(cap, "simulate", lambda *a, **k: pytest.fail("cache miss"))
    again = find_slo_capacity(CHAT, CFG, LLAMA8B_H100, slo, search=FAST, cache=cache, labels={"model": "m"})
    assert again == first and len(cache) == 1 and first.key.startswith("model=m|")
    with pytest.raises(pytest.fail.Exception):  # another SLO is another key
        find_slo_capacity(CHAT, CFG, LLAMA8B_H100, SloTargets(1.0, 0.05), search=FAST, cache=cache,
                          labels={"model": "m"})


def test_disk_cache_survives_a_new_process_view(tmp_path, monkeypatch):
    path = tmp_path / "cache" / "capacity.json"
    slo = SloTargets(1.0, 0.04)
    labels = {"model": "llama-3.1-8b", "gpu": "h100", "quant": "bf16", "tp": 1}
    first = find_slo_capacity(CHAT, CFG, LLAMA8B_H100, slo, search=FAST, cache=CapacityCache(path),
                              labels=labels)
    doc = json.loads(path.read_text())
    assert doc["version"] == CACHE_VERSION and first.key in doc["entries"]
    assert not list(path.parent.glob(".*.tmp"))  # atomic write left no temporary behind
    monkeypatch.setattr(cap, "simulate", lambda *a, **k: pytest.fail("cache miss"))
    again = find_slo_capacity(CHAT, CFG, LLAMA8B_H100, slo, search=FAST, cache=CapacityCache(path),
                              labels=labels)
    assert again == first


def test_lru_evicts_the_oldest():
    cache = CapacityCache(maxsize=2)
    rec = cap.SloCapacity(1.0, 0.1, 0.01, 1.0, 0.1, 3.0, 5.0, 1.1, "ttft", 5, "k")
    for key in ("a", "b", "c"):
        cache.put(key, rec)
    assert cache.get("a") is None and cache.get("c") == rec and len(cache) == 2


def test_a_corrupt_cache_file_is_a_miss_not_an_error(tmp_path, capsys):
    """A cache is disposable: a file it cannot read is ignored (one warning naming it), never a hard error."""
    path = tmp_path / "capacity.json"
    path.write_text("{not json")
    assert CapacityCache(path).get("anything") is None
    err = capsys.readouterr().err
    assert err.startswith("warning: ") and str(path) in err and "rebuilding it" in err


def test_bad_search_inputs():
    with pytest.raises(InvalidValueError, match="at least one SLO"):
        find_slo_capacity(CHAT, CFG, LLAMA8B_H100, SloTargets())
    with pytest.raises(InvalidValueError, match="n_requests"):
        CapacitySearch(n_requests=10)


# --- rejections --------------------------------------------------------------------------------
# 100 blocks of 16 = 1,600 KV tokens; prompts of 100 tokens fit, prompts of 2,000 are refused.
SMALL_KV = EngineConfig(kv_blocks=100, max_num_seqs=16, max_num_batched_tokens=2048)
QUICK = FixedStepTime(prefill_s_per_token=1e-5, decode_s=0.005)


def _refusing(share_of_1000: int) -> WorkloadShape:
    """Prompts of 100 tokens, ``share_of_1000`` in 1,000 of 2,000 tokens (refused by SMALL_KV)."""
    return WorkloadShape(Poisson(1.0), Empirical((100,) * (1000 - share_of_1000) + (2000,) * share_of_1000),
                         Fixed(20))


def test_a_rate_with_many_rejections_is_infeasible_at_any_rate():
    """~3 % of requests refused: more than a p99 SLO lets miss, so the capacity is 0 after one probe."""
    res = find_slo_capacity(_refusing(30), SMALL_KV, QUICK, SloTargets(ttft_p99_s=1.0), search=FAST)
    assert res.rate_per_s == 0.0 and res.limited_by == "rejections" and res.probes == 1
    assert 0.02 < res.rejected_fraction < 0.045
    # the accepted requests alone would pass: their p99 TTFT (at the analytic bound, even) is inside the SLO
    assert res.ttft_p99_s < 1.0


def test_a_few_rejections_within_the_tail_still_allow_a_capacity():
    """~0.3 % refused (< 1 %): the search runs as usual and reports the refused share."""
    res = find_slo_capacity(_refusing(3), SMALL_KV, QUICK, SloTargets(ttft_p99_s=1.0), search=FAST)
    assert res.rate_per_s > 0 and res.limited_by != "rejections"
    assert 0 < res.rejected_fraction <= MAX_REJECTED_FRACTION


def test_rejections_count_against_goodput_and_show_in_the_table():
    shape = WorkloadShape(Poisson(5.0), _refusing(100).input_tokens, Fixed(20))
    _, m = simulate_workload(shape, SMALL_KV, QUICK, slo=SloTargets(ttft_p99_s=1.0), n_requests=3000, seed=4)
    arrived = m.requests_measured + m.requests_rejected
    assert m.requests_rejected > 0 and m.rejected_fraction == pytest.approx(m.requests_rejected / arrived)
    assert 0.07 < m.rejected_fraction < 0.13  # 10 % drawn
    # every accepted request meets the loose SLO; the refused ones are what the goodput misses
    assert m.goodput_fraction == pytest.approx(m.requests_measured / arrived)
    assert m.ttft.p99 < 1.0 and not m.meets()
    frame = m.to_frame().set_index(["metric", "stat"])["value"]
    assert frame[("requests_rejected", "count")] == m.requests_rejected
    assert frame[("rejected_fraction", "mean")] == pytest.approx(m.rejected_fraction)
    assert m.to_dict()["requests_rejected"] == m.requests_rejected


# --- one rate ----------------------------------------------------------------------------------


def test_simulate_point_is_the_search_probe_at_that_rate():
    slo = SloTargets(1.0, 0.04)
    res = find_slo_capacity(CHAT, CFG, LLAMA8B_H100, slo, search=FAST)
    at = simulate_point(CHAT, res.rate_per_s, CFG, LLAMA8B_H100, slo, search=FAST)
    assert at.ttft_p99_s == pytest.approx(res.ttft_p99_s) and at.tpot_p99_s == pytest.approx(res.tpot_p99_s)
    assert at.meets and at.rejected_fraction == 0.0 and at.goodput_fraction > 0.98
    half = simulate_point(CHAT, res.rate_per_s / 2, CFG, LLAMA8B_H100, slo, search=FAST)
    assert half.ttft_p99_s < at.ttft_p99_s and half.tpot_p99_s < at.tpot_p99_s
    assert half.ttft_p50_s <= half.ttft_p90_s <= half.ttft_p99_s
    with pytest.raises(InvalidValueError, match="rate_per_s"):
        simulate_point(CHAT, 0.0, CFG, LLAMA8B_H100, slo)
