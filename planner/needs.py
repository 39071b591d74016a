"""Capability needs: what an API cannot do for you, and what that costs (issue 19 item 2).

The seed's write-up: "self-hosting is a capability decision, not a cost decision, for 90% of companies". The user
names needs (``--needs fine-tuning,air-gapped,compliance,full-stack-control``, or ``needs:`` in a workload file);
``planner/catalogues/needs.yaml`` says for each whether an API can meet it and which hosted offers meet part of it,
each with its source and the date it was read.

Per need (:func:`check_needs`)::

    api_can_meet = "no"       the catalogue says no API can (air-gapped, full-stack-control), or, for fine-tuning,
                              no hosted option serves fine-tunes of this model (a --config model never has one)
                 = "partly"   hosted options meet part of it: listed, the verdict is qualified, not changed

A need no API meets changes the verdict to ``self-host-for-capability`` (:func:`capability_verdict`), naming the
need, what self-hosting costs over the reference API (self-host TCO - API monthly cost, USD/month, and the ratio)
and the hosted offers that meet part of it. A latency requirement no API meets (planner.latency) is such a need.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path

import pandas as pd

from planner.errors import PlannerError
from planner.prices import CATALOGUE_DIR
from planner.units import fmt_usd, read_yaml
from planner.verdict import Verdict
from profiler.errors import CatalogueError, InvalidValueError, did_you_mean

NEEDS_FILE: Path = CATALOGUE_DIR / "needs.yaml"
CAN_MEET = ("no", "partly")
SAME_WEIGHTS_HOSTS = "same-weights-hosts"  # a hosted option that serves fine-tunes of any model the provider hosts


@dataclass(frozen=True)
class NeedResult:
    need: str
    api_can_meet: str  # "no" | "partly"
    what: str  # the need in words
    why: str  # why an API cannot (fully) meet it
    options: tuple[str, ...] = ()  # hosted offers that meet part of it: "provider: offer (source, as of)"


@lru_cache(maxsize=4)
def load_needs(path: str | None = None) -> dict[str, dict]:
    """need id -> {what, api_can_meet, why, hosted_options: [{provider, offer, serves, as_of, source}]}."""
    doc = read_yaml(path or NEEDS_FILE)
    needs = doc.data.get("needs") if isinstance(doc.data, Mapping) else None
    if not isinstance(needs, Mapping) or not needs:
        raise doc.error("a needs file has a mapping `needs:` of need id -> {what, api_can_meet, why, hosted_options}")
    out = {}
    for nid, raw in needs.items():
        if not isinstance(raw, Mapping) or raw.get("api_can_meet") not in CAN_MEET:
            raise doc.error(f"need '{nid}': api_can_meet must be one of {', '.join(CAN_MEET)}", "needs", nid,
                            entry=str(nid), field="api_can_meet")
        opts = raw.get("hosted_options") or []
        for i, o in enumerate(opts):
            if not isinstance(o, Mapping) or not all(o.get(k) for k in ("provider", "offer", "as_of", "source")):
                raise doc.error(f"need '{nid}': each hosted option needs provider, offer, as_of and source",
                                "needs", nid, "hosted_options", i, entry=str(nid), field="hosted_options")
        out[str(nid)] = {"what": str(raw.get("what", nid)), "api_can_meet": raw["api_can_meet"],
                         "why": " ".join(str(raw.get("why", "")).split()), "hosted_options": list(opts)}
    return out


def parse_needs(text: str | Iterable[str] | None, known: Iterable[str] | None = None) -> tuple[str, ...]:
    """'fine-tuning, air-gapped' -> ('fine-tuning', 'air-gapped'); an unknown need is an error naming the close one."""
    if text is None:
        return ()
    items = text.split(",") if isinstance(text, str) else list(text)
    names = tuple(dict.fromkeys(str(n).strip().lower() for n in items if str(n).strip()))
    known = tuple(known if known is not None else load_needs())
    for n in names:
        if n not in known:
            hint = did_you_mean(n, known)
            raise InvalidValueError(f"unknown need '{n}'{hint}; needs: {', '.join(known)}")
    return names


def _serves(option: Mapping, model_name: str, api: pd.DataFrame) -> bool:
    serves = option.get("serves") or []
    if serves == SAME_WEIGHTS_HOSTS:
        hosted = api[(api.get("serves", pd.Series("", index=api.index)) == model_name)]
        return bool((hosted["provider"] == option["provider"]).any())
    return model_name in serves


def _option_text(o: Mapping) -> str:
    return f"{o['provider']}: {' '.join(str(o['offer']).split())} ({o['source']}; read {o['as_of']})"


def check_needs(needs: Iterable[str], model_name: str, api: pd.DataFrame,
                catalogue: Mapping[str, dict] | None = None) -> tuple[NeedResult, ...]:
    """Each named need against the catalogue (module docstring). `api` is the plan's API table (``serves`` column)."""
    cat = catalogue if catalogue is not None else load_needs()
    out = []
    for n in needs:
        if n not in cat:
            raise CatalogueError(f"need '{n}' is not in the needs catalogue ({', '.join(cat)})")
        c = cat[n]
        opts = c["hosted_options"]
        can = c["api_can_meet"]
        if n == "fine-tuning":  # partly only where a hosted option serves fine-tunes of this very model
            opts = [o for o in opts if _serves(o, model_name, api)]
            can = "partly" if opts else "no"
        why = c["why"] if can == c["api_can_meet"] else (
            f"no hosted fine-tuning option in the catalogue serves {model_name} ({c['why']})")
        out.append(NeedResult(n, can, c["what"], why, tuple(_option_text(o) for o in opts)))
    return tuple(out)


