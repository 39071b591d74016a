"""Latency as a driver: can any API meet a co-located latency requirement? (issue 19 item 3)

Seed §3: "interactive users notice delays above 1-2 s; co-located inference is needed for sub-100 ms p99". The
published API figures and network round trips live in ``planner/catalogues/api_latency.yaml``, each dated and sourced.

ApiLatency DataFrame (first of :func:`load_api_latency`), one row per published figure:

    provider, model, serves        str    serves = catalogue model id the row hosts ("" = not one of ours)
    metric                         str    ttft | itl | e2e
    percentile                     str    p50 | median | p90 | p95 | p99 (what the source states)
    value_s                        float  [s]
    measured_from                  str    where the timing client ran ("not stated" if the source does not say)
    server_side                    bool   timed at the provider: no network round trip inside the figure
    upper_bound                    bool   the figure is at least the quantity `metric` names (proves "yes", never "no")
    as_of, source                  str

Rtt DataFrame (second), one row per round-trip figure: ``name, scope, between, statistic, value_s [s], role, as_of,
source``; role "client-default" marks the RTT added to a server-side figure (a client in the API's own region, another
zone: the nearest a client gets short of sharing the provider's datacenter, so a figure over the limit with it is over
the limit from anywhere farther), role "co-located" the RTT a self-hosted model beside the application pays.

The check (:func:`latency_check`), per row; limit = ttft_p99_s for TTFT rows, tpot_p99_s for ITL rows (e2e rows are
shown, not judged)::

    required      = co_located  or  ttft_p99_s < DRIVER_TTFT_P99_S (0.1 s, seed §3)
    rtt_s         = 0                          client-side figure (its client's round trip is already inside) and ITL
                  = client-default RTT         server-side TTFT figure                                          [s]
    api_plus_rtt  = value_s + rtt_s                                                                             [s]
    meets         = "no"       percentile below p99 and api_plus_rtt > limit  (p99 >= any lower percentile)
                  = "yes"/"no" p99 row: api_plus_rtt <= limit / > limit   (an upper_bound row is "unknown" when over)
                  = "unknown"  otherwise (a median under the limit says nothing of the p99)

A (provider, model) meets when its TTFT and ITL are both "yes"; it fails when any of its rows is "no".
any_api_meets = True if one meets, False if every one fails, None otherwise (cannot be confirmed from published
figures). With a median TTFT and a P95 RTT the lower bound holds for the p99 of the sum when the two are independent:
P(X+Y < m_X + q95_Y) <= 1 - 0.5 x 0.05 = 0.975 < 0.99.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import pandas as pd

from planner.errors import PlannerError
from planner.price_rows import as_of, flag, read_rows, serves, text
from planner.prices import CATALOGUE_DIR
from planner.units import read_yaml

API_LATENCY_FILE: Path = CATALOGUE_DIR / "api_latency.yaml"
DRIVER_TTFT_P99_S = 0.1  # seed §3: "co-located inference is needed for sub-100 ms p99"
METRICS = ("ttft", "itl", "e2e")
LOWER_PERCENTILES = ("p50", "median", "p90", "p95")  # each is <= the p99 of the same distribution
PERCENTILES = (*LOWER_PERCENTILES, "p99")
SCOPES = ("same-zone", "cross-zone", "cross-region")
STATISTICS = ("p50", "p95", "average", "upper-bound")
ROLES = ("client-default", "co-located")
LATENCY_COLUMNS = ("provider", "model", "serves", "metric", "percentile", "value_s", "measured_from", "server_side",
                   "upper_bound", "as_of", "source")
RTT_COLUMNS = ("name", "scope", "between", "statistic", "value_s", "role", "as_of", "source")
TABLE_COLUMNS = ("provider", "model", "metric", "percentile", "value_s", "rtt_s", "api_plus_rtt_s", "meets", "as_of",
                 "source")


def _one_of(options: tuple[str, ...]):
    def check(v: Any, f: str) -> str:
        if v not in options:
            raise ValueError(f"expected one of {', '.join(options)}, got {v!r}")
        return v
    return check


def _opt_role(v: Any, f: str) -> str:
    return "" if v is None else _one_of(ROLES)(v, f)


def _seconds(v: Any, f: str) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v <= 0:
        raise ValueError(f"expected seconds > 0 as a number (0.25, not '250ms'), got {v!r}")
    return float(v)


_LATENCY = {"provider": (text, True), "model": (text, True), "serves": (serves, False),
            "metric": (_one_of(METRICS), True), "percentile": (_one_of(PERCENTILES), True),
            "value_s": (_seconds, True), "measured_from": (text, True), "server_side": (flag, False),
            "upper_bound": (flag, False), "as_of": (as_of, True), "source": (text, True)}
_RTT = {"name": (text, True), "scope": (_one_of(SCOPES), True), "between": (text, True),
        "statistic": (_one_of(STATISTICS), True), "value_s": (_seconds, True), "role": (_opt_role, False),
        "as_of": (as_of, True), "source": (text, True)}


@lru_cache(maxsize=8)
def _load(path: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    doc = read_yaml(path)
    if not isinstance(doc.data, dict):
        raise doc.error("an API latency file is a mapping with sections 'latency:' and 'rtt:'")
    rows = read_rows(doc, "latency", _LATENCY, ("provider", "model", "metric", "percentile"))
    rtt = read_rows(doc, "rtt", _RTT, ("name",))
    for section, items, key in (("latency", rows, ("provider", "model", "metric", "percentile", "as_of")),
                                ("rtt", rtt, ("name",))):
        seen: dict[tuple, int] = {}
        for i, r in enumerate(items):
            k = tuple(r[f] for f in key)
            if k in seen:
                raise doc.error(f"duplicate of entry {seen[k] + 1} ({' / '.join(map(str, k))})", section, i)
            seen[k] = i
    for role in ROLES:
        holders = [i for i, r in enumerate(rtt) if r["role"] == role]
        if len(holders) != 1:
            raise doc.error(f"exactly one rtt entry needs role: {role} (found {len(holders)})", "rtt",
                            *(holders[1:2] or ()))
    for r in rows:
        r["serves"] = r["serves"] or ""
    return (pd.DataFrame(rows, columns=list(LATENCY_COLUMNS)), pd.DataFrame(rtt, columns=list(RTT_COLUMNS)))


def load_api_latency(path: str | Path | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(ApiLatency, Rtt) tables (module docstring) from the packaged catalogue or a user file of the same layout."""
    rows, rtt = _load(str(Path(path) if path is not None else API_LATENCY_FILE))
    return rows.copy(), rtt.copy()


