"""Price catalogues: every row sourced and dated, derived reserved rows, lookups, overrides, buy vs rent."""

import datetime as dt
from pathlib import Path

import pytest
import yaml

from planner.buy import buy_monthly_cost_per_gpu, buy_offers, load_purchase
from planner.errors import NoOfferError, PlannerError
from planner.prices import (
    GPU_PRICE_COLUMNS,
    PRICING_MODELS,
    as_of_date,
    cheapest_offer,
    filter_region,
    gpu_hour_price,
    has_tag,
    load_api_prices,
    load_gpu_prices,
    offer_warnings,
    region_matches,
    stale_offer,
)
from profiler.errors import CatalogueError

GPUS_YAML = Path(__file__).resolve().parents[2] / "profiler" / "catalogues" / "gpus.yaml"
BRIEF_GPUS = {"h100-sxm", "h100-pcie", "h200", "b200", "a100-80gb", "a100-40gb", "l40s", "l4", "a10g", "rtx-4090",
              "mi300x"}


@pytest.fixture(scope="module")
def gpu_prices():
    return load_gpu_prices()


@pytest.fixture(scope="module")
def api_prices():
    return load_api_prices()


def test_every_gpu_row_is_sourced_dated_and_known(gpu_prices):
    assert list(gpu_prices.columns) == list(GPU_PRICE_COLUMNS)
    assert (gpu_prices["source"].str.len() > 5).all()
    assert gpu_prices["as_of"].str.match(r"^\d{4}(-\d{2}(-\d{2})?)?$").all()
    assert gpu_prices["pricing"].isin(PRICING_MODELS).all()
    assert (gpu_prices["usd_per_gpu_hour"] > 0).all()
    assert not gpu_prices.duplicated(["provider", "gpu", "pricing"]).any()
    catalogue_ids = set(yaml.safe_load(GPUS_YAML.read_text())["gpus"])
    assert set(gpu_prices["gpu"]) <= catalogue_ids
    assert set(gpu_prices["gpu"]) == BRIEF_GPUS
    assert {"aws", "gcp", "azure", "lambda", "coreweave", "runpod", "nebius", "crusoe", "together"} <= set(
        gpu_prices["provider"])
    assert set(gpu_prices["pricing"]) == set(PRICING_MODELS)


def test_derived_reserved_rows_follow_the_epoch_discounts(gpu_prices):
    def price(provider, gpu, pricing):
        row = gpu_prices[(gpu_prices.provider == provider) & (gpu_prices.gpu == gpu) & (gpu_prices.pricing == pricing)]
        assert len(row) == 1, (provider, gpu, pricing)
        return row.iloc[0]

    one, three = price("aws", "h100-sxm", "reserved-1y"), price("aws", "h100-sxm", "reserved-3y")
    assert one["usd_per_gpu_hour"] == pytest.approx(6.88 * (1 - 0.41))
    assert three["usd_per_gpu_hour"] == pytest.approx(6.88 * (1 - 0.64))
    assert one["derived"] and "x (1 - 0.41)" in one["source"] and one["as_of"] == "2026-03"
    assert price("azure", "h100-sxm", "reserved-3y")["usd_per_gpu_hour"] == pytest.approx(12.29 * (1 - 0.49))
    published = price("gcp", "h100-sxm", "reserved-1y")
    assert published["usd_per_gpu_hour"] == 7.67 and not published["derived"]
    derived = gpu_prices[gpu_prices["derived"]]
    assert set(derived["pricing"]) == {"reserved-1y", "reserved-3y"}
    assert derived["source"].str.startswith("derived:").all()


def test_gpu_hour_price_cheapest_and_by_provider(gpu_prices):
    sub = gpu_prices[(gpu_prices.gpu == "h100-sxm") & (gpu_prices.pricing == "on-demand")]
    usd, row = gpu_hour_price(gpu_prices, "h100-sxm", "on-demand")
    assert usd == sub["usd_per_gpu_hour"].min()
    assert row["provider"] == sub.loc[sub.usd_per_gpu_hour.idxmin(), "provider"]
    usd, row = gpu_hour_price(gpu_prices, "h100-sxm", "on-demand", provider="aws")
    assert (usd, row["provider"]) == (6.88, "aws")


