"""Apple silicon in the GPU catalogue (class local): rows with sources, the wired-memory limit, the apple kernel
family and the llama.cpp GGUF kernel families."""

import re

import pytest

from profiler import catalogue
from profiler.analytic import efficiency as eff_mod
from profiler.analytic import kernel_efficiency as ke

APPLE = ("m2-pro", "m2-max", "m2-ultra", "m3-pro", "m3-max", "m3-ultra", "m4-pro", "m4-max",
         "m3-max-128gb", "m4-max-128gb")


@pytest.fixture(scope="module")
def gpus():
    return catalogue.load_gpus()


def test_apple_rows_load_as_local_single_chip_gpus_with_sources(gpus):
    assert {k for k, g in gpus.items() if g.gpu_class == "local"} == set(APPLE)
    for gid in APPLE:
        g = gpus[gid]
        assert g.vendor == "apple" and g.gpus_per_node == 1 and g.source.strip()
        assert g.tflops["fp16"] == g.tflops["bf16"] > 0


@pytest.mark.parametrize("gid", APPLE)
def test_memory_is_the_gpu_wired_limit_of_the_unified_total(gpus, gid):
    g = gpus[gid]
    total_gb = int(re.search(r"\((\d+) GB\)", g.name).group(1))
    fraction = 0.70 if total_gb <= 36 else 0.78  # gpus.yaml Apple header: recommendedMaxWorkingSetSize
    assert g.hbm_bytes == pytest.approx(total_gb * 1e9 * fraction)


def test_binned_bandwidths_are_those_of_the_named_core_count(gpus):
    assert gpus["m3-max"].hbm_bandwidth_bytes_per_s == pytest.approx(400e9) and "40c" in gpus["m3-max"].name
    assert gpus["m4-max"].hbm_bandwidth_bytes_per_s == pytest.approx(546e9) and "40c" in gpus["m4-max"].name


def test_apple_ids_map_to_the_apple_kernel_family_and_others_do_not():
    assert {ke.family(g) for g in (*APPLE, "m1-max-32c")} == {"apple"}
    assert ke.family("mi300x") != "apple" and ke.family("h100-sxm") == "h100"


def test_gguf_ids_map_to_their_kernel_families():
    assert eff_mod.kernel_family("q8_0") == "gguf-q8"
    assert {eff_mod.kernel_family(q) for q in ("q4_0", "q4_k_m", "q5_k_m", "q6_k")} == {"gguf-q4"}
    assert eff_mod.kernel_family("int4-g64") == "int4"  # the old rule still holds


def test_apple_defaults_use_the_fitted_llamacpp_constants():
    e = eff_mod.default_efficiency("m3-pro", "q4_k_m")
    assert e.step_overhead_s == 0.0 and e.layer_overhead_s == ke.APPLE_LAYER_OVERHEAD_S
    assert e.bandwidth == pytest.approx(ke.APPLE_BANDWIDTH * eff_mod.BANDWIDTH_RATIO["gguf-q4"][0])
    assert e.kv_bandwidth == ke.APPLE_BANDWIDTH and "llamacpp_check" in e.source
    assert eff_mod.default_efficiency("h100-sxm", "bf16").step_overhead_s == eff_mod.STEP_OVERHEAD_S[0]


def test_llama_2_7b_is_in_the_model_catalogue():
    m = catalogue.get_model("llama-2-7b")
    assert (m.num_layers, m.hidden_size, m.vocab_size, m.max_context) == (32, 4096, 32000, 4096)
