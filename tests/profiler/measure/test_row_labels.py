"""Which GPU measured rows are labelled with: the catalogue card a device name is (and only that card), an
explicit --gpu that contradicts the device refused unless forced, a card outside the catalogue needing --gpu."""

import pytest

from profiler import catalogue
from profiler.errors import ProfilerError
from profiler.measure.environment import detect_gpu_id, resolve_gpu_id


@pytest.mark.parametrize("name, gpu", [
    ("NVIDIA H100 80GB HBM3", "h100-sxm"), ("NVIDIA H100 PCIe", "h100-pcie"), ("NVIDIA H200", "h200"),
    ("NVIDIA A100-SXM4-40GB", "a100-40gb"), ("NVIDIA A100-PCIE-40GB", "a100-40gb"),
    ("NVIDIA A100-SXM4-80GB", "a100-80gb"), ("NVIDIA A100 80GB PCIe", "a100-80gb"), ("NVIDIA L4", "l4"),
    ("NVIDIA L40S", "l40s"), ("NVIDIA B200", "b200"),
    ("NVIDIA GH200 480GB", None),  # not an H200: other memory and bandwidth
    ("NVIDIA GB200", None), ("NVIDIA L40", None),  # not an L4
    ("NVIDIA H100 NVL", None),  # 94 GB, 3.9 TB/s: no catalogue row
    ("Some Future GPU", None),
])
def test_device_names_map_only_to_the_card_they_are(name, gpu):
    assert detect_gpu_id(name) == gpu
    assert gpu is None or gpu in catalogue.load_gpus()


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


def test_on_cuda_the_machine_record_is_the_detected_card():
    torch = pytest.importorskip("torch", reason="the measured profiler needs torch (the dev extra installs it)")
    if not torch.cuda.is_available():
        pytest.skip("labelling rows by the device name needs a CUDA GPU")
    from profiler.measure.environment import machine_spec

    name = torch.cuda.get_device_name(0)
    if detect_gpu_id(name) is None:
        pytest.skip(f"{name} is not a catalogue GPU")
    assert machine_spec(torch.device("cuda", 0), None).id == detect_gpu_id(name)
