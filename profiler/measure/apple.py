"""Apple silicon under torch's MPS (Metal) backend: which catalogue row a chip is, why MPS cannot run here, and
what an MPS sweep records in place of what only CUDA has.

    chip_gpu_id(name)                    'Apple M3 Pro' -> 'm3-pro'; None for a chip with no catalogue row
    chip_name()                          this Mac's chip: Metal's device name, else `sysctl machdep.cpu.brand_string`
    unavailable_reason(built, available, system, macos, torch_version)
                                         why `--device mps` cannot run here, in one line (None: it can)
    fallback_refusal(environ)            PYTORCH_ENABLE_MPS_FALLBACK is on: refused (an op MPS lacks would run on
                                         the CPU and its time would be booked as the GPU's)
    bf16_refusal(macos_14, macos)        the measured sweep builds bf16 models; MPS has bf16 from macOS 14 on
    hold_allocator_to_working_set(env)   the MPS allocator may not grow past macOS's recommended working set
    allocator_limit(env)                 which limit holds it (ours, or the user's watermark variables)
    mps_environment()                    macOS, chip, GPU cores, memory limits -> ProfileMeta.environment

Nothing here imports torch at module level (``import profiler.measure.apple`` stays cheap); the pure functions
take what they decide on as arguments, so they are tested on any machine.

Sources (read 2025): torch MPS notes https://docs.pytorch.org/docs/stable/notes/mps.html and Apple's
https://developer.apple.com/metal/pytorch/ (MPS needs a Mac with Apple silicon or an AMD GPU and macOS 12.3 or
later); pytorch/pytorch@035290b77d8b4bd106cf5f9a728516d4335d5a42:aten/src/ATen/mps/MPSFallback.mm (the fallback
switch is read once, when torch's MPS library registers, i.e. at ``import torch``; without it a missing op raises
NotImplementedError "... is not currently implemented for the MPS device"); aten/src/ATen/mps/EmptyTensor.cpp
("MPS BFloat16 is only supported on MacOS 14 or newer"); torch/mps/__init__.py (recommended_max_memory,
driver_allocated_memory, set_per_process_memory_fraction); aten/src/ATen/mps/MPSAllocator.h
(default_high_watermark_ratio = 1.7: by default a process may allocate 1.7x the recommended working set).
"""

from __future__ import annotations

import os
import platform
import re
import subprocess
from collections.abc import Mapping
from typing import Any

# The catalogue's Apple rows (profiler/catalogues/gpus.yaml, vendor apple). A chip maps to one of these by its
# generation and tier; the base chips (M1..M4 without Pro/Max/Ultra), every M1 and any later generation have no
# row, so rows measured on them need --gpu ID (a row that describes the machine) or are refused.
CATALOGUED_CHIPS = frozenset({"m2-pro", "m2-max", "m2-ultra", "m3-pro", "m3-max", "m3-ultra", "m4-pro", "m4-max"})
# Metal's device name and `sysctl -n machdep.cpu.brand_string` both read "Apple M3 Pro" on an M3 Pro; a virtual
# machine reports "Apple M2 Pro (Virtual)": a paravirtual GPU is not the chip's, so it is not matched.
_CHIP = re.compile(r"^\s*Apple\s+M(\d+)(?:\s+(Pro|Max|Ultra))?\s*$", re.IGNORECASE)

FALLBACK_ENV = "PYTORCH_ENABLE_MPS_FALLBACK"
HIGH_WATERMARK_ENV = "PYTORCH_MPS_HIGH_WATERMARK_RATIO"
LOW_WATERMARK_ENV = "PYTORCH_MPS_LOW_WATERMARK_RATIO"
# design choice: an MPS sweep's memory boundary is macOS's recommended GPU working set (Metal's
# recommendedMaxWorkingSetSize, the usable share of unified memory). torch's default lets the allocator reach 1.7x
# of it (MPSAllocator.h), where macOS pages GPU memory: max_batch would measure swapping, not capacity. Fraction 1.0
# of torch.mps.set_per_process_memory_fraction = exactly the recommended working set.
WORKING_SET_FRACTION = 1.0
NOT_HERE = ("Use --device cpu to exercise the measured path on a small model, or drop --measure for the analytic "
            "profile of a Mac (e.g. --gpu m3-pro)")


