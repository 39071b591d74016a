"""Each tracker against a quantity known in advance (optimum-benchmark tests/test_api.py style, on CPU)."""

import time

import pytest

torch = pytest.importorskip("torch", reason="the measured profiler needs torch (the dev extra installs it)")

from profiler.measure import maxbatch  # noqa: E402
from profiler.measure.device import MeasuredOOM, is_oom  # noqa: E402
from profiler.measure.memory import LiveTensorCensus, PeakTracker, census, tensor_nbytes  # noqa: E402
from profiler.measure.power import NvmlDevice, PowerSampler  # noqa: E402
from profiler.measure.timers import TimerPolicy, Timing, time_call  # noqa: E402

MIB = 2**20


# ---- timers ---------------------------------------------------------------------------------------------


def test_timer_reads_a_known_sleep_within_ten_percent():
    t = time_call(lambda: time.sleep(0.02), "cpu", TimerPolicy(warmup=1, min_count=5, min_time_s=0.0))
    assert t.count == 5 and t.method == "perf_counter"
    assert t.median_s == pytest.approx(0.02, rel=0.10, abs=0.003)
    assert t.q1_s <= t.median_s <= t.q3_s and t.iqr_s >= 0


def test_timer_stops_only_when_both_minimum_count_and_time_are_met():
    calls = []
    t = time_call(lambda: (calls.append(1), time.sleep(0.002)), "cpu",
                  TimerPolicy(warmup=2, min_count=3, min_time_s=0.05))
    assert t.total_s >= 0.05 and t.count > 3 and len(calls) == t.count + 2  # warm-ups are not timed
    few = time_call(lambda: time.sleep(0.03), "cpu", TimerPolicy(warmup=0, min_count=4, min_time_s=0.01))
    assert few.count == 4


def test_timer_caps_the_count():
    t = time_call(lambda: None, "cpu", TimerPolicy(warmup=0, min_count=1, min_time_s=10.0, max_count=7))
    assert t.count == 7


def test_timing_statistics_are_the_percentiles_of_the_samples():
    t = Timing.from_samples([1.0, 2.0, 3.0, 4.0, 100.0], "x")
    assert (t.median_s, t.q1_s, t.q3_s, t.min_s, t.max_s, t.total_s) == (3.0, 2.0, 4.0, 1.0, 100.0, 110.0)


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


def test_live_census_reads_a_known_allocation_within_ten_percent():
    with LiveTensorCensus() as cen:
        x = torch.empty(8 * MIB, dtype=torch.uint8)
        y = torch.ones(2 * MIB, dtype=torch.float32)  # 8 MiB more: peak 16 MiB
        del x
        z = torch.zeros(MIB, dtype=torch.uint8)  # peak stays 16 MiB
        view = y[: MIB // 2]  # a view allocates nothing
    assert cen.peak == pytest.approx(16 * MIB, rel=0.10)
    assert cen.current == pytest.approx(9 * MIB, rel=0.10)
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
    assert tr.peak_device == pytest.approx(8 * MIB, rel=0.10) and "census" in tr.method


@pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA allocator peaks need a CUDA GPU")
def test_peak_tracker_on_cuda_reads_a_known_allocation():
    dev = torch.device("cuda")
    with PeakTracker(dev) as tr:
        t = torch.empty(256 * MIB, dtype=torch.uint8, device=dev)
        del t
    assert tr.peak_allocated - torch.cuda.memory_allocated(dev) == pytest.approx(256 * MIB, rel=0.10)
    assert tr.peak_device >= tr.peak_reserved > 0


# ---- power (NVML faked: the sampler's arithmetic, not the driver) -----------------------------------------


class FakeNvml:
    NVML_CLOCK_SM, NVML_CLOCK_MEM, NVML_TEMPERATURE_GPU = 0, 1, 0

    def __init__(self, watts=300.0, energy=True):
        self.watts, self.energy, self.t0 = watts, energy, time.perf_counter()

    def nvmlDeviceGetPowerUsage(self, h):
        return int(self.watts * 1000)

    def nvmlDeviceGetTotalEnergyConsumption(self, h):
        if not self.energy:
            raise RuntimeError("NVML_ERROR_NOT_SUPPORTED")
        return int((time.perf_counter() - self.t0) * self.watts * 1000)  # mJ at constant power

    def nvmlDeviceGetClockInfo(self, h, which):
        return 1980 if which == 0 else 2619

    def nvmlDeviceGetTemperature(self, h, which):
        return 55

    def nvmlDeviceGetUtilizationRates(self, h):
        return type("U", (), {"gpu": 100})()

    def nvmlDeviceGetCurrentClocksEventReasons(self, h):
        return 0x4  # sw power cap


@pytest.mark.parametrize("energy, source", [(True, "energy counter"), (False, "integrated power samples")])
def test_power_sampler_reads_a_known_constant_power(energy, source):
    with PowerSampler(NvmlDevice(FakeNvml(300.0, energy), None), interval_s=0.01) as s:
        time.sleep(0.3)
    r = s.reading
    assert r.energy_source == source and r.samples >= 5
    assert r.mean_w == pytest.approx(300.0, rel=0.10) and r.energy_j == pytest.approx(300.0 * r.window_s, rel=0.10)
    assert r.sm_clock_mhz == 1980 and r.max_temp_c == 55 and r.throttle_reasons == ("sw_power_cap",)


def test_power_sampler_says_unsupported_rather_than_zero():
    class NoPower(FakeNvml):
        def nvmlDeviceGetPowerUsage(self, h):
            raise RuntimeError("NVML_ERROR_NOT_SUPPORTED")

    with PowerSampler(NvmlDevice(NoPower(energy=False), None), interval_s=0.01) as s:
        time.sleep(0.05)
    assert s.reading.mean_w is None and s.reading.energy_j is None
    assert s.reading.energy_source.startswith("unsupported")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="NVML describes a CUDA GPU")
