"""Decode-only stretches: many engine steps advanced at once.

When no prefill is in flight and nobody waits, nothing changes the batch until the next arrival
except requests finishing, and the step each one finishes in is known (see
:mod:`planner.simulate.state`). Within such a stretch, step ``S`` has ``n`` decodes attending
``ctx_a + n · S`` tokens, so with a model offering ``decode_affine`` its duration is
``overhead + max(a1 + b1 · j, a2 + b2 · j)`` for the ``j``-th step — affine in ``j`` on each side
of the kink. :func:`closed_form` cuts the stretch into segments with one affine piece and a fixed
batch each (ending at a finish or a kink) and advances each segment in O(block size) time:

- duration of ``L`` steps: ``L · dt0 + ddt · L (L − 1) / 2``;
- steps that start before the next arrival ``lim``: the smallest ``j`` with
  ``j · dt0 + ddt · j (j − 1) / 2 ≥ lim − t`` (a quadratic, then checked exactly);
- new KV blocks over ``L`` steps: ``(L div B) · n`` plus the counts of the first ``L mod B``
  residue classes from ``−S mod B`` downward (every request needs one block per ``B`` steps).

A stretch stops at the next arrival, when the batch empties, or before a step whose new blocks
would not fit (the general path then preempts). :func:`step_by_step` does the same for a model
without ``decode_affine``, calling it once per step.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from planner.simulate.state import Book, finish_decodes, next_finish
from profiler.errors import InvalidValueError

Affine = Callable[[int, int], tuple[float, float, float, float, float]]


def bad_step(dt: object, args: object) -> InvalidValueError:
    return InvalidValueError(f"The step-time model returned {dt!r} s for (prefill_tokens, decode_seqs, "
                             f"context_tokens) = {args}; it must return a finite number >= 0.")


def block_need(cnt: list[int], bs: int, n: int, step: int, steps: int) -> int:
    """New KV blocks needed by ``n`` fixed decodes over ``steps`` steps from ``step``."""
    full, rem = divmod(steps, bs)
    if not rem:
        return full * n
    r0 = -step % bs  # residue class needing a block in the first step; then r0 − 1, r0 − 2, ...
    lo = r0 - rem + 1
    part = sum(cnt[lo:r0 + 1]) if lo >= 0 else sum(cnt[:r0 + 1]) + sum(cnt[bs + lo:])
    return full * n + part


def _fit_blocks(cnt: list[int], bs: int, n: int, step: int, steps: int, free: int) -> int:
    """The most steps (≤ ``steps``) whose new blocks fit in ``free``."""
    if (steps + bs - 1) // bs * n <= free or block_need(cnt, bs, n, step, steps) <= free:
        return steps
    lo, hi = 0, steps  # need(lo) ≤ free < need(hi)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if block_need(cnt, bs, n, step, mid) <= free:
            lo = mid
        else:
            hi = mid
    return lo


def _starting_before(t: float, dt0: float, ddt: float, lim: float, steps: int) -> int:
    """How many of ``steps`` steps (lasting ``dt0 + ddt · j``, the first from ``t``) start before ``lim``.

    Step ``j`` starts at ``t + j · dt0 + ddt · j (j − 1) / 2``.
    """
    last = steps - 1
    if t + last * dt0 + ddt * last * (last - 1) / 2 < lim:
        return steps
    gap = lim - t
    if ddt > 0:  # ddt/2 · j² + (dt0 − ddt/2) · j − gap = 0
        half = dt0 - ddt / 2
        j = math.ceil((-half + math.sqrt(half * half + 2 * ddt * gap)) / ddt)
    else:
        j = math.ceil(gap / dt0)
    j = min(max(j, 1), last)
    while j > 1 and (j - 1) * dt0 + ddt * (j - 1) * (j - 2) / 2 >= gap:
        j -= 1
    while j * dt0 + ddt * j * (j - 1) / 2 < gap:
        j += 1
    return j


def _segment(affine: Affine, n: int, ctx: int, max_steps: int) -> tuple[float, float, int]:
    """First duration, slope and length (≤ ``max_steps``) of the affine piece starting now."""
    o, a1, b1, a2, b2 = affine(n, ctx)
    if (a2, b2) > (a1, b1):
        a1, b1, a2, b2 = a2, b2, a1, b1  # line 1 is the larger at j = 0
    steps = max_steps
    if b2 > b1:  # line 2 overtakes after j* = (a1 − a2) / (b2 − b1)
        steps = min(steps, int((a1 - a2) / (b2 - b1)) + 1)
    dt0 = o + a1
    if not (0.0 <= dt0 < math.inf and 0.0 <= b1 < math.inf):
        raise bad_step(dt0, (0, n, ctx))
    return dt0, b1, steps


def closed_form(b: Book, affine: Affine, step: int, t: float, lim: float, free: int, n_dec: int, ctx_a: int,
                kv_blocks: int) -> tuple[int, float, int, int, int, bool]:
    """Advance decode-only steps in closed form (module docstring).

    Returns (step, t, free, n_dec, ctx_a, blocked): ``blocked`` means the next step needs more
    blocks than are free, so the caller must run it through the general (preempting) path.
    """
    cnt, bs, fin = b.cnt, b.bs, b.fin
    r_step, r_t, r_dt, r_ddt, r_len, r_n, r_kv0, r_kv1 = (a.append for a in b.runs)
    while True:
        f = next_finish(b)
        dt0, ddt, longest = _segment(affine, n_dec, ctx_a + n_dec * step, f - step + 1)
        fit = _fit_blocks(cnt, bs, n_dec, step, longest, free)
        if fit == 0:
            return step, t, free, n_dec, ctx_a, True
        steps = _starting_before(t, dt0, ddt, lim, fit)
        blocked = steps == fit < longest
        need = block_need(cnt, bs, n_dec, step, steps)
        r_step(step)
        r_t(t)
        r_dt(dt0)
        r_ddt(ddt)
        r_len(steps)
        r_n(n_dec)
        r_kv0(kv_blocks - free + cnt[-step % bs])
        r_kv1(kv_blocks - free + need)
        t += steps * dt0 + ddt * steps * (steps - 1) / 2
        free -= need
        step += steps
        if step - 1 == f:
            ending = fin.pop(f)
            freed, dctx = finish_decodes(b, ending, f, t)
            free, n_dec, ctx_a = free + freed, n_dec - len(ending), ctx_a - dctx
        if blocked or t >= lim or not n_dec:
            return step, t, free, n_dec, ctx_a, blocked


def step_by_step(b: Book, step_time, step: int, t: float, lim: float, free: int, n_dec: int, ctx_a: int,
                 kv_blocks: int, budget: int | None = None) -> tuple[int, float, int, int, int, bool]:
    """The same as :func:`closed_form` for any step-time callable, one call per step; it returns early (not
    blocked) once ``budget`` steps are recorded, for the caller to stop the run (engine._run)."""
    cnt, bs, fin = b.cnt, b.bs, b.fin
    r_step, r_t, r_dt, r_pf, r_nd, r_out, r_w, r_r, r_kv = (a.append for a in b.steps)
    recorded = b.steps[0]
    while True:
        if budget is not None and len(recorded) > budget:
            return step, t, free, n_dec, ctx_a, False
        need = cnt[-step % bs]
        if need > free:
            return step, t, free, n_dec, ctx_a, True
        free -= need
        ctx = ctx_a + n_dec * step
        dt = step_time(0, n_dec, ctx)
        if not 0.0 <= dt < math.inf:
            raise bad_step(dt, (0, n_dec, ctx))
        r_step(step)
        r_t(t)
        r_dt(dt)
        r_pf(0)
        r_nd(n_dec)
        r_out(n_dec)
        r_w(0)
        r_r(n_dec)
        r_kv(kv_blocks - free)
        t += dt
        ending = fin.pop(step, None)
        step += 1
        if ending:
            freed, dctx = finish_decodes(b, ending, step - 1, t)
            free, n_dec, ctx_a = free + freed, n_dec - len(ending), ctx_a - dctx
        if t >= lim or not n_dec:
            return step, t, free, n_dec, ctx_a, False
