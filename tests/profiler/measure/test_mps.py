"""`profile --measure --device mps` (torch's Metal backend on Apple silicon).

Everything that does not need a Mac is tested on any machine: the chip name -> catalogue row mapping and the
labels it allows, the one-line refusals (no MPS here, the CPU fallback on, macOS without bf16), the MPS allocator
limit, OOM and missing-operator recognition, the timer's synchronisation, the peak tracker and the environment
record, with torch.mps's functions replaced by recording fakes. The real sweep on the Metal GPU runs only where
torch.backends.mps.is_available() (a Mac); elsewhere it is skipped, saying so.
"""

import math
import time

import pytest
import yaml

torch = pytest.importorskip("torch", reason="the measured profiler needs torch (the dev extra installs it)")

from profiler import catalogue  # noqa: E402
from profiler.analytic import memory as amem  # noqa: E402
from profiler.errors import InvalidValueError, ProfilerError  # noqa: E402
from profiler.measure import apple, device, environment, memory, timers  # noqa: E402
from profiler.specs import KvDtype  # noqa: E402
from tests.helpers import cli_error  # noqa: E402
from tests.profiler.measure.tiny import (  # noqa: E402
    TINY,
    TINY_BF16_BYTES,
    TINY_KV_BYTES_PER_TOKEN,
    TINY_RESIDENT_BYTES,
)

HAS_MPS = torch.backends.mps.is_available()
NO_MAC = ("needs torch's MPS backend on a Mac with Apple silicon (torch.backends.mps.is_available() is False "
          "here): the real tiny-llama bf16 sweep on the Metal GPU cannot run on this machine")
NO_MAC_PEAK = ("needs torch's MPS backend on a Mac with Apple silicon (torch.backends.mps.is_available() is False "
               "here): torch.mps's memory and synchronisation on a real Metal GPU cannot be read on this machine")
# The message torch's MPS allocator raises at its limit (aten/src/ATen/mps/MPSAllocator.mm, alloc_buffer_block)
MPS_OOM = ("MPS backend out of memory (MPS allocated: 17.80 GB, other allocations: 1.01 GB, max allowed: 18.13 GB). "
           "Tried to allocate 256.00 MB on private pool. Use PYTORCH_MPS_HIGH_WATERMARK_RATIO=0.0 to disable upper "
           "limit for memory allocations (may cause system failure).")
# ... and its missing-operator error without the CPU fallback (aten/src/ATen/mps/MPSFallback.mm)
MPS_MISSING_OP = ("The operator 'aten::_fused_rms_norm' is not currently implemented for the MPS device. If you want "
                  "this op to be considered for addition please comment on https://github.com/pytorch/pytorch/issues/"
                  "141287 and mention use-case, that resulted in missing op as well as commit hash abc. As a temporary "
                  "fix, you can set the environment variable `PYTORCH_ENABLE_MPS_FALLBACK=1` to use the CPU as a "
                  "fallback for this op. WARNING: this will be slower than running natively on MPS.")


# ---- which catalogue row a chip is ---------------------------------------------------------------------------------
@pytest.mark.parametrize("name, gpu_id", [
    ("Apple M2 Pro", "m2-pro"), ("Apple M2 Max", "m2-max"), ("Apple M2 Ultra", "m2-ultra"),
    ("Apple M3 Pro", "m3-pro"), ("Apple M3 Max", "m3-max"), ("Apple M3 Ultra", "m3-ultra"),
    ("Apple M4 Pro", "m4-pro"), ("Apple M4 Max", "m4-max"),
    ("apple m4 max", "m4-max"), ("Apple M3 Pro\n", "m3-pro"),  # any case; sysctl's trailing newline
    ("Apple M1", None), ("Apple M1 Pro", None), ("Apple M1 Max", None), ("Apple M1 Ultra", None),  # no M1 rows
    ("Apple M2", None), ("Apple M3", None), ("Apple M4", None),  # base chips: no rows
    ("Apple M4 Ultra", None), ("Apple M5 Pro", None),  # not in the catalogue
    ("Apple M2 Pro (Virtual)", None),  # a VM's paravirtual GPU is not the chip's
    ("Apple M3 Proton", None), ("Intel(R) Core(TM) i9-9980HK CPU @ 2.40GHz", None), ("NVIDIA H100 80GB HBM3", None),
    ("", None), ("unknown", None),
])
def test_chip_names_map_to_their_catalogue_rows(name, gpu_id):
    assert apple.chip_gpu_id(name) == gpu_id


