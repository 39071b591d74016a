"""Which device a measurement runs on, and the few device-wide actions every module needs.

    prepare_process()     offline hub, allocator settings: call before the first transformers/CUDA use
    resolve_device(name)  "cpu" | "cuda" | "cuda:N" | "mps" -> torch.device, or a ProfilerError saying what works
    device_kind(dev)      "cuda", "mps" or "cpu"
    synchronize(dev), free_memory(dev), is_oom(exc)
    mps_unsupported_op(exc)  the note of an `unsupported` row when MPS lacks an operator (no CPU fallback)
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
    """The torch.device for "cpu", "cuda", "cuda:N" or "mps"; a clear error when the device is asked for but absent."""
    import torch

    if name == "cpu":
        return torch.device("cpu")
    if name in ("mps", "mps:0"):
        return _resolve_mps()
    if not (name == "cuda" or (name.startswith("cuda:") and name[5:].isdigit())):
        raise InvalidValueError(f"--device must be cpu, cuda, cuda:N or mps (Apple silicon), not '{name}'")
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


def _resolve_mps():
    """torch.device("mps"), or one line saying why not (no MPS here, the CPU fallback on, macOS without bf16).
    The MPS allocator is then held to macOS's recommended GPU working set (apple.hold_allocator_to_working_set)."""
    import platform

    import torch

    from profiler.measure import apple

    mps, macos = torch.backends.mps, platform.mac_ver()[0]
    why = apple.unavailable_reason(mps.is_built(), mps.is_available(), platform.system(), macos, torch.__version__)
    why = why or apple.fallback_refusal(os.environ) or apple.bf16_refusal(mps.is_macos_or_newer(14, 0), macos)
    if why:
        raise ProfilerError(why)
    apple.hold_allocator_to_working_set(os.environ)
    return torch.device("mps")


def device_kind(dev) -> str:
    """"cuda", "mps" or "cpu" for a torch.device or a name such as "cuda:1"."""
    return getattr(dev, "type", str(dev).split(":")[0])


def is_cuda(dev) -> bool:
    return device_kind(dev) == "cuda"


def is_mps(dev) -> bool:
    return device_kind(dev) == "mps"


def synchronize(dev) -> None:
    """Wait for the device's queued work (CUDA: that device; MPS: every command buffer; CPU: nothing queued)."""
    if is_cuda(dev):
        import torch

        torch.cuda.synchronize(dev)
    elif is_mps(dev):
        import torch

        torch.mps.synchronize()


def free_memory(dev) -> None:
    """CUDA: drop garbage and hand cached blocks back, so the next point starts from the same floor.

    A no-op on the CPU: there is no device memory to hand back (the budget is emulated and a point's peak is a
    census of the tensors created inside it, :class:`memory.PeakTracker`), tensors die with their last reference,
    and a full ``gc.collect`` with torch and transformers loaded costs ~0.15 s, paid at every probe and point.
    MPS: as CUDA, with torch.mps.empty_cache() (the MPS allocator caches freed Metal buffers the same way)."""
    if device_kind(dev) == "cpu":
        return
    import torch

    gc.collect()
    synchronize(dev)
    if is_mps(dev):
        torch.mps.empty_cache()
    else:
        torch.cuda.empty_cache()


# Allocation failures that do not arrive as torch.OutOfMemoryError: a cudaMalloc outside the caching allocator
# ("CUDA error: out of memory"), cuBLAS workspace allocation (CUBLAS_STATUS_ALLOC_FAILED), a host allocation.
# MPS raises a RuntimeError "MPS backend out of memory (MPS allocated: ..., other allocations: ..., max allowed:
# ...). Tried to allocate ..." when its limit (apple.hold_allocator_to_working_set) or the device's memory is
# reached, and "Invalid buffer size: ..." for one tensor larger than Metal's largest buffer (maxBufferLength): a
# batch that does not fit, too (pytorch/pytorch@02011e0db1e7f5631c25b2bd75facc7eb2e8eb7b:
# aten/src/ATen/mps/MPSAllocator.mm, MPSHeapAllocatorImpl::alloc_buffer_block).
OOM_MESSAGES = ("out of memory", "cublas_status_alloc_failed", "defaultcpuallocator: can't allocate memory",
                "mps backend out of memory", "invalid buffer size")


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


def mps_unsupported_op(exc: BaseException) -> str | None:
    """The note of an `unsupported` row when the MPS backend lacks an operator, or None for any other error. Without
    PYTORCH_ENABLE_MPS_FALLBACK (refused: apple.fallback_refusal) torch raises NotImplementedError "The operator
    'aten::x' is not currently implemented for the MPS device..." (pytorch/pytorch@035290b7:
    aten/src/ATen/mps/MPSFallback.mm, mps_error_fallback)."""
    text = str(exc)
    if not isinstance(exc, NotImplementedError) or "for the MPS device" not in text:
        return None
    import re

    op = re.search(r"operator '([^']+)'", text)
    import torch

    return (f"{op.group(1) if op else 'an operator'} is not implemented on MPS in torch {torch.__version__}: not "
            "measured (the CPU fallback would book CPU time as the GPU's)")
