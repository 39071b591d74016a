"""The verdict as the seed's framework: a cost plan in, the plan with its drivers applied and its five steps out.

:func:`with_framework` runs after :func:`planner.plan.make_plan` (and the simulator, when asked):

1. the capability needs the workload names (planner.needs) and the latency requirement (planner.latency): a need
   no API meets turns the verdict into ``self-host-for-capability``; a need met in part qualifies it;
2. price trends (planner.trends): the break-even with the reference API 12-36 months out, from the plan's own
   cost curve with GPU-hour prices scaled;
3. risks that are not line items (planner.risks): commitment, migration, spot volatility, talent, opportunity
   cost, model-update lag;
4. the five steps and the middle-ground warning (planner.framework).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pandas as pd

from planner.framework import build_framework
from planner.needs import NeedResult, capability_verdict, check_needs


def reference_monthly(plan) -> float:
    """The verdict's reference (API or dedicated offer) monthly cost [USD]."""
    return plan.verdict.api_to_tco_ratio * plan.monthly_total_cost


def _latency(plan) -> tuple[dict | None, NeedResult | None]:
    """The latency driver (planner.latency) as a record, and a need when no API can meet the requirement."""
    from planner.latency import latency_check, load_api_latency

    w = plan.workload
    rows, rtt = load_api_latency()
    check = latency_check(w.ttft_p99_s, w.tpot_p99_s, w.co_located, rows, rtt)
    if not check.required:
        return {"required": False, "sentences": list(check.sentences)}, None
    selfhost = _self_host_latency(plan)
    record = {"required": True, "any_api_meets": check.any_api_meets, "sentences": list(check.sentences),
              "self_host": selfhost, "table": check.table}
    if check.any_api_meets is False:
        why = (f"no published API latency plus the network round trip is within TTFT p99 {w.ttft_p99_s * 1e3:g} ms / "
               f"TPOT p99 {w.tpot_p99_s * 1e3:g} ms ({' '.join(check.sentences)}); self-hosted beside the "
               f"application: {selfhost}")
        return record, NeedResult("co-located latency", "no", "latency only a co-located model delivers", why)
    return record, None


def latency_reason(record: dict | None) -> str:
    """The qualifying sentence when latency is a requirement some API may meet (True) or might (None)."""
    if not record or not record.get("required") or record.get("any_api_meets") is False:
        return ""
    if record["any_api_meets"]:
        return ("Latency is a requirement and a published API p99 is within it, so it does not force self-hosting: "
                + " ".join(record["sentences"]))
    return ("Latency is a requirement that no published API p99 confirms or rules out (providers publish medians): "
            "measure the API from where the application runs before relying on it. " + " ".join(record["sentences"]))


def _self_host_latency(plan) -> str:
    """What the self-hosted plan delivers at its peak: the simulator's p99s when run, else the analytic p99 model's."""
    s = plan.simulated
    if s and s.get("at_peak"):
        p = s["at_peak"]
        return (f"the simulator gives p99 TTFT {p['ttft_p99_s'] * 1e3:.0f} ms and p99 TPOT "
                f"{p['tpot_p99_s'] * 1e3:.1f} ms per replica at the plan's peak on {_deployment(plan)}")
    q = plan.p99 or {}
    p = q.get("at_peak") or {}
    if p.get("stable"):
        return (f"the analytic p99 model (validated against the simulator, benchmarks/p99_sizing.py) gives p99 TTFT "
                f"{p['ttft_p99_s'] * 1e3:.0f} ms and p99 TPOT {p['tpot_p99_s'] * 1e3:.1f} ms per replica at the "
                f"plan's peak on {_deployment(plan)}; --simulate checks it step by step")
    return f"the plan is sized to meet the SLOs on {_deployment(plan)}; --simulate checks it step by step"


def _deployment(plan) -> str:
    d = plan.deployment
    return f"{int(d['replicas'])} + {int(d['spare_replicas'])} spare x {int(d['tp'])}x {d['gpu']} ({d['quant']})"


def _trends(plan, path: Path | None) -> tuple[pd.DataFrame | None, str]:
    from planner.trends import load_price_trends, price_trend_view

    return price_trend_view(plan, load_price_trends(path) if path is not None else None)


def _risks(plan, opportunity_hours: float | None, talent_region: str | None, path: Path | None,
           tco) -> pd.DataFrame | None:
    from planner.risks import load_risks, plan_risks

    return plan_risks(plan, opportunity_hours=opportunity_hours, talent_region=talent_region,
                      risks=load_risks(path) if path is not None else None, tco=tco)


def with_framework(plan, *, opportunity_hours: float | None = None, talent_region: str | None = None,
                   risks_file: Path | None = None, price_trends_file: Path | None = None, tco=None):
    """The plan with the drivers applied to its verdict and its ``framework`` set (module docstring). `tco`: the
    TCO defaults the plan was billed with (a --talent-region changes the engineer cost), None: the catalogue's."""
    w = plan.workload
    needs = list(check_needs(w.needs, plan.model, plan.api))
    latency, need = _latency(plan)
    if need is not None:
        needs.append(need)
    verdict = capability_verdict(plan.verdict, needs, plan.monthly_total_cost, reference_monthly(plan))
    plan = replace(plan, verdict=verdict)
    trends, trend_text = _trends(plan, price_trends_file)
    risks = _risks(plan, opportunity_hours, talent_region, risks_file, tco)
    fw = build_framework(plan, needs, latency, trends, trend_text, risks)
    extra = tuple(r for r in (latency_reason(latency), fw.middle_ground, trend_text) if r)
    return replace(plan, framework=fw, verdict=replace(verdict, reasons=verdict.reasons + extra))


__all__ = ["with_framework", "reference_monthly"]