def test_gpu_hour_price_errors_list_what_exists(gpu_prices):
    with pytest.raises(NoOfferError, match="no price for GPU 'h800'.*h100-sxm"):
        gpu_hour_price(gpu_prices, "h800", "on-demand")
    with pytest.raises(NoOfferError, match=r"no reserved-1y price for 'rtx-4090'\. It has: on-demand \("):
        gpu_hour_price(gpu_prices, "rtx-4090", "reserved-1y")
    with pytest.raises(NoOfferError, match="'lambda' has no spot offer.*coreweave"):
        gpu_hour_price(gpu_prices, "h100-sxm", "spot", provider="lambda")
    assert issubclass(NoOfferError, PlannerError)


def test_user_override_replaces_by_key_and_rederives(write_file):
    extra = write_file("my_prices.yaml", """
        offers:
          - {provider: aws, gpu: h100-sxm, pricing: on-demand, usd_per_gpu_hour: 5.00, as_of: 2026-11, source: my quote}
          - {provider: acme, gpu: l4, pricing: spot, usd_per_gpu_hour: 0.2, as_of: 2026-11-01, source: broker}
    """)
    df = load_gpu_prices(extra)
    aws = df[(df.provider == "aws") & (df.gpu == "h100-sxm")].set_index("pricing")["usd_per_gpu_hour"]
    assert aws["on-demand"] == 5.0 and aws["reserved-1y"] == pytest.approx(5.0 * 0.59)
    usd, row = gpu_hour_price(df, "l4", "spot")
    assert (usd, row["provider"]) == (0.2, "acme")
    assert len(df) == len(load_gpu_prices()) + 1


@pytest.mark.parametrize("line, match", [
    ("  - {provider: x, gpu: l4, pricing: monthly, usd_per_gpu_hour: 1, as_of: 2026, source: s}",
     r"bad\.yaml:2, entry 'x/l4/monthly', field 'pricing'.*on-demand, reserved-1y"),
    ("  - {provider: x, gpu: l4, pricing: spot, usd_per_gpu_hour: -1, as_of: 2026, source: s}",
     r"bad\.yaml:2.*field 'usd_per_gpu_hour'.*>= 0"),
    ("  - {provider: x, gpu: l4, pricing: spot, usd_per_gpu_hour: 1, source: s}", r"field 'as_of'.*missing"),
    ("  - {provider: x, gpu: l4, pricing: spot, usd_per_gpu_hour: 1, as_of: last week, source: s}",
     r"field 'as_of'.*YYYY"),
    ("  - {provider: x, gpu: l4, pricing: spot, usd_per_gpu_hour: 1, as_of: 2026, source: s, colour: red}",
     r"field 'colour'.*unknown field"),
])
def test_bad_override_rows(write_file, line, match):
    path = write_file("bad.yaml", "offers:\n" + line + "\n")
    with pytest.raises(CatalogueError, match=match):
        load_gpu_prices(path)


def test_api_rows_sourced_and_seed_rows_present(api_prices):
    assert (api_prices["source"].str.len() > 2).all()
    assert api_prices["as_of"].str.match(r"^(\d{4}-\d{2}-\d{2}|undated)$").all()
    seed = api_prices[has_tag(api_prices, "seed")].set_index("model")
    expected = {"claude-3-5-sonnet-20241022": (3, 15), "gpt-4o": (2.5, 10), "claude-opus-4-1-20250805": (15, 75),
                "gemini-2.5-flash@seed": (0.15, 0.60), "Llama-3.3-70B-Instruct-Turbo@seed": (0.90, 0.90),
                "llama-3.3-70b-versatile": (0.59, 0.79)}
    assert set(seed.index) == set(expected)
    for model, (p_in, p_out) in expected.items():
        assert (seed.loc[model, "usd_per_mtok_in"], seed.loc[model, "usd_per_mtok_out"]) == (p_in, p_out)
    assert not api_prices.duplicated(["provider", "model"]).any()


def test_api_catalogue_covers_frontier_and_hosted_open(api_prices):
    models = set(api_prices["model"])
    for m in ("claude-sonnet-4-5-20250929", "claude-opus-4-5", "gpt-5", "gpt-5.1", "gpt-4.1", "gemini-2.5-pro",
              "gemini-2.5-flash", "o3"):
        assert m in models, m
    llama = api_prices[api_prices["serves"] == "llama-3.3-70b"]
    assert {"together", "fireworks", "deepinfra", "nebius", "groq", "cerebras"} <= set(llama["provider"])
    assert llama["open_weight"].all()
    assert len(api_prices[api_prices["serves"] == "deepseek-v3"]) >= 3
    flash = api_prices[api_prices.model == "gemini-2.5-flash"].iloc[0]
    assert (flash.usd_per_mtok_in, flash.usd_per_mtok_out) == (0.30, 2.50)  # current, not the seed's preview price


