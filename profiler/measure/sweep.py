"""The measured sweep: quant x KV dtype x context x batch on a real device -> Profile rows (source=measured).

Per quant: build the model (random weights, on the device), quantise, take the weight bytes (allocator
delta on CUDA, tensor census on CPU) and KV bytes per token (a static cache at two lengths, the
difference). Per (context, batch): prefill latency (logits for the last token only), decode step
latency on a static cache filled to the context (max_cache_len = context + 1, so the attended length is
known), peak memory, power and energy (NVML, CUDA only), and the largest batch that fits (bounded
binary search that catches OOM and goes on). An OOM is a row with ``status="oom"``; an unsupported
quant is ``status="unsupported"`` with the reason. Each finished point is written at once (the whole
file rewritten atomically) and a rerun with the same output resumes: points already there are skipped.
"""

from __future__ import annotations

import gc
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pandas as pd

from profiler.analytic import memory as amem
from profiler.analytic import timing as atiming
from profiler.errors import ProfilerError, UnsupportedQuantError
from profiler.measure import build
from profiler.measure.timers import time_call
from profiler.schema import KEY_COLUMNS, ProfileMeta, normalise, read_profile, write_profile
from profiler.specs import Efficiency, GpuSpec, KvDtype, ModelSpec, QuantScheme

UNIT = Efficiency(bandwidth=1.0, compute=1.0, step_overhead_s=0.0, interconnect=1.0)


class SimulatedOOM(RuntimeError):
    """Raised when an injected memory limit (CPU tests, --memory-limit) would be exceeded."""


def _is_oom(exc: BaseException) -> bool:
    import torch

    return isinstance(exc, (SimulatedOOM, torch.cuda.OutOfMemoryError)) or "out of memory" in str(exc).lower()


def _free(device: str) -> None:
    gc.collect()
    if device.startswith("cuda"):
        import torch

        torch.cuda.empty_cache()


def cpu_spec() -> GpuSpec:
    """The CPU as a 'GPU' row: bandwidth and FLOP/s measured here once (a copy and a matmul), so MBU/MFU
    of CPU runs are relative to what this machine was seen to do, and say so in the environment."""
    import torch

    x = torch.empty(64 * 2**20, dtype=torch.uint8)
    y = torch.empty_like(x)
    t = time_call(lambda: y.copy_(x), "cpu", warmup=1, min_reps=3, min_time_s=0.05)
    a = torch.randn(512, 512)
    f = time_call(lambda: a @ a, "cpu", warmup=1, min_reps=3, min_time_s=0.05)
    import os

    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    return GpuSpec(id="cpu", name="CPU (measured copy/matmul rates)", hbm_bytes=int(mem),
                   hbm_bandwidth_bytes_per_s=2 * x.numel() / t.median_s,
                   tflops={"bf16": 2 * 512**3 / f.median_s / 1e12}, interconnect_bytes_per_s=1e9,
                   interconnect="none", tdp_w=0.0, source="measured on this CPU by profiler.measure.sweep.cpu_spec")


def _tensor_bytes(tensors) -> int:
    return sum(t.numel() * t.element_size() for t in tensors)


def weight_bytes_on_device(model, device: str, before: int) -> int:
    import torch

    if device.startswith("cuda"):
        return torch.cuda.memory_allocated() - before
    return _tensor_bytes(model.parameters())  # buffers (RoPE inv_freq) are not weights: bytes, not GB


def _cache(model, batch: int, length: int, kv: KvDtype):
    from transformers import StaticCache

    if kv is KvDtype.FP8:
        raise UnsupportedQuantError("fp8 KV cache: transformers' StaticCache has no fp8 storage path")
    return StaticCache(config=model.config, max_cache_len=length)


def _set_length(cache, n: int) -> None:
    """Point every static layer's write position at token `n` (transformers 5 static layers track their own
    position in `cumulative_length`, so a repeated prefill or decode must rewind it first)."""
    for layer in cache.layers:
        length = getattr(layer, "cumulative_length", None)
        if getattr(layer, "is_initialized", False) and hasattr(length, "fill_"):
            length.fill_(n)
        elif isinstance(length, int):
            layer.cumulative_length = n


