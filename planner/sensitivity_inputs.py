"""The inputs `inferplan sensitivity` varies, each over a stated range (planner.sensitivity runs them).

Each :class:`Input` has an axis in its own unit (``unit``), a low and a high end with the range's source or rationale
(``basis``, also the table's ``range_basis`` column), a way to re-state the plan's request at a value of the axis
(``apply``, always on the base request) and the words a value is shown in (``label``). Ranges:

- ``gpu-price``: every GPU-hour price x0.7 to x1.3 (PlanRequest.gpu_price_factor);
- ``volume``: tokens/day x0.5 to x2, request lengths and mix kept (Workload.scaled_to);
- ``peak``: peak-to-average x0.75 (at least 1: flat traffic) to x2 (an hourly profile fixes the peak: the point
  replaces it by the peak asked for, which is all the sizing reads);
- ``utilisation``: the share of each replica's p99-SLO request rate the fleet may load it to, 60% to 100% (p99
  sizing today has no cap, i.e. 100%). Loading each replica to at most u of its rate needs ceil(peak / (u x rate))
  replicas, exactly the replicas for a peak of peak / u at the full rate, so a point is the plan at
  peak_to_average / u. Side effect: everything else sized on the peak moves the same way — the guard model beside
  the deployment is also loaded to at most u — and under ``--sizing mean-value`` the cap multiplies that sizing's
  own 80% load cap;
- ``people-cost``: the engineer cost over the talent catalogue's pay range for the region (planner/catalogues/
  risks.yaml ``talent``: US = the hidden-cost write-up's $180-280K/yr, seed_cost_model.md §3), through
  PlanRequest.people_cost_factor relative to the engineer cost the plan uses (tco_defaults.yaml globals, or the
  --talent-region mid-point);
- ``standby``: the hot-standby fraction at every fleet size from 0 (spares from the availability target alone) to
  1.0 (a full mirror); the base is the request's policy (by default 50% up to 2 replicas, then N+k);
- ``api-price``: every API token price x0.7 to x1.3 (PlanRequest.api_price_factor; the dedicated offers' hourly
  prices, the API side under --residency, move with them);
- ``cached-input``: the share of input tokens served from a prompt cache, 0% to 50% (or the request's share when
  higher);
- ``prompt-length``, ``output-length``: the mean prompt / output tokens per request x0.5 to x2 with requests/day
  fixed, so tokens/day move with them (design choice: the number of calls is what a product team knows; a longer
  prompt is more tokens to pay for on either side; ``volume`` covers the token count alone).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path

from planner import limits
from planner.errors import WorkloadError
from planner.redundancy import SEED_STANDBY_MAX_REPLICAS
from planner.units import fmt_tokens

PRICE_RANGE = (0.7, 1.3)  # design choice (issue 14): a negotiated discount or a rise of about a third; the providers'
# spread in catalogues/gpu_prices.yaml is wider (H100 on-demand $2-12/GPU-h), and --provider/--pricing compare those
VOLUME_RANGE = (0.5, 2.0)  # design choice: a forecast off by 2x either way (framework step 1 asks for measured volume)
PEAK_RANGE = (0.75, 2.0)  # design choice: a quarter flatter than planned (at least 1, flat) to twice as peaky
UTILISATION_RANGE = (0.6, 1.0)  # design choice: 60% = a fleet run with 40% headroom per replica; 100% = today's p99
CACHED_RANGE = (0.0, 0.5)  # design choice: no prompt-cache hits to half of each prompt cached (a shared prefix)
LENGTH_RANGE = (0.5, 2.0)  # design choice: mean lengths off by 2x either way, as for the volume
STANDBY_RANGE = (0.0, 1.0)  # issue 14: 0 = the availability target's N+k alone; 1.0 = a full mirror of the fleet


@dataclass(frozen=True)
class Axis:
    """One input's low, base and high values [the input's unit]; `anchor`: where the search for a verdict change
    starts when the base has no value on the axis (NaN base: the default standby policy)."""

    low: float
    base: float
    high: float
    anchor: float | None = None


@dataclass(frozen=True)
class Input:
    name: str  # the --inputs id
    what: str  # in words, for the table and the plot
    unit: str  # of the axis values (low_value, base_value, high_value)
    basis: str  # the range's source or rationale
    axis: Callable  # (base request, base plan) -> Axis
    apply: Callable  # (base request, value) -> the request at that value
    label: Callable  # (value, axis) -> the value in words


def _pct_change(v: float, axis: Axis) -> str:
    d = v / axis.base - 1
    return "as priced" if abs(d) < 5e-4 else f"{d:+.0%}" if abs(round(d * 100) - d * 100) < 0.05 else f"{d:+.1%}"


def _price(field: str) -> Callable:
    def apply(req, v: float):
        return replace(req, **{field: getattr(req, field) * v})
    return apply


def _workload(req, **changes):
    return replace(req, workload=replace(req.workload, **changes))


def _with_peak(req, peak: float):
    """The request at another peak-to-average (an hourly profile, which fixes the peak, is dropped for it)."""
    return _workload(req, hourly_profile=None, peak_to_average=peak)


def _capped(req, cap: float):
    """The request sized for its peak under a utilisation cap: peak-to-average / cap (module docstring)."""
    peak = req.workload.peak_to_average
    if peak / cap > limits.MAX_PEAK_TO_AVERAGE * (1 + 1e-9):
        raise WorkloadError(f"a {cap:.0%} cap on a {peak:g}x peak sizes for a {peak / cap:.3g}x peak, above the "
                            f"{limits.MAX_PEAK_TO_AVERAGE:g}x the planner plans for (planner/limits.py)")
    return _with_peak(req, peak / cap)


@lru_cache(maxsize=8)
def _engineer(tco: Path | None, talent_region: str | None, risks_file: Path | None) -> tuple[float, float, float]:
    """(the engineer cost the people lines use before any factor [USD/yr], the region's pay range low, high): the
    tco catalogue's (or a --tco file's) globals, or the --talent-region mid-point (planner.api.with_user_catalogues)."""
    from planner.risks import load_risks, talent_range
    from planner.tco import load_tco_defaults

    risks = load_risks(risks_file)
    pay = talent_range(talent_region or "us", risks)  # "us": the write-up's $180-280K (risks.yaml talent rows)
    usd = (float(pay["mid_usd"]) if talent_region else
           float(load_tco_defaults(tco).globals["engineer_usd_per_year"]))
    return usd, float(pay["low_usd"]), float(pay["high_usd"])


def _people_axis(req, _plan) -> Axis:
    usd, low, high = _engineer(req.tco, req.talent_region, req.risks_file)
    base = usd * req.people_cost_factor
    return Axis(min(low, base), base, max(high, base))


def _people_apply(req, v: float):
    return replace(req, people_cost_factor=v / _engineer(req.tco, req.talent_region, req.risks_file)[0])


def _standby_axis(req, plan) -> Axis:
    lo, hi = STANDBY_RANGE
    if req.hot_standby is not None:
        return Axis(min(lo, req.hot_standby), req.hot_standby, max(hi, req.hot_standby))
    # the default policy's standby at the base plan's fleet size: 50% up to 2 replicas, none above (planner.redundancy)
    anchor = 0.5 if int(plan.deployment["replicas"]) <= SEED_STANDBY_MAX_REPLICAS else 0.0
    return Axis(lo, math.nan, hi, anchor)


def _standby_label(v: float, axis: Axis) -> str:
    return "default policy" if math.isnan(v) else "none" if v == 0 else "full mirror" if v == 1 else f"{v:.0%}"


def _scaled(lo: float, hi: float, cap: float = math.inf, floor: float = 0.0) -> Callable:
    def axis(base: float) -> Axis:
        return Axis(max(floor, min(base * lo, base)), base, min(cap, max(base * hi, base)))
    return axis


def _length_apply(field: str) -> Callable:
    def apply(req, v: float):
        return _workload(req, **{field: v * req.workload.requests_per_day})
    return apply


INPUTS: dict[str, Input] = {i.name: i for i in (
    Input("gpu-price", "GPU price per hour", "x today's GPU-hour prices",
          "design choice: a negotiated discount or a rise of about a third (±30%)",
          lambda req, p: Axis(PRICE_RANGE[0], 1.0, PRICE_RANGE[1]), _price("gpu_price_factor"), _pct_change),
    Input("volume", "daily volume", "tokens/day (input + output)",
          "design choice: a volume forecast off by 2x either way (same request lengths and mix)",
          lambda req, p: _scaled(*VOLUME_RANGE, cap=limits.MAX_TOKENS_PER_DAY)(req.workload.tokens_per_day),
          lambda req, v: replace(req, workload=req.workload.scaled_to(v)),
          lambda v, a: f"{fmt_tokens(v)}/day"),
    Input("peak", "peak / average", "peak request rate / mean rate",
          "design choice: a quarter flatter (at least 1: flat traffic) to twice as peaky as planned",
          lambda req, p: _scaled(*PEAK_RANGE, cap=limits.MAX_PEAK_TO_AVERAGE, floor=1.0)(
              req.workload.peak_to_average),
          _with_peak, lambda v, a: f"{v:.3g}x"),
    Input("utilisation", "utilisation cap", "share of each replica's p99-SLO rate used",
          "design choice: 60% (40% headroom per replica) to 100% (today's p99 sizing: no cap); sized as "
          "peak-to-average / cap",
          lambda req, p: Axis(UTILISATION_RANGE[0], 1.0, UTILISATION_RANGE[1]),
          _capped, lambda v, a: f"{v:.0%}"),
    Input("people-cost", "engineer cost", "USD per engineer-year",
          "hidden-cost write-up §3: ML infrastructure engineers cost $180-280K/yr (US; planner/catalogues/"
          "risks.yaml talent, or the --talent-region's range)",
          _people_axis, _people_apply, lambda v, a: f"${v / 1e3:,.0f}K/yr"),
    Input("standby", "hot standby", "standby replicas per serving replica",
          "issue 14: none (spares from the availability target alone) to a full mirror (1 per replica)",
          _standby_axis, lambda req, v: replace(req, hot_standby=v), _standby_label),
    Input("api-price", "API prices", "x today's API token prices",
          "design choice: a price cut or rise of about a third (±30%); dedicated offers' hourly prices too",
          lambda req, p: Axis(PRICE_RANGE[0], 1.0, PRICE_RANGE[1]), _price("api_price_factor"), _pct_change),
    Input("cached-input", "cached input share", "share of input tokens",
          "design choice: no prompt-cache hits to half of each prompt cached (a shared prefix)",
          lambda req, p: Axis(min(CACHED_RANGE[0], req.workload.cached_input_fraction),
                              req.workload.cached_input_fraction,
                              max(CACHED_RANGE[1], req.workload.cached_input_fraction)),
          lambda req, v: _workload(req, cached_input_fraction=v), lambda v, a: f"{v:.0%}"),
    Input("prompt-length", "prompt length", "mean input tokens per request",
          "design choice: mean prompt 0.5x-2x with requests/day fixed (tokens/day move with it)",
          lambda req, p: _scaled(*LENGTH_RANGE, cap=limits.MAX_REQUEST_TOKENS)(req.workload.mean_input_tokens),
          _length_apply("tokens_in_per_day"), lambda v, a: f"{v:,.0f} tok"),
    Input("output-length", "output length", "mean output tokens per request",
          "design choice: mean output 0.5x-2x with requests/day fixed (tokens/day move with it)",
          lambda req, p: _scaled(*LENGTH_RANGE, cap=limits.MAX_REQUEST_TOKENS)(req.workload.mean_output_tokens),
          _length_apply("tokens_out_per_day"), lambda v, a: f"{v:,.0f} tok"),
)}
ALL: tuple[str, ...] = tuple(INPUTS)

__all__ = ["INPUTS", "ALL", "Input", "Axis"]
