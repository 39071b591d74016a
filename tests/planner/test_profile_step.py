"""`plan --profile` / `simulate --profile`: step times read from a measured profile (planner.step_model.ProfileStep).

The profiles here are small tables with round latencies, so every expected value is interpolated by hand:
decode latency bilinearly in (log batch, log context per sequence), plus prefill tokens x the median
prefill ms/token.
"""

import math

import pandas as pd
import pytest

from planner.capacity import replica_capacity
from planner.errors import PlannerError
from planner.step_model import AnalyticStep, Deployment, ProfileStep
from planner.workload import Workload
from profiler import catalogue
from profiler.analytic.efficiency import default_efficiency
from profiler.specs import KvDtype

CONFIG = {"model": "llama-3.1-8b", "gpu": "h100-sxm", "quant": "bf16", "kv_dtype": "bf16", "tp": 1}


def dep(tp: int = 1) -> Deployment:
    return Deployment(catalogue.get_model("llama-3.1-8b"), catalogue.get_gpu("h100-sxm"),
                      catalogue.get_quant("bf16"), KvDtype.BF16, tp, default_efficiency("h100-sxm", "bf16"))


def rows(phase: str, points, status: str = "ok", kv_capacity: float = 500_000, **config):
    """Profile rows (phase, batch, context, latency_ms, max_batch) for CONFIG, or `config` over it."""
    return [{**CONFIG, **config, "phase": phase, "batch": b, "context": c, "latency_ms": ms, "max_batch": mb,
             "kv_capacity_tokens": kv_capacity, "status": status} for b, c, ms, mb in points]


# decode latency [ms] at batch 1, 4, 16 and context 1,000 / 4,000 tokens per sequence; most sequences that fit
DECODE = [(1, 1000, 10.0, 400), (1, 4000, 20.0, 100), (4, 1000, 14.0, 400), (4, 4000, 32.0, 100),
          (16, 1000, 30.0, 400), (16, 4000, 80.0, 100)]
# prefill: 50 / (1 x 1,000) = 0.05, 240 / (2 x 2,000) = 0.06, 280 / (1 x 4,000) = 0.07 ms/token -> median 0.06
PREFILL = [(1, 1000, 50.0, 400), (2, 2000, 240.0, 200), (1, 4000, 280.0, 100)]


@pytest.fixture
def measured() -> pd.DataFrame:
    noise = (rows("decode", [(4, 1000, 9999.0, 400)], status="oom", kv_capacity=9_999_999)  # not an ok point
             + rows("decode", [(4, 1000, 1.0, 400)], gpu="a100-80gb")  # another GPU
             + rows("decode", [(4, 1000, 1.0, 400)], tp=2)  # another TP degree
             + rows("decode", [(4, 1000, 1.0, 400)], kv_dtype="fp8"))  # another KV dtype
    return pd.DataFrame(rows("decode", DECODE) + rows("prefill", PREFILL) + noise)


@pytest.mark.parametrize("prefill, seqs, context, want_ms", [
    (0, 4, 16_000, 32.0),  # a measured point: batch 4 at 4,000 tokens each
    # batch 2 is halfway between 1 and 4 on a log axis, 2,000 halfway between 1,000 and 4,000:
    # batch 1 -> 10 + (20 - 10) / 2 = 15; batch 4 -> 14 + (32 - 14) / 2 = 23; batch 2 -> (15 + 23) / 2 = 19
    (0, 2, 4_000, 19.0),
    (0, 8, 8_000, 22.0),  # batch 8 halfway from 4 to 16 at 1,000: 14 + (30 - 14) / 2
    # batch 16 at 2,000: 30 + (80 - 30) / 2 = 55; batch 8: 23 + (55 - 23) / 2 = 39
    (0, 8, 16_000, 39.0),
    (500, 2, 4_000, 19.0 + 500 * 0.06),  # a mixed step: the decode above plus 500 prefill tokens at 0.06 ms
    (500, 0, 0, 500 * 0.06),  # prefill alone
])
def test_step_time_interpolates_the_measured_grid(measured, prefill, seqs, context, want_ms):
    assert ProfileStep(measured, dep()).step_time_s(prefill, seqs, context) == pytest.approx(want_ms / 1e3, rel=1e-12)


