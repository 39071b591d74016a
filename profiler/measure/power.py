"""NVML power sampler in a background thread -> mean watts and joules (GPU only).

Prefers the total-energy counter (mJ) over integrating 1 s-averaged power samples (measurement.md §5,
checklist item 14); records "unsupported" (None) rather than 0 when NVML cannot tell.
"""

from __future__ import annotations

import threading
import time


class PowerSampler:
    def __init__(self, interval_s: float = 0.05):
        self.interval_s, self.samples, self._stop = interval_s, [], threading.Event()
        self.energy_j: float | None = None
        self.mean_w: float | None = None

    def __enter__(self):
        import pynvml

        pynvml.nvmlInit()
        self._nvml, self._h = pynvml, pynvml.nvmlDeviceGetHandleByIndex(0)
        self._e0 = self._energy_mj()
        self._t0 = time.perf_counter()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _energy_mj(self):
        try:
            return self._nvml.nvmlDeviceGetTotalEnergyConsumption(self._h)
        except self._nvml.NVMLError:
            return None

    def _run(self):
        while not self._stop.is_set():
            try:
                self.samples.append(self._nvml.nvmlDeviceGetPowerUsage(self._h) / 1e3)
            except self._nvml.NVMLError:
                break
            time.sleep(self.interval_s)

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        elapsed = time.perf_counter() - self._t0
        e1 = self._energy_mj()
        if self._e0 is not None and e1 is not None:
            self.energy_j = (e1 - self._e0) / 1e3
            self.mean_w = self.energy_j / elapsed if elapsed > 0 else None
        elif self.samples:
            self.mean_w = sum(self.samples) / len(self.samples)
            self.energy_j = self.mean_w * elapsed
        return False
