"""Which device a measurement runs on, and the few device-wide actions every module needs.

    prepare_process()     offline hub, allocator settings: call before the first transformers/CUDA use
    resolve_device(name)  "cpu" | "cuda" | "cuda:N" -> torch.device, or a ProfilerError saying what works
    synchronize(dev), free_memory(dev), is_oom(exc)
    MeasuredOOM           an injected memory budget was exceeded (same path as a CUDA OOM)
"""

from __future__ import annotations

import contextlib
import gc
import logging
import os
import warnings

from profiler.errors import InvalidValueError, ProfilerError

# measurement.md §1.5: expandable segments cut fragmentation so the max-batch search measures capacity, not luck.
# torch >= 2.9 reads PYTORCH_ALLOC_CONF; PYTORCH_CUDA_ALLOC_CONF is the older alias (set both, verify after).
ALLOC_CONF = "expandable_segments:True"


class MeasuredOOM(RuntimeError):
    """The point needs more memory than the (injected or emulated) budget: handled exactly like a CUDA OOM."""


def prepare_process() -> None:
    """Never reach a model hub, and set the allocator before CUDA initialises (both idempotent)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    for var in ("PYTORCH_ALLOC_CONF", "PYTORCH_CUDA_ALLOC_CONF"):
        os.environ.setdefault(var, ALLOC_CONF)
    import sys

    hub = sys.modules.get("huggingface_hub.constants")
    if hub is not None:  # imported before us: its offline flag was read at import time
        hub.HF_HUB_OFFLINE = True
    try:  # the stack imported once, its import-time chatter held back (quiet_imports); later imports are cached
        with quiet_imports():
            import torch  # noqa: F401
            import transformers.quantizers  # noqa: F401 - imports torchao when it is installed
    except ImportError:
        pass  # a missing package is reported where it is needed, naming the extra that installs it


# Loggers that talk while the stack imports: torchao's own ("Failed to load .../_C_mxfp8...so" for CUDA kernels a
# CPU or an older card cannot load, "Detected no triton") and torch's pytree ("<enum ...> is an Enum subclass ...
# register_constant() is deprecated"), when transformers' quantizers import torchao. None of it changes a
# measurement (a quant torchao cannot run is recorded as unsupported with its error); printed, it broke the
# one-line output of `profile --measure` (issue 12).
_IMPORT_LOGGERS = ("torchao", "torch.utils._pytree")


@contextlib.contextmanager
def quiet_imports():
    """Import-time log lines (_IMPORT_LOGGERS) and warnings held back while importing torch, transformers, torchao."""
    loggers = [logging.getLogger(name) for name in _IMPORT_LOGGERS]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)


def resolve_device(name: str):
    """The torch.device for "cpu", "cuda" or "cuda:N"; a clear error when CUDA is asked for but absent."""
    import torch

    if name == "cpu":
        return torch.device("cpu")
    if not (name == "cuda" or (name.startswith("cuda:") and name[5:].isdigit())):
        raise InvalidValueError(f"--device must be cpu, cuda or cuda:N, not '{name}'")
    if not torch.cuda.is_available():
        raise ProfilerError(
            f"--measure on {name} needs a CUDA GPU and a CUDA build of torch; none is visible here "
            f"(torch {torch.__version__}). Use --device cpu to exercise the measured path on a small model, "
            "or drop --measure for the analytic profile.")
    dev = torch.device(name)
    index = dev.index if dev.index is not None else torch.cuda.current_device()
    if index >= torch.cuda.device_count():
        raise InvalidValueError(f"{name}: only {torch.cuda.device_count()} CUDA device(s) are visible")
    torch.cuda.set_device(index)
    return torch.device("cuda", index)


def is_cuda(dev) -> bool:
    return getattr(dev, "type", str(dev).split(":")[0]) == "cuda"


def synchronize(dev) -> None:
    if is_cuda(dev):
        import torch

        torch.cuda.synchronize(dev)


def free_memory(dev) -> None:
    """CUDA: drop garbage and hand cached blocks back, so the next point starts from the same floor.

    A no-op on the CPU: there is no device memory to hand back (the budget is emulated and a point's peak is a
    census of the tensors created inside it, :class:`memory.PeakTracker`), tensors die with their last reference,
    and a full ``gc.collect`` with torch and transformers loaded costs ~0.15 s, paid at every probe and point."""
    if not is_cuda(dev):
        return
    import torch

    gc.collect()
    torch.cuda.synchronize(dev)
    torch.cuda.empty_cache()


# Allocation failures that do not arrive as torch.OutOfMemoryError: a cudaMalloc outside the caching allocator
# ("CUDA error: out of memory"), cuBLAS workspace allocation (CUBLAS_STATUS_ALLOC_FAILED), a host allocation.
OOM_MESSAGES = ("out of memory", "cublas_status_alloc_failed", "defaultcpuallocator: can't allocate memory")


def is_oom(exc: BaseException) -> bool:
    """True for an out-of-memory error (torch.OutOfMemoryError, a RuntimeError saying so, MemoryError) or an
    exceeded injected budget. Nothing else is a memory boundary."""
    if isinstance(exc, (MeasuredOOM, MemoryError)):
        return True
    import torch

    oom = getattr(torch, "OutOfMemoryError", None) or torch.cuda.OutOfMemoryError
    if isinstance(exc, oom):
        return True
    return isinstance(exc, RuntimeError) and any(m in str(exc).lower() for m in OOM_MESSAGES)