def _cache_bytes(cache) -> int:
    return _tensor_bytes(t for layer in cache.layers for t in (layer.keys, layer.values) if t is not None)


def kv_bytes_per_token(model, device: str, kv: KvDtype) -> int:
    """Allocate the cache at two lengths (one forward each) and take the difference per token."""
    import torch

    sizes = []
    for length in (32, 64):
        cache = _cache(model, 1, length, kv)
        ids = torch.zeros((1, 1), dtype=torch.long, device=device)
        with torch.inference_mode():
            model(input_ids=ids, past_key_values=cache, use_cache=True)
        sizes.append(_cache_bytes(cache))
        del cache
    return (sizes[1] - sizes[0]) // 32


def _predicted_bytes(spec: ModelSpec, kv: KvDtype, weights: int, batch: int, length: int) -> int:
    act = amem.activation_bytes(spec, 1, chunk_tokens=batch * length, max_num_seqs=batch)
    return weights + batch * length * amem.kv_bytes_per_token(spec, kv, 1) + act


def _graphed(fn: Callable[[], object]) -> tuple[Callable[[], object], str]:
    """Capture `fn` (static shapes, static cache) in a CUDA graph so the Python harness is not the bottleneck
    (gpt-fast / measurement.md §7 item 6); fall back to eager, saying why, when capture fails."""
    import torch

    try:
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            for _ in range(2):
                fn()
        torch.cuda.current_stream().wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            fn()
        return graph.replay, "cuda-graph"
    except Exception as exc:  # noqa: BLE001 - any capture failure means eager timing, recorded in the note
        torch.cuda.synchronize()
        return fn, f"eager (CUDA-graph capture failed: {type(exc).__name__})"


class Point:
    """One (batch, context) measurement on a built model."""

    def __init__(self, model, spec: ModelSpec, device: str, kv: KvDtype, limit: int | None, weights: int):
        self.model, self.spec, self.device, self.kv, self.limit, self.weights = model, spec, device, kv, limit, weights

    def check(self, batch: int, length: int) -> None:
        if self.limit is not None and _predicted_bytes(self.spec, self.kv, self.weights, batch, length) > self.limit:
            raise SimulatedOOM(f"batch {batch} x {length} tokens exceeds the injected limit of {self.limit:,} B")

    def run(self, batch: int, context: int) -> dict[str, Any]:
        import torch

        self.check(batch, context + 1)
        cuda = self.device.startswith("cuda")
        if cuda:
            torch.cuda.reset_peak_memory_stats()
        cache = _cache(self.model, batch, context + 1, self.kv)
        ids = torch.randint(0, self.spec.vocab_size, (batch, context), device=self.device)
        pos = torch.arange(context, device=self.device)
        one = ids[:, :1]
        step_pos = torch.tensor([context], device=self.device)
        def prefill():
            _set_length(cache, 0)
            return self.model(input_ids=ids, past_key_values=cache, cache_position=pos, use_cache=True,
                              logits_to_keep=1)

        def decode():  # one new token per sequence at position `context`, the cache filled before it
            _set_length(cache, context)
            return self.model(input_ids=one, past_key_values=cache, cache_position=step_pos, use_cache=True)

        with torch.inference_mode():
            pre = time_call(prefill, self.device, warmup=1, min_reps=3)
            step, mode = _graphed(decode) if cuda else (decode, "eager (CPU)")
            dec = time_call(step, self.device)
        peak = torch.cuda.max_memory_allocated() if cuda else self.weights + _cache_bytes(cache)
        return {"prefill": pre, "decode": dec, "peak_bytes": peak, "decode_mode": mode}

    def fits(self, batch: int, context: int) -> bool:
        """One decode step at this batch and context without OOM (bounded search probe)."""
        import torch

        try:
            self.check(batch, context + 1)
            cache = _cache(self.model, batch, context + 1, self.kv)
            with torch.inference_mode():
                self.model(input_ids=torch.zeros((batch, 1), dtype=torch.long, device=self.device),
                           past_key_values=cache, cache_position=torch.tensor([context], device=self.device),
                           use_cache=True)
            del cache
            return True
        except Exception as exc:  # noqa: BLE001 - only OOM is a boundary; anything else is re-raised
            if not _is_oom(exc):
                raise
            return False
        finally:
            _free(self.device)

    def max_batch(self, context: int, upper: int) -> int:
        """Largest batch in [0, upper] that fits (binary search; `upper` from the analytic bracket)."""
        lo, hi = 0, upper
        while lo < hi:
            mid = (lo + hi + 1) // 2
            lo, hi = (mid, hi) if self.fits(mid, context) else (lo, mid - 1)
        return lo


