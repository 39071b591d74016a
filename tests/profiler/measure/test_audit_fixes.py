"""Measured-path guards: the GPU rows are labelled with, a --weights folder of another model, OOM during
quantisation, and CPU timing that a preemption burst cannot move."""

import sys
import time
import types
from dataclasses import replace

import pytest

torch = pytest.importorskip("torch", reason="the measured profiler needs torch (the dev extra installs it)")

from profiler import catalogue  # noqa: E402
from profiler.errors import ProfilerError, UnsupportedQuantError  # noqa: E402
from profiler.measure import build  # noqa: E402
from profiler.measure.device import MeasuredOOM, is_oom  # noqa: E402
from profiler.measure.environment import detect_gpu_id, machine_spec, resolve_gpu_id  # noqa: E402
from profiler.measure.quantise import quantise  # noqa: E402
from profiler.measure.sweep import run_measured_profile  # noqa: E402
from profiler.measure.timers import TimerPolicy, time_call  # noqa: E402

# ---- which GPU the rows are labelled with -------------------------------------------------------------------


@pytest.mark.parametrize("name, gpu", [
    ("NVIDIA H100 80GB HBM3", "h100-sxm"), ("NVIDIA H200", "h200"), ("NVIDIA A100-PCIE-40GB", "a100-40gb"),
    ("NVIDIA A100 80GB PCIe", "a100-80gb"), ("NVIDIA L4", "l4"), ("NVIDIA B200", "b200"),
    ("NVIDIA GH200 480GB", None),  # not an H200: other memory and bandwidth
    ("NVIDIA GB200", None), ("NVIDIA L40", None),  # not an L4
    ("NVIDIA H100 NVL", None),  # 94 GB, 3.9 TB/s: no catalogue row
])
def test_device_names_map_only_to_the_card_they_are(name, gpu):
    assert detect_gpu_id(name) == gpu


def test_without_gpu_the_detected_card_labels_the_rows():
    assert resolve_gpu_id("NVIDIA H200", None) == "h200"
    assert resolve_gpu_id("NVIDIA H100 80GB HBM3", "h100-sxm") == "h100-sxm"  # an agreeing --gpu is fine


def test_a_gpu_that_contradicts_the_device_is_refused_unless_forced():
    with pytest.raises(ProfilerError) as err:
        resolve_gpu_id("NVIDIA H200", "h100-sxm")
    msg = str(err.value)
    assert "--gpu h100-sxm does not match" in msg and "'NVIDIA H200' is h200" in msg and "--force-gpu" in msg
    assert resolve_gpu_id("NVIDIA H200", "h100-sxm", force=True) == "h100-sxm"


def test_a_card_outside_the_catalogue_needs_gpu_and_then_takes_it():
    with pytest.raises(ProfilerError, match="pass --gpu"):
        resolve_gpu_id("NVIDIA H100 NVL", None)
    assert resolve_gpu_id("NVIDIA H100 NVL", "h100-sxm") == "h100-sxm"  # nothing detected to contradict


@pytest.mark.skipif(not torch.cuda.is_available(), reason="labelling rows by the device name needs a CUDA GPU")
def test_on_cuda_the_machine_record_is_the_detected_card():
    name = torch.cuda.get_device_name(0)
    if detect_gpu_id(name) is None:
        pytest.skip(f"{name} is not a catalogue GPU")
    assert machine_spec(torch.device("cuda", 0), None).id == detect_gpu_id(name)


# ---- --weights must hold the model it is labelled as --------------------------------------------------------


@pytest.fixture(scope="module")
def saved(tiny, tmp_path_factory):
    folder = tmp_path_factory.mktemp("weights")
    build.build_model(tiny, torch.device("cpu"), seed=5).model.save_pretrained(folder)
    return folder


def test_a_weights_folder_of_the_same_architecture_is_accepted(tiny, saved):
    build.check_weights_folder(tiny, saved)


def test_a_weights_folder_of_another_architecture_is_refused_naming_the_fields(tiny, saved):
    deeper = replace(tiny, num_layers=3)
    wider = replace(tiny, attention=replace(tiny.attention, num_kv_heads=4))
    with pytest.raises(ProfilerError) as err:
        build.check_weights_folder(deeper, saved)
    assert "is not tiny-llama" in str(err.value) and "num_layers: spec 3, config.json 2" in str(err.value)
    with pytest.raises(ProfilerError, match="attention.num_kv_heads: spec 4, config.json 2"):
        build.build_model(wider, torch.device("cpu"), weights_path=saved)


def test_the_sweep_refuses_a_mismatched_folder_before_building_anything(tiny, saved, monkeypatch):
    monkeypatch.setattr(build, "build_model", lambda *a, **k: pytest.fail("built before the folder was checked"))
    with pytest.raises(ProfilerError, match="--weights"):
        run_measured_profile(catalogue.get_model("smollm2-135m"), None, ["bf16"], ["bf16"], [1], [16],
                             device="cpu", weights_path=saved, progress=False)


