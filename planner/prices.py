"""Dated price tables: GPU rental offers, GPU purchase (buy vs rent), and LLM APIs.

Catalogues live in ``planner/catalogues/{gpu_prices,api_prices}.yaml``; every row has ``as_of`` and
``source``. A user YAML in the same layout (``extra=``) replaces rows with the same key and adds the rest.

GpuPrices DataFrame (:func:`load_gpu_prices`), key ``(provider, gpu, pricing)``:

    provider            str    e.g. aws, lambda, runpod-community
    gpu                 str    profiler GPU id (h100-sxm, a100-80gb, ...)
    pricing             str    on-demand | reserved-1y | reserved-3y | spot (| buy, see buy_offers)
    usd_per_gpu_hour    float  instance price / GPUs in the instance [USD per GPU-hour]
    gpus_per_instance   float  rental granularity; NaN where the source does not say
    instance, region    str    "" where not given
    as_of               str    YYYY, YYYY-MM or YYYY-MM-DD of the source
    source              str    where the number comes from (the formula, for derived rows)
    derived             bool   computed, not published (reserved = on-demand x (1 - discount))

ApiPrices DataFrame (:func:`load_api_prices`), key ``(provider, model)``:

    provider, model                      str
    usd_per_mtok_in, usd_per_mtok_out    float  [USD per 1M tokens]
    usd_per_mtok_cached_in               float  NaN = no cached-input discount known
    as_of, source                        str    (as_of may be "undated" for the seed's quotes)
    open_weight                          bool
    tags                                 str    comma-separated (seed, stale, frontier, hosted-open, ...)
    serves                               str    catalogue model id hosted ("" = not an open-weight we catalogue)
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
                     "source", "open_weight", "tags", "serves")
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
               "tags": (_tags, False), "serves": (_serves, False)}


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
    return pd.DataFrame(rows, columns=list(GPU_PRICE_COLUMNS))


def gpu_hour_price(prices: pd.DataFrame, gpu: str, pricing: str,
                   provider: str | None = None) -> tuple[float, pd.Series]:
    """$/GPU-hour for `gpu` under `pricing` (cheapest provider unless `provider`), and its row.

    Raises NoOfferError listing what does exist for that GPU.
    """
    row = _offers(prices, gpu, pricing, provider).sort_values(["usd_per_gpu_hour", "provider"]).iloc[0]
    return float(row["usd_per_gpu_hour"]), row


def instance_size(offer: pd.Series) -> int:
    """GPUs one rents at a time under an offer (``gpus_per_instance``; 1 where the row does not say)."""
    n = offer.get("gpus_per_instance")
    return 1 if n is None or pd.isna(n) or n < 1 else int(n)


def gpus_billed(gpus: int, offer: pd.Series) -> int:
    """GPUs paid for when `gpus` are needed: whole instances, ``ceil(gpus / gpus_per_instance) x size``."""
    size = instance_size(offer)
    return math.ceil(gpus / size) * size


def cheapest_offer(prices: pd.DataFrame, gpu: str, pricing: str, provider: str | None, gpus: int) -> pd.Series:
    """The offer that rents `gpus` GPUs most cheaply in whole instances (an 8-GPU-only instance at a lower
    $/GPU-h can lose to single-GPU instances for 2 GPUs). Ties: lower $/GPU-h, then provider name."""
    sel = _offers(prices, gpu, pricing, provider)
    billed = sel.apply(lambda r: gpus_billed(gpus, r), axis=1)
    sel = sel.assign(_cost=billed * sel["usd_per_gpu_hour"])
    return sel.sort_values(["_cost", "usd_per_gpu_hour", "provider"]).iloc[0].drop("_cost")


def cheapest_offers_by_size(prices: pd.DataFrame, gpu: str, pricing: str, provider: str | None) -> list[pd.Series]:
    """For each instance size on offer, its cheapest offer ($/GPU-h, then provider): all
    :func:`cheapest_offer` needs to choose for any GPU count."""
    sel = _offers(prices, gpu, pricing, provider)
    sel = sel.assign(_size=[instance_size(r) for _, r in sel.iterrows()])
    best = sel.sort_values(["usd_per_gpu_hour", "provider"]).drop_duplicates("_size")
    return [r.drop("_size") for _, r in best.iterrows()]


def _offers(prices: pd.DataFrame, gpu: str, pricing: str, provider: str | None) -> pd.DataFrame:
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
    return by_pricing


# ------------------------------------------------------------------------------------------
# Buying instead of renting (Epoch AI's method; see gpu_prices.yaml `purchase:`)
# ------------------------------------------------------------------------------------------

_BUY_PARAMS = ("amortisation_years", "server_factor", "server_w_per_gpu_tdp_w", "avg_draw_fraction", "pue",
               "usd_per_kwh", "hosting_usd_per_kw_month")


@dataclass(frozen=True)
class BuyParams:
    """Amortisation and running-cost parameters; each value's source is in ``sources``."""

    amortisation_years: float
    server_factor: float  # server price / chip price (default; a purchase row may override)
    server_w_per_gpu_tdp_w: float  # server watts per GPU, per watt of GPU TDP
    avg_draw_fraction: float  # busy-average draw / server power
    pue: float  # facility power / IT power
    usd_per_kwh: float
    hosting_usd_per_kw_month: float  # colocation per kW of server power
    sources: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class BuyCost:
    """Monthly cost of one owned GPU [USD/month], by component."""

    amortisation: float
    energy: float
    hosting: float

    @property
    def total(self) -> float:
        return self.amortisation + self.energy + self.hosting

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
            params[name] = item
        if "gpus" in section:
            sub = YamlDoc(section, d.file, {k[1:]: v for k, v in d.lines.items() if k[:1] == ("purchase",)})
            rows += _rows(sub, "gpus", spec, ("gpu",))
    missing = [p for p in _BUY_PARAMS if p not in params]
    if missing:
        raise PlannerError(f"purchase parameters missing: {', '.join(missing)}")
    bp = BuyParams(**{p: float(params[p]["value"]) for p in _BUY_PARAMS},
                   sources=tuple((p, str(params[p]["source"])) for p in _BUY_PARAMS))
    return bp, pd.DataFrame(_merge(rows, ("gpu",)), columns=list(spec))