def test_every_mapped_chip_is_a_catalogue_row_and_every_apple_row_is_a_mapped_chip():
    apple_rows = {gid for gid, g in catalogue.load_gpus().items() if g.vendor == "apple"}
    assert apple.CATALOGUED_CHIPS <= apple_rows
    assert all(any(apple.same_chip(row, chip) for chip in apple.CATALOGUED_CHIPS) for row in apple_rows), apple_rows


@pytest.mark.parametrize("chip", ["Apple M1", "Apple M3", "Apple M2 Pro (Virtual)", "unknown"])
def test_a_chip_without_a_row_asks_for_gpu_in_one_line(chip):
    with pytest.raises(ProfilerError, match="pass --gpu ID") as err:
        environment.apple_machine_spec(chip, None)
    assert f"'{chip}'" in str(err.value) and "m3-pro" in str(err.value) and "\n" not in str(err.value)


def test_gpu_and_force_gpu_label_mps_rows_as_on_cuda():
    spec = environment.apple_machine_spec
    assert spec("Apple M3 Pro", None).id == "m3-pro"  # detected
    assert spec("Apple M1 Max", "m3-max").id == "m3-max"  # a chip without a row: --gpu names one
    assert spec("Apple M3 Max", "m3-max-128gb").id == "m3-max-128gb"  # a memory configuration of the same chip
    with pytest.raises(ProfilerError, match="--gpu m4-max does not match .* add --force-gpu"):
        spec("Apple M3 Pro", "m4-max")
    assert spec("Apple M3 Pro", "m4-max", force=True).id == "m4-max"
    with pytest.raises(ProfilerError, match="h100-sxm is a nvidia card and this is an MPS device"):
        spec("Apple M1", "h100-sxm")  # no Apple chip has an H100's datasheet
    assert spec("Apple M1", "h100-sxm", force=True).id == "h100-sxm"


def test_the_label_warning_says_when_rows_do_not_divide_by_this_macs_peaks():
    m3max = catalogue.get_gpu("m3-max")  # 'Apple M3 Max 40c GPU (64 GB)'
    assert apple.label_warning("Apple M3 Max", 40, "m3-max", m3max.name) is None
    assert apple.label_warning("Apple M3 Max", 40, "m3-max-128gb", m3max.name) is None
    assert "30 GPU cores and m3-max describes the 40-core part" in apple.label_warning("Apple M3 Max", 30, "m3-max",
                                                                                        m3max.name)
    assert "which is no catalogue chip" in apple.label_warning("Apple M1", 8, "m3-max", m3max.name)
    assert "(m3-pro), profile labelled m3-max" in apple.label_warning("Apple M3 Pro", 18, "m3-max", m3max.name)


# ---- refusals -------------------------------------------------------------------------------------------------------
def test_why_mps_cannot_run_here_is_one_line_naming_the_cause_and_what_to_use():
    linux = apple.unavailable_reason(False, False, "Linux", "", "2.13.0+cpu")
    assert "this torch 2.13.0+cpu is built without MPS (Linux)" in linux and "--device cpu" in linux
    old_mac = apple.unavailable_reason(True, False, "Darwin", "12.1", "2.5.1")
    assert "no Metal device is usable on this macOS 12.1" in old_mac and "macOS 12.3 or later" in old_mac
    assert "drop --measure" in old_mac and "\n" not in old_mac
    assert apple.unavailable_reason(True, True, "Darwin", "14.5", "2.5.1") is None


