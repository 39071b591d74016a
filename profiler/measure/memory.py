"""Memory as the allocator and the device see it (measurement.md §1, §7 items 11-12).

    tensor_nbytes(t)         bytes a tensor really holds, torchao subclasses included (inner tensors)
    census(model)            exact bytes of parameters and buffers, shared storage counted once
    cache_nbytes(cache)      bytes of a transformers cache's K/V tensors
    device_memory(dev)       CUDA: allocated, reserved, device used (total - free), NVML used, non-torch
    mps_memory()             MPS: tensor bytes, Metal driver bytes, the recommended working set
    PeakTracker(dev, base)   peak bytes of a region: CUDA allocator peaks; CPU: a live-tensor census; MPS: both
                             the census and the Metal driver's bytes after the region
    LiveTensorCensus         a TorchDispatchMode counting the bytes of tensors created inside it

On CUDA the numbers are the caching allocator's (``max_memory_allocated``/``reserved``, vLLM's choice of
``allocated_bytes.all.peak``) plus ``non_torch = (total - free) - reserved`` from one ``mem_get_info``
snapshot (vLLM ``MemorySnapshot``): the CUDA context, cuBLAS workspaces and anything else outside torch.
The CPU has no allocator statistics in torch, so a CPU region's peak is a census of the tensors it
creates (every op's outputs with fresh storage, released when the last tensor on that storage dies) plus
the bytes already resident (``base``: weights and cache); temporaries inside a single kernel are not seen.

MPS has no peak counter (torch.mps offers current_allocated_memory, driver_allocated_memory and
recommended_max_memory only: torch/mps/__init__.py). A region's peak there is the larger of two lower bounds of
the true peak: the CPU's live-tensor census over the region (+ resident bytes), and the Metal driver's bytes right
after it, the cache having been emptied at entry (freed temporaries stay cached until emptied, so this is the
most the allocator held, as CUDA's max reserved, unless it released buffers under memory pressure mid-region; it
also holds MPSGraph's own buffers). The row's note and the journal say which bound it was.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from typing import Any

from profiler.measure.device import is_cuda, is_mps


def _plain(t) -> bool:
    """True for an ordinary tensor or Parameter; False for a tensor subclass (torchao quantised weights)."""
    import torch

    inner = t.data if isinstance(t, torch.nn.Parameter) else t
    return type(inner) in (torch.Tensor, torch.nn.Parameter)


def tensor_nbytes(t) -> int:
    """Bytes held by `t`. A torchao tensor subclass reports its original shape and bf16 dtype, so its bytes
    are summed over its inner tensors (``__tensor_flatten__``: qdata, scale, zero point...)."""
    import torch

    inner = t.data if isinstance(t, torch.nn.Parameter) else t
    if not _plain(inner) and hasattr(inner, "__tensor_flatten__"):
        names, _ = inner.__tensor_flatten__()
        return sum(tensor_nbytes(getattr(inner, n)) for n in names)
    return inner.numel() * inner.element_size()


def _storage_key(t) -> tuple[Any, int]:
    try:
        return (t.device.type, t.untyped_storage().data_ptr())
    except (RuntimeError, NotImplementedError, TypeError):  # subclass without a storage of its own
        return (t.device.type, id(t))


@dataclass(frozen=True)
class Census:
    """Exact bytes of a module's tensors; ``quantised`` counts parameters held as tensor subclasses."""

    parameter_bytes: int
    buffer_bytes: int
    parameters: int
    quantised: int
    dtypes: tuple[str, ...]

    @property
    def total_bytes(self) -> int:
        return self.parameter_bytes + self.buffer_bytes


def census(model) -> Census:
    """Bytes of every parameter and buffer of `model` (tied or shared storage counted once)."""
    seen: set = set()
    pbytes = bbytes = quantised = count = 0
    dtypes: set[str] = set()
    for _, p in model.named_parameters(remove_duplicate=True):
        count += 1
        if not _plain(p):
            quantised += 1
            dtypes.add(type(p.data).__name__)
            pbytes += tensor_nbytes(p)
            continue
        dtypes.add(str(p.dtype).replace("torch.", ""))
        key = _storage_key(p)
        if key not in seen:
            seen.add(key)
            pbytes += p.untyped_storage().nbytes()
    for _, b in model.named_buffers(remove_duplicate=True):
        key = _storage_key(b)
        if key not in seen:
            seen.add(key)
            bbytes += b.untyped_storage().nbytes()
    return Census(pbytes, bbytes, count, quantised, tuple(sorted(dtypes)))


def cache_nbytes(cache) -> int:
    """Bytes of the K/V tensors a transformers Cache has allocated so far."""
    total = 0
    for layer in getattr(cache, "layers", []):
        for name in ("keys", "values"):
            t = getattr(layer, name, None)
            if t is not None and hasattr(t, "untyped_storage"):
                total += t.untyped_storage().nbytes()
    return total


@dataclass(frozen=True)
class DeviceMemory:
    """One CUDA memory snapshot, bytes (measurement.md §1.1)."""

    allocated: int
    reserved: int
    device_used: int  # total - free from cudaMemGetInfo: every process, context, driver reservations
    device_total: int
    nvml_used: int | None  # NVML's view, None when NVML is not available
    max_allocated: int
    max_reserved: int

    @property
    def non_torch(self) -> int:
        """CUDA context, cuBLAS/cuDNN workspaces, NCCL, other processes: what torch does not account for."""
        return self.device_used - self.reserved


def device_memory(dev, nvml=None) -> DeviceMemory:
    import torch

    free, total = torch.cuda.mem_get_info(dev)
    used = None
    if nvml is not None:
        used = nvml.memory_used()
    return DeviceMemory(torch.cuda.memory_allocated(dev), torch.cuda.memory_reserved(dev), total - free, total,
                        used, torch.cuda.max_memory_allocated(dev), torch.cuda.max_memory_reserved(dev))