def test_nvml_opens_the_torch_device_by_uuid():
    dev = NvmlDevice.open(torch.device("cuda"))
    assert dev is not None, NvmlDevice.last_error
    assert dev.memory_used() > 0


# ---- max-batch search -----------------------------------------------------------------------------------


@pytest.mark.parametrize("true_max", [0, 1, 2, 7, 40, 41, 100, 999])
@pytest.mark.parametrize("predicted", [0, 1, 35, 41, 60, 5000])
def test_search_finds_the_boundary_from_any_bracket(true_max, predicted):
    res = maxbatch.search_max_batch(lambda b: b <= true_max, predicted, cap=1000)
    assert res.max_batch == true_max and not res.capped
    assert all(ok == (b <= true_max) for b, ok in res.probes)
    assert len(res.probes) <= 2 * 11 + 2  # bracket + bisection, logarithmic


def test_search_stops_at_the_cap_and_says_so():
    res = maxbatch.search_max_batch(lambda b: True, 10, cap=64)
    assert res.max_batch == 64 and res.capped


def test_a_close_prediction_needs_few_probes():
    res = maxbatch.search_max_batch(lambda b: b <= 403, 400, cap=4096)
    assert res.max_batch == 403 and len(res.probes) <= 8


def test_budget_and_probe_turn_an_excess_into_an_oom_boundary():
    budget = maxbatch.Budget(10 * MIB, "test")
    with pytest.raises(MeasuredOOM) as err:
        budget.check(11 * MIB, "predicted need")
    assert is_oom(err.value) and "10,485,760" in str(err.value)
    cpu = torch.device("cpu")
    small = maxbatch.probe_fits(lambda: torch.empty(2 * MIB, dtype=torch.uint8), cpu, budget, 4 * MIB, 4 * MIB)
    big = maxbatch.probe_fits(lambda: torch.empty(8 * MIB, dtype=torch.uint8), cpu, budget, 4 * MIB, 4 * MIB)
    refused = maxbatch.probe_fits(lambda: pytest.fail("must not run"), cpu, budget, 4 * MIB, 12 * MIB)
    assert small[0] and small[1] == pytest.approx(6 * MIB, rel=0.1)
    assert big == (False, pytest.approx(12 * MIB, rel=0.1)) and refused == (False, 0)


def test_a_probe_error_that_is_not_an_oom_propagates():
    with pytest.raises(ValueError):
        maxbatch.probe_fits(lambda: (_ for _ in ()).throw(ValueError("bug")), torch.device("cpu"),
                            maxbatch.Budget(None, "x"), 0, 0)


def test_analytic_bracket():
    assert maxbatch.predict_max_batch(1000, 200, 100, 50) == 7
    assert maxbatch.predict_max_batch(100, 200, 100, 50) == 0


# ---- journal and environment ----------------------------------------------------------------------------


def test_a_journal_with_a_corrupt_middle_line_is_refused(tmp_path):
    from profiler.errors import ProfilerError
    from profiler.measure.journal import Journal

    path = tmp_path / "p.journal.jsonl"
    header = {"model": "m", "gpu": "cpu", "device": "cpu"}
    j = Journal(path, header)
    row = {"model": "m", "gpu": "cpu", "quant": "bf16", "kv_dtype": "bf16", "tp": 1, "phase": "decode", "batch": 1,
           "context": 8, "status": "oom"}
    j.add_row(row)
    with pytest.raises(ProfilerError, match="measured twice"):
        j.add_row(row)
    j.set_aux("max_batch/x", {"max_batch": 3})
    again = Journal(path, header)
    assert len(again.rows) == 1 and again.aux["max_batch/x"] == {"max_batch": 3}
    lines = path.read_text().splitlines()
    path.write_text("\n".join([lines[0], "{not json", *lines[1:]]) + "\n")
    with pytest.raises(ProfilerError, match=r"p.journal.jsonl:2"):
        Journal(path, header)


@pytest.mark.parametrize("name, gpu", [("NVIDIA H100 80GB HBM3", "h100-sxm"), ("NVIDIA H100 PCIe", "h100-pcie"),
                                       ("NVIDIA H200", "h200"), ("NVIDIA A100-SXM4-40GB", "a100-40gb"),
                                       ("NVIDIA A100-SXM4-80GB", "a100-80gb"), ("NVIDIA L40S", "l40s"),
                                       ("Some Future GPU", None)])
def test_device_names_map_to_catalogue_gpus(name, gpu):
    from profiler import catalogue
    from profiler.measure.environment import detect_gpu_id

    assert detect_gpu_id(name) == gpu
    assert gpu is None or gpu in catalogue.load_gpus()


def test_nvml_on_a_machine_without_a_gpu_is_none_with_a_reason():
    if torch.cuda.is_available():
        pytest.skip("a CUDA GPU is present: NVML opens")
    assert NvmlDevice.open(torch.device("cpu")) is None and NvmlDevice.last_error


def test_an_empty_or_headless_journal_starts_afresh(tmp_path):
    from profiler.measure.journal import Journal

    path = tmp_path / "e.journal.jsonl"
    for text in ("", '{"type": "hea'):
        path.write_text(text)
        j = Journal(path, {"model": "m", "gpu": "cpu", "device": "cpu"})
        assert j.rows == {} and '"type": "header"' in path.read_text()
