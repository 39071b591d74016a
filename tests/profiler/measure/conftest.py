"""Fixtures of the measured-path tests: the tiny models (tests/profiler/measure/tiny.py), the CPU device, and a
deterministic timer for tests that check what the sweep does with a timing rather than the timing itself."""

import pytest

from tests.profiler.measure.fakes import fixed_timing, one_torch_thread
from tests.profiler.measure.tiny import TINY, TINY_MOE, TINY_TIED, spec


@pytest.fixture(scope="session")
def tiny():
    return spec("tiny-llama", TINY)


@pytest.fixture(scope="session")
def tiny_tied():
    return spec("tiny-llama-tied", TINY_TIED)


@pytest.fixture(scope="session")
def tiny_moe():
    return spec("tiny-moe", TINY_MOE)


@pytest.fixture(scope="package", autouse=True)
def one_cpu_thread():
    """Every measured-path test on one torch thread (fakes.one_torch_thread says why)."""
    with one_torch_thread():
        yield


@pytest.fixture(scope="session")
def cpu():
    torch = pytest.importorskip("torch", reason="the measured profiler needs torch (the dev extra installs it)")
    return torch.device("cpu")


@pytest.fixture
def fixed_timer(monkeypatch):
    """Every point of a sweep is 'timed' at exactly 1 ms (median; IQR 0.05 ms) without running its step again;
    returns the list of (device, policy) the runner asked for, one per time_call."""
    import profiler.measure.runner as runner

    asked = []

    def time_call(fn, dev, policy=None):
        asked.append((dev, policy))
        return fixed_timing(0.001, 0.00005)

    monkeypatch.setattr(runner, "time_call", time_call)
    return asked
