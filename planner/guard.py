"""The guard model beside a deployment, sized with the profiler like the model it guards.

The seed bill's "Guardrails and content filtering" line is "a guard model on a separate GPU slice", $250/month
(seed §1). Priced per slice of a fixed traffic capacity it grew ~3x faster than the model it guarded (issue 11).
Here the guard is sized as the served model is: the profiler's analytic step times (profiler.analytic.timing) of
the guard model on the plan's GPU, at its own quant, give the GPU-seconds one request's screening takes; the
workload's peak request rate over that, at a utilisation cap, gives the share of a GPU the guard needs; the plan's
$/GPU-month prices it (planner.tco basis ``guard_model``).

Screened tokens per request (``Workload.guardrails``):

- ``input``: one check of the prompt (the user turn);
- ``input-output``: the prompt, then the response. Llama Guard classifies a response together with the
  conversation before it (meta-llama/Llama-Guard-3-8B model card, "response classification"), but vLLM V1's
  automatic prefix caching (on by default in V1) holds the template and the prompt from the first check, so the
  second check prefills the response tokens only;
- ``none``: no guard, the line is $0.

The guard's shared prompt template (its hazard categories) is a cached prefix after the first request and adds no
prefill per request. Each check prefills its tokens in 8,192-token chunks of same-length prompts (vLLM's
max_num_batched_tokens, profiler.analytic.memory.DEFAULT_CHUNK_TOKENS) and decodes a short verdict
(VERDICT_TOKENS) for the whole chunk at once.

GPU share: a datacenter GPU with MIG splits into 7 compute and 8 memory slices (NVIDIA MIG User Guide, "Supported
MIG Profiles": the 1g profiles of A100/H100/H200/B200 hold 1/7 of the SMs and 1/8 of the memory); a guard needing
less than a GPU takes max(compute slices / 7, memory slices / 8) of one; above one GPU, and on GPUs without MIG,
whole GPUs. When the deployment keeps spares, the guard keeps one spare instance of the same size on another GPU
(N+1): a lost GPU must not stop the screening every request waits for.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

from planner.errors import PlannerError
from profiler.analytic import memory, timing
from profiler.specs import GpuSpec, KvDtype

# Llama Guard 3 8B is Llama 3.1 8B fine-tuned for safety classification (meta-llama/Llama-Guard-3-8B model card:
# "a Llama-3.1-8B pretrained model, fine-tuned for content safety classification"): the same architecture, so the
# catalogue's llama-3.1-8b shapes time it exactly.
DEFAULT_GUARD_MODEL = "llama-3.1-8b"
DEFAULT_GUARD_LABEL = "Llama Guard 3 8B"
# The verdict is "safe", or "unsafe" and a line of category codes ("S1,S10"): 2-5 tokens with the end token
# (model card, "Output" section); 4.
VERDICT_TOKENS = 4
# Screening sits in front of the first token, so its queue must stay short: at 70% utilisation an M/D/1 queue waits
# 1.2 service times on average (0.7 / (2 x 0.3)), a fraction of one 8k-token chunk (design choice, stated).
UTILISATION_CAP = 0.7
CHUNK_TOKENS = memory.DEFAULT_CHUNK_TOKENS
# GPUs whose MIG partitions a guard can rent as 1/7-compute, 1/8-memory slices (NVIDIA MIG User Guide, "Supported
# GPUs": A100, H100, H200, GH200, B200, GB200; 7 compute slices each). Others are billed in whole GPUs.
MIG_GPUS = frozenset({"a100-80gb", "a100-40gb", "a100-pcie-80gb", "h100-sxm", "h100-pcie", "h200", "gh200-96gb",
                      "b200", "gb200"})
MIG_COMPUTE_SLICES, MIG_MEMORY_SLICES = 7, 8


@dataclass(frozen=True)
class GuardCapacity:
    """What one GPU of the plan's type does for the guard (volume- and price-invariant)."""

    label: str  # e.g. "Llama Guard 3 8B fp8 on h100-sxm"
    gpu: str
    quant: str
    gpu_s_per_request: float  # GPU-seconds of screening per request (all of the scope's checks)
    memory_slices: int  # MIG memory slices the guard's weights, activations and a chunk's KV need (0: no MIG)
    mig: bool
    scope: str

    def gpu_share(self, requests_per_s_peak: float, spare: bool = False, text: bool = True) -> tuple[float, str]:
        """(GPUs billed, basis) at a peak request rate; `spare`: one spare instance of the guard (N+1); `text`
        False: the basis is left empty (totals priced often, planner.tco)."""
        if self.scope == "none" or requests_per_s_peak <= 0:
            return 0.0, "no guardrails (--guardrails none)"
        busy = requests_per_s_peak * self.gpu_s_per_request / UTILISATION_CAP
        if self.mig and busy <= 1:
            compute = max(1, math.ceil(busy * MIG_COMPUTE_SLICES - 1e-9))
            share = max(compute / MIG_COMPUTE_SLICES, self.memory_slices / MIG_MEMORY_SLICES)
        else:
            share = float(max(1, math.ceil(busy - 1e-9)))
        total = share * (2 if spare and share < 1 else 1) + (1 if spare and share >= 1 else 0)
        if not text:
            return total, ""
        unit = (f"MIG instance of {compute}/{MIG_COMPUTE_SLICES} compute, {self.memory_slices}/{MIG_MEMORY_SLICES} "
                f"memory slices = {share:.3g} GPU" if self.mig and busy <= 1 else f"{share:.0f} whole GPU(s)")
        plus = (" + 1 spare instance (N+1)" if spare else "")
        return total, (f"{self.label}, {self.scope}: {requests_per_s_peak:.3g} req/s peak x "
                       f"{self.gpu_s_per_request * 1e3:.3g} GPU-ms/request / {UTILISATION_CAP:g} cap = {busy:.3g} "
                       f"GPU -> {unit}{plus} = {total:.3g} GPU")


