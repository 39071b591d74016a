"""planner.search over the catalogue: ranking, reasons for what cannot work, restrictions, infeasible SLOs."""

import math

import pandas as pd
import pytest

from planner.api import PlanRequest, plan, policy_for
from planner.capacity import MAX_UTILISATION
from planner.errors import InfeasibleError
from planner.plan import load_catalogues, make_plan
from planner.search import DEFAULT_QUANTS, DEFAULT_TPS, SearchSpace, best, closest_to_slos, search
from planner.units import HOURS_PER_MONTH
from planner.workload import DEFAULT_WORKLOAD, Workload
from profiler import catalogue
from profiler.errors import InvalidValueError, UnknownNameError

CAT = load_catalogues()
L70 = catalogue.get_model("llama-3.3-70b")
SEED_SPACE = SearchSpace(redundancy=policy_for(PlanRequest()))


def run(workload: Workload = DEFAULT_WORKLOAD, space: SearchSpace = SEED_SPACE, model=L70) -> pd.DataFrame:
    return search(model, workload, space, CAT.gpus, CAT.quants, CAT.gpu_prices, CAT.tco_defaults)


@pytest.fixture(scope="module")
def seed() -> pd.DataFrame:
    return run()


def _row(df: pd.DataFrame, gpu: str, quant: str, tp: float | None = None) -> pd.Series:
    sel = df[(df["gpu"] == gpu) & (df["quant"] == quant)]
    if tp is not None:
        sel = sel[sel["tp"] == tp]
    assert len(sel) >= 1, (gpu, quant, tp)
    return sel.iloc[0]


def test_default_search_covers_the_catalogue_and_ranks_feasible_rows_cheapest_first(seed):
    assert set(seed["gpu"]) == set(CAT.gpus)
    assert set(seed["quant"]) == set(DEFAULT_QUANTS)
    assert set(seed["tp"].dropna().astype(int)) <= set(DEFAULT_TPS)
    ok = seed["feasible"].to_numpy()
    n_ok = int(ok.sum())
    assert n_ok >= 3
    assert ok[:n_ok].all() and not ok[n_ok:].any()  # feasible rows first, then the rest
    costs = seed["monthly_total_cost"].iloc[:n_ok].to_numpy()
    assert (costs[1:] >= costs[:-1]).all()  # cheapest first
    assert best(seed).equals(seed.iloc[0])


def test_every_feasible_row_meets_the_slos_and_its_numbers_add_up(seed):
    w = DEFAULT_WORKLOAD
    for r in seed[seed["feasible"]].itertuples():
        assert r.tpot_ms <= w.tpot_p99_s * 1e3 and r.ttft_s <= w.ttft_p99_s
        assert r.replicas >= 1 and r.batch >= 1 and r.spare_replicas >= 1  # the seed policy keeps a hot standby
        assert r.replicas * r.replica_rps >= w.requests_per_s_peak * (1 - 1e-9)  # the peak is served
        assert r.gpus_total == (r.replicas + r.spare_replicas) * r.tp
        assert r.monthly_gpu_cost == pytest.approx(r.usd_per_gpu_hour * HOURS_PER_MONTH * r.replicas * r.tp)
        assert r.tco_multiplier == pytest.approx(r.monthly_total_cost / r.monthly_gpu_cost)
        assert 0 < r.utilisation <= MAX_UTILISATION


def test_each_feasible_row_is_priced_at_the_cheapest_offer_for_its_gpu(seed):
    offers = CAT.gpu_prices[CAT.gpu_prices["pricing"] == "reserved-1y"]
    cheapest = offers.groupby("gpu")["usd_per_gpu_hour"].min()
    for r in seed[seed["feasible"]].itertuples():
        assert r.usd_per_gpu_hour == pytest.approx(cheapest[r.gpu])