@pytest.mark.parametrize("value, refused", [("1", True), ("2", True), ("yes", True), ("0", False), ("", False),
                                            (None, False)])
def test_the_cpu_fallback_is_refused_when_on(value, refused):
    env = {} if value is None else {apple.FALLBACK_ENV: value}
    line = apple.fallback_refusal(env)
    assert (line is not None) == refused
    if refused:
        assert "would run on the CPU" in line and f"env -u {apple.FALLBACK_ENV}" in line


@pytest.fixture
def fake_mps(monkeypatch):
    """torch.backends.mps and torch.mps as on an M3 Pro with macOS 14 (flags changeable); records what is called."""
    calls = []
    state = {"built": True, "available": True, "macos14": True, "driver": 0, "current": 0}
    mps = torch.backends.mps
    monkeypatch.setattr(mps, "is_built", lambda: state["built"])
    monkeypatch.setattr(mps, "is_available", lambda: state["available"])
    monkeypatch.setattr(mps, "is_macos_or_newer", lambda major, minor: state["macos14"])
    monkeypatch.setattr(mps, "get_name", lambda: "Apple M3 Pro")
    monkeypatch.setattr(mps, "get_core_count", lambda: 18)
    monkeypatch.setattr(torch.mps, "set_per_process_memory_fraction", lambda f: calls.append(("fraction", f)))
    monkeypatch.setattr(torch.mps, "synchronize", lambda: calls.append("sync"))
    monkeypatch.setattr(torch.mps, "empty_cache", lambda: calls.append("empty_cache"))
    monkeypatch.setattr(torch.mps, "driver_allocated_memory", lambda: state["driver"])
    monkeypatch.setattr(torch.mps, "current_allocated_memory", lambda: state["current"])
    monkeypatch.setattr(torch.mps, "recommended_max_memory", lambda: 27 * 2**30)
    for var in (apple.FALLBACK_ENV, apple.HIGH_WATERMARK_ENV, apple.LOW_WATERMARK_ENV):
        monkeypatch.delenv(var, raising=False)
    return state, calls


def test_resolve_device_mps_refuses_in_one_line_when_mps_is_unavailable(fake_mps, monkeypatch):
    state, _ = fake_mps
    state.update(built=False, available=False)
    with pytest.raises(ProfilerError, match="built without MPS"):
        device.resolve_device("mps")
    state.update(built=True)
    monkeypatch.setattr("platform.system", lambda: "Darwin")
    monkeypatch.setattr("platform.mac_ver", lambda: ("12.1", ("", "", ""), "arm64"))
    with pytest.raises(ProfilerError, match="no Metal device is usable on this macOS 12.1"):
        device.resolve_device("mps")


def test_resolve_device_mps_refuses_the_fallback_and_macos_without_bf16(fake_mps, monkeypatch):
    state, calls = fake_mps
    monkeypatch.setenv(apple.FALLBACK_ENV, "1")
    with pytest.raises(ProfilerError, match="PYTORCH_ENABLE_MPS_FALLBACK=1 is set"):
        device.resolve_device("mps")
    monkeypatch.delenv(apple.FALLBACK_ENV)
    state.update(macos14=False)
    with pytest.raises(ProfilerError, match="bf16 only on macOS 14 or newer"):
        device.resolve_device("mps")
    assert calls == []  # nothing was set up for a refused device


def test_resolve_device_mps_holds_the_allocator_to_the_working_set_unless_the_user_set_it(fake_mps, monkeypatch):
    _, calls = fake_mps
    assert device.resolve_device("mps") == torch.device("mps")
    assert calls == [("fraction", apple.WORKING_SET_FRACTION)]
    assert "set_per_process_memory_fraction(1.0)" in apple.allocator_limit({})
    calls.clear()
    monkeypatch.setenv(apple.HIGH_WATERMARK_ENV, "0.0")
    assert device.resolve_device("mps") == torch.device("mps") and calls == []  # the user's limit is kept
    assert "PYTORCH_MPS_HIGH_WATERMARK_RATIO=0.0" in apple.allocator_limit({apple.HIGH_WATERMARK_ENV: "0.0"})


