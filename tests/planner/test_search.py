"""planner.search over the catalogue: ranking and its tie-breaks, reasons for what cannot work and how they
are grouped, restrictions, infeasible SLOs."""

import math

import pandas as pd
import pytest

from planner.api import PlanRequest, plan, policy_for
from planner.capacity import MAX_UTILISATION
from planner.errors import InfeasibleError
from planner.plan import make_plan
from planner.prices import GPU_PRICE_COLUMNS
from planner.search import (
    DEFAULT_QUANTS,
    DEFAULT_TPS,
    QUALITY_ORDER,
    SearchSpace,
    best,
    closest_to_slos,
    infeasible_summary,
    search,
)
from planner.units import HOURS_PER_MONTH
from planner.workload import DEFAULT_WORKLOAD, Workload
from profiler import catalogue
from profiler.errors import InvalidValueError, UnknownNameError

SEED_SPACE = SearchSpace(redundancy=policy_for(PlanRequest()))


@pytest.fixture(scope="module")
def l70():
    return catalogue.get_model("llama-3.3-70b")


@pytest.fixture
def run(catalogues, l70):
    def run(workload: Workload = DEFAULT_WORKLOAD, space: SearchSpace = SEED_SPACE, model=None,
            prices: pd.DataFrame | None = None) -> pd.DataFrame:
        return search(model or l70, workload, space, catalogues.gpus, catalogues.quants,
                      catalogues.gpu_prices if prices is None else prices, catalogues.tco_defaults)
    return run


@pytest.fixture(scope="module")
def seed(catalogues, l70) -> pd.DataFrame:
    return search(l70, DEFAULT_WORKLOAD, SEED_SPACE, catalogues.gpus, catalogues.quants, catalogues.gpu_prices,
                  catalogues.tco_defaults)


def _row(df: pd.DataFrame, gpu: str, quant: str, tp: float | None = None) -> pd.Series:
    sel = df[(df["gpu"] == gpu) & (df["quant"] == quant)]
    if tp is not None:
        sel = sel[sel["tp"] == tp]
    assert len(sel) >= 1, (gpu, quant, tp)
    return sel.iloc[0]


def test_default_search_covers_the_catalogue_and_ranks_feasible_rows_cheapest_first(seed, catalogues):
    # GeForce cards only when named (issue 11 item 10: planner.search.offered_gpus)
    assert set(seed["gpu"]) == {k for k, g in catalogues.gpus.items() if g.gpu_class not in ("consumer", "local")}
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


def test_each_feasible_row_is_priced_at_the_cheapest_offer_for_its_gpu(seed, catalogues):
    offers = catalogues.gpu_prices[catalogues.gpu_prices["pricing"] == "reserved-1y"]
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


def test_tp_that_does_not_divide_the_heads_is_a_reason_not_a_crash(run):
    df = run(space=SearchSpace(gpus=("h100-sxm",), quants=("bf16",), tps=(3, 8), redundancy=SEED_SPACE.redundancy))
    tp3 = df[df["reason"].fillna("").str.contains("TP=3")]
    assert len(tp3) == 1 and not tp3["feasible"].iloc[0]
    assert "64 attention heads" in tp3["reason"].iloc[0] and "[1, 2, 4, 8, 16]" in tp3["reason"].iloc[0]
    assert df["feasible"].any()  # TP 8 still works


def test_restricting_gpu_quant_and_tp(run):
    space = SearchSpace(gpus=("h100-sxm", "h200"), quants=("int8",), tps=(2, 4), redundancy=SEED_SPACE.redundancy)
    df = run(space=space)
    assert set(df["gpu"]) == {"h100-sxm", "h200"} and set(df["quant"]) == {"int8"}
    assert set(df["tp"].astype(int)) == {2, 4} and len(df) == 4
    p = plan(PlanRequest(gpus=("h200",), quants=("int4",), tps=(2,)))
    d = p.deployment
    assert (d["gpu"], d["quant"], int(d["tp"])) == ("h200", "int4", 2)
    assert set(p.alternatives["gpu"]) == {"h200"}


def test_several_pricing_models_give_a_row_each_and_the_cheapest_wins(run):
    space = SearchSpace(gpus=("h100-sxm",), quants=("fp8",), tps=(2,), pricing=("on-demand", "reserved-1y"),
                        redundancy=SEED_SPACE.redundancy)
    df = run(space=space)
    assert sorted(df["pricing"]) == ["on-demand", "reserved-1y"] and df["feasible"].all()
    assert df["monthly_total_cost"].iloc[0] == df["monthly_total_cost"].min()
    assert df.iloc[0]["usd_per_gpu_hour"] <= df.iloc[1]["usd_per_gpu_hour"]


