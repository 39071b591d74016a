"""Engine-step time and memory limits of one replica, from a profile.

The planner never times anything itself: it reads a profile. Two sources give the same interface
(``step_time_s(prefill_tokens, decode_seqs, context_tokens) -> s``, the simulator's StepTimeModel):

- :class:`AnalyticStep`: the profiler's analytic step, a sum of kernel rooflines
  (``profiler.analytic.timing.mixed_step``), i.e. an analytic profile evaluated at exactly the points the
  planner needs; with ``decode_affine`` so the simulator advances decode stretches in closed form.
- :class:`ProfileStep`: a measured or calibrated Profile table (``--profile FILE``), interpolated:
  decode latency bilinearly in (batch, context) on log axes, plus prefill time per token from the
  prefill rows for the chunked-prefill tokens of a mixed step.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
import pandas as pd

from planner.errors import PlannerError
from profiler.analytic import memory, timing
from profiler.specs import Efficiency, GpuSpec, KvDtype, ModelSpec, QuantScheme


@dataclass(frozen=True)
class Deployment:
    """One candidate replica: model on `tp` GPUs of one type at a quant and KV dtype."""

    model: ModelSpec
    gpu: GpuSpec
    quant: QuantScheme
    kv_dtype: KvDtype
    tp: int
    eff: Efficiency


# names the step-time model in simulation cache keys; bump when it changes (2: prefill chunks' exact attention pairs)
STEP_MODEL = "analytic-kernels-2"


def fingerprint_of(dep: Deployment) -> str:
    """Stable text of a deployment (its specs and efficiencies) for cache keys."""
    from planner.simulate import fingerprint

    return fingerprint(dep)


@dataclass(frozen=True)
class AnalyticStep:
    """Step times from the analytic roofline, memoised per call signature."""

    dep: Deployment
    _cache: dict = field(default_factory=dict, compare=False, hash=False, repr=False)
    # takes the prefill chunks' own context and causal pairs (timing.mixed_step), which the simulator passes
    exact_prefill = True

    def step_time_s(self, prefill_tokens: int, decode_seqs: int, context_tokens: int,
                    prefill_context: int | None = None, prefill_pairs: int | None = None) -> float:
        key = (prefill_tokens, decode_seqs, context_tokens, prefill_context, prefill_pairs)
        if key not in self._cache:
            d = self.dep
            self._cache[key] = timing.mixed_step(d.model, d.gpu, d.quant, d.kv_dtype, d.tp, d.eff,
                                                 prefill_tokens, decode_seqs, context_tokens, prefill_context,
                                                 prefill_pairs).latency_s
        return self._cache[key]

    def __call__(self, prefill_tokens: int, decode_seqs: int, context_tokens: int,
                 prefill_context: int | None = None, prefill_pairs: int | None = None) -> float:
        return self.step_time_s(prefill_tokens, decode_seqs, context_tokens, prefill_context, prefill_pairs)

    def decode_affine(self, decode_seqs: int, context_tokens: int) -> tuple[float, float, float, float, float]:
        """Decode-only steps in closed form (planner.simulate.step_time.StepTimeModel): only the decode-attention
        kernel depends on the context, linearly in its memory and its compute term, so the j-th step of a
        stretch takes ``rest + max(a1 + b1 j, a2 + b2 j)``; read off two steps (j = 0 and 1)."""
        d = self.dep
        ests = [timing.mixed_step(d.model, d.gpu, d.quant, d.kv_dtype, d.tp, d.eff, 0, decode_seqs,
                                  context_tokens + j * decode_seqs) for j in (0, 1)]
        parts = []
        for est in ests:
            att = next(k for k in est.kernels if k.op == "attention_decode")
            memory = att.m / d.eff.bandwidth + att.kv / d.eff.kv_bandwidth
            parts.append((est.latency_s - (att.time_s - att.fixed_s), memory, att.c / d.eff.compute))
        (rest, m0, c0), (_, m1, c1) = parts
        return rest, m0, m1 - m0, c0, c1 - c0

    @property
    def cache_identity(self) -> str:
        return f"{STEP_MODEL}|{fingerprint_of(self.dep)}"

    def kv_capacity_tokens(self) -> int:
        return _budget(self.dep).kv_capacity_tokens

    def max_context(self) -> int:
        return self.dep.model.max_context

    def max_batch(self, context: int) -> int:
        d = self.dep
        return memory.max_concurrent_sequences(_budget(d), d.model, d.kv_dtype, d.tp, context)


@lru_cache(maxsize=1024)
def _budget(dep: Deployment) -> memory.MemoryBudget:
    return memory.memory_budget(dep.model, dep.gpu, dep.quant, dep.kv_dtype, dep.tp, dep.eff)


class ProfileStep:
    """Step times interpolated from a measured/calibrated profile for one (gpu, quant, kv, tp)."""

    def __init__(self, profile: pd.DataFrame, dep: Deployment):
        if not (profile["model"] == dep.model.name).any():
            raise PlannerError(f"the profile holds {', '.join(sorted(profile['model'].unique()))}, not "
                               f"{dep.model.name}; profile {dep.model.name} or drop --profile")
        sel = profile[(profile["model"] == dep.model.name) & (profile["gpu"] == dep.gpu.id)
                      & (profile["quant"] == dep.quant.id)
                      & (profile["kv_dtype"] == dep.kv_dtype.value) & (profile["tp"] == dep.tp)
                      & (profile["status"] == "ok")]
        dec = sel[sel["phase"] == "decode"]
        pre = sel[sel["phase"] == "prefill"]
        if dec.empty or pre.empty:
            raise PlannerError(
                f"the profile has no ok decode and prefill rows for {dep.gpu.id}/{dep.quant.id}/"
                f"kv {dep.kv_dtype.value}/TP {dep.tp}; profile that configuration or drop --profile")
        self.dep = dep
        self._grid = dec.pivot_table(index="batch", columns="context", values="latency_ms", aggfunc="median")
        self._grid = self._grid.interpolate(axis=0, limit_direction="both").interpolate(axis=1, limit_direction="both")
        per_tok = pre["latency_ms"].to_numpy() / (pre["batch"] * pre["context"]).to_numpy()
        self._prefill_ms_per_token = float(np.median(per_tok))
        caps = sel["kv_capacity_tokens"].dropna()
        self._capacity = int(caps.max()) if len(caps) else _budget(dep).kv_capacity_tokens
        self._max_batch = sel.groupby("context")["max_batch"].max().dropna()

    def _decode_ms(self, batch: int, context: float) -> float:
        b = np.log(np.asarray(self._grid.index, dtype=float))
        c = np.log(np.asarray(self._grid.columns, dtype=float))
        lb, lc = math.log(max(batch, 1)), math.log(max(context, 1.0))
        by_batch = [np.interp(lc, c, self._grid.iloc[i].to_numpy()) for i in range(len(b))]
        return float(np.interp(lb, b, by_batch))

    def step_time_s(self, prefill_tokens: int, decode_seqs: int, context_tokens: int) -> float:
        ms = 0.0
        if decode_seqs:
            ms += self._decode_ms(decode_seqs, context_tokens / decode_seqs)
        ms += prefill_tokens * self._prefill_ms_per_token
        return ms / 1e3

    __call__ = step_time_s

    def kv_capacity_tokens(self) -> int:
        return self._capacity

    def max_context(self) -> int:
        return self.dep.model.max_context

    def max_batch(self, context: int) -> int:
        if self._max_batch.empty:
            return AnalyticStep(self.dep).max_batch(context)
        ctxs = self._max_batch.index.to_numpy(dtype=float)
        # fewer sequences fit at longer contexts: scale by the nearest profiled context, conservatively
        nearest = ctxs[ctxs >= context].min() if (ctxs >= context).any() else ctxs.max()
        base = int(self._max_batch.loc[int(nearest)])
        return int(base * nearest / context) if context > nearest else base