def test_a_bad_device_name_lists_mps():
    with pytest.raises(InvalidValueError, match="cpu, cuda, cuda:N or mps"):
        device.resolve_device("metal")


# ---- errors that are boundaries, and errors that are unsupported rows ------------------------------------------------
def test_mps_out_of_memory_errors_are_memory_boundaries():
    assert device.is_oom(RuntimeError(MPS_OOM))
    assert device.is_oom(RuntimeError("Invalid buffer size: 48.00 GB"))  # one tensor past Metal's largest buffer
    assert not device.is_oom(RuntimeError("MPS: unsupported border padding mode"))
    assert not device.is_oom(NotImplementedError(MPS_MISSING_OP))


def test_a_missing_mps_operator_is_an_unsupported_row_note():
    note = device.mps_unsupported_op(NotImplementedError(MPS_MISSING_OP))
    assert note.startswith("aten::_fused_rms_norm is not implemented on MPS in torch ") and "not measured" in note
    assert device.mps_unsupported_op(NotImplementedError("something else")) is None
    assert device.mps_unsupported_op(RuntimeError(MPS_MISSING_OP)) is None


# ---- synchronisation, freeing, timing, peaks -------------------------------------------------------------------
def test_synchronize_and_free_memory_use_torch_mps(fake_mps):
    _, calls = fake_mps
    device.synchronize("mps")
    assert calls == ["sync"]
    calls.clear()
    device.free_memory(torch.device("mps"))
    assert calls == ["sync", "empty_cache"]
    assert device.device_kind("mps") == "mps" and device.device_kind(torch.device("cuda", 1)) == "cuda"


def test_each_timed_mps_repetition_ends_with_a_synchronisation_it_includes(fake_mps, monkeypatch):
    _, calls = fake_mps
    monkeypatch.setattr(torch.mps, "synchronize", lambda: (calls.append("sync"), time.sleep(0.002)))
    policy = timers.TimerPolicy(warmup=2, min_count=5, min_time_s=0.0, max_count=5)
    timing = timers.time_call(lambda: calls.append("step"), "mps", policy)
    assert timing.method == timers.MPS_TIMER and timing.count == 5
    assert calls == ["step", "step", "sync"] + ["step", "sync"] * 5  # warm-ups, one sync, then step + sync each
    assert timing.min_s >= 0.002  # the wait for the GPU is inside the timed region


def test_the_mps_peak_is_the_larger_of_the_tensor_census_and_the_driver_bytes(fake_mps):
    state, calls = fake_mps
    state.update(driver=10_000_000, current=9_000_000)
    with memory.PeakTracker("mps", base_bytes=1000) as big_driver:
        x = torch.ones(1000, dtype=torch.float32)  # 4,000 B created in the region (census; any device)
    assert calls[:2] == ["sync", "empty_cache"] and big_driver.non_torch == 1_000_000
    assert big_driver.peak_allocated == 5000 and big_driver.peak_reserved == 10_000_000
    assert big_driver.peak_device == 10_000_000 and big_driver.method.startswith("mps: Metal driver bytes")
    state.update(driver=100, current=0)
    with memory.PeakTracker("mps", base_bytes=1000) as small_driver:
        y = torch.ones(1000, dtype=torch.float32)
    assert small_driver.peak_device == 5000 and small_driver.method.startswith("mps: tensor census")
    assert "Metal driver bytes after the step 100 B" in small_driver.method
    del x, y