def test_unknown_or_empty_restrictions_fail_with_what_exists(run):
    with pytest.raises(InvalidValueError, match="nothing to search"):
        run(space=SearchSpace(gpus=("no-such-gpu",)))
    with pytest.raises(InvalidValueError, match="nothing to search"):
        run(space=SearchSpace(gpus=("h100-sxm",), tps=()))  # used to fail with KeyError 'quant'
    with pytest.raises(UnknownNameError, match="h100-sxm"):
        plan(PlanRequest(gpus=("h100",)))
    with pytest.raises(UnknownNameError):
        plan(PlanRequest(quants=("fp4",)))


def test_impossible_tpot_gives_no_candidate_and_the_error_says_what_would_be_feasible(run, catalogues, l70):
    w = Workload(tpot_p99_s=0.001)
    df = run(workload=w)
    assert not df["feasible"].any() and best(df) is None
    hint = closest_to_slos(df, w)
    fastest = df[df["limited_by"] == "tpot"]["tpot_ms"].min()
    assert math.isfinite(fastest) and f"{fastest:.1f} ms/token" in hint
    with pytest.raises(InfeasibleError) as exc:
        make_plan(l70, w, SEED_SPACE, catalogues)
    msg = str(exc.value)
    assert "TPOT p99 1 ms" in msg and "would be feasible" in msg and "Relax the SLOs" in msg
    assert f"TPOT p99 >= {math.ceil(fastest * 10) / 10:g} ms" in msg
    relaxed = run(workload=Workload(tpot_p99_s=math.ceil(fastest * 10) / 10 / 1e3))
    assert relaxed["feasible"].any()  # the target the message names does work


def test_a_workload_nothing_fits_names_the_memory_limit():
    with pytest.raises(InfeasibleError, match="KV cache"):
        plan(PlanRequest(gpus=("l4",), tps=(1,)))


# ---- ties: cost, then the least lossy weights, then requests/s per replica, then the order searched ----


def test_equal_bills_rank_by_quant_fidelity_then_headroom(catalogues, l70):
    # AWS rents H100s 8 at a time ($6.88/GPU-h on demand): every feasible 70B deployment of <= 8 GPUs (1 replica
    # of TP <= 4 + 1 spare) pays for one whole instance, 8 x 6.88 x 730 = 40,179.20, plus the guard model's half
    # H100 (2,511.20) and 7,477.69 of other items (3 hosts; tests/cli/test_cli_plan_outputs.py): $50,168.09 each.
    # TP 8 needs two instances: 16.5 x 6.88 x 730 + 7,477.69 = $90,347.29. The incidents line (GPUs used beyond 3)
    # would split the ties by TP, so it is left out here: this test is about the order of equal bills.
    from planner.tco import TcoDefaults

    d = catalogues.tco_defaults
    no_incidents = TcoDefaults(d.globals, d.seed_reference, tuple(it for it in d.items if it.id != "incidents"))
    df = search(l70, DEFAULT_WORKLOAD, SearchSpace(gpus=("h100-sxm",), pricing=("on-demand",), provider="aws",
                                                   redundancy=SEED_SPACE.redundancy),
                catalogues.gpus, catalogues.quants, catalogues.gpu_prices, no_incidents)
    ok = df[df["feasible"]]
    tied = ok[ok["monthly_total_cost"] == ok["monthly_total_cost"].min()]
    other = 340 + 180 + 85 + 3 * 105 + 3200 + 600 + 3 * 100 + 150 + 7.5 * 192_000 / 52 / 12
    assert tied["monthly_total_cost"].iloc[0] == pytest.approx(8.5 * 6.88 * 730 + other)
    assert (tied["tp"] <= 4).all() and len(tied) >= 4 and tied["quant"].nunique() >= 3
    tp8 = ok.loc[ok["tp"] == 8, "monthly_total_cost"].tolist()
    assert len(tp8) >= 1 and tp8 == pytest.approx([16.5 * 6.88 * 730 + other] * len(tp8))
    assert list(tied.index) == list(range(len(tied)))  # the tied rows come first
    rank = tied["quant"].map(QUALITY_ORDER.index).to_numpy()
    assert (rank[1:] >= rank[:-1]).all()  # bf16 rows, then fp8, int8, int4
    for _, same in tied.groupby("quant"):
        assert same["replica_rps"].is_monotonic_decreasing  # within a quant, more requests/s per replica first
    assert df.iloc[0]["quant"] == "bf16" and best(df)["replica_rps"] == tied[tied["quant"] == "bf16"][
        "replica_rps"].max()


