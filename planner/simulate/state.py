"""The scheduler's mutable bookkeeping during one simulation, and the events that change it.

Internal to :func:`planner.simulate.engine.simulate`: a :class:`Book` is created per run, filled,
read back into an immutable :class:`~planner.simulate.engine.EngineRun` and dropped.

Representation (what makes a step cost O(1) rather than O(batch)). A request ``i`` outside decode
has ``computed[i]`` tokens cached in ``held[i]`` blocks and has emitted ``done[i]`` tokens. A
decoding request is described by its entry step ``d_s[i]`` and its cached tokens ``d_c[i]`` and
emitted tokens ``d_o[i]`` at entry; at step ``S`` it has ``d_c + S − d_s`` tokens cached (so it
attends over one more) and ``d_o + S − d_s`` emitted — cache = prompt + emitted − 1 always. Hence:

- context attended by all decodes in step ``S`` = ``ctx_a + n_dec · S`` with
  ``ctx_a = Σ (d_c − d_s + 1)`` kept as a running sum;
- a decoding request needs a new block in step ``S`` when its cache is a whole number of blocks,
  i.e. when ``(d_c − d_s) mod B == −S mod B`` (``B`` = block size): ``cnt[r]`` counts decoding
  requests by ``r = (d_c − d_s) mod B``, so step ``S`` needs ``cnt[−S mod B]`` new blocks;
- the step in which a request emits its last token is known at entry (``fin``: step → requests).

Records. A general step appends one row to ``steps`` (:data:`STEP_FIELDS`). A decode-only stretch
advanced in closed form appends one row to ``runs`` (:data:`RUN_FIELDS`): ``steps`` consecutive
steps from global step ``step`` and time ``start_s`` lasting ``dt_s + ddt_s · j`` (j = 0, 1, ...),
each with ``decode_seqs`` decodes (no prefill, nobody waiting, all running requests decoding) and
KV blocks in use going from ``kv_first`` to ``kv_last``.

SGLang's policy (``Book.sgl``, see :func:`admit_sglang` and :func:`retract_until_fits`) also needs, at an
admission, the running decodes' clipped remaining outputs ``Σ min(olen − emitted, CLIP)``. A decode's remaining
output at step ``S`` is ``ukey − S`` (``ukey = olen − d_o + d_s``), so the sum is ``n_c · CLIP + sum_u − n_u · S``
over the ``n_c`` decodes still clipped and the ``n_u`` unclipped ones (``sum_u = Σ ukey``); a decode moves from the
first group to the second at step ``ukey − CLIP`` (``clip``: step → requests, and its heap ``cheap``), which is
applied lazily at the next admission. Its ``new_token_ratio`` is a function of the decode steps run since the
last retraction (``dsteps − rk0``), so it too costs nothing per step.
"""

from __future__ import annotations

import heapq
import math
from array import array
from collections import deque

STEP_FIELDS = ("step", "start_s", "dt_s", "prefill_tokens", "decode_seqs", "tokens_out", "waiting", "running",
               "kv_blocks")
RUN_FIELDS = ("step", "start_s", "dt_s", "ddt_s", "steps", "decode_seqs", "kv_first", "kv_last")

# SGLang's scheduler constants (policy "sglang"). Sources, sgl-project/sglang:
# - python/sglang/global_config.py @025ea29a384914a7f0f338a660238bf7a85ba42f: default_init_new_token_ratio 0.7
#   (SGLANG_INIT_NEW_TOKEN_RATIO), default_min_new_token_ratio_factor 0.14, default_new_token_ratio_decay_steps 600,
#   retract_decode_steps 20;
# - python/sglang/srt/managers/scheduler.py (Scheduler.__init__): init_new_token_ratio = min(0.7 ×
#   schedule_conservativeness (default 1.0), 1), min_new_token_ratio = min(init × 0.14, 1), new_token_ratio_decay =
#   (init − min) / 600;
# - python/sglang/srt/managers/schedule_policy.py @00550cd11b35def9d584bf761a1e32729c20a21d: CLIP_MAX_NEW_TOKENS =
#   SGLANG_CLIP_MAX_NEW_TOKENS_ESTIMATION, default 4096.
SGLANG_INIT_NEW_TOKEN_RATIO = 0.7
SGLANG_MIN_NEW_TOKEN_RATIO = SGLANG_INIT_NEW_TOKEN_RATIO * 0.14
SGLANG_NEW_TOKEN_RATIO_DECAY = (SGLANG_INIT_NEW_TOKEN_RATIO - SGLANG_MIN_NEW_TOKEN_RATIO) / 600
SGLANG_RETRACT_DECODE_STEPS = 20
SGLANG_CLIP_MAX_NEW_TOKENS = 4096


