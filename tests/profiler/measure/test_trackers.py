"""The memory and power trackers, each against a quantity known in advance (optimum-benchmark tests/test_api.py
style, on the CPU; NVML and the clock faked)."""

import time

import pytest

torch = pytest.importorskip("torch", reason="the measured profiler needs torch (the dev extra installs it)")

import profiler.measure.power as power  # noqa: E402
from profiler.measure.memory import LiveTensorCensus, PeakTracker, census, tensor_nbytes  # noqa: E402
from profiler.measure.power import NvmlDevice, PowerSampler  # noqa: E402
from tests.profiler.measure.fakes import FakeClock  # noqa: E402

MIB = 2**20


# ---- memory ---------------------------------------------------------------------------------------------


def test_tensor_bytes_and_census_count_shared_storage_once():
    emb = torch.nn.Embedding(1000, 64, dtype=torch.bfloat16)
    head = torch.nn.Linear(64, 1000, bias=False, dtype=torch.bfloat16)
    head.weight = emb.weight  # tied
    model = torch.nn.ModuleDict({"emb": emb, "head": head})
    model.register_buffer("table", torch.zeros(10, dtype=torch.float32))
    assert tensor_nbytes(emb.weight) == 1000 * 64 * 2
    c = census(model)
    assert (c.parameter_bytes, c.buffer_bytes, c.parameters, c.quantised) == (128_000, 40, 1, 0)
    assert c.dtypes == ("bfloat16",) and c.total_bytes == 128_040


def test_live_census_reads_a_known_allocation_exactly():
    with LiveTensorCensus() as cen:
        x = torch.empty(8 * MIB, dtype=torch.uint8)
        y = torch.ones(2 * MIB, dtype=torch.float32)  # 8 MiB more: peak 16 MiB
        del x
        z = torch.zeros(MIB, dtype=torch.uint8)  # peak stays 16 MiB
        view = y[: MIB // 2]  # a view allocates nothing
    assert (cen.peak, cen.current) == (16 * MIB, 9 * MIB)  # x 8 + y 8 at the peak; y 8 + z 1 at the end
    del y, z, view


def test_live_census_ignores_views_and_in_place_ops_on_existing_tensors():
    base = torch.zeros(4 * MIB, dtype=torch.uint8)
    with LiveTensorCensus() as cen:
        base.add_(1)
        v = base[:10]
        del v
    assert cen.peak == 0


def test_peak_tracker_on_cpu_adds_the_resident_bytes():
    with PeakTracker(torch.device("cpu"), base_bytes=5 * MIB) as tr:
        t = torch.empty(3 * MIB, dtype=torch.uint8)
        del t
    assert tr.peak_device == 8 * MIB and "census" in tr.method  # 5 MiB resident + the 3 MiB tensor


@pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA allocator peaks need a CUDA GPU")
def test_peak_tracker_on_cuda_reads_a_known_allocation():
    dev = torch.device("cuda")
    with PeakTracker(dev) as tr:
        t = torch.empty(256 * MIB, dtype=torch.uint8, device=dev)
        del t
    assert tr.peak_allocated - torch.cuda.memory_allocated(dev) == pytest.approx(256 * MIB, rel=0.10)
    assert tr.peak_device >= tr.peak_reserved > 0


# ---- power (NVML and the clock faked: the sampler's arithmetic, not the driver) ------------------------------


class FakeNvml:
    """A card drawing a constant `watts`; its energy counter (mJ) integrates that power on `clock`."""

    NVML_CLOCK_SM, NVML_CLOCK_MEM, NVML_TEMPERATURE_GPU = 0, 1, 0

    def __init__(self, clock, watts=300.0, energy=True):
        self.clock, self.watts, self.energy = clock, watts, energy

    def nvmlDeviceGetPowerUsage(self, h):
        return int(self.watts * 1000)

    def nvmlDeviceGetTotalEnergyConsumption(self, h):
        if not self.energy:
            raise RuntimeError("NVML_ERROR_NOT_SUPPORTED")
        return int(self.clock.now * self.watts * 1000)  # mJ at constant power since the clock's zero

    def nvmlDeviceGetClockInfo(self, h, which):
        return 1980 if which == 0 else 2619

    def nvmlDeviceGetTemperature(self, h, which):
        return 55

    def nvmlDeviceGetUtilizationRates(self, h):
        return type("U", (), {"gpu": 100})()

    def nvmlDeviceGetCurrentClocksEventReasons(self, h):
        return 0x4  # sw power cap


def sample(nvml, rows: int):
    """Run a PowerSampler until it has taken `rows` samples (however slowly the machine runs its thread)."""
    with PowerSampler(NvmlDevice(nvml, None), interval_s=0.001) as s:
        while len(s.rows) < rows:
            time.sleep(0.001)
    return s.reading


@pytest.mark.parametrize("energy, source", [(True, "energy counter"), (False, "integrated power samples")])
def test_power_sampler_reads_a_known_constant_power(monkeypatch, energy, source):
    clock = FakeClock(ticking=0.01).install(monkeypatch, power)  # every timestamp the sampler takes is 10 ms on
    r = sample(FakeNvml(clock, 300.0, energy), 5)
    assert r.energy_source == source and r.samples >= 5
    # the window (entry to exit) spans at least the 5 samples' timestamps, 10 ms each
    assert r.window_s >= 0.05 - 1e-9
    # energy counter: (E1 - E0) / window = 300 W (to the counter's 1 mJ resolution); integrated samples of a
    # constant 300 W: the trapezoid sum over the samples' span, scaled to the window, is 300 W x window
    assert r.mean_w == pytest.approx(300.0, rel=1e-4) and r.energy_j == pytest.approx(300.0 * r.window_s, rel=1e-4)
    assert (r.sm_clock_mhz, r.mem_clock_mhz, r.max_temp_c, r.gpu_util_pct) == (1980, 2619, 55, 100)
    assert r.throttle_reasons == ("sw_power_cap",)


def test_power_sampler_says_unsupported_rather_than_zero(monkeypatch):
    class NoPower(FakeNvml):
        def nvmlDeviceGetPowerUsage(self, h):
            raise RuntimeError("NVML_ERROR_NOT_SUPPORTED")

    clock = FakeClock(ticking=0.01).install(monkeypatch, power)
    r = sample(NoPower(clock, energy=False), 3)
    assert r.mean_w is None and r.energy_j is None
    assert r.energy_source == "unsupported: NVML gave neither an energy counter nor power samples"


@pytest.mark.skipif(not torch.cuda.is_available(), reason="NVML describes a CUDA GPU")
def test_nvml_opens_the_torch_device_by_uuid():
    dev = NvmlDevice.open(torch.device("cuda"))
    assert dev is not None, NvmlDevice.last_error
    assert dev.memory_used() > 0


def test_nvml_on_a_machine_without_a_gpu_is_none_with_a_reason():
    if torch.cuda.is_available():
        pytest.skip("a CUDA GPU is present: NVML opens")
    assert NvmlDevice.open(torch.device("cpu")) is None and NvmlDevice.last_error