def chip_gpu_id(name: str) -> str | None:
    """The catalogue GPU id of an Apple chip name ('Apple M4 Max' -> 'm4-max'); None when no catalogue row is
    that chip (a base M-chip, any M1, a virtual machine's GPU, a later generation, anything else)."""
    m = _CHIP.match(name or "")
    if not m or not m.group(2):
        return None
    gid = f"m{m.group(1)}-{m.group(2).lower()}"
    return gid if gid in CATALOGUED_CHIPS else None


def same_chip(row_id: str, chip_id: str) -> bool:
    """True when catalogue row `row_id` describes chip `chip_id`: the chip's own row or a memory configuration of it
    ('m3-max-128gb' is an M3 Max): MBU/MFU divide by the same bandwidth and FLOP/s."""
    return row_id == chip_id or row_id.startswith(f"{chip_id}-")


def row_cores(row_name: str) -> int | None:
    """GPU cores of the part a catalogue row describes, from its name ('Apple M3 Max 40c GPU (64 GB)' -> 40)."""
    m = re.search(r"\b(\d+)c GPU\b", row_name)
    return int(m.group(1)) if m else None


def label_warning(chip: str, cores: int | None, row_id: str, row_name: str) -> str | None:
    """Why rows labelled `row_id` may not divide by this Mac's own peaks (None: they do): the chip is no catalogue
    row, another chip, or a binned part with fewer GPU cores than the row's (whose bandwidth can be lower too:
    the row's source says)."""
    detected = chip_gpu_id(chip)
    if detected is None:
        return f"device reports '{chip}', which is no catalogue chip; profile labelled {row_id}"
    if not same_chip(row_id, detected):
        return f"device reports '{chip}' ({detected}), profile labelled {row_id}"
    want = row_cores(row_name)
    if cores and want and cores != want:
        return (f"this {chip} has {cores} GPU cores and {row_id} describes the {want}-core part (FLOP/s scale with "
                "cores; a binned part's bandwidth can be lower: see the row's source)")
    return None


def unknown_chip_line(name: str) -> str:
    """What to do when `name` maps to no catalogue row (the rows need a machine record to divide MBU/MFU by)."""
    rows = ", ".join(sorted(CATALOGUED_CHIPS))
    return (f"cannot tell which catalogue GPU '{name}' is: the catalogue's Apple rows are {rows}; pass --gpu ID with "
            "the row that describes this Mac (see `inferplan gpus`), knowing its MBU/MFU divide by that row")


def chip_name() -> str:
    """This Mac's chip as Metal names it (torch.backends.mps.get_name(), e.g. 'Apple M3 Pro'); `sysctl -n
    machdep.cpu.brand_string` when MPS cannot say; 'unknown' when neither can."""
    try:
        import torch

        if torch.backends.mps.is_available():
            return torch.backends.mps.get_name()
    except (ImportError, AttributeError, RuntimeError):  # an older torch without get_name: ask macOS
        pass
    try:
        out = subprocess.run(["sysctl", "-n", "machdep.cpu.brand_string"], capture_output=True, text=True, timeout=5)
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def unavailable_reason(built: bool, available: bool, system: str, macos: str, torch_version: str) -> str | None:
    """Why torch cannot measure on MPS here (one line), or None when it can. `built`/`available`:
    torch.backends.mps.is_built()/is_available(); `system`: platform.system(); `macos`: platform.mac_ver()[0]."""
    if available:
        return None
    where = f"macOS {macos}" if system == "Darwin" and macos else (system or "this system")
    if not built:
        why = (f"this torch {torch_version} is built without MPS ({where}); torch's macOS arm64 wheels have it, "
               "installed on the Mac itself")
    elif system == "Darwin":
        why = (f"torch {torch_version} has MPS but no Metal device is usable on this {where}: MPS needs Apple "
               "silicon (or an AMD GPU) and macOS 12.3 or later")
    else:
        why = f"torch {torch_version} reports MPS built but unavailable on {where}: MPS runs only on macOS"
    return f"--measure on mps needs torch's MPS backend on a Mac with Apple silicon; {why}. {NOT_HERE}."