def test_api_override(write_file):
    path = write_file("api.yaml", """
        models:
          - {provider: openai, model: gpt-4o, usd_per_mtok_in: 2.0, usd_per_mtok_out: 8.0, as_of: 2026-12-01,
             source: negotiated}
          - {provider: acme, model: acme-70b, usd_per_mtok_in: 0.1, usd_per_mtok_out: 0.1, as_of: 2026-12-01,
             source: quote, open_weight: true, serves: llama-3.3-70b, tags: [hosted-open]}
    """)
    df = load_api_prices(path)
    row = df[(df.provider == "openai") & (df.model == "gpt-4o")].iloc[0]
    assert (row.usd_per_mtok_in, row.source) == (2.0, "negotiated")
    assert df.iloc[-1]["serves"] == "llama-3.3-70b" and len(df) == len(load_api_prices()) + 1
    bad = write_file("api_bad.yaml", "models:\n  - {provider: a, model: b, usd_per_mtok_in: cheap}\n")
    with pytest.raises(CatalogueError, match=r"api_bad\.yaml:2, entry 'a/b', field 'usd_per_mtok_in'"):
        load_api_prices(bad)


def test_a_price_update_keeps_the_rows_tags(write_file):
    path = write_file("a.yaml", """
        models:
          - {provider: openai, model: gpt-4o, usd_per_mtok_in: 2.0, usd_per_mtok_out: 8.0, as_of: 2026-12-01,
             source: my quote}
    """)
    df = load_api_prices(path)
    row = df[(df["provider"] == "openai") & (df["model"] == "gpt-4o")]
    assert float(row["usd_per_mtok_in"].iloc[0]) == 2.0 and row["source"].iloc[0] == "my quote"
    assert has_tag(row, "seed").all()  # the catalogue row's tags survive an update that does not set them


def test_buy_cost_follows_the_epoch_method():
    """Epoch's power and colocation terms; the capital terms are checked by hand in test_buy_capex.py."""
    params, table = load_purchase()
    assert params.amortisation_years == 4 and params.pue == 1.25
    c = buy_monthly_cost_per_gpu(31_250, 700, params)
    server_kw = 10.2 / 8  # a DGX H100's 10.2 kW over 8 GPUs
    assert (c.chip, c.server) == (31_250, pytest.approx(31_250 * 0.64))
    assert c.energy == pytest.approx(server_kw * 0.75 * 1.25 * 0.0826 * 730)
    assert c.hosting == pytest.approx(server_kw * 184.06)
    assert c.usd_per_gpu_hour == pytest.approx((c.capital + c.support + c.energy + c.hosting) / 730)
    assert (table["source"].str.len() > 5).all() and table["as_of"].str.len().ge(4).all()
    offers = buy_offers({"h100-sxm": 700, "b200": 1000})
    assert set(offers["gpu"]) == {"h100-sxm", "b200"} and (offers["pricing"] == "buy").all()
    b200 = offers[offers.gpu == "b200"].iloc[0]  # a DGX price: server included, factor 1.0
    assert b200["monthly_energy_usd"] + b200["monthly_hosting_usd"] == pytest.approx(
        1.275 * 1000 / 700 * (0.75 * 1.25 * 0.0826 * 730 + 184.06))


# ---- regions and price dates (issue 11 item 6) ----


def test_every_offer_row_names_its_region(gpu_prices):
    assert gpu_prices["region"].fillna("").str.strip().ne("").all()
    region = gpu_prices.set_index(["provider", "gpu", "pricing"])["region"]
    assert region[("neysa", "h100-sxm", "reserved-1y")] == "india"
    assert region[("aws", "h100-sxm", "reserved-1y")] == "us-east-1"  # a derived row keeps its base's region
    assert region[("lambda", "h100-sxm", "on-demand")] == "unknown"  # the source does not say
    assert region[("coreweave", "h100-sxm", "spot")] == "north-america"
    assert set(buy_offers({"h100-sxm": 700})["region"]) == {"us"}


@pytest.mark.parametrize("region, query, expected", [
    ("us-east-1", "us", True), ("us-central1", "us", True), ("eastus (us)", "us", True), ("india", "us", False),
    ("us-east-1", "us-east", True), ("us-east-2", "us-east-1", False), ("eastus (us)", "eastus", True),
    ("India", "india", True), ("unknown", "us", False), ("", "unknown", True), ("north-america", "north", True),
    ("australia-east", "us", False), ("us-east-1", "", False),
])
def test_region_matches_a_name_or_its_start(region, query, expected):
    assert region_matches(region, query) is expected


