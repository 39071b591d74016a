"""Dated price tables: GPU rental offers and LLM APIs (buying: planner.buy; the row reader: planner.price_rows).

Catalogues live in ``planner/catalogues/{gpu_prices,api_prices}.yaml``; every row has ``as_of`` and
``source``. A user YAML in the same layout (``extra=``) replaces rows with the same key and adds the rest.

GpuPrices DataFrame (:func:`load_gpu_prices`), key ``(provider, gpu, pricing)``:

    provider            str    e.g. aws, lambda, runpod-community
    gpu                 str    profiler GPU id (h100-sxm, a100-80gb, ...)
    pricing             str    on-demand | reserved-1y | reserved-3y | spot (| buy, see buy_offers)
    usd_per_gpu_hour    float  instance price / GPUs in the instance [USD per GPU-hour]
    gpus_per_instance   float  rental granularity; NaN where the source does not say
    instance            str    "" where not given
    region              str    where the offer is sold (us-east-1, india, ...); "unknown" where the source
                               does not say (never blank: a plan shows where its price comes from)
    as_of               str    YYYY, YYYY-MM or YYYY-MM-DD of the source (:func:`stale_offer` flags old ones)
    source              str    where the number comes from (the formula, for derived rows)
    derived             bool   computed, not published (reserved = on-demand x (1 - discount))

Rows of :func:`planner.buy.buy_offers` (pricing ``buy``, region ``us``) add the per-GPU ``CAPEX_COLUMNS``: upfront
``capex_{chip,server,network}_usd`` and ``residual_usd`` [USD], and ``monthly_{capital,support,energy,hosting}_usd``
[USD/month]; :func:`planner.buy.capex_breakdown` reads them as a record.

ApiPrices DataFrame (:func:`load_api_prices`), key ``(provider, model)``:

    provider, model                      str
    usd_per_mtok_in, usd_per_mtok_out    float  [USD per 1M tokens]
    usd_per_mtok_cached_in               float  NaN = no cached-input discount known
    as_of, source                        str    (as_of may be "undated" for the seed's quotes)
    open_weight                          bool
    tags                                 str    comma-separated (seed, stale, frontier, hosted-open, ...)
    serves                               str    catalogue model id hosted ("" = not an open-weight we catalogue)
    tier                                 str    quality tier (TIERS); open-weight rows inherit their model's
                                                from the ``model_tiers:`` section
    superseded_by                        str    the vendor's newer model (same provider) that replaces this row
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from planner.errors import NoOfferError, PlannerError
from planner.price_rows import (
    AS_OF,
    PathArg,
    as_of,
    close_hint,
    flag,
    gpu_id,
    merge_rows,
    opt_count,
    opt_price,
    opt_text,
    price,
    read_docs,
    read_rows,
    serves,
    text,
)
from planner.units import YamlDoc

CATALOGUE_DIR = Path(__file__).resolve().parent / "catalogues"
GPU_PRICES_FILE = CATALOGUE_DIR / "gpu_prices.yaml"
API_PRICES_FILE = CATALOGUE_DIR / "api_prices.yaml"
PRICING_MODELS = ("on-demand", "reserved-1y", "reserved-3y", "spot")
RESERVED = ("reserved-1y", "reserved-3y")
GPU_PRICE_COLUMNS = ("provider", "gpu", "pricing", "usd_per_gpu_hour", "gpus_per_instance", "instance", "region",
                     "as_of", "source", "derived")
API_PRICE_COLUMNS = ("provider", "model", "usd_per_mtok_in", "usd_per_mtok_out", "usd_per_mtok_cached_in", "as_of",
                     "source", "open_weight", "tags", "serves", "tier", "superseded_by", "quant", "batch_multiplier",
                     "priority_multiplier")




def _pricing(v: Any, f: str) -> str:
    if v not in PRICING_MODELS:
        raise ValueError(f"expected one of {', '.join(PRICING_MODELS)}, got {v!r}")
    return v


# The tags api_prices.yaml documents (its header says what each means).
KNOWN_TAGS = ("seed", "stale", "retired", "frontier", "hosted-open", "dedicated-option")
# Quality tiers, smallest first (api_prices.yaml header: the rule that places models and APIs in them).
TIERS = ("tiny", "small", "medium", "large", "frontier")


def _tier(v: Any, f: str) -> str:
    if v is None:
        return ""
    if v not in TIERS:
        raise ValueError(f"unknown tier {v!r}{close_hint(str(v), TIERS)} (tiers: {', '.join(TIERS)})")
    return v


def _tags(v: Any, f: str) -> str:
    if v is None:
        return ""
    if not isinstance(v, list) or not all(isinstance(t, str) for t in v):
        raise ValueError(f"expected a list of tags such as [frontier, dedicated-option], got {v!r}")
    for t in v:
        if t not in KNOWN_TAGS:
            raise ValueError(f"unknown tag '{t}'{close_hint(t, KNOWN_TAGS)} (tags: {', '.join(KNOWN_TAGS)})")
    return ",".join(v)


_GPU_FIELDS = {"provider": (text, True), "gpu": (gpu_id, True), "pricing": (_pricing, True),
               "usd_per_gpu_hour": (price, True), "gpus_per_instance": (opt_count, False),
               "instance": (opt_text, False), "region": (opt_text, False), "as_of": (as_of, True),
               "source": (text, True), "derived": (flag, False)}
_API_FIELDS = {"provider": (text, True), "model": (text, True), "usd_per_mtok_in": (price, True),
               "usd_per_mtok_out": (price, True), "usd_per_mtok_cached_in": (opt_price, False),
               "as_of": (as_of, True), "source": (text, True), "open_weight": (flag, False),
               "tags": (_tags, False), "serves": (serves, False), "tier": (_tier, False),
               "superseded_by": (opt_text, False), "quant": (opt_text, False),
               "batch_multiplier": (opt_price, False), "priority_multiplier": (opt_price, False)}


def _discounts(docs: list[YamlDoc]) -> dict[str, dict]:
    out: dict[str, dict] = {}
    for d in docs:
        for provider, terms in ((d.data or {}).get("discounts") or {}).items():
            if not isinstance(terms, Mapping) or not isinstance(terms.get("source"), str):
                raise d.error("a discount entry needs reserved-1y / reserved-3y fractions and a source",
                              "discounts", provider, entry=str(provider))
            for term in RESERVED:
                f = terms.get(term)
                if f is not None and (isinstance(f, bool) or not isinstance(f, (int, float)) or not 0 <= f < 1):
                    raise d.error(f"discount must be a fraction in [0, 1), got {f!r}", "discounts", provider, term,
                                  entry=str(provider), field=term)
            out[str(provider)] = dict(terms)
    return out


def _derived_rows(docs: list[YamlDoc], offers: list[dict]) -> list[dict]:
    """Reserved rows computed as on-demand x (1 - discount) where no published row exists."""
    discounts = _discounts(docs)
    have = {(r["provider"], r["gpu"], r["pricing"]): r for r in offers}
    out = []
    for d in docs:
        for i, spec in enumerate((d.data or {}).get("derived_reserved") or []):
            provider, gpus = spec.get("provider"), spec.get("gpus")
            if provider not in discounts or not isinstance(gpus, list):
                raise d.error(f"needs a provider with a 'discounts' entry (have: {', '.join(discounts)}) and a "
                              "list of gpus", "derived_reserved", i, entry=str(provider))
            for gpu in gpus:
                base = have.get((provider, gpu, "on-demand"))
                if base is None:
                    raise d.error(f"no on-demand {provider} offer for '{gpu}' to derive reserved prices from",
                                  "derived_reserved", i, entry=f"{provider}/{gpu}")
                for term in RESERVED:
                    f = discounts[provider].get(term)
                    if f is None or (provider, gpu, term) in have:
                        continue
                    usd = base["usd_per_gpu_hour"] * (1 - f)
                    src = (f"derived: on-demand ${base['usd_per_gpu_hour']:g} x (1 - {f:g}) = ${usd:.4f}; "
                           f"discount: {discounts[provider]['source']}; on-demand: {base['source']}")
                    out.append({**base, "pricing": term, "usd_per_gpu_hour": usd, "source": src, "derived": True})
    return out


def load_gpu_prices(extra: PathArg = None) -> pd.DataFrame:
    """The GpuPrices table (module docstring), catalogue first, then each `extra` YAML over it."""
    docs = read_docs(GPU_PRICES_FILE, extra)
    key = ("provider", "gpu", "pricing")
    offers = merge_rows([r for d in docs for r in read_rows(d, "offers", _GPU_FIELDS, key)], key)
    rows = offers + _derived_rows(docs, offers)
    df = pd.DataFrame(rows, columns=list(GPU_PRICE_COLUMNS))
    df["region"] = df["region"].where(df["region"].fillna("").str.strip() != "", UNKNOWN_REGION)
    return df


def gpu_hour_price(prices: pd.DataFrame, gpu: str, pricing: str,
                   provider: str | None = None, region: str | None = None) -> tuple[float, pd.Series]:
    """$/GPU-hour for `gpu` under `pricing` (cheapest provider unless `provider`; only offers in `region`
    when given, see :func:`region_matches`), and its row.

    Raises NoOfferError listing what does exist for that GPU.
    """
    row = _offers(prices, gpu, pricing, provider, region).sort_values(["usd_per_gpu_hour", "provider"]).iloc[0]
    return float(row["usd_per_gpu_hour"]), row


def instance_size(offer: pd.Series) -> int:
    """GPUs one rents at a time under an offer (``gpus_per_instance``; 1 where the row does not say)."""
    n = offer.get("gpus_per_instance")
    return 1 if n is None or pd.isna(n) or n < 1 else int(n)


def gpus_billed(gpus: int, offer: pd.Series) -> int:
    """GPUs paid for when `gpus` are needed: whole instances, ``ceil(gpus / gpus_per_instance) x size``."""
    size = instance_size(offer)
    return math.ceil(gpus / size) * size


def cheapest_offer(prices: pd.DataFrame, gpu: str, pricing: str, provider: str | None, gpus: int,
                   region: str | None = None) -> pd.Series:
    """The offer that rents `gpus` GPUs most cheaply in whole instances (an 8-GPU-only instance at a lower
    $/GPU-h can lose to single-GPU instances for 2 GPUs). Ties: lower $/GPU-h, then provider name.
    `region`: only offers sold there (:func:`region_matches`); None: every region (the row says which)."""
    sel = _offers(prices, gpu, pricing, provider, region)
    billed = sel.apply(lambda r: gpus_billed(gpus, r), axis=1)
    sel = sel.assign(_cost=billed * sel["usd_per_gpu_hour"])
    return sel.sort_values(["_cost", "usd_per_gpu_hour", "provider"]).iloc[0].drop("_cost")


def cheapest_offers_by_size(prices: pd.DataFrame, gpu: str, pricing: str, provider: str | None,
                            region: str | None = None) -> list[pd.Series]:
    """For each instance size on offer, its cheapest offer ($/GPU-h, then provider): all
    :func:`cheapest_offer` needs to choose for any GPU count."""
    sel = _offers(prices, gpu, pricing, provider, region)
    sel = sel.assign(_size=[instance_size(r) for _, r in sel.iterrows()])
    best = sel.sort_values(["usd_per_gpu_hour", "provider"]).drop_duplicates("_size")
    return [r.drop("_size") for _, r in best.iterrows()]


def _offers(prices: pd.DataFrame, gpu: str, pricing: str, provider: str | None,
            region: str | None = None) -> pd.DataFrame:
    sel = prices[prices["gpu"] == gpu]
    if sel.empty:
        raise NoOfferError(f"no price for GPU '{gpu}'. GPUs with prices: {', '.join(sorted(prices['gpu'].unique()))}; "
                           "add an offer with --prices FILE")
    by_pricing = sel[sel["pricing"] == pricing]
    if by_pricing.empty:
        have = ", ".join(f"{p} ({', '.join(sorted(g['provider']))})" for p, g in sel.groupby("pricing"))
        raise NoOfferError(f"no {pricing} price for '{gpu}'. It has: {have}")
    if provider is not None:
        by_provider = by_pricing[by_pricing["provider"] == provider]
        if by_provider.empty:
            raise NoOfferError(f"'{provider}' has no {pricing} offer for '{gpu}'. Providers that do: "
                               f"{', '.join(sorted(by_pricing['provider']))}")
        by_pricing = by_provider
    if region is not None:
        in_region = by_pricing[[region_matches(r, region) for r in by_pricing["region"]]]
        if in_region.empty:
            have = ", ".join(f"{p} ({r})" for p, r in sorted(zip(by_pricing["provider"], by_pricing["region"],
                                                                             strict=True)))
            raise NoOfferError(f"no {pricing} offer for '{gpu}' in region '{region}'. Offers elsewhere: {have}; "
                               "name one of those regions with --region, or drop --region")
        by_pricing = in_region
    return by_pricing


# ------------------------------------------------------------------------------------------
# Regions and price dates
# ------------------------------------------------------------------------------------------

UNKNOWN_REGION = "unknown"  # the row's source does not say where the price applies
STALE_AFTER_DAYS = 90  # issue 11 item 6 (2026-12-02): warn when a price is more than 90 days old


def region_matches(region: Any, query: str) -> bool:
    """Whether an offer's `region` answers `query` (case-insensitive): the region starts with it, or one of
    its words does. ``us`` matches ``us-east-1``, ``us-central1`` and ``eastus (us)``; ``us-east`` matches
    ``us-east-1``; ``india`` matches ``india``. An ``unknown`` region matches only ``unknown``."""
    q = str(query).strip().lower()
    r = str(region if isinstance(region, str) and region else UNKNOWN_REGION).lower()
    if not q:
        return False
    return r.startswith(q) or any(w.startswith(q) for w in re.split(r"[^a-z0-9-]+", r) if w)


def filter_region(prices: pd.DataFrame, region: str | None, pricing: Sequence[str] = ()) -> pd.DataFrame:
    """The offers sold in `region` (:func:`region_matches`); all of them for None.

    Raises NoOfferError naming the regions that do have offers, or, when none of the `pricing` models asked
    for is sold there, the pricing models that are.
    """
    if region is None:
        return prices
    sel = prices[[region_matches(r, region) for r in prices["region"]]]
    if sel.empty:
        have = sorted({str(r) if isinstance(r, str) and r else UNKNOWN_REGION for r in prices["region"]})
        raise NoOfferError(f"no GPU offer in region '{region}'; regions with offers: {', '.join(have)} "
                           "(a region name or its start, e.g. us, us-east-1, india)")
    if pricing and not sel["pricing"].isin(list(pricing)).any():
        there = ", ".join(sorted(set(sel["pricing"])))
        raise NoOfferError(f"no {' or '.join(pricing)} offer in region '{region}'; it has {there} "
                           "(owned GPUs, pricing buy, are priced with US power and colocation: region us)")
    return sel


def as_of_date(as_of: Any) -> dt.date | None:
    """The first day an ``as_of`` value can mean (``2026`` -> 2026-01-01, ``2026-05`` -> 2026-05-01);
    None for ``undated`` or a blank."""
    s = as_of.isoformat() if isinstance(as_of, dt.date) else str(as_of).strip() if as_of is not None else ""
    if not AS_OF.match(s):
        return None
    parts = [int(p) for p in s.split("-")] + [1, 1]
    return dt.date(parts[0], parts[1], parts[2])


def stale_offer(offer_row: Mapping, today: dt.date | None = None, max_age_days: int = STALE_AFTER_DAYS) -> str | None:
    """A warning when the offer's price is older than `max_age_days` on `today` (default: the system date),
    or has no date; None when it is fresh. A year-only or month-only ``as_of`` counts from its first day."""
    today = today or dt.date.today()
    as_of = offer_row.get("as_of")
    label = f"{offer_row.get('provider')} {offer_row.get('gpu')} {offer_row.get('pricing')}"
    day = as_of_date(as_of)
    if day is None:
        return f"{label}: the price has no date (as_of {as_of!r}); check it against the provider's page"
    age = (today - day).days
    if age <= max_age_days:
        return None
    return (f"{label}: price as of {as_of} is {age} days old on {today.isoformat()} (more than {max_age_days}); "
            "check it against the provider's page or pass a fresh one with --gpu-prices")


def offer_warnings(offer_row: Mapping, today: dt.date | None = None,
                   requested_region: str | None = None) -> tuple[str, ...]:
    """What a plan should say about the offer it priced: a region the user did not ask for that is not in the
    US or not stated (the catalogue's cheapest 1-year H100 is an India offer), and a stale or undated price."""
    out = []
    region = offer_row.get("region")
    region = region if isinstance(region, str) and region else UNKNOWN_REGION
    if requested_region is None and not region_matches(region, "us"):
        where = ("in a region its source does not state" if region == UNKNOWN_REGION else f"in {region}")
        out.append(f"the {offer_row.get('pricing')} price is {offer_row.get('provider')}'s offer {where}, the "
                   "cheapest in any region; --region us (or another region) prices within one region")
    stale = stale_offer(offer_row, today)
    if stale:
        out.append(stale)
    return tuple(out)


# ------------------------------------------------------------------------------------------
# API prices
# ------------------------------------------------------------------------------------------


def load_api_prices(extra: PathArg = None) -> pd.DataFrame:
    """The ApiPrices table (module docstring), catalogue first, then each `extra` YAML over it."""
    docs = read_docs(API_PRICES_FILE, extra)
    key = ("provider", "model")
    rows = merge_rows([r for d in docs for r in read_rows(d, "models", _API_FIELDS, key)], key)
    tiers = _model_tiers(docs)
    service = _service_tiers(docs)
    for r in rows:  # an open-weight row competes in the tier of the model it serves, unless it names its own
        r["tier"] = r["tier"] or tiers.get(r["serves"] or "", "")
        for name in ("batch", "priority"):  # a provider's service-tier multiplier, unless the row states its own
            col = f"{name}_multiplier"
            if r.get(col) is None or (isinstance(r[col], float) and math.isnan(r[col])):
                r[col] = service.get(r["provider"], {}).get(name, math.nan)
    _check_superseded(rows)
    return pd.DataFrame(rows, columns=list(API_PRICE_COLUMNS))


def _service_tiers(docs: list[YamlDoc]) -> dict[str, dict[str, float]]:
    """``service_tiers:`` provider -> {batch, priority}: multipliers on the standard per-token prices."""
    out: dict[str, dict[str, float]] = {}
    for d in docs:
        section = (d.data or {}).get("service_tiers") or {}
        if not isinstance(section, Mapping):
            raise d.error("'service_tiers' maps a provider to {batch: x, priority: y, source: ...}", "service_tiers")
        for provider, spec in section.items():
            if not isinstance(spec, Mapping) or not str(spec.get("source", "")).strip():
                raise d.error("write {batch: 0.5, priority: 2, source: ...}", "service_tiers", provider,
                              entry=str(provider))
            for name, v in spec.items():
                if name == "source":
                    continue
                if name not in ("batch", "priority") or isinstance(v, bool) or not isinstance(v, (int, float)) \
                        or not 0 < v <= 10:
                    raise d.error(f"expected batch or priority with a multiplier in (0, 10], got {name}: {v!r}",
                                  "service_tiers", provider, entry=str(provider), field=str(name))
                out.setdefault(str(provider), {})[name] = float(v)
    return out


def _model_tiers(docs: list[YamlDoc]) -> dict[str, str]:
    out: dict[str, str] = {}
    for d in docs:
        section = (d.data or {}).get("model_tiers") or {}
        if not isinstance(section, Mapping):
            raise d.error("'model_tiers' must map a catalogue model id to a tier", "model_tiers")
        for model, tier in section.items():
            try:
                out[str(model)] = _tier(tier, "model_tiers")
            except ValueError as exc:
                raise d.error(str(exc), "model_tiers", model, entry=str(model), field="model_tiers") from None
    return out


def _check_superseded(rows: list[dict]) -> None:
    models = {(r["provider"], r["model"]) for r in rows}
    for r in rows:
        new = r.get("superseded_by") or ""
        if new and (r["provider"], new) not in models:
            raise PlannerError(f"API row {r['provider']} / {r['model']}: superseded_by '{new}' is no "
                               f"{r['provider']} model in the API price table; name one of its rows")


def load_model_tiers(extra: PathArg = None) -> dict[str, str]:
    """Catalogue model id -> quality tier, from the ``model_tiers:`` section of api_prices.yaml (and `extra`)."""
    return _model_tiers(read_docs(API_PRICES_FILE, extra))


def has_tag(api_prices: pd.DataFrame, tag: str) -> pd.Series:
    """Boolean Series: rows whose comma-separated ``tags`` include `tag`."""
    return api_prices["tags"].fillna("").map(lambda s: tag in s.split(","))


def api_label(row: Mapping) -> str:
    """``provider / model``, the label used in tables and crossover columns."""
    return f"{row['provider']} / {row['model']}"


__all__ = ["GPU_PRICE_COLUMNS", "API_PRICE_COLUMNS", "PRICING_MODELS", "load_gpu_prices", "gpu_hour_price",
           "load_api_prices", "has_tag", "api_label", "TIERS", "load_model_tiers", "UNKNOWN_REGION", "STALE_AFTER_DAYS",
           "region_matches", "filter_region", "as_of_date", "stale_offer", "offer_warnings"]
