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
"""

from __future__ import annotations

import heapq
import math
from array import array
from collections import deque

STEP_FIELDS = ("step", "start_s", "dt_s", "prefill_tokens", "decode_seqs", "tokens_out", "waiting", "running",
               "kv_blocks")
RUN_FIELDS = ("step", "start_s", "dt_s", "ddt_s", "steps", "decode_seqs", "kv_first", "kv_last")


class Book:
    """Mutable state of one simulation (see the module docstring)."""

    __slots__ = ("bs", "plen", "olen", "first", "finish", "sched", "npre", "computed", "held", "done",
                 "last_tok", "d_s", "d_c", "d_o", "waiting", "running", "fin", "heap", "cnt", "steps", "runs",
                 "resume_gap", "resume_at", "maxb", "resv", "no_evict")

    def __init__(self, plen: list[int], olen: list[int], block_size: int, no_evict: bool = False):
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


def preempt_until_fits(b: Book, step: int, t: float, need: int, p_need: int, partial: int, free: int,
                       n_dec: int, ctx_a: int) -> tuple[int, int, int, int, int, int]:
    """vLLM FCFS preemption: drop the newest running request until this step's new blocks fit.

    A dropped request loses its cache (recompute), keeps its emitted tokens, and goes back to the
    front of the waiting queue. Returns (need, p_need, partial, free, n_dec, ctx_a) updated.
    """
    bs = b.bs
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
            k = step - b.d_s[v]
            r = (b.d_c[v] - b.d_s[v]) % bs
            free += (b.d_c[v] + k + bs - 1) // bs
            b.cnt[r] -= 1
            need -= r == -step % bs
            n_dec -= 1
            ctx_a -= b.d_c[v] - b.d_s[v] + 1
            key = b.d_s[v] + b.olen[v] - b.d_o[v] - 1
            b.fin[key].remove(v)
            if not b.fin[key]:
                del b.fin[key]
            b.done[v] = b.d_o[v] + k
            b.last_tok[v] = t
        b.computed[v] = b.held[v] = 0
    return need, p_need, partial, free, n_dec, ctx_a


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
        waiting.popleft()
        b.resv += b.maxb[h]
        free -= nb
        b.held[h], b.computed[h] = nb, chunk
        running[h] = None
        if b.sched[h] != b.sched[h]:  # NaN: first admission
            b.sched[h] = t
        budget -= chunk
        tokens += chunk
        if chunk == todo:
            completing.append(h)
        else:
            partial = h
    return free, tokens, partial


def finish_decodes(b: Book, ending: list[int], step: int, t_end: float) -> tuple[int, int]:
    """Requests whose last token came out in ``step``: free their blocks. Returns (blocks, Δctx_a)."""
    bs, freed, dctx = b.bs, 0, 0
    for v in ending:
        freed += (b.d_c[v] + step - b.d_s[v] + bs) // bs
        del b.running[v]
        b.resv -= b.maxb[v]
        b.cnt[(b.d_c[v] - b.d_s[v]) % bs] -= 1
        dctx += b.d_c[v] - b.d_s[v] + 1
        b.finish[v] = t_end
    return freed, dctx


def complete_prefills(b: Book, completing: list[int], step: int, t_end: float) -> tuple[int, int, int]:
    """Requests whose (re-)prefill finished in ``step``: a token out, then decode or finish.

    Returns (blocks freed, decodes added, Δctx_a).
    """
    bs, freed, added, dctx = b.bs, 0, 0, 0
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
        b.held[h] = 0
    return freed, added, dctx


def next_finish(b: Book) -> int:
    """The next step in which a decoding request emits its last token (drops stale heap entries)."""
    heap, fin = b.heap, b.fin
    while heap[0] not in fin:
        heapq.heappop(heap)
    return heap[0]
