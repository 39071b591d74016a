"""Power, energy, clocks and utilisation from NVML, sampled in a background thread (GPU only).

measurement.md §5: use NVIDIA's ``nvidia-ml-py`` (``import pynvml``); map the torch device to NVML by UUID,
not index (NVML ignores CUDA_VISIBLE_DEVICES; optimum-benchmark #136); energy of a window = difference of
``nvmlDeviceGetTotalEnergyConsumption`` (mJ, Volta+, ~100 ms granularity) read at its start and end;
``nvmlDeviceGetPowerUsage`` is a 1 s average on Ampere+ and is sampled only to report clocks/power over
time; every call may raise NotSupported (virtualised machines): such a value is recorded as
"unsupported" (None), never as 0. Windows shorter than ~1 s give unreliable power (sensor coverage,
arXiv 2312.02741); the reading says how long its window was.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

SAMPLE_INTERVAL_S = 0.025  # measurement.md §5.3: sample every 20-50 ms

# MPS (Apple silicon): NVML is NVIDIA's; the GPU's power on a Mac is reported by `powermetrics --samplers gpu_power`,
# which must be invoked as root (powermetrics(1), https://www.unix.com/man-page/osx/1/powermetrics/; Mozilla's
# guide runs it with sudo: https://firefox-source-docs.mozilla.org/performance/powermetrics.html, read 2025). A
# profile is never run as root, so MPS rows leave power_w and energy_j_per_token empty and say why.
MPS_UNSUPPORTED = ("unsupported on MPS: NVML is NVIDIA-only, and Apple silicon's GPU power comes from powermetrics, "
                   "which needs sudo")


@dataclass(frozen=True)
class PowerReading:
    """One window. ``energy_j``/``mean_w`` are None when unsupported; ``energy_source`` says how they were got."""

    window_s: float
    energy_j: float | None
    mean_w: float | None
    energy_source: str  # "energy counter", "integrated power samples" or "unsupported: <why>"
    samples: int = 0
    sm_clock_mhz: float | None = None  # mean over samples
    mem_clock_mhz: float | None = None
    max_temp_c: float | None = None
    gpu_util_pct: float | None = None  # NVML "a kernel was running" time, NOT SM or bandwidth use (§5.2)
    throttle_reasons: tuple[str, ...] = field(default=())

    @classmethod
    def unsupported(cls, why: str, window_s: float = 0.0) -> PowerReading:
        return cls(window_s, None, None, f"unsupported: {why}")


_THROTTLE_NAMES = {  # nvmlClocksEventReasons bits (nvml.h)
    0x1: "gpu_idle", 0x2: "app_clocks", 0x4: "sw_power_cap", 0x8: "hw_slowdown", 0x20: "sw_thermal",
    0x40: "hw_thermal", 0x80: "hw_power_brake", 0x100: "display_clocks",
}


class NvmlDevice:
    """An NVML handle for a torch CUDA device, opened by UUID. ``open`` returns None (with the reason in
    ``NvmlDevice.last_error``) when NVML cannot be used."""

    last_error = ""

    def __init__(self, nvml, handle) -> None:
        self.nvml, self.handle = nvml, handle

    @classmethod
    def open(cls, dev) -> NvmlDevice | None:
        try:
            import pynvml
            import torch

            pynvml.nvmlInit()
            uuid = str(torch.cuda.get_device_properties(dev).uuid)
            uuid = uuid if uuid.startswith(("GPU-", "MIG-")) else f"GPU-{uuid}"
            try:
                handle = pynvml.nvmlDeviceGetHandleByUUID(uuid)
            except pynvml.NVMLError:
                handle = pynvml.nvmlDeviceGetHandleByIndex(dev.index or 0)  # UUID lookup refused: by index
            return cls(pynvml, handle)
        except Exception as exc:  # noqa: BLE001 - NVML missing, no driver access, or not permitted here
            cls.last_error = f"{type(exc).__name__}: {exc}"[:200]
            return None

    def read(self, name: str, *args) -> Any:
        """One NVML query by function suffix (e.g. "PowerUsage"); None when this GPU/driver does not support it."""
        try:
            return getattr(self.nvml, f"nvmlDeviceGet{name}")(self.handle, *args)
        except Exception:  # noqa: BLE001 - NVMLError_NotSupported and friends: recorded as unsupported
            return None

    def memory_used(self) -> int | None:
        info = self.read("MemoryInfo")
        return None if info is None else int(info.used)

    def energy_mj(self) -> int | None:
        return self.read("TotalEnergyConsumption")

    def static_info(self) -> dict[str, Any]:
        n = self.nvml
        out = {"driver": _call(n.nvmlSystemGetDriverVersion), "power_limit_w": _mw(self.read("EnforcedPowerLimit")),
               "sm_clock_max_mhz": self.read("MaxClockInfo", n.NVML_CLOCK_SM),
               "mem_clock_max_mhz": self.read("MaxClockInfo", n.NVML_CLOCK_MEM),
               "sm_clock_now_mhz": self.read("ClockInfo", n.NVML_CLOCK_SM),
               "mem_clock_now_mhz": self.read("ClockInfo", n.NVML_CLOCK_MEM),
               "energy_counter": self.energy_mj() is not None}
        return {k: ("unsupported" if v is None else v) for k, v in out.items()}


def _call(fn) -> Any:
    try:
        value = fn()
        return value.decode() if isinstance(value, bytes) else value
    except Exception:  # noqa: BLE001
        return None


def _mw(v) -> float | None:
    return None if v is None else v / 1e3


def _mean(xs: list) -> float | None:
    xs = [x for x in xs if x is not None]
    return sum(xs) / len(xs) if xs else None


class PowerSampler:
    """``with PowerSampler(nvml_device) as s: ...`` then ``s.reading``. Samples power, clocks, temperature,
    utilisation and throttle reasons every SAMPLE_INTERVAL_S on a daemon thread."""

    def __init__(self, device: NvmlDevice, interval_s: float = SAMPLE_INTERVAL_S):
        self.dev, self.interval_s = device, interval_s
        self.rows: list[tuple] = []
        self.reading: PowerReading | None = None
        self._stop = threading.Event()

    def _sample(self) -> None:
        d, n = self.dev, self.dev.nvml
        while not self._stop.is_set():
            util = d.read("UtilizationRates")
            reasons = d.read("CurrentClocksEventReasons") or d.read("CurrentClocksThrottleReasons")
            self.rows.append((time.perf_counter(), _mw(d.read("PowerUsage")), d.read("ClockInfo", n.NVML_CLOCK_SM),
                              d.read("ClockInfo", n.NVML_CLOCK_MEM), d.read("Temperature", n.NVML_TEMPERATURE_GPU),
                              None if util is None else util.gpu, reasons))
            self._stop.wait(self.interval_s)

    def __enter__(self) -> PowerSampler:
        self._e0, self._t0 = self.dev.energy_mj(), time.perf_counter()
        self._thread = threading.Thread(target=self._sample, name="nvml-sampler", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> bool:
        e1, t1 = self.dev.energy_mj(), time.perf_counter()
        self._stop.set()
        self._thread.join()
        self.reading = self._summarise(e1, t1 - self._t0)
        return False

    def _summarise(self, e1: int | None, window: float) -> PowerReading:
        powers = [r[1] for r in self.rows if r[1] is not None]
        if self._e0 is not None and e1 is not None and e1 > self._e0:
            energy, source = (e1 - self._e0) / 1e3, "energy counter"
        elif len(powers) >= 2:
            ts = [r[0] for r in self.rows if r[1] is not None]
            energy = sum((ts[i + 1] - ts[i]) * (powers[i] + powers[i + 1]) / 2 for i in range(len(ts) - 1))
            energy, source = energy * window / max(ts[-1] - ts[0], 1e-9), "integrated power samples"
        else:
            return PowerReading.unsupported("NVML gave neither an energy counter nor power samples", window)
        bits = 0
        for r in self.rows:
            bits |= r[6] or 0
        reasons = tuple(name for bit, name in _THROTTLE_NAMES.items() if bits & bit)
        temps = [r[4] for r in self.rows if r[4] is not None]
        return PowerReading(window, energy, energy / window if window > 0 else None, source, len(self.rows),
                            _mean([r[2] for r in self.rows]), _mean([r[3] for r in self.rows]),
                            max(temps) if temps else None, _mean([r[5] for r in self.rows]), reasons)