@dataclass(frozen=True)
class MpsMemory:
    """One MPS snapshot, bytes (torch.mps): live tensors, everything Metal allocated for the process (the
    allocator's cached buffers and MPSGraph's included), and macOS's recommended GPU working set."""

    current_allocated: int
    driver_allocated: int
    recommended_max: int

    @property
    def non_tensor(self) -> int:
        """Metal bytes that are no live tensor: cached buffers, heap slack, MPS/MPSGraph framework allocations."""
        return self.driver_allocated - self.current_allocated


def mps_memory() -> MpsMemory:
    import torch

    return MpsMemory(torch.mps.current_allocated_memory(), torch.mps.driver_allocated_memory(),
                     torch.mps.recommended_max_memory())


def mps_peak(base: int, census_peak: int, driver_after: int) -> tuple[int, str]:
    """The peak an MPS region is credited with (module docstring): the larger of the tensor census (resident bytes
    + the most bytes of tensors created in it alive at once) and the Metal driver's bytes after it; and which."""
    tensors = base + census_peak
    if driver_after > tensors:
        return driver_after, ("mps: Metal driver bytes after the step, cache emptied before (torch has no MPS peak "
                              f"counter; tensor census {tensors:,} B)")
    return tensors, ("mps: tensor census (resident + live tensors created in the step; torch has no MPS peak "
                     f"counter; Metal driver bytes after the step {driver_after:,} B)")


class LiveTensorCensus:
    """Counts bytes of tensors created while active; ``peak`` is the most alive at once (CPU regions)."""

    def __init__(self) -> None:
        self.current = 0
        self.peak = 0
        self._storages: dict[tuple, list] = {}  # key -> [nbytes, {id(tensor): weakref}]
        self._mode = None

    def _release(self, key: tuple, ident: int) -> None:
        entry = self._storages.get(key)
        if entry is None:
            return
        entry[1].pop(ident, None)
        if not entry[1]:
            self.current -= entry[0]
            del self._storages[key]

    def _track(self, t, input_keys: set) -> None:
        key = _storage_key(t)
        if key[1] == 0:
            return
        if key not in self._storages:
            if key in input_keys:
                return  # a view of, or an in-place result on, a tensor that existed before: not new memory
            self._storages[key] = [t.untyped_storage().nbytes(), {}]
            self.current += self._storages[key][0]
            self.peak = max(self.peak, self.current)
        refs = self._storages[key][1]
        if id(t) not in refs:
            refs[id(t)] = weakref.ref(t, lambda _r, k=key, i=id(t): self._release(k, i))

    def __enter__(self) -> LiveTensorCensus:
        import torch
        from torch.utils._python_dispatch import TorchDispatchMode
        from torch.utils._pytree import tree_leaves

        census_ = self

        class _Mode(TorchDispatchMode):
            def __torch_dispatch__(self, func, types, args=(), kwargs=None):
                out = func(*args, **(kwargs or {}))
                ins = {_storage_key(a) for a in tree_leaves((args, kwargs)) if isinstance(a, torch.Tensor)}
                for t in tree_leaves(out):
                    if isinstance(t, torch.Tensor) and type(t) is torch.Tensor:
                        census_._track(t, ins)
                return out

        self._mode = _Mode()
        self._mode.__enter__()
        return self

    def __exit__(self, *exc) -> bool:
        self._mode.__exit__(*exc)
        return False


class PeakTracker:
    """Peak memory of a region. ``peak_allocated``/``peak_reserved`` in bytes; ``peak_device`` adds the
    non-torch bytes seen at entry (the capacity-planning peak, measurement.md §1.5); ``method`` says which."""

    def __init__(self, dev, base_bytes: int = 0, nvml=None):
        self.dev, self.base, self.nvml = dev, base_bytes, nvml
        self.peak_allocated = self.peak_reserved = self.peak_device = 0
        self.nvml_used: int | None = None
        self.method = ""
        self._census: LiveTensorCensus | None = None
        self.non_torch = 0  # CUDA: context, workspaces and other processes at entry (bytes)

    def __enter__(self) -> PeakTracker:
        if is_cuda(self.dev):
            import torch

            torch.cuda.synchronize(self.dev)
            torch.cuda.reset_peak_memory_stats(self.dev)
            self.non_torch = device_memory(self.dev).non_torch
            return self
        if is_mps(self.dev):
            import torch

            torch.mps.synchronize()
            torch.mps.empty_cache()  # the driver's bytes after the region then hold what the region allocated
            self.non_torch = mps_memory().non_tensor
        self._census = LiveTensorCensus().__enter__()
        return self

    def __exit__(self, *exc) -> bool:
        if is_cuda(self.dev):
            import torch

            torch.cuda.synchronize(self.dev)
            snap = device_memory(self.dev, self.nvml)
            self.peak_allocated, self.peak_reserved = snap.max_allocated, snap.max_reserved
            self.peak_device = self.non_torch + snap.max_reserved
            self.nvml_used = snap.nvml_used
            self.method = "cuda allocator peak (non-torch + max reserved)"
        elif is_mps(self.dev):
            import torch

            self._census.__exit__(*exc)
            torch.mps.synchronize()
            self.peak_allocated = self.base + self._census.peak
            self.peak_reserved = torch.mps.driver_allocated_memory()
            self.peak_device, self.method = mps_peak(self.base, self._census.peak, self.peak_reserved)
        else:
            self._census.__exit__(*exc)
            self.peak_allocated = self.peak_reserved = self.peak_device = self.base + self._census.peak
            self.method = "cpu tensor census (resident + live tensors created in the step)"
        return False
