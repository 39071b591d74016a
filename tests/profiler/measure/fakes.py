"""Stand-ins for the wall clock, a timing and torchao, so that what the measured path does with them is tested
deterministically (no sleeps, no dependence on how busy the machine is). A helper module, not a test module."""

from __future__ import annotations

import contextlib
import sys
import threading
import types


class FakeClock:
    """A clock that moves only when told: ``perf_counter()`` reads it; ``advance(s)`` (or a callable from
    ``step(s)``, the fake work) moves it. ``ticking=s`` also moves it s seconds at every read (thread-safe), for
    code that reads it from several threads."""

    def __init__(self, ticking: float = 0.0):
        self.now, self.ticking = 1000.0, ticking
        self._lock = threading.Lock()

    def perf_counter(self) -> float:
        with self._lock:
            self.now += self.ticking
            return self.now

    def advance(self, seconds: float) -> None:
        with self._lock:
            self.now += seconds

    def step(self, *durations: float):
        """A callable whose n-th call takes durations[n] seconds of this clock (the last one repeats)."""
        calls = []

        def fn():
            self.advance(durations[min(len(calls), len(durations) - 1)])
            calls.append(1)

        fn.calls = calls
        return fn

    def install(self, monkeypatch, module) -> FakeClock:
        """Make `module`'s ``time.perf_counter`` this clock (the module's other ``time`` functions stay real)."""
        import time

        monkeypatch.setattr(module, "time", types.SimpleNamespace(perf_counter=self.perf_counter,
                                                                  sleep=time.sleep))
        return self


def fixed_timing(median_s: float, iqr_s: float, count: int = 9):
    """A Timing with the given median and inter-quartile range (quartiles symmetric about the median)."""
    from profiler.measure.timers import Timing

    return Timing(median_s, median_s - iqr_s / 2, median_s + iqr_s / 2, median_s - iqr_s, median_s + iqr_s, count,
                  count * median_s, "fake")


def fake_torchao(monkeypatch, error: BaseException) -> None:
    """A torchao whose quantize_ raises `error` (the int8 recipe needs no GPU, so the CPU reaches quantize_)."""
    import importlib.machinery

    import transformers.modeling_utils  # noqa: F401 - its import-time torchao check must see the real environment

    root, quant = types.ModuleType("torchao"), types.ModuleType("torchao.quantization")
    for module in (root, quant):
        module.__spec__ = importlib.machinery.ModuleSpec(module.__name__, None)

    def quantize_(model, config, filter_fn=None):
        raise error

    quant.Int8WeightOnlyConfig, quant.quantize_ = (lambda: "Int8WeightOnlyConfig()"), quantize_
    root.quantization = quant
    monkeypatch.setitem(sys.modules, "torchao", root)
    monkeypatch.setitem(sys.modules, "torchao.quantization", quant)


def hide_torchao(monkeypatch) -> None:
    """As on a machine where torchao is not installed: importing it fails."""
    import transformers.modeling_utils  # noqa: F401 - its import-time torchao check must see the real environment

    monkeypatch.setitem(sys.modules, "torchao", None)
    monkeypatch.setitem(sys.modules, "torchao.quantization", None)


def torchao_importable() -> bool:
    """Whether `import torchao.quantization` works here (the [gpu] extra installed), importing it if so."""
    try:
        import torchao.quantization  # noqa: F401
    except ImportError:
        return False
    return True


@contextlib.contextmanager
def one_torch_thread():
    """Tiny models run on one intra-op thread inside: on a small machine shared with other processes, torch's
    thread pool waiting for busy cores made a 2-layer forward 30x slower (seen: 2 threads 1.0 s, 1 thread 0.03 s
    for the same twelve steps). What the tests check does not depend on the thread count; the tracked peak and the
    environment's cpu_threads follow it. Without torch, nothing to do."""
    try:
        import torch
    except ImportError:
        yield
        return
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)
