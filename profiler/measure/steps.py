"""The forward passes a sweep times, on a transformers StaticCache (measurement.md §2.5, §3.4).

    kv_bytes_per_token(model, dev)          a static cache allocated at two lengths, the difference per token
    prefill_step(model, dev, B, T)          B prompts of T tokens into a tight cache, logits for the last only
    decode_step(model, dev, B, L, graphs)   one token per sequence at position L of a cache of L + 1 slots,
                                            replayed at the same position (each replay = "decode at L");
                                            captured in a CUDA graph on GPU, eager on CPU
    fit_probe(model, dev, B, L)             allocate the cache, one prefill chunk, one decode step (max batch
                                            of a decode point)
    prefill_probe(model, dev, B, T)         the prefill point itself, once: B prompts of T tokens in one forward
                                            (max batch of a prefill point: its activations grow with B x T,
                                            which a decode point's one-chunk probe never sees)

transformers 5 static layers keep their write position in ``cumulative_length`` and derive the mask's
query offset from it, so every step first rewinds it (``set_position``); older versions take
``cache_position``, which is passed too when the forward accepts it. The decode cache is filled by a
chunked prefill when batch x context is small enough, otherwise its first chunk is prefilled (which
allocates it) and the rest holds random values: decode cost does not depend on the cached values,
because an HF static cache attends over all ``max_cache_len`` slots regardless (§2.5).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass

from profiler.measure import STATIC_CACHE_EXTRA_SLOTS, interrupt
from profiler.measure.device import is_cuda, is_oom, synchronize
from profiler.measure.memory import cache_nbytes

KV_PROBE_LENGTHS = (8, 16)  # two cache lengths for the KV-per-token difference (below every sliding window)
CHUNK_TOKENS = {"cuda": 8192, "cpu": 16}  # prefill chunk: vLLM's max_num_batched_tokens 8192 on GPU; small on CPU
# Above this many batch x context tokens the decode cache is filled randomly instead of by a real prefill, to keep
# each point short: 32k tokens of an 8B model are ~0.5 PFLOP, ~1 s on an H100 (estimate: 16 GFLOP/token at
# ~600 TFLOP/s); the cached values do not change the decode step's cost (module docstring).
REAL_FILL_TOKENS = {"cuda": 32_768, "cpu": 4096}
GRAPH_WARMUP = 3  # eager calls on a side stream before capture (measurement.md §3.4 step 5; torch CUDA-graph docs)


@dataclass
class Step:
    """A timed callable and what it does: ``tokens`` for tokens/s, ``attended`` KV tokens per sequence."""

    fn: Callable[[], object]
    cache: object
    tokens: int
    method: str
    note: str = ""
    attended: int | None = None
    eager: Callable[[], object] | None = None  # decode: the uncaptured step, for an eager number beside the graph


def new_cache(model, max_len: int):
    from transformers import StaticCache

    return StaticCache(config=model.config, max_cache_len=max_len)


def set_position(cache, position: int) -> None:
    """Point every static layer's write position (and the mask's query offset) at token `position`."""
    for layer in getattr(cache, "layers", []):
        length = getattr(layer, "cumulative_length", None)
        if hasattr(length, "fill_"):
            length.fill_(position)
        elif isinstance(length, int):
            layer.cumulative_length = position


def _accepts_cache_position(model) -> bool:
    return "cache_position" in inspect.signature(model.forward).parameters


def _cache_keyword(model) -> str:
    """transformers >= 5.2x names the forward's cache argument ``cache`` (``past_key_values`` is deprecated and
    warns on every call); older versions only take ``past_key_values``."""
    return "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"


class Inputs:
    """Static input tensors for one (batch, start, length) call, reusable by a captured graph."""

    def __init__(self, model, dev, batch: int, start: int, length: int, seed: int = 0):
        import torch

        g = torch.Generator(device=dev).manual_seed(seed)
        vocab = model.config.get_text_config().vocab_size
        self.ids = torch.randint(0, vocab, (batch, length), device=dev, generator=g)
        self.positions = torch.arange(start, start + length, device=dev)
        self.with_cache_position = _accepts_cache_position(model)
        self.cache_keyword = _cache_keyword(model)
        self.start = start

    def kwargs(self, cache, ids=None, positions=None) -> dict:
        ids = self.ids if ids is None else ids
        positions = self.positions if positions is None else positions
        kw = {"input_ids": ids, "position_ids": positions.unsqueeze(0).expand(ids.shape[0], -1),
              self.cache_keyword: cache, "use_cache": True, "logits_to_keep": 1}
        if self.with_cache_position:
            kw["cache_position"] = positions
        return kw


def _forward_chunks(model, cache, inputs: Inputs, end: int, chunk: int) -> None:
    for start in range(0, end, chunk):
        interrupt.check()  # a safe point: a long fill stops between chunks on Ctrl-C
        stop = min(end, start + chunk)
        set_position(cache, start)
        model(**inputs.kwargs(cache, inputs.ids[:, start:stop], inputs.positions[start:stop]))


def kv_bytes_per_token(model, dev) -> tuple[int, str]:
    """Bytes one token adds to the KV cache (all layers, batch 1): caches of two lengths, the difference.
    CUDA: allocator delta (cross-checked against the tensor census); CPU: the tensor census."""
    import torch

    sizes, census_sizes = [], []
    for length in KV_PROBE_LENGTHS:
        synchronize(dev)
        before = torch.cuda.memory_allocated(dev) if is_cuda(dev) else 0
        cache = new_cache(model, length)
        inputs = Inputs(model, dev, 1, 0, 1)
        with torch.inference_mode():
            model(**inputs.kwargs(cache))
        synchronize(dev)
        census_sizes.append(cache_nbytes(cache))
        sizes.append(torch.cuda.memory_allocated(dev) - before if is_cuda(dev) else census_sizes[-1])
        del cache, inputs
    span = KV_PROBE_LENGTHS[1] - KV_PROBE_LENGTHS[0]
    per_token = (sizes[1] - sizes[0]) // span
    census_tok = (census_sizes[1] - census_sizes[0]) // span
    method = ("allocator delta" if is_cuda(dev) else "tensor census") + f" of caches of {KV_PROBE_LENGTHS} tokens"
    if per_token != census_tok:
        method += f"; tensor census says {census_tok} B/token"
    return per_token, method


def prefill_step(model, dev, batch: int, prompt: int) -> Step:
    """B prompts of T tokens into a cache of exactly T slots (each call rewinds it), last-token logits only."""
    import torch

    cache = new_cache(model, prompt)
    inputs = Inputs(model, dev, batch, 0, prompt)

    def run():
        with torch.inference_mode():
            set_position(cache, 0)
            return model(**inputs.kwargs(cache)).logits

    return Step(run, cache, batch * prompt, "eager", attended=prompt)


def _fill(model, dev, cache, batch: int, context: int) -> str:
    import torch

    kind = "cuda" if is_cuda(dev) else "cpu"
    chunk = max(1, min(context, CHUNK_TOKENS[kind] // batch))
    real = batch * context <= REAL_FILL_TOKENS[kind]
    inputs = Inputs(model, dev, batch, 0, context, seed=1)
    with torch.inference_mode():
        _forward_chunks(model, cache, inputs, context if real else chunk, chunk)
        if not real:
            for layer in cache.layers:
                for t in (layer.keys, layer.values):
                    t.normal_()
    set_position(cache, context)
    if real:
        return f"cache filled by a chunked prefill ({chunk} tokens/sequence per chunk)"
    return f"cache allocated by a {chunk}-token prefill chunk, the rest random ({batch}x{context} tokens)"


def _capture(fn: Callable[[], object], dev) -> tuple[Callable[[], object], str]:
    """Capture `fn` in a CUDA graph (warm-ups on a side stream first); eager with the reason when it fails."""
    import torch

    try:
        side = torch.cuda.Stream(dev)
        side.wait_stream(torch.cuda.current_stream(dev))
        with torch.cuda.stream(side):
            for _ in range(GRAPH_WARMUP):
                fn()
        torch.cuda.current_stream(dev).wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            fn()
        return graph.replay, "cuda-graph"
    except Exception as exc:  # noqa: BLE001 - capture failure: time eager, and say why
        if is_oom(exc):
            raise
        synchronize(dev)
        return fn, f"eager (CUDA-graph capture failed: {type(exc).__name__}: {str(exc)[:100]})"


def decode_step(model, dev, batch: int, context: int, graphs: bool = True) -> Step:
    """One decode step of `batch` sequences at position `context` of a cache of context + 1 slots."""
    import torch

    cache = new_cache(model, context + STATIC_CACHE_EXTRA_SLOTS)
    fill = _fill(model, dev, cache, batch, context)
    inputs = Inputs(model, dev, batch, context, 1, seed=2)

    def eager():
        with torch.inference_mode():
            set_position(cache, context)
            return model(**inputs.kwargs(cache)).logits.argmax(-1)  # stays on device: no host sync

    fn, method = _capture(eager, dev) if graphs and is_cuda(dev) else (eager, "eager")
    return Step(fn, cache, batch, method, fill, attended=context + STATIC_CACHE_EXTRA_SLOTS, eager=eager)


def fit_probe(model, dev, batch: int, context: int) -> None:
    """The memory a (batch, context) decode point needs: its cache, one prefill chunk, one decode step."""
    import torch

    kind = "cuda" if is_cuda(dev) else "cpu"
    cache = new_cache(model, context + STATIC_CACHE_EXTRA_SLOTS)
    chunk = max(1, min(context, CHUNK_TOKENS[kind] // batch))
    with torch.inference_mode():
        first = Inputs(model, dev, batch, 0, chunk)
        model(**first.kwargs(cache))
        set_position(cache, context)
        step = Inputs(model, dev, batch, context, 1)
        model(**step.kwargs(cache)).logits.argmax(-1)
    synchronize(dev)


def prefill_probe(model, dev, batch: int, prompt: int) -> None:
    """The memory a (batch, prompt) prefill point needs: the point's own step, run once (same cache, same inputs)."""
    prefill_step(model, dev, batch, prompt).fn()
    synchronize(dev)
