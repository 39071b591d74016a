"""GPUs are rented in whole instances: the cheapest instance size for a GPU count, and the idle GPUs' own line.

Expected bills are summed by hand from the catalogue (gpu_prices.yaml, tco_defaults.yaml). The items
that do not depend on the GPUs, for the seed workload and 3 hosts (2 replicas + 1 orchestration box):
orchestration 340 + network 180 (6 GB of egress, inside the 100 GB free) + storage 85 + monitoring
3 x 105 = 315 + MLOps 3,200 + eval 600 + security 400 + guardrails 250 + logging 150 = 5,520.
"""

from dataclasses import replace

import pandas as pd
import pytest

from planner import prices as prices_mod
from planner.api import PlanRequest, plan
from planner.plan import make_plan
from planner.prices import GPU_PRICE_COLUMNS
from planner.redundancy import SEED_POLICY
from planner.search import SearchSpace, bill_total, offer_for
from planner.workload import DEFAULT_WORKLOAD
from profiler import catalogue

# 3 hosts (2 replica + 1 orchestration): orchestration 340 + network 180 + storage 85 + monitoring 3 x 105 + MLOps
# 3,200 + eval 600 + security 3 x 100 + logging 150 + upgrades 7.5 engineer-weeks/yr x $192,000 / 52 / 12; the guard
# model is priced on the deployment's GPU (GUARD_H100_SEED), incidents are $0 within the 3 GPUs MLOps covers
UPGRADES = 7.5 * 192_000 / 52 / 12  # $2,307.69
NON_GPU_SEED_3_HOSTS = 340 + 180 + 85 + 3 * 105 + 3200 + 600 + 3 * 100 + 150 + UPGRADES  # $7,727.69
# Llama Guard 3 8B fp8 at the seed's 0.116 req/s peak on an H100: a MIG instance of 1/7 compute (0.004 GPU busy) and
# 2/8 memory slices (8 GB of fp8 weights + activations and reserves exceed one 10 GB slice) = 0.25 GPU, doubled
# for the spare instance (N+1) = half a GPU at the deployment's $/GPU-month
GUARD_H100_SEED = 0.5


def offers(*rows) -> pd.DataFrame:
    """GpuPrices rows (provider, GPUs per instance, $/GPU-h) for h100-sxm, reserved-1y."""
    return pd.DataFrame([{"provider": p, "gpu": "h100-sxm", "pricing": "reserved-1y", "usd_per_gpu_hour": usd,
                          "gpus_per_instance": float(size), "instance": f"{size}x H100", "region": "",
                          "as_of": "2026", "source": "test", "derived": False} for p, size, usd in rows],
                        columns=list(GPU_PRICE_COLUMNS))


# Instances of 1, 2, 4 and 8 GPUs; $/GPU-h exact in binary so that equal bills are equal floats.
SIZES = offers(("one", 1, 0.50), ("two", 2, 0.4375), ("four", 4, 0.375), ("eight", 8, 0.25))


@pytest.mark.parametrize("gpus, provider, billed", [
    # $/h for whole instances of 1 / 2 / 4 / 8 GPUs, the cheapest marked *
    (1, "one", 1),  # 0.50* / 0.875 / 1.50 / 2.00
    (2, "two", 2),  # 1.00 / 0.875* / 1.50 / 2.00
    (3, "four", 4),  # 1.50 / 1.75 / 1.50 / 2.00: a tie at $1.50/h, the lower $/GPU-h (4 GPUs, 1 idle) wins
    (4, "four", 4),  # 2.00 / 1.75 / 1.50* / 2.00
    (5, "eight", 8),  # 2.50 / 2.625 / 3.00 / 2.00*
    (8, "eight", 8),  # 4.00 / 3.50 / 3.00 / 2.00*
    (9, "eight", 16),  # 4.50 / 4.375 / 4.50 / 4.00*: two 8-GPU instances, 7 idle
    (17, "eight", 24),  # 8.50 / 7.875 / 7.50 / 6.00*
])
def test_the_cheapest_instance_size_for_a_gpu_count(gpus, provider, billed):
    best = offer_for(SIZES, "h100-sxm", "reserved-1y", None, gpus, {})
    assert (best["provider"], prices_mod.gpus_billed(gpus, best)) == (provider, billed)


def test_the_search_and_the_price_table_choose_alike():
    memo: dict = {}
    for gpus in range(1, 33):
        a = offer_for(SIZES, "h100-sxm", "reserved-1y", None, gpus, memo)
        b = prices_mod.cheapest_offer(SIZES, "h100-sxm", "reserved-1y", None, gpus)
        assert a["provider"] == b["provider"], gpus