def test_the_mps_environment_records_macos_chip_memory_and_why_power_is_empty(fake_mps, monkeypatch):
    state, _ = fake_mps
    state.update(driver=123)
    monkeypatch.setattr("platform.mac_ver", lambda: ("14.5", ("", "", ""), "arm64"))
    env = environment.environment("mps", catalogue.get_gpu("m3-pro"))
    assert env["macos"] == "14.5" and env["gpu_name"] == "Apple M3 Pro" and env["gpu_cores"] == 18
    assert env["gpu_memory_bytes"] == 27 * 2**30 and env["mps_driver_bytes_at_start"] == 123
    assert env["mps_available"] and env["gpu"] == "m3-pro" and "gpu_id_warning" not in env
    assert env["power"].startswith("unsupported on MPS") and "sudo" in env["power"]
    labelled = environment.environment("mps", catalogue.get_gpu("m4-max"))  # --gpu m4-max --force-gpu
    assert labelled["gpu_id_warning"] == "device reports 'Apple M3 Pro' (m3-pro), profile labelled m4-max"


# ---- the CLI on a machine without MPS -------------------------------------------------------------------------------
@pytest.mark.skipif(HAS_MPS, reason="an MPS device is present: the no-MPS refusal cannot be shown on this Mac")
def test_cli_measure_on_mps_without_a_mac_is_one_line(tmp_path):
    models = tmp_path / "tiny.yaml"
    models.write_text(yaml.safe_dump({"models": {"tiny-llama": TINY}}), encoding="utf-8")
    out = cli_error("profile", "tiny-llama", "--models", models, "--measure", "--device", "mps", "--batch", "1",
                    "--context", "16")
    assert "--measure on mps needs torch's MPS backend" in out and "--device cpu" in out


# ---- the real thing, on a Mac ----------------------------------------------------------------------------------
@pytest.mark.skipif(not HAS_MPS, reason=NO_MAC)
def test_real_mps_sweep_measures_exact_bytes_and_positive_latencies(tiny, tmp_path):
    from profiler.measure.sweep import run_measured_profile

    label = apple.chip_gpu_id(apple.chip_name()) or "m3-pro"  # a chip without a row is labelled by --gpu
    df, meta = run_measured_profile(tiny, label, ["bf16"], [KvDtype.BF16], [1, 2], [32], device="mps",
                                    out=tmp_path / "mps.csv", progress=False, timer=timers.TimerPolicy.quick(),
                                    max_batch_cap=8)
    ok = df[df["status"] == "ok"]
    assert len(ok) == 4 and set(ok["gpu"]) == {label}
    assert (ok["weights_bytes"] == TINY_BF16_BYTES).all()
    assert TINY_BF16_BYTES == amem.weight_bytes(tiny, catalogue.get_quant("bf16"), 1)
    assert (ok["kv_bytes_per_token"] == TINY_KV_BYTES_PER_TOKEN).all()
    assert TINY_KV_BYTES_PER_TOKEN == amem.kv_bytes_per_token(tiny, KvDtype.BF16, 1)
    assert all(math.isfinite(v) and v > 0 for v in ok["latency_ms"]) and (ok["tokens_per_s"] > 0).all()
    assert (ok["peak_bytes"] >= TINY_RESIDENT_BYTES).all() and (ok["max_batch"] >= 2).all()
    assert ok["note"].str.contains(timers.MPS_TIMER).all()
    assert ok["note"].str.contains("power: unsupported on MPS").all()
    assert ok["power_w"].isna().all() and ok["mbu"].gt(0).all()
    env = meta.environment
    assert env["device"] == "mps" and env["macos"] and env["gpu_name"].startswith("Apple")
    assert env["gpu_memory_bytes"] > 0 and env["machine_spec"]["vendor"] == "apple"


@pytest.mark.skipif(not HAS_MPS, reason=NO_MAC_PEAK)
def test_real_mps_peak_sees_a_tensor_made_on_the_gpu():
    dev = device.resolve_device("mps")
    with memory.PeakTracker(dev) as tracker:
        t = torch.ones(2**20, dtype=torch.float32, device=dev)  # 4 MiB
        device.synchronize(dev)
    assert tracker.peak_device >= 4 * 2**20 and tracker.method.startswith("mps:")
    timing = timers.time_call(lambda: t.mul_(1.0), dev, timers.TimerPolicy.quick())
    assert timing.method == timers.MPS_TIMER and timing.median_s > 0