def fallback_refusal(environ: Mapping[str, str]) -> str | None:
    """A refusal when PYTORCH_ENABLE_MPS_FALLBACK is on: with it an op MPS lacks silently runs on the CPU (one
    warning per op per process), so the step's time would be CPU work booked as the GPU's. torch reads the switch
    when it is imported, so it cannot be turned off from here. Without it a missing op is an `unsupported` row."""
    value = environ.get(FALLBACK_ENV, "").strip()
    try:
        on = bool(value) and int(value) != 0  # torch's own test: std::stoi(value) != 0 (MPSFallback.mm)
    except ValueError:
        on = True  # torch would fail to parse it; do not guess that it is off
    if not on:
        return None
    return (f"{FALLBACK_ENV}={value} is set: ops the MPS backend lacks would run on the CPU and their time would be "
            f"counted as the GPU's. Unset it (`env -u {FALLBACK_ENV} inferplan ...`): an op MPS lacks then makes "
            "its rows 'unsupported' with the op's name instead of a distorted time")


def bf16_refusal(macos_14: bool, macos: str) -> str | None:
    """The sweep builds bf16 models; MPS refuses bf16 tensors before macOS 14 (EmptyTensor.cpp)."""
    if macos_14:
        return None
    return (f"--measure on mps builds bf16 models and torch's MPS backend has bf16 only on macOS 14 or newer (this "
            f"Mac runs macOS {macos or 'unknown'}); update macOS, or drop --measure for the analytic profile")


def _user_watermarks(environ: Mapping[str, str]) -> bool:
    return HIGH_WATERMARK_ENV in environ or LOW_WATERMARK_ENV in environ


def allocator_limit(environ: Mapping[str, str]) -> str:
    """What bounds the MPS allocator in this process (:func:`hold_allocator_to_working_set`), for the record."""
    if _user_watermarks(environ):
        return (f"the user's {HIGH_WATERMARK_ENV}={environ.get(HIGH_WATERMARK_ENV, '(unset)')}, "
                f"{LOW_WATERMARK_ENV}={environ.get(LOW_WATERMARK_ENV, '(unset)')} (kept)")
    return (f"torch.mps.set_per_process_memory_fraction({WORKING_SET_FRACTION}): an allocation past the recommended "
            "working set raises 'MPS backend out of memory'")


def hold_allocator_to_working_set(environ: Mapping[str, str]) -> None:
    """Hold the MPS allocator to macOS's recommended working set (WORKING_SET_FRACTION), unless the user set the
    watermark variables (theirs are kept; :func:`allocator_limit` says which applies)."""
    import torch

    if not _user_watermarks(environ):
        torch.mps.set_per_process_memory_fraction(WORKING_SET_FRACTION)


def mps_environment() -> dict[str, Any]:
    """The MPS part of ProfileMeta.environment: macOS, chip, GPU cores, unified and usable memory, the allocator's
    limit and the Metal bytes already held, the MPS environment variables."""
    import torch

    mps = torch.backends.mps
    cores = mps.get_core_count() if hasattr(mps, "get_core_count") else None
    return {"macos": platform.mac_ver()[0], "gpu_name": chip_name(), "gpu_cores": cores,
            "mps_built": mps.is_built(), "mps_available": mps.is_available(),
            "unified_memory_bytes": os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"),
            "gpu_memory_bytes": torch.mps.recommended_max_memory(),
            "gpu_memory_source": "torch.mps.recommended_max_memory() = Metal recommendedMaxWorkingSetSize",
            "mps_allocator_limit": allocator_limit(os.environ),
            "mps_driver_bytes_at_start": torch.mps.driver_allocated_memory(),
            "mps_env": {k: os.environ.get(k, "") for k in (FALLBACK_ENV, HIGH_WATERMARK_ENV, LOW_WATERMARK_ENV)}}