def test_equal_offers_of_one_size_go_to_the_provider_first_by_name():
    table = offers(("zeta", 8, 0.25), ("alpha", 8, 0.25))
    assert offer_for(table, "h100-sxm", "reserved-1y", None, 8, {})["provider"] == "alpha"


def test_a_row_without_an_instance_size_rents_single_gpus():
    row = offers(("x", 1, 1.0)).iloc[0].copy()
    row["gpus_per_instance"] = float("nan")
    assert prices_mod.instance_size(row) == 1 and prices_mod.gpus_billed(3, row) == 3


def test_idle_gpus_of_a_rented_instance_are_billed_on_their_own_line():
    # AWS rents H100s only as p5.48xlarge, 8 GPUs at $6.88/GPU-h on demand (gpu_prices.yaml). 70B int4 on one
    # H100: 1 replica (batch >= 2 at TPOT <= 50 ms serves >= 2 / (201 x 0.05) x 0.8 = 0.16 req/s, above the
    # seed's 0.116 req/s peak) + 1 hot-standby spare = 2 GPUs used, 8 paid for.
    p = plan(PlanRequest(gpus=("h100-sxm",), provider="aws", pricing=("on-demand",), quants=("int4",), tps=(1,)))
    d = p.deployment
    assert d["batch"] >= 2 and (d["replicas"], d["spare_replicas"], d["gpus_total"]) == (1, 1, 2)
    assert (d["instance"], d["gpus_billed"]) == ("p5.48xlarge", 8)
    lines = p.line_items.set_index("id")["monthly_usd"]
    assert lines["gpu_instance_rounding"] == pytest.approx(6 * 6.88 * 730)  # 6 idle GPUs: $30,134.40
    assert lines["gpu_primary"] == pytest.approx(6.88 * 730) and lines["gpu_failover"] == pytest.approx(6.88 * 730)
    # the bill: all 8 GPUs of the instance (8 x 6.88 x 730 = 40,179.20) + $7,727.69 + half a GPU-month of guard
    assert lines["guardrails"] == pytest.approx(GUARD_H100_SEED * 6.88 * 730)
    assert p.monthly_total_cost == pytest.approx((8 + GUARD_H100_SEED) * 6.88 * 730 + NON_GPU_SEED_3_HOSTS)
    idle = p.line_items[p.line_items["id"] == "gpu_instance_rounding"].iloc[0]
    assert idle["item"] == "GPU compute, unused in rented instances" and "2 used, 6 idle" in idle["basis"]


def test_the_fast_bill_counts_the_idle_gpus(catalogues):
    # what the crossover and the cost curve add up for the deployment above
    offer = offer_for(catalogues.gpu_prices, "h100-sxm", "on-demand", "aws", 2, {})
    args = (1, 1, 1, 6.88, DEFAULT_WORKLOAD, catalogues.tco_defaults, False)
    h100 = catalogues.gpus["h100-sxm"]
    assert bill_total(*args, offer, h100) == pytest.approx((8 + GUARD_H100_SEED) * 6.88 * 730 + NON_GPU_SEED_3_HOSTS)
    assert bill_total(*args, None, h100) == pytest.approx(  # no offer: GPUs used only
        (2 + GUARD_H100_SEED) * 6.88 * 730 + NON_GPU_SEED_3_HOSTS)
    assert bill_total(*args) == pytest.approx(2 * 6.88 * 730 + NON_GPU_SEED_3_HOSTS + 250)  # no GPU: the seed's slice


def test_a_plan_rents_the_cheapest_size_and_bills_its_idle_gpu(catalogues):
    # llama-3.1-8b bf16 on one H100: 1 replica at the seed volume (as above) + 2 spares (N+2) = 3 GPUs, which
    # the table above rents as one 4-GPU instance at $0.375/GPU-h with 1 GPU idle.
    space = SearchSpace(gpus=("h100-sxm",), quants=("bf16",), tps=(1,), redundancy=replace(SEED_POLICY, spares=2))
    p = make_plan(catalogue.get_model("llama-3.1-8b"), DEFAULT_WORKLOAD, space, replace(catalogues, gpu_prices=SIZES))
    d = p.deployment
    assert (d["replicas"], d["spare_replicas"], d["provider"], d["gpus_billed"]) == (1, 2, "four", 4)
    gpu_month = 0.375 * 730  # $273.75
    lines = p.line_items.set_index("id")["monthly_usd"]
    assert (lines["gpu_primary"], lines["gpu_failover"], lines["gpu_instance_rounding"]) == pytest.approx(
        (gpu_month, 2 * gpu_month, gpu_month))
    # 4 hosts now (3 replicas + 1 orchestration): monitoring 420 instead of 315, security 400 instead of 300
    assert p.monthly_total_cost == pytest.approx((4 + GUARD_H100_SEED) * gpu_month + NON_GPU_SEED_3_HOSTS + 105 + 100)
