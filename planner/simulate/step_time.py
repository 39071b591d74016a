"""How long one engine step takes, as a function of what the step schedules.

A continuous-batching engine runs one forward pass per *step*. The simulator asks a step-time
model for the duration of every step, given three totals over the sequences scheduled in it:

- ``prefill_tokens`` [tokens]: prompt (or recompute) tokens processed in this step, summed over the
  prefill chunks scheduled;
- ``decode_seqs`` [sequences]: sequences generating one token each (one query token apiece);
- ``context_tokens`` [tokens]: KV-cache tokens attended in the step, summed over every scheduled
  sequence — a decode sequence counts its whole context including the new token, a prefill chunk
  counts the tokens already cached plus the chunk itself.

Any callable with that signature is a :class:`StepTimeModel`; it must return seconds (≥ 0). The
planner builds one from a profile (analytic or measured).

Optional precision: a model with ``exact_prefill = True`` is called with two more arguments in steps that
prefill, ``prefill_context`` (the chunks' share of ``context_tokens``) and ``prefill_pairs`` (their causal
query-key pairs, each chunk attending its own cached prefix and itself), so a step holding the tail of one
prompt and the head of the next is not charged as one chunk attending both (planner.step_model.AnalyticStep).

Optional speed-up: a model may also define ``decode_affine(decode_seqs, context_tokens)`` returning
``(overhead, a1, b1, a2, b2)`` such that ``decode_seqs`` decode-only steps in a row, the ``j``-th
(j = 0, 1, ...) attending ``context_tokens + decode_seqs · j`` tokens, take
``overhead + max(a1 + b1 · j, a2 + b2 · j)`` seconds (slopes ≥ 0). It must agree with the call.
The simulator then advances decode-only stretches in closed form instead of step by step. Both
models here define it.

Two concrete models live here:

- :class:`RooflineStepTime`: overhead plus the larger of the memory time and the compute time.
- :class:`FixedStepTime`: a deterministic cost per prefill token plus a constant decode step,
  independent of batch size; used to check the simulator against queueing theory.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Protocol, runtime_checkable

from profiler.errors import InvalidValueError

Affine = tuple[float, float, float, float, float]  # (overhead, a1, b1, a2, b2), see decode_affine


@runtime_checkable
class StepTimeModel(Protocol):
    """``step_time_s(prefill_tokens, decode_seqs, context_tokens) -> seconds`` for one engine step."""

    def __call__(self, prefill_tokens: int, decode_seqs: int, context_tokens: int) -> float: ...


def _require_non_negative(obj: object, positive: tuple[str, ...] = ()) -> None:
    """Refuse negative (or, for ``positive`` fields, zero) numbers with a message naming the field."""
    for f in fields(obj):  # type: ignore[arg-type]
        value = getattr(obj, f.name)
        if not isinstance(value, (int, float)) or value != value or value < 0:
            raise InvalidValueError(f"{type(obj).__name__}.{f.name} must be a number >= 0, got {value!r}.")
        if f.name in positive and value == 0:
            raise InvalidValueError(f"{type(obj).__name__}.{f.name} must be > 0, got {value!r}.")


@dataclass(frozen=True)
class RooflineStepTime:
    """Roofline step time: ``t = overhead_s + max(bytes / bandwidth, flops / flop_rate)``.

    Equations (per step, one GPU or one TP group taken as a whole)::

        bytes   = weight_bytes + context_tokens · kv_bytes_per_token
        queries = prefill_tokens + decode_seqs
        seqs    = decode_seqs + (1 if prefill_tokens > 0 else 0)
        attn    = attn_flops_per_context_token · queries · context_tokens / seqs
        flops   = flops_per_token · queries + attn

    Units: bytes [B], bandwidth_bytes_per_s [B/s] (effective, i.e. datasheet × efficiency),
    flops [FLOP], flops_per_s [FLOP/s] (effective), overhead_s [s].

    Approximations (see measurement.md §6.3–6.4 in the shared reference for the per-step
    roofline this follows):

    - Weights are streamed once per step whatever the batch (``weight_bytes``: every weight
      except the embedding table; MoE expert-touch effects are not modelled here — subclass or
      wrap the callable).
    - KV bytes: every scheduled sequence reads its whole cached context once; the write of the
      new tokens is folded into the same term. Activations are ignored.
    - Attention FLOPs: every query token is taken to attend to the step's *mean* per-sequence
      context (``context_tokens / seqs``), counting the prefill chunks of a step as one
      sequence. Exact for decode-only steps; for a single prefill chunk starting from an empty
      cache it counts the full square instead of the causal half, i.e. at most 2× too much on
      a term that is small next to the dense GEMMs below ~30 k tokens of context (for
      Llama-3-8B, attention is 4·32·4096 = 0.5 MFLOP per query per context token against
      15 GFLOP per token of dense work).
    - A max() roofline under-predicts the compute/memory transition; a calibrated profile can
      replace this model altogether.
    """

    overhead_s: float
    weight_bytes: float
    kv_bytes_per_token: float
    flops_per_token: float
    attn_flops_per_context_token: float
    bandwidth_bytes_per_s: float
    flops_per_s: float

    def __post_init__(self) -> None:
        _require_non_negative(self, positive=("bandwidth_bytes_per_s", "flops_per_s"))

    def __call__(self, prefill_tokens: int, decode_seqs: int, context_tokens: int) -> float:
        queries = prefill_tokens + decode_seqs
        seqs = decode_seqs + 1 if prefill_tokens else decode_seqs
        attn = self.attn_flops_per_context_token * context_tokens * (queries / seqs) if seqs else 0.0
        memory_s = (self.weight_bytes + context_tokens * self.kv_bytes_per_token) / self.bandwidth_bytes_per_s
        compute_s = (self.flops_per_token * queries + attn) / self.flops_per_s
        return self.overhead_s + (memory_s if memory_s > compute_s else compute_s)

    def decode_affine(self, decode_seqs: int, context_tokens: int) -> Affine:
        """Decode-only steps in closed form (see :class:`StepTimeModel`): memory line, compute line."""
        n, bw, f = decode_seqs, self.bandwidth_bytes_per_s, self.flops_per_s
        kv, attn = self.kv_bytes_per_token, self.attn_flops_per_context_token
        return (self.overhead_s,
                (self.weight_bytes + context_tokens * kv) / bw, n * kv / bw,
                (self.flops_per_token * n + attn * context_tokens) / f, n * attn / f)


@dataclass(frozen=True)
class FixedStepTime:
    """Deterministic step time for queueing checks.

    ``t = prefill_tokens · prefill_s_per_token + (decode_s if decode_seqs > 0 else 0)``

    A decode step costs ``decode_s`` [s] whatever the batch size and context (perfect batching);
    a prefill chunk costs ``prefill_s_per_token`` [s/token]. With ``max_num_seqs = 1`` the
    service time of a request is then exactly ``P · prefill_s_per_token + (O − 1) · decode_s``
    for ``P`` prompt and ``O`` output tokens, as long as the prompt fits one chunk.
    """

    prefill_s_per_token: float
    decode_s: float

    def __post_init__(self) -> None:
        _require_non_negative(self)
        if self.prefill_s_per_token == 0 and self.decode_s == 0:
            raise InvalidValueError("FixedStepTime needs prefill_s_per_token > 0 or decode_s > 0.")

    def __call__(self, prefill_tokens: int, decode_seqs: int, context_tokens: int) -> float:
        return prefill_tokens * self.prefill_s_per_token + (self.decode_s if decode_seqs else 0.0)

    def decode_affine(self, decode_seqs: int, context_tokens: int) -> Affine:
        """Decode-only steps in closed form (see :class:`StepTimeModel`): a constant ``decode_s``."""
        return (self.decode_s if decode_seqs else 0.0), 0.0, 0.0, 0.0, 0.0