def capability_verdict(verdict: Verdict, results: Iterable[NeedResult], self_host_monthly: float,
                       api_monthly: float) -> Verdict:
    """The verdict with the needs applied: any need no API meets makes it ``self-host-for-capability``; needs met in
    part add a qualifying reason. `api_monthly` is the reference's monthly cost [USD]."""
    results = tuple(results)
    if not results:
        return verdict
    if self_host_monthly <= 0:
        raise PlannerError(f"self-host monthly cost must be > 0, got {self_host_monthly!r}")
    over = self_host_monthly - api_monthly
    ratio = self_host_monthly / api_monthly if api_monthly > 0 else float("inf")
    cost = (f"self-hosting costs {fmt_usd(self_host_monthly)}/month, {fmt_usd(over)}/month more than "
            f"{verdict.reference_api} ({fmt_usd(api_monthly)}/month; {ratio:,.3g}× as much)" if over > 0 else
            f"self-hosting ({fmt_usd(self_host_monthly)}/month) also costs no more than {verdict.reference_api} "
            f"({fmt_usd(api_monthly)}/month)")
    unmet = [r for r in results if r.api_can_meet == "no"]
    partly = [r for r in results if r.api_can_meet == "partly"]
    reasons = []
    for r in unmet:
        part = f" Hosted offers that meet part of it: {'; '.join(r.options)}." if r.options else ""
        reasons.append(f"Need '{r.need}' ({r.what}): no API meets it, because {r.why}.{part}")
    for r in partly:
        reasons.append(f"Need '{r.need}' ({r.what}) is met in part by hosted offers: {'; '.join(r.options)}. "
                       f"Check they cover your case ({r.why}); if not, it is a capability reason to self-host.")
    if not unmet:
        return replace(verdict, reasons=verdict.reasons[:1] + tuple(reasons) + verdict.reasons[1:])
    names = ", ".join(f"'{r.need}'" for r in unmet)
    head = (f"Self-host for capability: {names} cannot be met by any API, so cost does not decide; {cost}. "
            f"On cost alone the verdict would be {verdict.decision}.")
    return replace(verdict, decision="self-host-for-capability",
                   reasons=(head,) + tuple(reasons) + verdict.reasons)


__all__ = ["NeedResult", "load_needs", "parse_needs", "check_needs", "capability_verdict", "NEEDS_FILE"]