def _analytic(spec, gpu, quant, kv, phase, batch, context) -> atiming.StepEstimate | None:
    try:
        if phase == "prefill":
            return atiming.prefill(spec, gpu, quant, kv, 1, batch, context, UNIT)
        return atiming.decode_step(spec, gpu, quant, kv, 1, batch, context, UNIT, attended=context + 1)
    except UnsupportedQuantError:
        return None


def _row(base: dict, phase: str, batch: int, context: int, **kw) -> dict[str, Any]:
    return {**base, "phase": phase, "batch": batch, "context": context, **kw}


def _measure_config(point: Point, spec, gpu, quant, kv, base, batches, contexts, done, emit, power) -> None:
    for context in contexts:
        upper = max(batches)
        if all((p, b, context) in done for p in ("prefill", "decode") for b in batches):
            continue
        max_b = point.max_batch(context, upper)
        for batch in batches:
            if ("prefill", batch, context) in done and ("decode", batch, context) in done:
                continue
            try:
                with power() as pw:
                    res = point.run(batch, context)
            except Exception as exc:  # noqa: BLE001
                if not _is_oom(exc):
                    raise
                _free(point.device)
                for phase in ("prefill", "decode"):
                    emit(_row(base, phase, batch, context, status="oom", note=f"OOM: {exc}"[:300], max_batch=max_b))
                continue
            common = {"max_batch": max_b, "note": f"{base['note']}; decode attends {context + 1} cached tokens"
                                                  f" ({res['decode_mode']}); max_batch searched up to {upper}"}
            for phase, tokens in (("prefill", batch * context), ("decode", batch)):
                if (phase, batch, context) in done:
                    continue  # resumed: this half of the pair was written before the interruption
                t = res[phase]
                est = _analytic(spec, gpu, quant, kv, phase, batch, context)
                emit(_row(base, phase, batch, context, status="ok", latency_ms=t.median_s * 1e3,
                          latency_ms_spread=t.iqr_s * 1e3, tokens_per_s=tokens / t.median_s,
                          peak_bytes=res["peak_bytes"],
                          mbu=est.bytes_moved / t.median_s / gpu.hbm_bandwidth_bytes_per_s,
                          mfu=est.flops / t.median_s / gpu.peak_flops(atiming.compute_dtype(gpu, quant)),
                          power_w=pw.mean_w, energy_j_per_token=(pw.energy_j / max(tokens, 1)) if pw.energy_j else None,
                          **common))
            _free(point.device)


