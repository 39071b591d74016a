"""One load point's records -> its summary row; the points of a run -> where the server saturates.

Summaries use ``vllm bench serve``'s definitions (vllm/benchmarks/serve.py ``calculate_metrics``, vllm-project/vllm
at 009e6d4a1cd6), so the numbers compare with its output and with guidellm's:

- ``request_throughput`` = completed requests / duration (first send to last token), ``output_throughput`` =
  output tokens / duration;
- percentiles are numpy's linear interpolation (``np.percentile``, as vLLM), in ms: TTFT, TPOT and E2E per
  request, ITL over every gap of every request (pooled);
- ``goodput`` (vLLM ``--goodput``; DistServe, Zhong et al., OSDI 2024) = completed requests whose TTFT and
  TPOT both meet the SLOs, per second of the same duration. Without an SLO it is empty.

Columns of :func:`summary` (the ``points`` table of ``inferplan endpoint``; every time in ms):
``point`` (label), ``kind``, ``offered_rate`` (req/s, rate points), ``concurrency`` (fixed, or the cap),
``completed``, ``failed``, ``unfinished`` (cancelled at the bound or by Ctrl-C), ``duration_s``,
``request_throughput``, ``output_throughput``, ``input_tokens`` / ``output_tokens`` (means: the server's usage
counts where it sent them), ``in_flight`` (mean requests in flight, Little's law: throughput x mean E2E),
``ttft_{mean,p50,p90,p99}``, ``itl_*``, ``tpot_*``, ``e2e_*``, ``goodput``, ``slo_met`` (p99 TTFT and p99 TPOT
within the SLOs given), ``keeps_up`` (rate points: :func:`keeps_up`).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from profiler.endpoint.client import ERROR_CLASSES, RequestRecord
from profiler.endpoint.load import PointRun

PERCENTILES = (50, 90, 99)
# A rate point keeps up when requests complete at >= this share of the rate they were sent at; below it the
# server's queue grows for as long as the load lasts. 10% leaves room for Poisson noise over ~100 requests
# (the relative spread of 100 exponential gaps' sum is 1/sqrt(100) = 10%).
KEEP_UP_SHARE = 0.9
# The knee of a concurrency sweep: the least concurrency reaching this share of the best measured throughput.
KNEE_SHARE = 0.9


@dataclass(frozen=True)
class Slo:
    ttft_ms: float | None = None
    tpot_ms: float | None = None

    def given(self) -> bool:
        return self.ttft_ms is not None or self.tpot_ms is not None

    def met_by(self, r: RequestRecord) -> bool:
        return ((self.ttft_ms is None or r.ttft_s * 1e3 <= self.ttft_ms)
                and (self.tpot_ms is None or not r.tpot_s * 1e3 > self.tpot_ms))


def _summary_stats(name: str, values_s: Sequence[float]) -> dict[str, float]:
    vals = np.asarray([v for v in values_s if v == v], dtype=float) * 1e3
    if not len(vals):
        return {f"{name}_mean": math.nan, **{f"{name}_p{q}": math.nan for q in PERCENTILES}}
    return {f"{name}_mean": float(vals.mean()), **{f"{name}_p{q}": float(np.percentile(vals, q)) for q in PERCENTILES}}


def keeps_up(run: PointRun) -> bool | None:
    """Rate points: whether completions kept pace with arrivals, i.e. the completion rate over the completions'
    span is >= KEEP_UP_SHARE x the send rate over the sends' span (both over the same requests). None for other
    kinds and for fewer than 10 completed requests (too few to tell)."""
    ok = [r for r in run.records if r.ok]
    if run.point.kind != "rate" or len(ok) < 10:
        return None
    sends = sorted(r.sent_s for r in ok)
    dones = sorted(r.sent_s + r.e2e_s for r in ok)
    send_span, done_span = sends[-1] - sends[0], dones[-1] - dones[0]
    if send_span <= 0:
        return None
    return done_span <= 0 or (len(ok) - 1) / done_span >= KEEP_UP_SHARE * (len(ok) - 1) / send_span


def summary(run: PointRun, slo: Slo, input_tokens: int, output_tokens: int) -> dict[str, Any]:
    """The point's row (module docstring); `input_tokens`/`output_tokens` are the requested lengths, used where
    the server reported no usage."""
    ok = [r for r in run.records if r.ok]
    dur = run.duration_s
    out_tokens = sum(r.output_tokens for r in ok)
    prompts = [r.prompt_tokens for r in ok if r.prompt_tokens is not None]
    row: dict[str, Any] = {
        "point": run.point.label, "kind": run.point.kind,
        "offered_rate": run.point.rate if run.point.kind == "rate" else math.nan,
        "concurrency": run.point.concurrency, "completed": len(ok), "failed": len(run.records) - len(ok),
        "unfinished": run.unfinished, "duration_s": dur,
        "request_throughput": len(ok) / dur if dur > 0 else math.nan,
        "output_throughput": out_tokens / dur if dur > 0 else math.nan,
        "input_tokens": float(np.mean(prompts)) if prompts else float(input_tokens) if ok else math.nan,
        "output_tokens": out_tokens / len(ok) if ok else math.nan,
    }
    row["in_flight"] = row["request_throughput"] * float(np.mean([r.e2e_s for r in ok])) if ok and dur > 0 \
        else math.nan
    row.update(_summary_stats("ttft", [r.ttft_s for r in ok]))
    row.update(_summary_stats("itl", [g for r in ok for g in r.itl_s]))
    row.update(_summary_stats("tpot", [r.tpot_s for r in ok]))
    row.update(_summary_stats("e2e", [r.e2e_s for r in ok]))
    row["goodput"] = (sum(slo.met_by(r) for r in ok) / dur if dur > 0 else math.nan) if slo.given() else math.nan
    row["slo_met"] = (bool(ok) and (slo.ttft_ms is None or row["ttft_p99"] <= slo.ttft_ms)
                      and (slo.tpot_ms is None or not row["tpot_p99"] > slo.tpot_ms)) if slo.given() else None
    row["keeps_up"] = keeps_up(run)
    return row


def failure_lines(records: Sequence[RequestRecord]) -> list[str]:
    """One line per failure class: its count and its first message (never one line per request)."""
    failed = [r for r in records if not r.ok]
    counts = Counter(r.error_class for r in failed)
    order = sorted(counts, key=lambda c: ERROR_CLASSES.index(c) if c in ERROR_CLASSES else len(ERROR_CLASSES))
    lines = []
    for cls in order:
        first = next(r for r in failed if r.error_class == cls)
        lines.append(f"{cls}: {counts[cls]} request{'s' if counts[cls] != 1 else ''} (first: {first.error})")
    return lines


def saturation(rows: Sequence[dict[str, Any]], slo: Slo) -> list[str]:
    """Sentences on where the server saturates, from the points' rows in load order."""
    lines = []
    rates = [r for r in rows if r["kind"] == "rate" and r["keeps_up"] is not None]
    if rates:
        behind = [r for r in rates if not r["keeps_up"]]
        kept = [r for r in rates if r["keeps_up"]]
        if behind:
            first = min(behind, key=lambda r: r["offered_rate"])
            best = f"; the highest rate it kept up with: {max(r['offered_rate'] for r in kept):g}/s" if kept else ""
            lines.append(f"saturation: at {first['offered_rate']:g} req/s the server completed "
                         f"{first['request_throughput']:.3g} req/s; its queue grows (completions below "
                         f"{KEEP_UP_SHARE:.0%} of arrivals){best}")
        else:
            lines.append(f"saturation: not reached; the server kept up with every rate up to "
                         f"{max(r['offered_rate'] for r in rates):g} req/s")
    conc = [r for r in rows if r["kind"] == "concurrency" and r["output_throughput"] == r["output_throughput"]]
    if len(conc) >= 2:
        peak = max(r["output_throughput"] for r in conc)
        knee = min((r for r in conc if r["output_throughput"] >= KNEE_SHARE * peak),
                   key=lambda r: r["in_flight"])
        lines.append(f"throughput knee: {knee['point']} reaches {knee['output_throughput']:,.0f} output tokens/s, "
                     f"{KNEE_SHARE:.0%} or more of the best measured ({peak:,.0f}); more concurrency mostly adds "
                     "latency" if knee is not max(conc, key=lambda r: r["in_flight"]) else
                     f"throughput knee: not reached; output tokens/s still rose at the highest load ({knee['point']}, "
                     f"{knee['output_throughput']:,.0f} tokens/s)")
    if slo.given():
        met = [r for r in rows if r["slo_met"]]
        want = " and ".join(f"p99 {k} <= {v:g} ms" for k, v in (("TTFT", slo.ttft_ms), ("TPOT", slo.tpot_ms))
                            if v is not None)
        if met:
            best = max(met, key=lambda r: r["request_throughput"])
            lines.append(f"SLO ({want}): met up to {best['point']} ({best['request_throughput']:.3g} req/s, "
                         f"{best['output_throughput']:,.0f} output tokens/s)")
        else:
            lines.append(f"SLO ({want}): met at no load point measured")
    return lines