def test_cheapest_offer_within_a_region(gpu_prices):
    # every region: the India 12-month offer is the cheapest 1-year H100 (and says so)
    anywhere = cheapest_offer(gpu_prices, "h100-sxm", "reserved-1y", None, 8)
    assert (anywhere["provider"], anywhere["region"], anywhere["usd_per_gpu_hour"]) == ("neysa", "india", 2.80)
    # US only: 8 GPUs are one AWS p5.48xlarge at 6.88 x (1 - 0.41) = $4.0592 < GCP's $7.67
    us = cheapest_offer(gpu_prices, "h100-sxm", "reserved-1y", None, 8, region="us")
    assert (us["provider"], us["region"]) == ("aws", "us-east-1")
    assert us["usd_per_gpu_hour"] == pytest.approx(4.0592)
    one = cheapest_offer(gpu_prices, "h100-sxm", "reserved-1y", None, 1, region="us")
    assert (one["provider"], one["usd_per_gpu_hour"]) == ("gcp", 7.67)  # 1 GPU: 7.67 < 8 x 4.06 for a p5
    assert gpu_hour_price(gpu_prices, "h100-sxm", "reserved-1y", region="eastus")[0] == pytest.approx(12.29 * 0.75)
    with pytest.raises(NoOfferError, match=r"in region 'mars'\. Offers elsewhere: aws \(us-east-1\), .*neysa "
                                           r"\(india\)"):
        cheapest_offer(gpu_prices, "h100-sxm", "reserved-1y", None, 1, region="mars")
    assert len(filter_region(gpu_prices, "india")) == 9 and filter_region(gpu_prices, None) is gpu_prices
    with pytest.raises(NoOfferError, match="regions with offers: .*india.*us-east-1"):
        filter_region(gpu_prices, "atlantis")
    with pytest.raises(NoOfferError, match="no spot offer in region 'india'; it has on-demand, reserved-1y, "
                                           "reserved-3y"):
        filter_region(gpu_prices, "india", ("spot",))


def test_stale_offer_warns_past_90_days(gpu_prices):
    today = dt.date(2026, 12, 2)
    neysa = gpu_prices[(gpu_prices.provider == "neysa") & (gpu_prices.gpu == "h100-sxm")
                       & (gpu_prices.pricing == "reserved-1y")].iloc[0]
    assert stale_offer(neysa, today) == (
        "neysa h100-sxm reserved-1y: price as of 2026-05 is 215 days old on 2026-12-02 (more than 90); check it "
        "against the provider's page or pass a fresh one with --gpu-prices")
    row = {"provider": "x", "gpu": "h100-sxm", "pricing": "on-demand"}
    assert stale_offer({**row, "as_of": "2026-09-03"}, today) is None  # 90 days: still fresh
    assert "91 days old" in stale_offer({**row, "as_of": "2026-09-02"}, today)
    assert "335 days old" in stale_offer({**row, "as_of": "2026"}, today)  # a year counts from its first day
    assert "has no date" in stale_offer({**row, "as_of": "undated"}, today)
    assert as_of_date("2026-05") == dt.date(2026, 5, 1) and as_of_date(dt.date(2026, 1, 2)) == dt.date(2026, 1, 2)


def test_offer_warnings_say_where_and_how_old(gpu_prices):
    today = dt.date(2026, 12, 2)
    key = gpu_prices.set_index(["provider", "gpu", "pricing"])
    neysa = {**key.loc[("neysa", "h100-sxm", "reserved-1y")].to_dict(), "provider": "neysa", "gpu": "h100-sxm",
             "pricing": "reserved-1y"}
    where, stale = offer_warnings(neysa, today)
    assert where.startswith("the reserved-1y price is neysa's offer in india, the cheapest in any region")
    assert "215 days old" in stale
    assert offer_warnings(neysa, today, requested_region="india") == (stale,)  # asked for: no region note
    fresh_us = {"provider": "aws", "gpu": "h100-sxm", "pricing": "on-demand", "region": "us-east-1",
                "as_of": "2026-11-20"}
    assert offer_warnings(fresh_us, today) == ()
    lambda_row = {"provider": "lambda", "gpu": "h100-sxm", "pricing": "on-demand", "region": "unknown",
                  "as_of": "2026-09-25"}
    assert "in a region its source does not state" in offer_warnings(lambda_row, today)[0]