class _NoPower:
    mean_w = energy_j = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def run_measured_profile(model: ModelSpec, gpu_id: str | None, quants: list[str], kv_dtypes: list[KvDtype],
                         batches: list[int], contexts: list[int], device: str = "cuda", out: Path | None = None,
                         resume: bool = True, memory_limit_bytes: int | None = None, weights_path: Path | None = None,
                         progress: bool = True, on_point: Callable[[dict], None] | None = None,
                         ) -> tuple[pd.DataFrame, ProfileMeta]:
    """Measure the grid on `device`; write each finished point to `out` at once; resume from `out`."""
    import torch

    from profiler import catalogue
    from profiler.api import tool_version
    from profiler.measure.environment import environment

    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ProfilerError("--measure on cuda needs a CUDA GPU and a CUDA build of torch; none is visible here. "
                            "Use --device cpu to exercise the measured path, or drop --measure for the analytic model.")
    gpu = catalogue.get_gpu(gpu_id) if device.startswith("cuda") else cpu_spec()
    gpu_name = gpu.id
    meta = ProfileMeta(tool_version=tool_version(), catalogues=catalogue.catalogue_hashes(),
                       environment={**environment(device), "gpu": gpu_name, "cpu_spec": asdict(gpu) if gpu_name == "cpu"
                                    else None}, command=f"measure {model.name} on {device}")
    rows: list[dict] = []
    if out and resume and Path(out).exists():
        rows = [r for r in read_profile(out)[0].astype(object).to_dict(orient="records")]
    done = {tuple(r[k] for k in KEY_COLUMNS) for r in rows}

    def emit(row: dict) -> None:
        rows.append(row)
        done.add(tuple(row[k] for k in KEY_COLUMNS))
        if out:
            write_profile(normalise(rows), out, meta)
        if on_point:
            on_point(row)

    power = _power_factory(device)
    from rich.progress import Progress

    with Progress(disable=not progress, transient=True) as bar:
        task = bar.add_task(f"measuring {model.name}", total=len(quants) * len(kv_dtypes))
        for qid in quants:
            quant = catalogue.get_quant(qid)
            _measure_quant(model, gpu, quant, kv_dtypes, batches, contexts, device, memory_limit_bytes,
                           weights_path, done, emit, power)
            bar.advance(task, len(kv_dtypes))
    return normalise(rows), meta


def _power_factory(device: str):
    if not device.startswith("cuda"):
        return _NoPower
    try:
        import pynvml

        pynvml.nvmlInit()
        from profiler.measure.power import PowerSampler

        return PowerSampler
    except Exception:  # noqa: BLE001 - NVML missing or not permitted: power columns stay empty
        return _NoPower


def _measure_quant(spec, gpu, quant: QuantScheme, kv_dtypes, batches, contexts, device, limit, weights_path, done,
                   emit, power) -> None:
    import torch

    cuda = device.startswith("cuda")
    for kv in kv_dtypes:
        base = {"model": spec.name, "gpu": gpu.id, "quant": quant.id, "kv_dtype": kv.value, "tp": 1,
                "source": "measured"}
        this = (spec.name, gpu.id, quant.id, kv.value)
        mine = {(p, b, c) for (m, g, q, k, _, p, b, c) in done if (m, g, q, k) == this}
        if all((p, b, c) in mine for p in ("prefill", "decode") for b in batches for c in contexts):
            continue
        before = torch.cuda.memory_allocated() if cuda else 0
        model = None
        try:
            model = build.build_model(spec, device, "bf16", weights=weights_path)
            build.quantize(model, quant, device)
            if gpu.id != "cpu":
                atiming.compute_dtype(gpu, quant)  # e.g. fp8 on a GPU without fp8 -> unsupported rows
            weights = weight_bytes_on_device(model, device, before)
            kv_tok = kv_bytes_per_token(model, device, kv)
        except UnsupportedQuantError as exc:
            for c in contexts:
                for b in batches:
                    for p in ("prefill", "decode"):
                        if (p, b, c) not in mine:
                            emit(_row(base, p, b, c, status="unsupported", note=str(exc)[:300]))
            del model
            _free(device)
            continue
        analytic_w = amem.weight_bytes(spec, quant, 1)
        base.update(weights_bytes=weights, kv_bytes_per_token=kv_tok,
                    kv_capacity_tokens=max(0, ((limit or gpu.hbm_bytes) - weights) // max(kv_tok, 1)))
        point = Point(model, spec, device, kv, limit, weights)
        note_w = f"weights {weights:,} B measured vs {analytic_w:,} B analytic ({weights / analytic_w - 1:+.2%})"
        _measure_config(point, spec, gpu, quant, kv, {**base, "note": note_w}, batches, contexts, mine, emit, power)
        del point, model
        _free(device)


__all__ = ["run_measured_profile", "cpu_spec", "kv_bytes_per_token", "weight_bytes_on_device", "SimulatedOOM"]
