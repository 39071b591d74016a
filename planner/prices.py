"""Dated price tables: GPU rental offers, GPU purchase (buy vs rent), and LLM APIs.

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

Rows of :func:`buy_offers` (pricing ``buy``, region ``us``) add the per-GPU ``CAPEX_COLUMNS``: upfront
``capex_{chip,server,network}_usd`` and ``residual_usd`` [USD], and ``monthly_{capital,support,energy,hosting}_usd``
[USD/month]; :func:`capex_breakdown` reads them as a record.

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
import difflib
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from planner.errors import NoOfferError, PlannerError
from planner.units import HOURS_PER_MONTH, YamlDoc, read_yaml

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
_AS_OF = re.compile(r"^\d{4}(-\d{2}(-\d{2})?)?$")

PathArg = str | Path | Sequence[str | Path] | None

# ---- field checkers: (value, field) -> normalised value, or raise ValueError with what would work ----


def _text(v: Any, f: str) -> str:
    if not isinstance(v, str) or not v.strip():
        raise ValueError("expected non-empty text")
    return v.strip()


def _opt_text(v: Any, f: str) -> str:
    return "" if v is None else _text(v, f)


def _price(v: Any, f: str) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0:
        raise ValueError(f"expected a price >= 0 in USD, got {v!r}")
    return float(v)


def _opt_price(v: Any, f: str) -> float:
    return math.nan if v is None else _price(v, f)


def _opt_count(v: Any, f: str) -> float:
    if v is None:
        return math.nan
    if isinstance(v, bool) or not isinstance(v, int) or v < 1:
        raise ValueError(f"expected an integer >= 1, got {v!r}")
    return float(v)


def _as_of(v: Any, f: str) -> str:
    s = v.isoformat() if isinstance(v, dt.date) else str(v) if isinstance(v, int) else v
    if not isinstance(s, str) or not (_AS_OF.match(s) or s == "undated"):
        raise ValueError(f"expected a date YYYY, YYYY-MM or YYYY-MM-DD (or 'undated'), got {v!r}")
    return s


def _flag(v: Any, f: str) -> bool:
    if v is None:
        return False
    if not isinstance(v, bool):
        raise ValueError(f"expected true or false, got {v!r}")
    return v


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
        raise ValueError(f"unknown tier {v!r}{_close(str(v), TIERS)} (tiers: {', '.join(TIERS)})")
    return v


def _close(v: str, names) -> str:
    names = list(names)
    if not v:
        return ""
    close = [n for n in names if n.lower().startswith(v.lower())][:1] or difflib.get_close_matches(v, names, n=1)
    return f"; did you mean '{close[0]}'?" if close else ""


def _tags(v: Any, f: str) -> str:
    if v is None:
        return ""
    if not isinstance(v, list) or not all(isinstance(t, str) for t in v):
        raise ValueError(f"expected a list of tags such as [frontier, dedicated-option], got {v!r}")
    for t in v:
        if t not in KNOWN_TAGS:
            raise ValueError(f"unknown tag '{t}'{_close(t, KNOWN_TAGS)} (tags: {', '.join(KNOWN_TAGS)})")
    return ",".join(v)


def _gpu_id(v: Any, f: str) -> str:
    from profiler.catalogue import load_gpus

    v = _text(v, f)
    gpus = load_gpus()
    if v not in gpus:
        raise ValueError(f"unknown GPU '{v}'{_close(v, gpus)} (GPUs: {', '.join(gpus)})")
    return v


def _serves(v: Any, f: str) -> str | None:
    """A catalogue model id; a near miss of one is refused (a model only in a --models file is accepted)."""
    from profiler.catalogue import load_models

    v = _opt_text(v, f)
    if not v:
        return v
    models = load_models()
    if v not in models and _close(v, models):
        raise ValueError(f"'{v}' is no catalogue model{_close(v, models)}")
    return v


_GPU_FIELDS = {"provider": (_text, True), "gpu": (_gpu_id, True), "pricing": (_pricing, True),
               "usd_per_gpu_hour": (_price, True), "gpus_per_instance": (_opt_count, False),
               "instance": (_opt_text, False), "region": (_opt_text, False), "as_of": (_as_of, True),
               "source": (_text, True), "derived": (_flag, False)}
_API_FIELDS = {"provider": (_text, True), "model": (_text, True), "usd_per_mtok_in": (_price, True),
               "usd_per_mtok_out": (_price, True), "usd_per_mtok_cached_in": (_opt_price, False),
               "as_of": (_as_of, True), "source": (_text, True), "open_weight": (_flag, False),
               "tags": (_tags, False), "serves": (_serves, False), "tier": (_tier, False),
               "superseded_by": (_opt_text, False), "quant": (_opt_text, False),
               "batch_multiplier": (_opt_price, False), "priority_multiplier": (_opt_price, False)}


def _rows(doc: YamlDoc, section: str, spec: Mapping, key: tuple[str, ...]) -> list[dict]:
    """Validate ``doc.data[section]`` (a list of mappings) against `spec`; errors carry file:line."""
    items = (doc.data or {}).get(section, []) if isinstance(doc.data or {}, Mapping) else None
    if not isinstance(items, list):
        raise doc.error(f"'{section}' must be a list of entries", section)
    out = []
    for i, item in enumerate(items):
        if not isinstance(item, Mapping):
            raise doc.error("each entry must be a mapping of field: value", section, i)
        entry = "/".join(str(item.get(k, "?")) for k in key)
        unknown = set(item) - set(spec)
        if unknown:
            raise doc.error(f"unknown field; known: {', '.join(spec)}", section, i, sorted(unknown)[0],
                            entry=entry, field=sorted(unknown)[0])
        row = {}
        for name, (check, required) in spec.items():
            if required and name not in item:
                raise doc.error("missing required field", section, i, entry=entry, field=name)
            try:
                row[name] = check(item.get(name), name)
            except ValueError as exc:
                raise doc.error(str(exc), section, i, name, entry=entry, field=name) from None
        row["_given"] = frozenset(item)  # which fields the file set: an override changes only those
        out.append(row)
    return out


def _docs(base: Path, extra: PathArg) -> list[YamlDoc]:
    paths = [] if extra is None else [extra] if isinstance(extra, (str, Path)) else list(extra)
    docs = [read_yaml(base)] + [read_yaml(p) for p in paths]
    for d in docs:
        if d.data is not None and not isinstance(d.data, Mapping):
            raise d.error("a price file is a mapping with sections such as 'offers:' or 'models:'")
    return docs


def _merge(rows: list[dict], key: tuple[str, ...]) -> list[dict]:
    """A later row with the same key overrides the fields it sets (a price update keeps the row's tags);
    order of first appearance is kept."""
    merged: dict[tuple, dict] = {}
    for r in rows:
        k = tuple(r[f] for f in key)
        old = merged.get(k)
        given = r.get("_given", frozenset(r))
        merged[k] = r if old is None else {**old, **{f: v for f, v in r.items() if f in given}}
    return list(merged.values())


# ------------------------------------------------------------------------------------------
# GPU rental offers
# ------------------------------------------------------------------------------------------


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
    docs = _docs(GPU_PRICES_FILE, extra)
    key = ("provider", "gpu", "pricing")
    offers = _merge([r for d in docs for r in _rows(d, "offers", _GPU_FIELDS, key)], key)
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
    if not _AS_OF.match(s):
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
# Buying instead of renting (Epoch AI's method; see gpu_prices.yaml `purchase:`)
# ------------------------------------------------------------------------------------------

_BUY_PARAMS = ("amortisation_years", "wacc", "residual_ooms_per_year", "support_fraction_per_year",
               "network_fraction_of_cluster", "server_factor", "server_w_per_gpu_tdp_w", "avg_draw_fraction", "pue",
               "usd_per_kwh", "hosting_usd_per_kw_month")
BUY_REGION = "us"  # the running costs are US figures: EIA/EPP industrial $/kWh, CBRE North America colocation
# Columns that buy_offers adds to its GpuPrices rows (per GPU; NaN on rented rows once concatenated)
CAPEX_COLUMNS = ("capex_chip_usd", "capex_server_usd", "capex_network_usd", "residual_usd", "monthly_capital_usd",
                 "monthly_support_usd", "monthly_energy_usd", "monthly_hosting_usd")


@dataclass(frozen=True)
class BuyParams:
    """Ownership and running-cost parameters; each value's source is in ``sources`` (gpu_prices.yaml)."""

    amortisation_years: float  # economic life L [years]
    wacc: float  # cost of capital r [1/year]; 0 gives straight-line amortisation
    residual_ooms_per_year: float  # resale value falls 10^(-k) a year (price-performance progress)
    support_fraction_per_year: float  # support contract [fraction of the server price per year]
    network_fraction_of_cluster: float  # cluster network share of total cluster cost
    server_factor: float  # server price / chip price (default; a purchase row may override)
    server_w_per_gpu_tdp_w: float  # server watts per GPU, per watt of GPU TDP
    avg_draw_fraction: float  # busy-average draw / server power
    pue: float  # facility power / IT power
    usd_per_kwh: float
    hosting_usd_per_kw_month: float  # colocation per kW of server power
    sources: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class BuyCost:
    """One owned GPU: the upfront purchase [USD] and the monthly cost [USD/month], by component."""

    chip: float  # upfront: the GPU itself
    server: float  # upfront: the rest of its server share (CPUs, memory, NVLink board, chassis)
    network: float  # upfront: its share of the cluster network (switches, optics, cables)
    residual: float  # resale value of chip + server at the end of life (not discounted)
    capital: float  # monthly capital recovery of chip + server + network, net of the residual
    support: float  # monthly support contract
    energy: float
    hosting: float

    @property
    def upfront(self) -> float:
        return self.chip + self.server + self.network

    @property
    def total(self) -> float:
        return self.capital + self.support + self.energy + self.hosting

    @property
    def usd_per_gpu_hour(self) -> float:
        return self.total / HOURS_PER_MONTH


def load_purchase(extra: PathArg = None) -> tuple[BuyParams, pd.DataFrame]:
    """Purchase parameters and the table ``gpu, usd_per_gpu, server_factor, as_of, source``."""
    docs = _docs(GPU_PRICES_FILE, extra)
    params: dict[str, Any] = {}
    rows: list[dict] = []
    spec = {"gpu": (_text, True), "usd_per_gpu": (_price, True), "server_factor": (_opt_price, False),
            "as_of": (_as_of, True), "source": (_text, True)}
    for d in docs:
        section = (d.data or {}).get("purchase") or {}
        for name, item in (section.get("params") or {}).items():
            if name not in _BUY_PARAMS or not isinstance(item, Mapping) or "source" not in item:
                raise d.error(f"a purchase parameter is one of {', '.join(_BUY_PARAMS)} with value and source",
                              "purchase", "params", name, entry=str(name))
            value = item.get("value")
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
                raise d.error(f"value must be a number >= 0, got {value!r}", "purchase", "params", name,
                              entry=str(name), field="value")
            params[name] = item
        if "gpus" in section:
            sub = YamlDoc(section, d.file, {k[1:]: v for k, v in d.lines.items() if k[:1] == ("purchase",)})
            rows += _rows(sub, "gpus", spec, ("gpu",))
    missing = [p for p in _BUY_PARAMS if p not in params]
    if missing:
        raise PlannerError(f"purchase parameters missing: {', '.join(missing)}")
    bp = BuyParams(**{p: float(params[p]["value"]) for p in _BUY_PARAMS},
                   sources=tuple((p, str(params[p]["source"])) for p in _BUY_PARAMS))
    if bp.amortisation_years <= 0 or not 0 <= bp.network_fraction_of_cluster < 1:
        raise PlannerError("purchase parameters: amortisation_years must be > 0 and network_fraction_of_cluster "
                           f"in [0, 1); got {bp.amortisation_years:g} and {bp.network_fraction_of_cluster:g}")
    return bp, pd.DataFrame(_merge(rows, ("gpu",)), columns=list(spec))


def capital_recovery_factor(rate: float, years: float) -> float:
    """Annual payment per USD borrowed at `rate` [1/year] over `years`: r(1+r)^L / ((1+r)^L - 1); 1/L at r = 0.

    The annuity ("capital recovery factor") of engineering economics: Short, Packey & Holt (1995), *A Manual
    for the Economic Evaluation of Energy Efficiency and Renewable Energy Technologies*, NREL/TP-462-5173,
    the fixed-charge method behind NREL SAM's LCOE calculator (samrepo.nrelcloud.org/help/fin_lcoefcr.html).
    """
    if rate == 0:
        return 1.0 / years
    growth = (1.0 + rate) ** years
    return rate * growth / (growth - 1.0)


def residual_fraction(params: BuyParams) -> float:
    """Resale value at end of life / purchase price: 10^(-k L), k = price-performance OOMs per year.

    EPP ``depreciate_by_hardware_progress``: a GPU's value falls with the price-performance trend,
    0.14 orders of magnitude a year, so after 4 years it is worth 10^-0.56 = 27.5 % of its price.
    """
    return 10.0 ** (-params.residual_ooms_per_year * params.amortisation_years)


def buy_monthly_cost_per_gpu(usd_per_gpu: float, tdp_w: float, params: BuyParams,
                             server_factor: float | None = None) -> BuyCost:
    """Cost of owning one GPU in a colocation facility: the upfront purchase [USD] and the monthly cost [USD/month].

        server   = usd_per_gpu x server_factor                        (chip + the rest of the server)
        network  = server x f / (1 - f)                                (f: network share of cluster cost)
        residual = server x 10^(-k L)                                  (resale value after L years)
        capital  = (server + network - residual / (1 + r)^L) x CRF(r, L) / 12
        support  = server x support_fraction_per_year / 12
        server_kw = tdp_w x server_w_per_gpu_tdp_w / 1000
        energy   = server_kw x avg_draw_fraction x pue x usd_per_kwh x 730 h
        hosting  = server_kw x hosting_usd_per_kw_month

    Reference: Epoch AI, training-cost-trends ``cost_analysis_standalone.py`` (server factor, cluster
    interconnect 19 %, price-performance depreciation 0.14 OOM/yr, power, PUE); CBRE H2 2024 (colocation
    $/kW-month); the sources of each default are in gpu_prices.yaml ``purchase: params:``.
    """
    factor = params.server_factor if server_factor is None or math.isnan(server_factor) else server_factor
    server = usd_per_gpu * factor
    f = params.network_fraction_of_cluster
    network = server * f / (1.0 - f)
    residual = server * residual_fraction(params)
    r, life = params.wacc, params.amortisation_years
    capital = (server + network - residual / (1.0 + r) ** life) * capital_recovery_factor(r, life) / 12.0
    kw = tdp_w * params.server_w_per_gpu_tdp_w / 1000.0
    return BuyCost(
        chip=usd_per_gpu, server=server - usd_per_gpu, network=network, residual=residual, capital=capital,
        support=server * params.support_fraction_per_year / 12.0,
        energy=kw * params.avg_draw_fraction * params.pue * params.usd_per_kwh * HOURS_PER_MONTH,
        hosting=kw * params.hosting_usd_per_kw_month,
    )


def buy_offers(tdp_w: Mapping[str, float], extra: PathArg = None) -> pd.DataFrame:
    """Owned GPUs as GpuPrices rows (provider ``self-owned``, pricing ``buy``, region ``us``), for GPUs with a
    purchase price, plus the :data:`CAPEX_COLUMNS` (read them with :func:`capex_breakdown`).

    `tdp_w` maps GPU id → TDP [W] (from the profiler's GPU catalogue). Concatenate with
    :func:`load_gpu_prices` to let a search compare buying with renting.
    """
    params, table = load_purchase(extra)
    rows = []
    for _, r in table.iterrows():
        if r["gpu"] not in tdp_w:
            continue
        c = buy_monthly_cost_per_gpu(r["usd_per_gpu"], tdp_w[r["gpu"]], params, r["server_factor"])
        source = (f"derived: ${c.upfront:,.0f} upfront (chip ${c.chip:,.0f} + server ${c.server:,.0f} + network "
                  f"${c.network:,.0f}), {params.amortisation_years:g}-yr life at {params.wacc:.1%} WACC less "
                  f"${c.residual:,.0f} resale = ${c.capital:,.0f}/mo + support ${c.support:,.0f}/mo + energy "
                  f"${c.energy:,.0f}/mo + colocation ${c.hosting:,.0f}/mo, / {HOURS_PER_MONTH} h; chip: {r['source']}")
        rows.append({"provider": "self-owned", "gpu": r["gpu"], "pricing": "buy",
                     "usd_per_gpu_hour": c.usd_per_gpu_hour, "gpus_per_instance": math.nan, "instance": "",
                     "region": BUY_REGION, "as_of": r["as_of"], "source": source, "derived": True,
                     "capex_chip_usd": c.chip, "capex_server_usd": c.server, "capex_network_usd": c.network,
                     "residual_usd": c.residual, "monthly_capital_usd": c.capital, "monthly_support_usd": c.support,
                     "monthly_energy_usd": c.energy, "monthly_hosting_usd": c.hosting})
    return pd.DataFrame(rows, columns=list(GPU_PRICE_COLUMNS) + list(CAPEX_COLUMNS))


@dataclass(frozen=True)
class CapexBreakdown:
    """What buying costs per GPU: upfront [USD] and monthly [USD/month] (a :class:`BuyCost` read off a row)."""

    chip_usd: float
    server_usd: float
    network_usd: float
    residual_usd: float
    monthly_capital_usd: float
    monthly_support_usd: float
    monthly_energy_usd: float
    monthly_hosting_usd: float

    @property
    def upfront_usd(self) -> float:
        return self.chip_usd + self.server_usd + self.network_usd

    @property
    def monthly_usd(self) -> float:
        return self.monthly_capital_usd + self.monthly_support_usd + self.monthly_energy_usd + self.monthly_hosting_usd


def capex_breakdown(offer_row: Mapping) -> CapexBreakdown | None:
    """The capex of a ``buy`` offer row (from :func:`buy_offers`), per GPU; None for a rented offer.

    Multiply by the GPUs bought (``gpus_billed``) for the deployment's upfront capital.
    """
    if offer_row.get("pricing") != "buy":
        return None
    values = [offer_row.get(c) for c in CAPEX_COLUMNS]
    if any(v is None or pd.isna(v) for v in values):
        return None  # a buy row from a user's own offers: no breakdown given
    return CapexBreakdown(*(float(v) for v in values))


# ------------------------------------------------------------------------------------------
# API prices
# ------------------------------------------------------------------------------------------


def load_api_prices(extra: PathArg = None) -> pd.DataFrame:
    """The ApiPrices table (module docstring), catalogue first, then each `extra` YAML over it."""
    docs = _docs(API_PRICES_FILE, extra)
    key = ("provider", "model")
    rows = _merge([r for d in docs for r in _rows(d, "models", _API_FIELDS, key)], key)
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
    return _model_tiers(_docs(API_PRICES_FILE, extra))


def has_tag(api_prices: pd.DataFrame, tag: str) -> pd.Series:
    """Boolean Series: rows whose comma-separated ``tags`` include `tag`."""
    return api_prices["tags"].fillna("").map(lambda s: tag in s.split(","))


def api_label(row: Mapping) -> str:
    """``provider / model``, the label used in tables and crossover columns."""
    return f"{row['provider']} / {row['model']}"


__all__ = ["GPU_PRICE_COLUMNS", "API_PRICE_COLUMNS", "PRICING_MODELS", "load_gpu_prices", "gpu_hour_price",
           "BuyParams", "BuyCost", "load_purchase", "buy_monthly_cost_per_gpu", "buy_offers", "load_api_prices",
           "has_tag", "api_label", "TIERS", "load_model_tiers",
           "CAPEX_COLUMNS", "CapexBreakdown", "capex_breakdown", "capital_recovery_factor", "residual_fraction",
           "UNKNOWN_REGION", "STALE_AFTER_DAYS", "region_matches", "filter_region", "as_of_date", "stale_offer",
           "offer_warnings"]