def test_a_weights_folder_without_config_json_is_a_clear_error(tiny, saved, tmp_path):
    (tmp_path / "model.safetensors").write_bytes((saved / "model.safetensors").read_bytes())
    with pytest.raises(ProfilerError, match="config.json"):
        build.check_weights_folder(tiny, tmp_path)


def test_rows_measured_from_a_weights_folder_say_so(tiny, saved):
    df, _ = run_measured_profile(tiny, None, ["bf16"], ["bf16"], [1], [16], device="cpu", weights_path=saved,
                                 progress=False, phases=["decode"], timer=TimerPolicy.quick())
    assert list(df["status"]) == ["ok"] and df["note"].str.contains("safetensors from").all()


# ---- out of memory during quantisation is a memory boundary, not "unsupported" ------------------------------


@pytest.mark.parametrize("exc, oom", [
    (MemoryError(), True), (RuntimeError("CUDA error: out of memory"), True),
    (RuntimeError("CUBLAS_STATUS_ALLOC_FAILED when calling cublasCreate"), True),
    (MeasuredOOM("over budget"), True), (RuntimeError("mat1 and mat2 shapes cannot be multiplied"), False),
    (ValueError("out of memory"), False)])
def test_what_counts_as_out_of_memory(exc, oom):
    assert is_oom(exc) is oom
    assert is_oom(torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB"))


def fake_torchao(monkeypatch, error: BaseException) -> None:
    """A torchao whose quantize_ raises `error` (the int8 recipe needs no GPU, so the CPU reaches quantize_)."""
    root, quant = types.ModuleType("torchao"), types.ModuleType("torchao.quantization")

    def quantize_(model, config, filter_fn=None):
        raise error

    quant.Int8WeightOnlyConfig, quant.quantize_ = (lambda: "Int8WeightOnlyConfig()"), quantize_
    root.quantization = quant
    monkeypatch.setitem(sys.modules, "torchao", root)
    monkeypatch.setitem(sys.modules, "torchao.quantization", quant)


@pytest.mark.parametrize("error", [torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB"),
                                   RuntimeError("CUDA error: out of memory")])
def test_an_oom_while_quantising_propagates_as_itself(tiny, cpu, monkeypatch, error):
    fake_torchao(monkeypatch, error)
    with pytest.raises(type(error)) as raised:
        quantise(build.build_model(tiny, cpu).model, tiny, catalogue.get_quant("int8"), cpu)
    assert raised.value is error and not isinstance(raised.value, UnsupportedQuantError)


def test_a_genuine_quantisation_failure_is_still_unsupported(tiny, cpu, monkeypatch):
    fake_torchao(monkeypatch, NotImplementedError("no int8 kernel for this layout"))
    with pytest.raises(UnsupportedQuantError, match="failed on the linear layers: NotImplementedError"):
        quantise(build.build_model(tiny, cpu).model, tiny, catalogue.get_quant("int8"), cpu)


def test_a_sweep_records_an_oom_while_quantising_as_oom_rows(tiny, monkeypatch):
    fake_torchao(monkeypatch, torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB"))
    df, _ = run_measured_profile(tiny, None, ["int8"], ["bf16"], [1, 2], [16], device="cpu", progress=False)
    assert set(df["status"]) == {"oom"}
    assert df["note"].str.contains("out of memory building or quantising the weights").all()


# ---- CPU timing that a preemption burst cannot move --------------------------------------------------------


def bursty(slow_s: float, fast_s: float, slow_calls: int):
    """A step whose first `slow_calls` timed calls are slow (another process took the cores), then fast."""
    calls = []

    def fn():
        calls.append(1)
        time.sleep(slow_s if len(calls) <= slow_calls else fast_s)

    return fn


def test_repeating_until_the_spread_is_small_outlasts_a_burst():
    few = time_call(bursty(0.05, 0.004, 2), "cpu", TimerPolicy(warmup=0, min_count=3, min_time_s=0.0))
    assert few.median_s > 0.04  # three repetitions: the burst is the median (the 8x-too-slow CPU rows)
    robust = time_call(bursty(0.05, 0.004, 2), "cpu",
                       TimerPolicy(warmup=0, min_count=3, min_time_s=0.0, max_time_s=5.0, max_rel_iqr=0.1))
    assert robust.median_s == pytest.approx(0.004, rel=0.5) and robust.count > 3


def test_the_cpu_policy_takes_enough_repetitions_and_time():
    p = TimerPolicy.cpu()
    assert p.min_count >= 7 and p.min_time_s >= 0.3 and p.max_rel_iqr is not None and p.max_time_s <= 10
    t = time_call(lambda: time.sleep(0.01), "cpu", p)
    assert t.count >= 7 and t.total_s >= 0.3 and t.median_s == pytest.approx(0.01, rel=0.3, abs=0.003)
