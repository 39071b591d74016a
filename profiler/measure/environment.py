"""What a measured profile ran on (ProfileMeta.environment), and the machine record its MBU/MFU divide by.

    environment(dev, machine, nvml)  versions (python, torch, transformers, torchao, nvidia-ml-py), device
                                     name, memory, capability, SMs, L2, driver, CUDA, clocks, power limit,
                                     allocator settings, offline flags, and the machine record used
                                     (MPS: macOS, chip, GPU cores, unified and usable memory, MPS allocator
                                     limit and variables, why power is empty: apple.mps_environment)
    detect_gpu_id(name)              torch device name -> catalogue GPU id (None: no catalogue row is that card)
    resolve_gpu_id(name, gpu_id)     the id rows are labelled with; an explicit id that contradicts the
                                     detected card is refused unless forced
    machine_spec(dev, gpu_id, force) CUDA: the catalogue GpuSpec (resolve_gpu_id); MPS: the catalogue row of the
                                     Apple chip (apple.chip_gpu_id; --gpu must be an Apple row unless forced);
                                     CPU: cpu_spec()
    cpu_spec()                       the CPU as a GpuSpec whose bandwidth and bf16 FLOP/s are MEASURED here
                                     (fastest 64 MiB copy, fastest 512^3 bf16 matmul), since a CPU has no
                                     datasheet row; measured once per process, then reused
    cpu_spec_again(current)          measure the CPU again and keep the faster of each rate (a step outran the
                                     record: it was measured on a busy machine, profiler.measure.rates)
    machine_record(machine)          the record as ProfileMeta.environment["machine_spec"] holds it
"""

from __future__ import annotations

import functools
import os
import platform
import re
from dataclasses import asdict
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from profiler.errors import ProfilerError
from profiler.measure import CPU_GPU_ID, apple
from profiler.specs import GpuSpec

# torch device names -> catalogue ids: the first regular expression that matches wins (case-insensitive, word
# boundaries, so "GH200" is not an H200 and "L40" is not an L4). None = a card known NOT to be any catalogue row
# (H100/H200 NVL have other bandwidth, clocks and TDP): pass --gpu for it. Names: torch.cuda.get_device_name,
# e.g. "NVIDIA H100 80GB HBM3" (SXM), "NVIDIA H100 PCIe", "NVIDIA A100-SXM4-40GB", "AMD Instinct MI300X".
GPU_NAME_PATTERNS = ((r"\bH100 NVL\b", None), (r"\bH200 NVL\b", None), (r"\bH100 PCIe\b", "h100-pcie"),
                     (r"\bH100\b", "h100-sxm"), (r"\bH200\b", "h200"), (r"\bB200\b", "b200"),
                     (r"\bA100\b.*\b40GB\b", "a100-40gb"), (r"\bA100\b", "a100-80gb"), (r"\bL40S\b", "l40s"),
                     (r"\bL4\b", "l4"), (r"\bA10G\b", "a10g"), (r"\bRTX 4090\b", "rtx-4090"), (r"\bMI300X\b", "mi300x"))
CPU_COPY_BYTES = 64 * 2**20  # larger than any desktop L3, so the copy streams DRAM
CPU_MATMUL_N = 512  # bf16 n^3 matmul; small enough to take well under a second on 2 cores


def _ver(pkg: str) -> str:
    try:
        return version(pkg)
    except PackageNotFoundError:
        return "not installed"