class Book:
    """Mutable state of one simulation (see the module docstring)."""

    __slots__ = ("bs", "plen", "olen", "first", "finish", "sched", "npre", "computed", "held", "done",
                 "last_tok", "d_s", "d_c", "d_o", "waiting", "running", "fin", "heap", "cnt", "steps", "runs",
                 "resume_gap", "resume_at", "maxb", "resv", "no_evict",
                 "sgl", "ratio0", "rk0", "dsteps", "ukey", "unc", "clip", "cheap", "n_c", "n_u", "sum_u", "pairs")

    def __init__(self, plen: list[int], olen: list[int], block_size: int, no_evict: bool = False,
                 sglang: bool = False):
        n = len(plen)
        self.bs, self.plen, self.olen = block_size, plen, olen
        # blocks a request holds at its last step (prompt + output - 1 tokens cached), and their sum over the
        # running requests: a guaranteed-no-evict scheduler admits only while that sum fits the cache
        self.maxb = [(p + o - 1 + block_size - 1) // block_size for p, o in zip(plen, olen, strict=True)]
        self.resv, self.no_evict = 0, no_evict
        self.first, self.finish, self.sched = [math.nan] * n, [math.nan] * n, [math.nan] * n
        self.npre, self.computed, self.held, self.done = [0] * n, [0] * n, [0] * n, [0] * n
        self.last_tok = [0.0] * n
        self.d_s, self.d_c, self.d_o = [0] * n, [0] * n, [0] * n
        self.waiting: deque[int] = deque()
        self.running: dict[int, None] = {}  # admission order; the last key is the newest
        self.fin: dict[int, list[int]] = {}  # step -> decoding requests emitting their last token in it
        self.heap: list[int] = []  # the keys of ``fin`` (plus stale ones), to find the next finish
        self.cnt = [0] * block_size  # decoding requests by (d_c − d_s) mod block_size
        self.steps = tuple(array("d" if f.endswith("_s") else "q") for f in STEP_FIELDS)
        self.runs = tuple(array("d" if f.endswith("_s") else "q") for f in RUN_FIELDS)
        self.resume_gap: list[float] = []
        self.resume_at: list[float] = []
        # SGLang (module docstring): new_token_ratio = ratio0 until a decode step runs, then decays by
        # SGLANG_NEW_TOKEN_RATIO_DECAY per decode step (dsteps counts them) down to the minimum; rk0 = dsteps at the
        # last reset. Clipped remaining outputs of the decodes: ukey, unc (moved to the unclipped group), clip/cheap.
        self.sgl = sglang
        self.ratio0, self.rk0, self.dsteps = SGLANG_INIT_NEW_TOKEN_RATIO, 0, 0
        self.ukey, self.unc = [0] * n, [False] * n
        self.clip: dict[int, list[int]] = {}
        self.cheap: list[int] = []
        self.n_c = self.n_u = self.sum_u = 0
        self.pairs = 0  # causal (query, key) pairs of this step's prefill chunks, each attending its own prefix


def _drop_decode(b: Book, v: int, step: int, t: float, free: int, need: int, n_dec: int,
                 ctx_a: int) -> tuple[int, int, int, int]:
    """Take decoding request `v` out of the decode bookkeeping at `step` (preempted or retracted): its blocks
    freed, its residue class and this step's block need, the decode count and context sum, its finish step; it
    keeps its emitted tokens. Returns (free, need, n_dec, ctx_a) updated."""
    bs = b.bs
    k = step - b.d_s[v]
    r = (b.d_c[v] - b.d_s[v]) % bs
    free += (b.d_c[v] + k + bs - 1) // bs
    b.cnt[r] -= 1
    need -= r == -step % bs
    key = b.d_s[v] + b.olen[v] - b.d_o[v] - 1
    b.fin[key].remove(v)
    if not b.fin[key]:
        del b.fin[key]
    b.done[v] = b.d_o[v] + k
    b.last_tok[v] = t
    return free, need, n_dec - 1, ctx_a - (b.d_c[v] - b.d_s[v] + 1)


def preempt_until_fits(b: Book, step: int, t: float, need: int, p_need: int, partial: int, free: int,
                       n_dec: int, ctx_a: int) -> tuple[int, int, int, int, int, int]:
    """vLLM FCFS preemption: drop the newest running request until this step's new blocks fit.

    A dropped request loses its cache (recompute), keeps its emitted tokens, and goes back to the
    front of the waiting queue. Returns (need, p_need, partial, free, n_dec, ctx_a) updated.
    """
    while need + p_need > free:
        v = next(reversed(b.running))
        del b.running[v]
        b.resv -= b.maxb[v]
        b.npre[v] += 1
        b.waiting.appendleft(v)
        if v == partial:
            free += b.held[v]
            partial, p_need = -1, 0
        else:
            free, need, n_dec, ctx_a = _drop_decode(b, v, step, t, free, need, n_dec, ctx_a)
        b.computed[v] = b.held[v] = 0
    return need, p_need, partial, free, n_dec, ctx_a


def new_token_ratio(b: Book) -> float:
    """SGLang's new_token_ratio now: ``ratio0`` right after a reset, then ``max(ratio − decay, min)`` per decode
    step (scheduler.py ``update_running_batch``: the decay in the branch without retraction), in closed form."""
    k = b.dsteps - b.rk0
    if not k:
        return b.ratio0
    r = b.ratio0 - SGLANG_NEW_TOKEN_RATIO_DECAY * k
    return r if r > SGLANG_MIN_NEW_TOKEN_RATIO else SGLANG_MIN_NEW_TOKEN_RATIO


def _enter_decode_sgl(b: Book, h: int, s1: int, out: int) -> None:
    """Count a request entering decode at step ``s1`` (``out`` tokens emitted) in the clipped-output sums."""
    key = b.olen[h] - out + s1
    b.ukey[h] = key
    u = key - SGLANG_CLIP_MAX_NEW_TOKENS
    if u <= s1:
        b.unc[h] = True
        b.n_u += 1
        b.sum_u += key
    else:
        b.unc[h] = False
        b.n_c += 1
        if u in b.clip:
            b.clip[u].append(h)
        else:
            b.clip[u] = [h]
            heapq.heappush(b.cheap, u)


def _leave_decode_sgl(b: Book, v: int) -> None:
    """Take a decode that finished or was retracted out of the clipped-output sums."""
    if b.unc[v]:
        b.n_u -= 1
        b.sum_u -= b.ukey[v]
    else:
        b.n_c -= 1
        u = b.ukey[v] - SGLANG_CLIP_MAX_NEW_TOKENS
        b.clip[u].remove(v)
        if not b.clip[u]:
            del b.clip[u]


def _remaining_clipped(b: Book, step: int) -> int:
    """``Σ min(olen − emitted, CLIP)`` over the decoding requests at ``step`` (moves those now unclipped)."""
    heap, clip = b.cheap, b.clip
    while heap and heap[0] <= step:
        for v in clip.pop(heapq.heappop(heap), ()):
            b.n_c -= 1
            b.n_u += 1
            b.sum_u += b.ukey[v]
            b.unc[v] = True
    return b.n_c * SGLANG_CLIP_MAX_NEW_TOKENS + b.sum_u - b.n_u * step


def retract_until_fits(b: Book, step: int, t: float, need: int, p_need: int, partial: int, free: int,
                       n_dec: int, ctx_a: int) -> tuple[int, int, int, int, int, int]:
    """SGLang's retraction: drop decodes in SGLang's order until this step's new blocks fit, then reset the ratio.

    sgl-project/sglang python/sglang/srt/managers/schedule_batch.py ``ScheduleBatch.retract_decode`` (default
    ``--retraction-policy length``, ``_get_decode_retraction_order``): the decodes sorted by
    ``(len(output_ids), -len(origin_input_ids))``, ``reverse=True`` (stable), popped from the end, so the victim
    has the fewest tokens out, then the longest prompt, then is the newest; at least one, until
    ``check_decode_mem`` passes, never the last one. Afterwards (same function) the ratio becomes
    ``min(1, (Σ len(output_ids) + retract_decode_steps · n) / Σ max_new_tokens)`` over the ``n`` decodes kept,
    set by scheduler.py ``update_running_batch``. A retracted request loses its cache (recompute, as
    :func:`preempt_until_fits`), keeps its emitted tokens and joins the *back* of the waiting queue, in retraction
    order (scheduler.py: ``for req in retracted_reqs: self._add_request_to_queue(req, is_retracted=True)``, an
    append; the default ``fcfs`` schedule policy does not re-sort the queue). The request mid-prefill (SGLang's
    chunked request, not in its decode batch) goes only when no decode is left to drop (a fallback of this
    simulator). Returns (need, p_need, partial, free, n_dec, ctx_a) updated. O(batch) per retraction (the victim
    scan), like SGLang's sort.
    """
    running = b.running
    while need + p_need > free:
        if n_dec > 1 or (n_dec and partial < 0):
            v, best = -1, None
            for r in running:  # oldest first: `<=` keeps the newest of equal keys
                if r != partial:
                    key = (b.d_o[r] - b.d_s[r], -b.plen[r])
                    if best is None or key <= best:
                        v, best = r, key
            del running[v]
            free, need, n_dec, ctx_a = _drop_decode(b, v, step, t, free, need, n_dec, ctx_a)
            _leave_decode_sgl(b, v)
        else:
            v = partial
            del running[v]
            free += b.held[v]
            partial, p_need = -1, 0
        b.resv -= b.maxb[v]
        b.npre[v] += 1
        b.waiting.append(v)
        b.computed[v] = b.held[v] = 0
    out = mx = 0
    for r in running:
        if r != partial:
            out += b.d_o[r] + step - b.d_s[r]
            mx += b.olen[r]
    b.ratio0 = min(1.0, (out + SGLANG_RETRACT_DECODE_STEPS * n_dec) / mx) if mx else 1.0
    b.rk0 = b.dsteps
    return need, p_need, partial, free, n_dec, ctx_a


def admit_sglang(b: Book, t: float, step: int, budget: int, free: int, max_seqs: int,
                 completing: list[int]) -> tuple[int, int, int]:
    """SGLang's admission (``PrefillAdder``), FCFS, no overtaking.

    The head is admitted while seats and token budget last and
    ``prompt + emitted + min(max(olen − emitted, 0), CLIP) < rem_total``, where ``rem_total`` = free KV tokens −
    ``new_token_ratio × Σ min(olen − emitted, CLIP)`` over the running decodes − what this step's admissions
    reserved: their page-rounded chunk plus, for a request whose whole prompt goes in (and the request whose last
    chunk runs now), ``min(olen, CLIP)`` unscaled. Admission stops once ``rem_total <= 0``.

    sgl-project/sglang python/sglang/srt/managers/schedule_policy.py @00550cd11b35def9d584bf761a1e32729c20a21d,
    ``PrefillAdder``: ``_get_running_request_total_token_offset`` (running: ``min(max_new_tokens −
    len(output_ids), CLIP_MAX_NEW_TOKENS) × new_token_ratio``), ``add_one_req`` (``total_tokens =
    extend_input_len + min(max(max_new_tokens − len(output_ids), 0), CLIP)``), ``_select_prefill_admission`` /
    ``_update_prefill_budget`` (reserve ``ceil_paged(extend) + min(max_new_tokens, CLIP)``, or the chunk and 0 when
    truncated), ``add_chunked_req`` (the last chunk reserves ``min(max_new_tokens, CLIP)``), ``budget_state``
    (``NO_TOKEN`` at ``rem_total_tokens <= 0``); the strict ``total_tokens >= rem_total_tokens`` test is the
    pre-``memory_budget`` form of the same file (e.g. v0.5). Returns as :func:`admit`.
    """
    bs, waiting, running, plen, olen, done = b.bs, b.waiting, b.running, b.plen, b.olen, b.done
    clip = SGLANG_CLIP_MAX_NEW_TOKENS
    rem = free * bs - new_token_ratio(b) * _remaining_clipped(b, step)
    for h in completing:  # the request whose last chunk runs in this step (SGLang's chunked request)
        rem -= olen[h] if olen[h] < clip else clip
    tokens, partial = 0, -1
    while waiting and budget > 0 and len(running) < max_seqs and rem > 0:
        h = waiting[0]
        todo = plen[h] + done[h]
        left = olen[h] - done[h]
        if todo + (left if left < clip else clip) >= rem:
            break
        chunk = todo if todo < budget else budget
        nb = (chunk + bs - 1) // bs  # fits: chunk < rem <= free · bs
        _take(b, h, nb, chunk, t)
        free -= nb
        rem -= nb * bs
        budget -= chunk
        tokens += chunk
        if chunk == todo:
            rem -= olen[h] if olen[h] < clip else clip
            completing.append(h)
        else:
            partial = h
    return free, tokens, partial


def _take(b: Book, h: int, nb: int, chunk: int, t: float) -> None:
    """Move the head of the waiting queue, `h`, into the running set with its first chunk (`chunk` tokens in `nb`
    blocks); the caller accounts the free blocks and the token budget."""
    b.waiting.popleft()
    b.resv += b.maxb[h]
    b.held[h], b.computed[h] = nb, chunk
    b.pairs += chunk * (chunk + 1) // 2  # a fresh chunk attends itself only
    b.running[h] = None
    if b.sched[h] != b.sched[h]:  # NaN: first admission
        b.sched[h] = t


def admit(b: Book, t: float, budget: int, free: int, max_seqs: int,
          completing: list[int], kv_blocks: int = 0) -> tuple[int, int, int]:
    """Admit from the head of the waiting queue while seats, token budget and blocks last (FCFS).

    With ``b.no_evict`` (TensorRT-LLM's GUARANTEED_NO_EVICT) a request is admitted only if the blocks it
    will hold at its last token fit beside those every running request will hold at theirs (``kv_blocks``
    in all), so no step ever runs short and nothing is preempted. Returns (free blocks, prefill tokens
    admitted, the request left mid-prefill or −1). A fresh chunk's context is the chunk itself, so the
    tokens admitted are also the context they add.
    """
    bs, waiting, running = b.bs, b.waiting, b.running
    tokens, partial = 0, -1
    while waiting and budget > 0 and len(running) < max_seqs:
        h = waiting[0]
        todo = b.plen[h] + b.done[h]
        chunk = todo if todo < budget else budget
        nb = (chunk + bs - 1) // bs
        if nb > free or (b.no_evict and b.resv + b.maxb[h] > kv_blocks):
            break
        _take(b, h, nb, chunk, t)
        free -= nb
        budget -= chunk
        tokens += chunk
        if chunk == todo:
            completing.append(h)
        else:
            partial = h
    return free, tokens, partial


def finish_decodes(b: Book, ending: list[int], step: int, t_end: float) -> tuple[int, int]:
    """Requests whose last token came out in ``step``: free their blocks. Returns (blocks, Δctx_a)."""
    bs, freed, dctx, sgl = b.bs, 0, 0, b.sgl
    for v in ending:
        freed += (b.d_c[v] + step - b.d_s[v] + bs) // bs
        del b.running[v]
        b.resv -= b.maxb[v]
        b.cnt[(b.d_c[v] - b.d_s[v]) % bs] -= 1
        dctx += b.d_c[v] - b.d_s[v] + 1
        b.finish[v] = t_end
        if sgl:
            _leave_decode_sgl(b, v)
    return freed, dctx


def complete_prefills(b: Book, completing: list[int], step: int, t_end: float) -> tuple[int, int, int]:
    """Requests whose (re-)prefill finished in ``step``: a token out, then decode or finish.

    Returns (blocks freed, decodes added, Δctx_a).
    """
    bs, freed, added, dctx, sgl = b.bs, 0, 0, 0, b.sgl
    s1 = step + 1
    for h in completing:
        out = b.done[h] + 1
        if b.done[h]:
            b.resume_gap.append(t_end - b.last_tok[h])
            b.resume_at.append(t_end)
        else:
            b.first[h] = t_end
        if out >= b.olen[h]:
            b.finish[h] = t_end
            freed += b.held[h]
            del b.running[h]
            b.resv -= b.maxb[h]
        else:
            c = b.computed[h]
            b.d_s[h], b.d_c[h], b.d_o[h] = s1, c, out
            b.cnt[(c - s1) % bs] += 1
            added += 1
            dctx += c - s1 + 1
            last = s1 + b.olen[h] - out - 1
            if last in b.fin:
                b.fin[last].append(h)
            else:
                b.fin[last] = [h]
                heapq.heappush(b.heap, last)
            if sgl:
                _enter_decode_sgl(b, h, s1, out)
        b.held[h] = 0
    return freed, added, dctx


def next_finish(b: Book) -> int:
    """The next step in which a decoding request emits its last token (drops stale heap entries)."""
    heap, fin = b.heap, b.fin
    while heap[0] not in fin:
        heapq.heappop(heap)
    return heap[0]