def buy_monthly_cost_per_gpu(usd_per_gpu: float, tdp_w: float, params: BuyParams,
                             server_factor: float | None = None) -> BuyCost:
    """Monthly cost of owning one GPU in a colocation facility [USD/month].

        amortisation = usd_per_gpu x server_factor / (12 x amortisation_years)
        server_kw    = tdp_w x server_w_per_gpu_tdp_w / 1000
        energy       = server_kw x avg_draw_fraction x pue x usd_per_kwh x 730 h
        hosting      = server_kw x hosting_usd_per_kw_month

    Reference: Epoch AI, training-cost-trends ``cost_analysis_standalone.py`` (amortisation, server
    factor, power, PUE); CBRE H2 2024 (colocation $/kW-month).
    """
    factor = params.server_factor if server_factor is None or math.isnan(server_factor) else server_factor
    kw = tdp_w * params.server_w_per_gpu_tdp_w / 1000.0
    return BuyCost(
        amortisation=usd_per_gpu * factor / (12.0 * params.amortisation_years),
        energy=kw * params.avg_draw_fraction * params.pue * params.usd_per_kwh * HOURS_PER_MONTH,
        hosting=kw * params.hosting_usd_per_kw_month,
    )


def buy_offers(tdp_w: Mapping[str, float], extra: PathArg = None) -> pd.DataFrame:
    """Owned GPUs as GpuPrices rows (provider ``self-owned``, pricing ``buy``), for GPUs with a purchase price.

    `tdp_w` maps GPU id → TDP [W] (from the profiler's GPU catalogue). Concatenate with
    :func:`load_gpu_prices` to let a search compare buying with renting.
    """
    params, table = load_purchase(extra)
    rows = []
    for _, r in table.iterrows():
        if r["gpu"] not in tdp_w:
            continue
        c = buy_monthly_cost_per_gpu(r["usd_per_gpu"], tdp_w[r["gpu"]], params, r["server_factor"])
        source = (f"derived: ${r['usd_per_gpu']:,.0f} chip, {params.amortisation_years:g}-yr amortisation "
                  f"${c.amortisation:,.0f}/mo + energy ${c.energy:,.0f}/mo + colocation ${c.hosting:,.0f}/mo, "
                  f"/ {HOURS_PER_MONTH} h; chip: {r['source']}")
        rows.append({"provider": "self-owned", "gpu": r["gpu"], "pricing": "buy",
                     "usd_per_gpu_hour": c.usd_per_gpu_hour, "gpus_per_instance": math.nan, "instance": "",
                     "region": "", "as_of": r["as_of"], "source": source, "derived": True})
    return pd.DataFrame(rows, columns=list(GPU_PRICE_COLUMNS))


# ------------------------------------------------------------------------------------------
# API prices
# ------------------------------------------------------------------------------------------


def load_api_prices(extra: PathArg = None) -> pd.DataFrame:
    """The ApiPrices table (module docstring), catalogue first, then each `extra` YAML over it."""
    docs = _docs(API_PRICES_FILE, extra)
    key = ("provider", "model")
    rows = _merge([r for d in docs for r in _rows(d, "models", _API_FIELDS, key)], key)
    return pd.DataFrame(rows, columns=list(API_PRICE_COLUMNS))


def has_tag(api_prices: pd.DataFrame, tag: str) -> pd.Series:
    """Boolean Series: rows whose comma-separated ``tags`` include `tag`."""
    return api_prices["tags"].fillna("").map(lambda s: tag in s.split(","))


def api_label(row: Mapping) -> str:
    """``provider / model``, the label used in tables and crossover columns."""
    return f"{row['provider']} / {row['model']}"


__all__ = ["GPU_PRICE_COLUMNS", "API_PRICE_COLUMNS", "PRICING_MODELS", "load_gpu_prices", "gpu_hour_price",
           "BuyParams", "BuyCost", "load_purchase", "buy_monthly_cost_per_gpu", "buy_offers", "load_api_prices",
           "has_tag", "api_label"]