@functools.cache
def cpu_spec() -> GpuSpec:
    """The CPU as a GpuSpec with its copy bandwidth (bytes read + written per second) and bf16 matmul rate
    measured once per process (~0.5 s; every later sweep in the process reuses it), so CPU MBU/MFU are fractions
    of what this machine was seen to do."""
    import torch

    from profiler.measure.timers import TimerPolicy, time_call

    # The fastest repetition is the machine's rate (a datasheet is a peak too); a median would carry the
    # slowdowns other processes on shared cores cause, and inflate every CPU MBU/MFU (seen: 1.3 instead of 0.3).
    policy = TimerPolicy(warmup=2, min_count=10, min_time_s=0.2, max_count=2000, max_time_s=2.0)
    src = torch.ones(CPU_COPY_BYTES, dtype=torch.uint8)
    dst = torch.empty_like(src)
    copy = time_call(lambda: dst.copy_(src), "cpu", policy)
    a = torch.randn(CPU_MATMUL_N, CPU_MATMUL_N).to(torch.bfloat16)
    mm = time_call(lambda: a @ a, "cpu", policy)
    ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    return GpuSpec(
        id=CPU_GPU_ID, name=platform.processor() or platform.machine() or "cpu", hbm_bytes=int(ram),
        hbm_bandwidth_bytes_per_s=2 * CPU_COPY_BYTES / copy.min_s,
        tflops={"bf16": 2 * CPU_MATMUL_N**3 / mm.min_s / 1e12}, interconnect_bytes_per_s=0.0,
        interconnect="none (one CPU)", tdp_w=float("nan"), gpus_per_node=1, vendor="cpu",
        source=(f"measured by profiler.measure.environment.cpu_spec on {torch.get_num_threads()} threads: "
                f"{CPU_COPY_BYTES >> 20} MiB copy fastest of {copy.count} {copy.min_s * 1e3:.2f} ms (median "
                f"{copy.median_s * 1e3:.2f}), {CPU_MATMUL_N}^3 bf16 matmul fastest of {mm.count} "
                f"{mm.min_s * 1e3:.2f} ms (median {mm.median_s * 1e3:.2f}); memory = physical RAM"),
    )


def cpu_spec_again(current: GpuSpec) -> GpuSpec:
    """`current` with each rate replaced by a fresh measurement when that is faster (rates.faster_record)."""
    from profiler.measure.rates import faster_record

    fresh = getattr(cpu_spec, "__wrapped__", cpu_spec)()  # past the per-process cache: a new measurement
    return faster_record(current, fresh, "the faster of each rate of two measurements, the second taken during the "
                                         f"sweep after a step outran the first; the second {fresh.source}")


def machine_record(machine: GpuSpec) -> dict[str, Any]:
    """The machine record as JSON: every GpuSpec field, an unknown (NaN) TDP as None."""
    return {**asdict(machine), "tdp_w": None if machine.tdp_w != machine.tdp_w else machine.tdp_w}


def detect_gpu_id(name: str) -> str | None:
    """The catalogue id of a device name (see GPU_NAME_PATTERNS), or None when no catalogue row is that card."""
    return next((gid for pattern, gid in GPU_NAME_PATTERNS if re.search(pattern, name, re.IGNORECASE)), None)


def resolve_gpu_id(device_name: str, gpu_id: str | None, force: bool = False, detect=None, unknown=None) -> str:
    """The catalogue id measured rows are labelled with: the detected card, or `gpu_id` when it agrees with the
    detection (or the card is not in the catalogue, or `force`). A disagreement is refused: rows labelled with
    another card's name would divide MBU/MFU by the wrong datasheet and calibrate the wrong GPU. `detect`: name ->
    id (default detect_gpu_id; apple.chip_gpu_id on MPS); `unknown`: name -> the line when nothing is detected."""
    detected = (detect or detect_gpu_id)(device_name)
    if gpu_id is None:
        if detected is None:
            raise ProfilerError(unknown(device_name) if unknown else (
                f"cannot tell which catalogue GPU '{device_name}' is; pass --gpu with the id of the row that "
                "describes it (see `inferplan gpus`)"))
        return detected
    if detected is not None and detected != gpu_id and not force:
        raise ProfilerError(f"--gpu {gpu_id} does not match this device: '{device_name}' is {detected}. Drop --gpu "
                            f"to label the rows {detected}, or add --force-gpu to label them {gpu_id} anyway")
    return gpu_id


def machine_spec(dev, gpu_id: str | None, force: bool = False) -> GpuSpec:
    """The record MBU/MFU divide by: the catalogue GPU on CUDA (:func:`resolve_gpu_id`), the measured CPU otherwise."""
    from profiler import catalogue
    from profiler.measure.device import is_cuda, is_mps

    if is_mps(dev):
        return apple_machine_spec(apple.chip_name(), gpu_id, force)
    if not is_cuda(dev):
        return cpu_spec()
    import torch

    return catalogue.get_gpu(resolve_gpu_id(torch.cuda.get_device_name(dev), gpu_id, force))