def _checks(scope: str, mean_in: float, mean_out: float) -> tuple[int, ...]:
    """Token counts prefilled per check (module docstring)."""
    return {"input": (mean_in,), "input-output": (mean_in, mean_out), "none": ()}[scope]


@lru_cache(maxsize=256)
def guard_capacity(gpu: GpuSpec, scope: str, mean_in: float, mean_out: float,
                   model_id: str = DEFAULT_GUARD_MODEL, label: str = DEFAULT_GUARD_LABEL) -> GuardCapacity:
    """The guard model's screening cost on one `gpu` (module docstring); its quant is fp8 where the GPU has an fp8
    tensor-core path, else bf16 (profiler.catalogue quants)."""
    from profiler import catalogue
    from profiler.analytic.efficiency import efficiency_for

    models = catalogue.load_models()
    if model_id not in models:
        raise PlannerError(f"guard model '{model_id}' is not in the model catalogue; set the guardrails item's "
                           "guard_model to a catalogue id (inferplan models)")
    model, quants = models[model_id], catalogue.load_quants()
    quant = quants["fp8"] if gpu.supports("fp8") else quants["bf16"]
    eff = efficiency_for(gpu.id, quant.id)
    kv = KvDtype.BF16
    gpu_s, kv_tokens = 0.0, 0
    for tokens in _checks(scope, mean_in, mean_out):
        pieces = max(1, math.ceil(tokens / CHUNK_TOKENS - 1e-9))  # a prompt longer than a chunk takes several
        length = max(1, round(tokens / pieces))
        batch = max(1, CHUNK_TOKENS // length)
        t = timing.prefill(model, gpu, quant, kv, 1, batch, length, eff).latency_s * pieces
        t += VERDICT_TOKENS * timing.decode_step(model, gpu, quant, kv, 1, batch, length, eff).latency_s
        gpu_s += t / batch
        kv_tokens = max(kv_tokens, batch * (length + VERDICT_TOKENS))
    budget = memory.memory_budget(model, gpu, quant, kv, 1, eff)
    need = (budget.resident_bytes + budget.activation_bytes
            + kv_tokens * memory.kv_bytes_per_token(model, kv, 1))
    mig = gpu.id in MIG_GPUS
    slices = math.ceil(need / (gpu.hbm_bytes / MIG_MEMORY_SLICES)) if mig else 0
    if need > gpu.hbm_bytes:
        raise PlannerError(f"the guard model ({DEFAULT_GUARD_LABEL}, {quant.id}) needs {need / 1e9:.1f} GB, more "
                           f"than one {gpu.id} holds; use --guardrails none or a GPU with more memory")
    return GuardCapacity(f"{label} {quant.id} on {gpu.id}", gpu.id, quant.id, gpu_s, min(slices, MIG_MEMORY_SLICES),
                         mig, scope)


def guard_summary(gpu: GpuSpec, workload, spare: bool, model_id: str = DEFAULT_GUARD_MODEL) -> dict:
    """The guard beside a planned deployment, for the deployment line and the JSON: model and quant, scope, GPUs
    (a fraction is a MIG share), GPU-ms per request."""
    if workload.guardrails == "none":
        return {"scope": "none", "gpus": 0.0}
    cap = guard_capacity(gpu, workload.guardrails, workload.mean_input_tokens, workload.mean_output_tokens, model_id)
    share, basis = cap.gpu_share(workload.requests_per_s_peak, spare)
    instance = cap.gpu_share(workload.requests_per_s_peak)[0]  # one instance, without its spare
    return {"scope": cap.scope, "model": cap.label, "quant": cap.quant, "gpus": share, "mig": cap.mig and instance < 1,
            "gpu_ms_per_request": cap.gpu_s_per_request * 1e3, "basis": basis}


__all__ = ["GuardCapacity", "guard_capacity", "guard_summary", "DEFAULT_GUARD_MODEL", "UTILISATION_CAP",
           "VERDICT_TOKENS"]