def role_rtt_s(rtt: pd.DataFrame, role: str) -> float:
    """The value_s [s] of the rtt row holding `role` (client-default | co-located)."""
    hit = rtt[rtt["role"] == role] if len(rtt) else rtt
    if len(hit) != 1:
        raise PlannerError(f"the RTT table needs exactly one row with role {role!r}; it has {len(hit)}")
    return float(hit.iloc[0]["value_s"])


@dataclass(frozen=True)
class LatencyCheck:
    """Whether latency drives the decision and whether any API meets it.

    required: co-location was asked for, or ttft_p99_s < DRIVER_TTFT_P99_S.
    any_api_meets: True / False / None (cannot be confirmed from published figures).
    table: TABLE_COLUMNS, one row per judged figure (meets: yes | no | unknown), fastest first.
    client_rtt_s, co_located_rtt_s: the round trips used [s]. sentences: the reasons in plain English.
    """

    required: bool
    any_api_meets: bool | None
    table: pd.DataFrame
    client_rtt_s: float
    co_located_rtt_s: float
    sentences: tuple[str, ...]


def _meets(percentile: str, total_s: float, limit_s: float, upper_bound: bool) -> str:
    if percentile == "p99":
        return "yes" if total_s <= limit_s else ("unknown" if upper_bound else "no")
    return "no" if total_s > limit_s and not upper_bound else "unknown"


def _judge(rows: pd.DataFrame, limits: dict[str, float], client_rtt_s: float) -> pd.DataFrame:
    out = []
    for _, r in rows[rows["metric"].isin(list(limits))].iterrows():
        rtt_s = client_rtt_s if r["metric"] == "ttft" and r["server_side"] else 0.0
        total = float(r["value_s"]) + rtt_s
        out.append({**r.to_dict(), "rtt_s": rtt_s, "api_plus_rtt_s": total,
                    "meets": _meets(r["percentile"], total, limits[r["metric"]], bool(r["upper_bound"]))})
    df = pd.DataFrame(out, columns=list(TABLE_COLUMNS))
    return df.sort_values(["metric", "api_plus_rtt_s"], ascending=[False, True], kind="stable").reset_index(drop=True)


def _verdict(table: pd.DataFrame) -> tuple[bool | None, list[str], list[str]]:
    """(any_api_meets, models meeting, models failing) with a (provider, model) judged as in the module docstring."""
    meeting, failing = [], []
    for (provider, model), g in table.groupby(["provider", "model"], sort=False):
        label = f"{provider} {model}"
        if (g["meets"] == "no").any():
            failing.append(label)
        elif all((g[g["metric"] == m]["meets"] == "yes").any() for m in ("ttft", "itl")):
            meeting.append(label)
    n = table.groupby(["provider", "model"]).ngroups if len(table) else 0
    verdict = True if meeting else (False if n and len(failing) == n else None)
    return verdict, meeting, failing


