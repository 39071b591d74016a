"""`plan --gpu-prices FILE`: offers rented in whole instances; the cheapest size wins and idle GPUs are billed."""

import pytest

from tests.helpers import cli_json

# One provider per instance size (a provider has one offer per GPU and pricing model); $/GPU-h exact in binary.
SIZES = """
offers:
  - {provider: acme-1x, gpu: h100-sxm, pricing: reserved-1y, usd_per_gpu_hour: 0.50, gpus_per_instance: 1,
     as_of: 2026, source: quote}
  - {provider: acme-2x, gpu: h100-sxm, pricing: reserved-1y, usd_per_gpu_hour: 0.4375, gpus_per_instance: 2,
     as_of: 2026, source: quote}
  - {provider: acme-4x, gpu: h100-sxm, pricing: reserved-1y, usd_per_gpu_hour: 0.375, gpus_per_instance: 4,
     as_of: 2026, source: quote}
  - {provider: acme-8x, gpu: h100-sxm, pricing: reserved-1y, usd_per_gpu_hour: 0.25, gpus_per_instance: 8,
     as_of: 2026, source: quote}
"""


def test_three_gpus_rent_one_four_gpu_instance_and_pay_for_the_idle_one(write_file):
    prices = write_file("acme.yaml", SIZES)
    # llama-3.1-8b bf16 on one H100: 1 replica at the seed volume + 2 spares (N+2) = 3 GPUs. Whole instances:
    # 3 x 0.50 = 1.50, 2 x 2 x 0.4375 = 1.75, 4 x 0.375 = 1.50, 8 x 0.25 = 2.00 $/h; the catalogue's H100s
    # (>= $2.80/GPU-h) cost more. 1.50 ties: the lower $/GPU-h, the 4-GPU instance, wins, with 1 GPU idle.
    d = cli_json("plan", "llama-3.1-8b", "--gpu", "h100-sxm", "--quant", "bf16", "--tp", "1", "--spares", "2",
                 "--gpu-prices", prices)
    assert (d["replicas"], d["spare_replicas"], d["gpus_total"]) == (1, 2, 3)
    assert (d["provider"], d["usd_per_gpu_hour"], d["gpus_billed"]) == ("acme-4x", 0.375, 4)
    lines = {li["name"]: li["monthly_cost"] for li in d["line_items"]}
    gpu_month = 0.375 * 730  # $273.75
    assert lines["GPU compute, unused in rented instances"] == pytest.approx(gpu_month)
    assert lines["GPU compute, primary"] == pytest.approx(gpu_month)
    assert lines["GPU compute, failover"] == pytest.approx(2 * gpu_month)
    # 4 GPUs (1,095) + orchestration 340 + network 180 + storage 85 + monitoring (3 replicas + 1 box) x 105 = 420
    # + MLOps 3,200 + eval 600 + security 4 hosts x 100 + logging 150 + upgrades 7.5 engineer-weeks/yr x $192,000
    # / 52 / 12 + the guard model on half an H100 at this rate (planner.guard; incidents $0 at 3 GPUs)
    assert d["monthly_total_cost"] == pytest.approx(4.5 * gpu_month + 340 + 180 + 85 + 420 + 3200 + 600 + 400 + 150
                                                    + 7.5 * 192_000 / 52 / 12)  # $8,914.57


def test_without_instance_rounding_no_idle_line_appears(write_file):
    prices = write_file("acme.yaml", SIZES)
    # one spare only: 2 GPUs, the 2-GPU instance (2 x 0.4375 = 0.875 $/h) fits them exactly
    d = cli_json("plan", "llama-3.1-8b", "--gpu", "h100-sxm", "--quant", "bf16", "--tp", "1", "--gpu-prices", prices)
    assert (d["gpus_total"], d["provider"], d["gpus_billed"]) == (2, "acme-2x", 2)
    assert "GPU compute, unused in rented instances" not in {li["name"] for li in d["line_items"]}