def test_only_ok_rows_of_this_configuration_are_read(measured):
    step = ProfileStep(measured, dep())
    assert step(0, 4, 4_000) == pytest.approx(14.0 / 1e3)  # not the oom row's 9,999 ms, nor the other configs' 1 ms
    assert step.kv_capacity_tokens() == 500_000  # the oom row's 9,999,999 is not a capacity


@pytest.mark.parametrize("context, want", [
    (1000, 400),  # a profiled context
    (500, 400),  # shorter: the nearest profiled context at or above it
    (1500, 200),  # between 1,000 and 2,000: the 2,000-token figure, conservatively
    (5000, 80),  # beyond the longest profiled context: 100 x 4,000 / 5,000 (KV grows with the context)
    (8000, 50),  # 100 x 4,000 / 8,000
])
def test_max_batch_scales_from_the_nearest_profiled_context(measured, context, want):
    assert ProfileStep(measured, dep()).max_batch(context) == want


def test_without_memory_columns_the_analytic_budget_is_used(measured):
    bare = measured.assign(max_batch=math.nan, kv_capacity_tokens=math.nan)
    step, analytic = ProfileStep(bare, dep()), AnalyticStep(dep())
    assert step.max_batch(1200) == analytic.max_batch(1200)
    assert step.kv_capacity_tokens() == analytic.kv_capacity_tokens()
    assert step(0, 2, 4_000) == pytest.approx(19.0 / 1e3)  # the latencies are still the profile's


@pytest.mark.parametrize("keep", [
    lambda df: df.assign(status="oom"),  # nothing measured ok
    lambda df: df[df["phase"] == "decode"],  # no prefill rows
    lambda df: df[df["phase"] == "prefill"],  # no decode rows
])
def test_a_profile_without_ok_decode_and_prefill_rows_for_the_configuration_is_refused(measured, keep):
    with pytest.raises(PlannerError, match=r"no ok decode and prefill rows for h100-sxm/bf16/kv bf16/TP 1; "
                                           r"profile that configuration or drop --profile"):
        ProfileStep(keep(measured), dep())


def test_another_configuration_of_the_same_model_is_refused(measured):
    with pytest.raises(PlannerError, match="TP 4"):
        ProfileStep(measured, dep(tp=4))


def test_a_profile_of_another_model_is_refused(measured):
    with pytest.raises(PlannerError, match="the profile holds llama-3.3-70b, not llama-3.1-8b"):
        ProfileStep(measured.assign(model="llama-3.3-70b"), dep())


def test_capacity_from_a_measured_profile_by_hand():
    # decode 10 ms at batch 1 and 90 ms at batch 256 whatever the context: 10 + 80 x log(B) / log(256)
    # = 10 + 10 log2(B) ms; prefill 10 ms per 1,000 tokens = 0.01 ms/token. Seed workload (1,000 in, 200 out):
    # TPOT(B) = 10 + 10 log2(B) + 5B x 0.01 ms -> B = 15: 49.82 ms; B = 16: 50.8 ms > 50 ms.
    grid = [(1, 512, 10.0, 400), (1, 8192, 10.0, 400), (256, 512, 90.0, 400), (256, 8192, 90.0, 400)]
    profile = pd.DataFrame(rows("decode", grid) + rows("prefill", [(1, 1000, 10.0, 400)]))
    c = replica_capacity(ProfileStep(profile, dep()), Workload())
    tpot_ms = 10 + 10 * math.log2(15) + 0.75
    assert (c.feasible, c.batch, c.limited_by) == (True, 15, "tpot")
    assert c.tpot_s == pytest.approx(tpot_ms / 1e3, rel=1e-12)
    assert c.requests_per_s == pytest.approx(15 / (201 * tpot_ms / 1e3) * 0.8, rel=1e-12)  # 1.198 req/s
    # memory from the profile: 400 sequences, less ceil(5,120 / 1,200) - 1 = 4 for one --max-model-len request
    # (the p99.9 request, Workload.longest_request_tokens)
    assert c.max_batch_memory == 396 and c.kv_capacity_tokens == 500_000