def _fig(r: pd.Series) -> str:
    rtt = f" + {r['rtt_s'] * 1e3:.1f} ms RTT" if r["rtt_s"] else ""
    return (f"{r['provider']} {r['model']} {r['metric'].upper()} {r['percentile']} {r['value_s']:.3g} s{rtt} "
            f"({r['source'].split(' ')[0]}, {r['as_of']})")


def _sentences(req: bool, co_located: bool, ttft_p99_s: float, tpot_p99_s: float, verdict: bool | None,
               table: pd.DataFrame, meeting: list[str], client_rtt_s: float, co_rtt_s: float) -> tuple[str, ...]:
    ms = f"{ttft_p99_s * 1e3:,.0f} ms"
    if co_located:
        why = f"The application asks for co-located latency (TTFT p99 {ms}, TPOT p99 {tpot_p99_s * 1e3:,.0f} ms)."
    elif req:
        why = (f"A TTFT p99 of {ms} is under {DRIVER_TTFT_P99_S * 1e3:.0f} ms: the hidden-cost write-up (§3) says "
               "co-located inference is needed for sub-100 ms p99, so latency is a driver.")
    else:
        why = (f"A TTFT p99 of {ms} is not under {DRIVER_TTFT_P99_S * 1e3:.0f} ms and co-location was not asked for: "
               "latency does not drive the decision (the hidden-cost write-up, §3); the published figures are shown "
               "for information.")
    out = [why]
    if table.empty:
        out.append("No published latency figure matches these providers: whether an API meets it cannot be said.")
    elif verdict is False:
        first_no = table[table["meets"] == "no"].iloc[0]
        limit = ms if first_no["metric"] == "ttft" else f"{tpot_p99_s * 1e3:,.1f} ms"
        out.append(f"No API meets it: every API has a published figure already over its limit, and an API's p99 is at "
                   f"least its median; the nearest is {_fig(first_no)}, over {limit}.")
    elif verdict:
        out.append(f"Published p99 figures within the limits: {', '.join(meeting)}.")
    else:
        out.append("Cannot be confirmed from published figures: the APIs not ruled out publish only medians (or no "
                   "ITL) under the limit, and a median says nothing of the p99.")
    out.append(f"Figures timed by a client over the network already hold its round trip; server-side TTFT figures get "
               f"{client_rtt_s * 1e3:.1f} ms (client in the API's region, another zone). Self-hosting beside the "
               f"application pays the same-zone round trip, {co_rtt_s * 1e3:.2f} ms.")
    return tuple(out)


def latency_check(ttft_p99_s: float, tpot_p99_s: float, co_located: bool, rows: pd.DataFrame, rtt: pd.DataFrame,
                  providers: Iterable[str] | None = None, client_rtt_s: float | None = None) -> LatencyCheck:
    """Judge the published API latencies against TTFT and TPOT p99 limits [s] (module docstring). `providers`
    keeps those providers' rows only; `client_rtt_s` [s] replaces the client-default RTT row (a client elsewhere)."""
    for name, v in (("ttft_p99_s", ttft_p99_s), ("tpot_p99_s", tpot_p99_s)):
        if not (isinstance(v, (int, float)) and math.isfinite(v) and v > 0):
            raise PlannerError(f"{name} must be a number of seconds > 0, got {v!r}")
    if providers is not None:
        keep = set(providers)
        rows = rows[rows["provider"].isin(keep)]
    client = role_rtt_s(rtt, "client-default") if client_rtt_s is None else float(client_rtt_s)
    co_rtt = role_rtt_s(rtt, "co-located")
    required = bool(co_located) or ttft_p99_s < DRIVER_TTFT_P99_S
    table = _judge(rows, {"ttft": ttft_p99_s, "itl": tpot_p99_s}, client)
    verdict, meeting, _ = _verdict(table)
    sentences = _sentences(required, bool(co_located), ttft_p99_s, tpot_p99_s, verdict, table, meeting, client, co_rtt)
    return LatencyCheck(required, verdict, table, client, co_rtt, sentences)


__all__ = ["API_LATENCY_FILE", "DRIVER_TTFT_P99_S", "METRICS", "PERCENTILES", "LATENCY_COLUMNS", "RTT_COLUMNS",
           "TABLE_COLUMNS", "LatencyCheck", "load_api_latency", "role_rtt_s", "latency_check"]
