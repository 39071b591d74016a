"""The analytic profile: a grid over quant x KV dtype x TP x phase x batch x context -> Profile rows.

Rows follow :data:`profiler.schema.PROFILE_COLUMNS` with ``source="analytic"`` (or ``"calibrated"``
when the efficiencies came from a calibration file). A point whose KV does not fit is a row with
``status="oom"``; a quant the GPU cannot run is ``status="unsupported"``; neither stops the grid.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd

from profiler.analytic import memory, timing
from profiler.analytic.efficiency import efficiency_for
from profiler.errors import DoesNotFitError, InvalidValueError, UnsupportedQuantError
from profiler.schema import normalise
from profiler.specs import Efficiency, GpuSpec, KvDtype, ModelSpec, QuantScheme

GIB = 2**30
TP_CHOICES = (1, 2, 4, 8)
# Sanity bounds on a grid (not limits of the model): 2^20 concurrent sequences, 2^24-token contexts (16x the
# longest catalogue context), and 1,024-GPU TP groups are far past any engine's configuration.
GRID_LIMITS = {"batches": 2**20, "contexts": 2**24, "tps": 1024}
EfficiencyLookup = Callable[[str, str], Efficiency]


@dataclass(frozen=True)
class Grid:
    """What to profile. Batches and contexts are the points of both phases."""

    quants: tuple[QuantScheme, ...]
    kv_dtypes: tuple[KvDtype, ...] = (KvDtype.BF16,)
    tps: tuple[int, ...] = (1,)
    batches: tuple[int, ...] = (1, 8, 64)
    contexts: tuple[int, ...] = (1024, 8192)
    phases: tuple[str, ...] = ("prefill", "decode")

    def __post_init__(self) -> None:
        for name in ("batches", "contexts", "tps"):
            bad = [v for v in getattr(self, name) if v < 1]
            if bad:
                raise InvalidValueError(f"{name} must be positive integers, got {bad}")
            high = [v for v in getattr(self, name) if v > GRID_LIMITS[name]]
            if high:
                raise InvalidValueError(f"{name} above {GRID_LIMITS[name]:,} are not a serving configuration "
                                        f"(got {high})")
        if not self.quants:
            raise InvalidValueError("at least one quantisation scheme is needed")


def _base(model: ModelSpec, gpu: GpuSpec, quant: QuantScheme, kv: KvDtype, tp: int, eff: Efficiency) -> dict:
    return {"model": model.name, "gpu": gpu.id, "quant": quant.id, "kv_dtype": kv.value, "tp": tp,
            "source": "calibrated" if eff.source.startswith("calibrated") else "analytic"}


def _point(model: ModelSpec, gpu: GpuSpec, quant: QuantScheme, kv: KvDtype, tp: int, eff: Efficiency,
           budget: memory.MemoryBudget, phase: str, batch: int, context: int) -> dict[str, Any]:
    row: dict[str, Any] = {"phase": phase, "batch": batch, "context": context,
                           "weights_bytes": budget.weights_bytes, "kv_bytes_per_token": budget.kv_bytes_per_token,
                           "kv_capacity_tokens": budget.kv_capacity_tokens}
    max_batch = memory.max_concurrent_sequences(budget, model, kv, tp, context)
    row["max_batch"] = max_batch
    tokens = batch * context if phase == "prefill" else batch
    # the engine prefills in chunks of at most max_num_batched_tokens, so activations peak at one chunk
    act = memory.activation_bytes(model, tp, chunk_tokens=min(tokens, memory.DEFAULT_CHUNK_TOKENS),
                                  max_num_seqs=batch)
    kv_bytes = batch * memory.kv_bytes_per_sequence(model, kv, tp, context)
    fixed = sum(items.get(k, 0) for items in (budget.reserves, budget.outside_util) for k in ("cuda_context", "nccl"))
    row["peak_bytes"] = budget.weights_bytes + fixed + act + kv_bytes
    if context > model.max_context:
        row.update(status="unsupported", note=f"context {context} exceeds the model's {model.max_context}")
        return row
    if budget.headroom_short_bytes > 0:
        row.update(status="oom", note=f"the engine would fail at {budget.headroom_failure}: the "
                                      f"{1 - eff.gpu_memory_utilization:.0%} of HBM outside --gpu-memory-utilization "
                                      "is "
                                      f"{budget.headroom_short_bytes / GIB:.2f} GiB short of what vLLM keeps there "
                                      "(CUDA context, NCCL, graphs); lower --gpu-memory-utilization")
        return row
    if not budget.fits:
        row.update(status="oom", note=f"the weights ({budget.weights_bytes / GIB:.1f} GiB per GPU) with activations "
                                      f"and reserves exceed the engine's {budget.usable_bytes / GIB:.1f} GiB: no room "
                                      "for any KV cache; use more TP or a smaller quant")
        return row
    if batch > max_batch or row["peak_bytes"] > gpu.hbm_bytes:
        row.update(status="oom", note=f"needs {kv_bytes / GIB:.1f} GiB of KV; the engine budget holds "
                                      f"{max(budget.kv_budget_bytes, 0) / GIB:.1f} GiB ({max_batch} sequences)")
        return row
    step = (timing.prefill(model, gpu, quant, kv, tp, batch, context, eff) if phase == "prefill"
            else timing.decode_step(model, gpu, quant, kv, tp, batch, context, eff))
    band = eff.band_for(model.name)
    row.update(status="ok", latency_ms=step.latency_s * 1e3, tokens_per_s=tokens / step.latency_s,
               mbu=step.mbu, mfu=step.mfu, note=f"{step.bound}-bound",
               latency_ms_spread=None if band is None else band * step.latency_s * 1e3)
    return row


def _config_rows(model, gpu, quant, kv, tp, eff, grid: Grid) -> list[dict[str, Any]]:
    base = _base(model, gpu, quant, kv, tp, eff)
    points = [(p, b, c) for p in grid.phases for c in grid.contexts for b in grid.batches]
    try:
        timing.compute_dtype(gpu, quant)
        timing.check_applies(model, quant)
    except UnsupportedQuantError as exc:
        return [{**base, "phase": p, "batch": b, "context": c, "status": "unsupported", "note": str(exc)}
                for p, b, c in points]
    budget = memory.memory_budget(model, gpu, quant, kv, tp, eff)
    return [{**base, **_point(model, gpu, quant, kv, tp, eff, budget, p, b, c)} for p, b, c in points]


def analytic_profile(model: ModelSpec, gpu: GpuSpec, grid: Grid,
                     efficiency: EfficiencyLookup | None = None) -> pd.DataFrame:
    """Profile rows for every grid point; per GPU byte counts; never raises for a point that does not fit."""
    lookup = efficiency or efficiency_for
    rows: list[dict[str, Any]] = []
    for quant in grid.quants:
        eff = lookup(gpu.id, quant.id)
        for kv in grid.kv_dtypes:
            for tp in grid.tps:
                memory.check_tp(model, tp)
                rows += _config_rows(model, gpu, quant, kv, tp, eff, grid)
    return normalise(rows)


# ------------------------------------------------------------------------------------------------
# "What would fit": used when a requested configuration does not.
# ------------------------------------------------------------------------------------------------


def fits(model: ModelSpec, gpu: GpuSpec, quant: QuantScheme, kv: KvDtype, tp: int, context: int,
         eff: Efficiency) -> bool:
    """True when at least one sequence of `context` tokens fits beside the weights."""
    try:
        memory.check_tp(model, tp)
        timing.compute_dtype(gpu, quant)
        timing.check_applies(model, quant)
    except (InvalidValueError, UnsupportedQuantError):
        return False
    budget = memory.memory_budget(model, gpu, quant, kv, tp, eff)
    return memory.max_concurrent_sequences(budget, model, kv, tp, context) >= 1


def what_fits(model: ModelSpec, gpus: Mapping[str, GpuSpec], quants: Mapping[str, QuantScheme], kv: KvDtype,
              context: int, efficiency: EfficiencyLookup | None = None,
              tps: Iterable[int] = TP_CHOICES) -> list[tuple[str, str, int]]:
    """(gpu, quant, smallest TP) for every GPU and quant where the model fits at `context`."""
    lookup = efficiency or efficiency_for
    out = []
    for gpu in gpus.values():
        for quant in quants.values():
            eff = lookup(gpu.id, quant.id)
            tp = next((t for t in tps if t <= gpu.gpus_per_node and fits(model, gpu, quant, kv, t, context, eff)),
                      None)
            if tp is not None:
                out.append((gpu.id, quant.id, tp))
    return out


def does_not_fit_message(model: ModelSpec, gpu: GpuSpec, quant: QuantScheme, kv: KvDtype, tp: int,
                         context: int, eff: Efficiency, options: list[tuple[str, str, int]]) -> str:
    """One paragraph: why it does not fit and what would (more TP on this GPU, another quant, another GPU)."""
    budget = memory.memory_budget(model, gpu, quant, kv, tp, eff)
    head = (f"{model.name} at {quant.id} does not fit {tp}x {gpu.id}: weights need "
            f"{budget.weights_bytes / GIB:.1f} GiB per GPU and the engine can use "
            f"{budget.usable_bytes / GIB:.1f} GiB ({eff.gpu_memory_utilization:.0%} of HBM) including "
            f"activations and reserves, leaving {budget.kv_budget_bytes / GIB:.1f} GiB for KV "
            f"(one {context}-token sequence needs "
            f"{memory.kv_bytes_per_sequence(model, kv, tp, context) / GIB:.2f} GiB).")
    same_gpu = [f"{q} at TP={t}" for g, q, t in options if g == gpu.id]
    others: dict[str, list[tuple[int, str]]] = {}
    for g, q, t in options:
        if g != gpu.id:
            others.setdefault(g, []).append((t, q))
    other = [f"{g} ({', '.join(f'{q} TP={t}' for t, q in sorted(opts)[:3])})" for g, opts in others.items()]
    hints = []
    if same_gpu:
        hints.append(f"On {gpu.id} it fits as: {', '.join(same_gpu)}.")
    if other:
        hints.append(f"Other GPUs, within one node: {'; '.join(other)}.")
    if not options:
        hints.append("No catalogue GPU holds it within one 8-GPU node; it needs multi-node serving, "
                     "which inferplan does not model.")
    return " ".join([head, *hints])


def require_fit(model: ModelSpec, gpu: GpuSpec, quant: QuantScheme, kv: KvDtype, tp: int, context: int,
                gpus: Mapping[str, GpuSpec], quants: Mapping[str, QuantScheme],
                efficiency: EfficiencyLookup | None = None) -> None:
    """Raise DoesNotFitError, saying what would fit, unless one `context`-token sequence fits."""
    lookup = efficiency or efficiency_for
    eff = lookup(gpu.id, quant.id)
    if fits(model, gpu, quant, kv, tp, context, eff):
        return
    timing.compute_dtype(gpu, quant)  # an unsupported quant says so first
    timing.check_applies(model, quant)
    options = what_fits(model, gpus, quants, kv, context, lookup)
    raise DoesNotFitError(does_not_fit_message(model, gpu, quant, kv, tp, context, eff, options))
