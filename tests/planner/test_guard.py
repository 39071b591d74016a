"""The guard model sized by the profiler (planner.guard): it grows with the traffic it screens, no faster, is priced
on the plan's GPU, and its scope is a setting (issue 11 item 1)."""

import pytest

from planner.guard import UTILISATION_CAP, VERDICT_TOKENS, guard_capacity
from planner.tco import tco_line_items
from planner.workload import DEFAULT_WORKLOAD, Workload
from profiler import catalogue
from profiler.analytic import timing
from profiler.analytic.efficiency import efficiency_for
from profiler.specs import KvDtype


def _gpu(gpu_id):
    return catalogue.get_gpu(gpu_id)


def _guard_line(items):
    return float(items.set_index("id").loc["guardrails", "monthly_usd"])


def test_screening_time_is_the_profilers_prefill_and_verdict_decode():
    # input scope, 1,000-token prompts: 8 prompts per 8,192-token chunk; per request 1/8 of the chunk's prefill and
    # of VERDICT_TOKENS decode steps at batch 8, Llama-3.1-8B fp8 on an H100 (the profiler's analytic step times)
    h100 = _gpu("h100-sxm")
    model, quant = catalogue.get_model("llama-3.1-8b"), catalogue.get_quant("fp8")
    eff = efficiency_for("h100-sxm", "fp8")
    prefill = timing.prefill(model, h100, quant, KvDtype.BF16, 1, 8, 1000, eff).latency_s
    decode = timing.decode_step(model, h100, quant, KvDtype.BF16, 1, 8, 1000, eff).latency_s
    cap = guard_capacity(h100, "input", 1000.0, 200.0)
    assert cap.gpu_s_per_request == pytest.approx((prefill + VERDICT_TOKENS * decode) / 8)
    assert cap.quant == "fp8" and cap.mig
    assert 0.010 < cap.gpu_s_per_request < 0.030  # ~40-100k prompt tokens/s per H100 for an 8B model
    both = guard_capacity(h100, "input-output", 1000.0, 200.0)
    assert cap.gpu_s_per_request < both.gpu_s_per_request < 1.5 * cap.gpu_s_per_request  # + the 200-token response


def test_a_gpu_without_fp8_runs_the_guard_in_bf16_and_without_mig_in_whole_gpus():
    a100 = guard_capacity(_gpu("a100-80gb"), "input-output", 1000.0, 200.0)
    assert a100.quant == "bf16" and a100.mig
    l40s = guard_capacity(_gpu("l40s"), "input-output", 1000.0, 200.0)
    assert not l40s.mig and l40s.gpu_share(0.1)[0] == 1.0 and l40s.gpu_share(0.1, spare=True)[0] == 2.0


def test_mig_share_at_low_volume_is_the_instance_the_weights_need():
    cap = guard_capacity(_gpu("h100-sxm"), "input-output", 1000.0, 200.0)
    # 8 GB of fp8 weights + activations, CUDA context and reserves exceed one 10 GB memory slice of 80 GB: 2 of 8
    assert cap.memory_slices == 2
    share, basis = cap.gpu_share(DEFAULT_WORKLOAD.requests_per_s_peak)
    assert share == pytest.approx(0.25) and "1/7 compute" in basis
    assert cap.gpu_share(DEFAULT_WORKLOAD.requests_per_s_peak, spare=True)[0] == pytest.approx(0.5)
    busy = 30.0 * cap.gpu_s_per_request / UTILISATION_CAP  # more than one GPU: whole GPUs, + 1 spare
    assert cap.gpu_share(30.0, spare=True)[0] == pytest.approx(int(busy) + 2)


def test_the_guard_grows_no_faster_than_the_traffic():
    # issue 11: at 25B + 5B tokens/day the old per-slice rule billed 348 x $250 = $87,000, 2.1x the 20 primary GPUs
    # ($40,880). Sized by the profiler it is proportional to the screened traffic, one GPU-rounding step aside.
    h100, rate = _gpu("h100-sxm"), 2.8 * 730
    w = Workload(tokens_in_per_day=25e9, tokens_out_per_day=5e9, requests_per_day=25e6)
    big = _guard_line(tco_line_items(20 * rate, 20, 3, 20, w, gpu=h100))
    half = _guard_line(tco_line_items(20 * rate, 20, 3, 20, w.scaled_to(15e9), gpu=h100))
    assert big < 20 * rate * 1.25  # about the served 8B model's own GPUs, not 2x them
    assert big - rate == pytest.approx(2 * (half - rate), abs=2 * rate)  # linear up to whole GPUs (less the spare)
    assert _guard_line(tco_line_items(20 * rate, 20, 3, 20, w, gpu=h100)) < 87_000 / 1.5


def test_scope_is_a_setting():
    h100, rate = _gpu("h100-sxm"), 2.8 * 730
    w = Workload(tokens_in_per_day=25e9, tokens_out_per_day=5e9, requests_per_day=25e6)
    lines = {s: _guard_line(tco_line_items(20 * rate, 20, 3, 20, Workload(**{**w.__dict__, "guardrails": s}),
                                           gpu=h100)) for s in ("none", "input", "input-output")}
    assert lines["none"] == 0.0 < lines["input"] < lines["input-output"]


def test_the_seed_reproduction_keeps_the_seed_slice():
    items = tco_line_items(5100, 2, 1, 2, DEFAULT_WORKLOAD, gpu=_gpu("h100-sxm"), seed=True)
    assert _guard_line(items) == 250.0


def test_the_plan_shows_the_guards_gpus(seed_plan):
    # the seed plan (70B fp8 on H100s, 1 + 1 replicas): the guard is a 1/7-compute, 2/8-memory MIG instance and its
    # spare, half an H100, and the bill's guardrails line is that half GPU at the plan's rate
    g = seed_plan.guard
    assert (g["scope"], g["gpus"], g["mig"]) == ("input-output", 0.5, True) and g["model"].startswith("Llama Guard 3")
    rate = seed_plan.deployment["usd_per_gpu_hour"] * 730
    assert _guard_line(seed_plan.line_items) == pytest.approx(0.5 * rate)
    from planner.render import guard_text

    assert "Llama Guard 3 8B fp8 on 0.5 h100-sxm GPU(s) in MIG slices" in guard_text(seed_plan)