def _h100(*rows) -> pd.DataFrame:
    return pd.DataFrame([{"provider": p, "gpu": "h100-sxm", "pricing": pricing, "usd_per_gpu_hour": usd,
                          "gpus_per_instance": 1.0, "instance": "", "region": "", "as_of": "2026", "source": "test",
                          "derived": False} for p, pricing, usd in rows], columns=list(GPU_PRICE_COLUMNS))


@pytest.mark.parametrize("pricing", [("on-demand", "reserved-1y"), ("reserved-1y", "on-demand")])
def test_rows_equal_in_every_key_keep_the_order_searched(run, pricing):
    # one deployment at two pricing models with the same price: identical bills, quant and capacity
    prices = _h100(("acme", "on-demand", 2.0), ("acme", "reserved-1y", 2.0))
    space = SearchSpace(gpus=("h100-sxm",), quants=("int4",), tps=(1,), pricing=pricing,
                        redundancy=SEED_SPACE.redundancy)
    df = run(space=space, prices=prices)
    assert df["monthly_total_cost"].iloc[0] == df["monthly_total_cost"].iloc[1]
    assert tuple(df["pricing"]) == pricing


# ---- what cannot work is a row with a reason, never silently dropped ----


def test_tp_above_the_gpus_of_one_node_is_a_reason(run, catalogues):
    assert catalogues.gpus["h100-sxm"].gpus_per_node == 8
    df = run(space=SearchSpace(gpus=("h100-sxm",), quants=("fp8", "int4"), tps=(4, 16),
                               redundancy=SEED_SPACE.redundancy))
    wide = df[df["tp"] == 16]
    assert len(wide) == 2 and not wide["feasible"].any()  # one per quant
    assert (wide["reason"] == "TP=16 needs 16 GPUs in one node and a h100-sxm node holds 8; tensor parallelism "
                              "across nodes is not sized, use TP <= 8").all()
    assert df[df["tp"] == 4]["feasible"].all()


def test_a_plan_asked_only_for_too_wide_a_tp_says_why():
    with pytest.raises(InfeasibleError, match=r"Why: TP=16 needs 16 GPUs in one node and a h100-sxm node holds 8"):
        plan(PlanRequest(gpus=("h100-sxm",), tps=(16,)))


def test_infeasible_reasons_are_grouped_by_limit_and_shown_by_the_nearest_example():
    bad = dict(feasible=False)
    rows = pd.DataFrame([
        # capacity limits (no batch meets the SLOs): grouped by limited_by, shown by the lowest TPOT, then TTFT
        {**bad, "limited_by": "tpot", "batch": 0, "tpot_ms": 80.0, "ttft_s": 1.0, "reason": "tpot A 80 ms"},
        {**bad, "limited_by": "tpot", "batch": 0, "tpot_ms": 60.0, "ttft_s": 3.0, "reason": "tpot B 60 ms"},
        {**bad, "limited_by": "tpot", "batch": 0, "tpot_ms": 60.0, "ttft_s": 2.0, "reason": "tpot C 60 ms"},
        {**bad, "limited_by": "memory", "batch": 0, "tpot_ms": math.nan, "ttft_s": math.nan, "reason": "no room"},
        {**bad, "limited_by": "memory", "batch": 0, "tpot_ms": math.nan, "ttft_s": math.nan, "reason": "no room 2"},
        {**bad, "limited_by": "ttft", "batch": 0, "tpot_ms": 10.0, "ttft_s": 9.0, "reason": "ttft 9 s"},
        # a replica that works but has no price: grouped by its reason text, not by its limited_by
        {**bad, "limited_by": "tpot", "batch": 30, "tpot_ms": 40.0, "ttft_s": 0.5, "reason": "no spot price"},
        {**bad, "reason": "fp8 needs Hopper"},
        {**bad, "reason": "fp8 needs Hopper"},
        {"feasible": True, "reason": "", "limited_by": "tpot", "batch": 8, "tpot_ms": 30.0, "ttft_s": 0.4},
    ])
    # counts: tpot 3, memory 2, "fp8 needs Hopper" 2, ttft 1, "no spot price" 1; equal counts keep the order
    # of their nearest example (lowest TPOT first; rows without one last, in table order)
    assert infeasible_summary(rows) == ("tpot C 60 ms (3x); no room (2x); fp8 needs Hopper (2x); ttft 9 s (1x); "
                                        "no spot price (1x)")
    assert infeasible_summary(rows, limit=2) == "tpot C 60 ms (3x); no room (2x)"