def apple_machine_spec(chip: str, gpu_id: str | None, force: bool = False) -> GpuSpec:
    """The catalogue row of Apple chip `chip` ('Apple M3 Pro'); `gpu_id` as on CUDA (resolve_gpu_id), and, unless
    `force`, an Apple row: an MPS step divided by a datacenter card's datasheet is no utilisation of anything."""
    from profiler import catalogue

    detected = apple.chip_gpu_id(chip)
    same = gpu_id is not None and detected is not None and apple.same_chip(gpu_id, detected)  # m3-max-128gb
    gid = resolve_gpu_id(chip, gpu_id, force or same, detect=apple.chip_gpu_id, unknown=apple.unknown_chip_line)
    spec = catalogue.get_gpu(gid)
    if spec.vendor != "apple" and not force:
        raise ProfilerError(f"--gpu {gid} is a {spec.vendor} card and this is an MPS device ('{chip}'): label the "
                            "rows with an Apple row (see `inferplan gpus`), or add --force-gpu to label them "
                            f"{gid} anyway")
    return spec


def _warning(name: str, detected: str | None, label: str) -> str | None:
    """gpu_id_warning: the rows' label is not the device (forced, or a device the catalogue does not hold)."""
    if detected and detected != label:
        return f"device reports '{name}' ({detected}), profile labelled {label}"
    if detected is None:  # --gpu named a row for a device the catalogue does not hold (resolve_gpu_id)
        return f"device reports '{name}', which is no catalogue card; profile labelled {label}"
    return None


def _cuda(dev) -> dict[str, Any]:
    import torch

    props = torch.cuda.get_device_properties(dev)
    out = {"gpu_name": props.name, "gpu_memory_bytes": props.total_memory, "cuda_runtime": torch.version.cuda,
           "compute_capability": f"{props.major}.{props.minor}", "sm_count": props.multi_processor_count,
           "l2_cache_bytes": getattr(props, "L2_cache_size", None), "cudnn": torch.backends.cudnn.version()}
    try:  # the allocator settings that actually took (torch #183387: the new env name was once ignored)
        out["allocator_settings"] = torch.cuda.memory._snapshot().get("allocator_settings", "unreported")
    except Exception as exc:  # noqa: BLE001 - private API; record that it could not be read
        out["allocator_settings"] = f"unreadable ({type(exc).__name__})"
    return out


def environment(dev, machine: GpuSpec, nvml=None) -> dict[str, Any]:
    """Everything a reader needs to reproduce or discount the numbers."""
    import torch

    from profiler.measure.device import is_cuda, is_mps

    env: dict[str, Any] = {
        "device": str(dev), "python": platform.python_version(), "platform": platform.platform(),
        "torch": torch.__version__, "transformers": _ver("transformers"), "torchao": _ver("torchao"),
        "nvidia-ml-py": _ver("nvidia-ml-py"), "cpu": platform.processor() or platform.machine(),
        "cpu_threads": torch.get_num_threads(), "hf_hub_offline": os.environ.get("HF_HUB_OFFLINE", ""),
        "alloc_conf_env": {k: os.environ.get(k, "") for k in ("PYTORCH_ALLOC_CONF", "PYTORCH_CUDA_ALLOC_CONF")},
        "gpu": machine.id, "machine_spec": machine_record(machine),
    }
    if is_cuda(dev):
        env.update(_cuda(dev))
        env["nvml"] = nvml.static_info() if nvml is not None else "unavailable"
        warning = _warning(env["gpu_name"], detect_gpu_id(env["gpu_name"]), machine.id)
    elif is_mps(dev):
        from profiler.measure.power import MPS_UNSUPPORTED

        env.update(apple.mps_environment())
        env["power"] = MPS_UNSUPPORTED
        warning = apple.label_warning(env["gpu_name"], env["gpu_cores"], machine.id, machine.name)
    else:
        warning = None
    if warning:
        env["gpu_id_warning"] = warning
    return env