def test_infeasible_rows_say_why(seed):
    bad = seed[~seed["feasible"]]
    assert len(bad) and bad["reason"].fillna("").str.len().gt(0).all()
    fp8_a100 = _row(seed, "a100-80gb", "fp8")
    assert not fp8_a100["feasible"] and "fp8" in fp8_a100["reason"] and "A100" in fp8_a100["reason"]
    assert "bf16, int8 or int4" in fp8_a100["reason"]  # says what would work
    too_big = _row(seed, "h100-sxm", "bf16", tp=1)  # 141 GB of bf16 weights on one 80 GB GPU
    assert not too_big["feasible"] and too_big["limited_by"] == "memory"
    assert "KV cache" in too_big["reason"] and "more TP" in too_big["reason"]
    slow = _row(seed, "l4", "int4", tp=4)
    assert not slow["feasible"] and slow["limited_by"] == "tpot" and "ms/token" in slow["reason"]
    assert slow["tpot_ms"] > DEFAULT_WORKLOAD.tpot_p99_s * 1e3  # one sequence alone is already too slow


def test_tp_that_does_not_divide_the_heads_is_a_reason_not_a_crash():
    df = run(space=SearchSpace(gpus=("h100-sxm",), quants=("bf16",), tps=(3, 8), redundancy=SEED_SPACE.redundancy))
    tp3 = df[df["reason"].fillna("").str.contains("TP=3")]
    assert len(tp3) == 1 and not tp3["feasible"].iloc[0]
    assert "64 attention heads" in tp3["reason"].iloc[0] and "[1, 2, 4, 8, 16]" in tp3["reason"].iloc[0]
    assert df["feasible"].any()  # TP 8 still works


def test_restricting_gpu_quant_and_tp():
    space = SearchSpace(gpus=("h100-sxm", "h200"), quants=("int8",), tps=(2, 4), redundancy=SEED_SPACE.redundancy)
    df = run(space=space)
    assert set(df["gpu"]) == {"h100-sxm", "h200"} and set(df["quant"]) == {"int8"}
    assert set(df["tp"].astype(int)) == {2, 4} and len(df) == 4
    p = plan(PlanRequest(gpus=("h200",), quants=("int4",), tps=(2,)))
    d = p.deployment
    assert (d["gpu"], d["quant"], int(d["tp"])) == ("h200", "int4", 2)
    assert set(p.alternatives["gpu"]) == {"h200"}


def test_several_pricing_models_give_a_row_each_and_the_cheapest_wins():
    space = SearchSpace(gpus=("h100-sxm",), quants=("fp8",), tps=(2,), pricing=("on-demand", "reserved-1y"),
                        redundancy=SEED_SPACE.redundancy)
    df = run(space=space)
    assert sorted(df["pricing"]) == ["on-demand", "reserved-1y"] and df["feasible"].all()
    assert df["monthly_total_cost"].iloc[0] == df["monthly_total_cost"].min()
    assert df.iloc[0]["usd_per_gpu_hour"] <= df.iloc[1]["usd_per_gpu_hour"]


def test_unknown_or_empty_restrictions_fail_with_what_exists():
    with pytest.raises(InvalidValueError, match="nothing to search"):
        run(space=SearchSpace(gpus=("no-such-gpu",)))
    with pytest.raises(UnknownNameError, match="h100-sxm"):
        plan(PlanRequest(gpus=("h100",)))
    with pytest.raises(UnknownNameError):
        plan(PlanRequest(quants=("fp4",)))


def test_impossible_tpot_gives_no_candidate_and_the_error_says_what_would_be_feasible():
    w = Workload(tpot_p99_s=0.001)
    df = run(workload=w)
    assert not df["feasible"].any() and best(df) is None
    hint = closest_to_slos(df, w)
    fastest = df[df["limited_by"] == "tpot"]["tpot_ms"].min()
    assert math.isfinite(fastest) and f"{fastest:.1f} ms/token" in hint
    with pytest.raises(InfeasibleError) as exc:
        make_plan(L70, w, SEED_SPACE, CAT)
    msg = str(exc.value)
    assert "TPOT p99 1 ms" in msg and "would be feasible" in msg and "Relax the SLOs" in msg
    assert f"TPOT p99 >= {math.ceil(fastest * 10) / 10:g} ms" in msg
    relaxed = run(workload=Workload(tpot_p99_s=math.ceil(fastest * 10) / 10 / 1e3))
    assert relaxed["feasible"].any()  # the target the message names does work


def test_a_workload_nothing_fits_names_the_memory_limit():
    with pytest.raises(InfeasibleError, match="KV cache"):
        plan(PlanRequest(gpus=("l4",), tps=(1,)))
