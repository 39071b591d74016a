"""`plan --region`: offers from one region only; without it the deployment names its offer's region and date."""

import pytest

from tests.helpers import cli_error, cli_json

# A one-GPU, one-quant search keeps these fast; llama-3.1-8b bf16 fits one H100 at the seed volume.
SMALL = ("plan", "llama-3.1-8b", "--gpu", "h100-sxm", "--quant", "bf16", "--tp", "1")


def _chosen(d: dict) -> dict:
    """The chosen deployment's Candidates row (the first alternative: cheapest feasible first), which carries the
    offer's region and as_of; the top level carries provider and price."""
    row = d["alternatives"][0]
    assert (row["provider"], row["usd_per_gpu_hour"]) == (d["provider"], d["usd_per_gpu_hour"])
    return row


def test_without_region_the_deployment_carries_the_offers_region_and_date():
    d = _chosen(cli_json(*SMALL))
    # the cheapest 1-year H100 anywhere is the India 12-month offer: the plan must say where and when
    assert (d["provider"], d["region"], d["as_of"], d["usd_per_gpu_hour"]) == ("neysa", "india", "2026-05", 2.80)


def test_region_us_prices_a_us_offer():
    d = _chosen(cli_json(*SMALL, "--region", "us"))
    # 3 GPUs (1 replica + 2 spares, N+2): GCP a3-highgpu-1g 1-yr CUD 3 x $7.67 = $23.01/h beats one AWS
    # p5.48xlarge (8 GPUs) at 8 x 6.88 x (1 - 0.41) = $32.47/h
    assert (d["provider"], d["region"], d["as_of"], d["usd_per_gpu_hour"]) == ("gcp", "us-central1", "2025-03-17",
                                                                               7.67)


def test_region_india_and_a_region_prefix():
    assert cli_json(*SMALL, "--region", "India")["provider"] == "neysa"
    assert _chosen(cli_json(*SMALL, "--region", "us-east"))["region"] == "us-east-1"


def test_unknown_region_is_one_line_naming_the_regions():
    out = cli_error(*SMALL, "--region", "mars")
    assert "no GPU offer in region 'mars'" in out and "india" in out and "us-east-1" in out


def test_buying_is_priced_in_the_us_only():
    out = cli_error(*SMALL, "--pricing", "buy", "--region", "india")
    assert "no buy offer in region 'india'; it has on-demand, reserved-1y, reserved-3y" in out
    d = _chosen(cli_json(*SMALL, "--pricing", "buy", "--region", "us"))
    assert (d["provider"], d["region"]) == ("self-owned", "us")
    assert d["usd_per_gpu_hour"] == pytest.approx(3.4134, abs=5e-4)  # was $1.59 before issue 11 item 8
    assert d["capex_usd"] == pytest.approx(d["gpus_billed"] * 63_271.60, abs=0.1)  # chip + server + network


def test_a_dedicated_quote_is_compared_under_residency(write_file):
    # issue 11 item 4: a provisioned-capacity quote the catalogue lacks (no published price) comes in as a file; at
    # $1.00 per H100-hour it undercuts Together's $3.99 and becomes the reference: 2 GPUs (the plan's) x 730 h
    quote = write_file("quote.yaml", """
        offers:
          - {provider: acme, offer: private endpoint, unit: gpu-hour, gpu: h100-sxm, usd_per_unit_hour: 1.0,
             min_units: 1, region: eu-west-1, as_of: 2026-11-30, source: "our quote"}
    """)
    d = cli_json("plan", "--residency", "--dedicated-prices", quote)
    assert d["crossover_reference_api"] == "acme / private endpoint h100-sxm"
    assert any("$1,460/month" in r for r in d["verdict_reasons"])
    bad = write_file("bad.yaml", "offers:\n  - {provider: acme, offer: x, unit: gpu-hour, usd_per_unit_hour: 1}\n")
    assert "bad.yaml" in cli_error("plan", "--residency", "--dedicated-prices", bad)
