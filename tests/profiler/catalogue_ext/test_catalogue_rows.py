"""The issue-9 GPU rows, checkpoint formats (quant id `native`) and vendors' active-parameter counts."""

from __future__ import annotations

import pytest

from profiler import catalogue
from profiler.analytic.params import param_counts

NEW_GPUS = ("a100-pcie-80gb", "l40", "rtx-3090", "rtx-5090", "h20", "gh200-96gb", "gb200", "mi250x")
INTERCONNECT_FAMILIES = ("NVLink 3", "NVLink 4", "NVLink 5", "PCIe Gen4 x16", "PCIe Gen5 x16", "Infinity Fabric")


@pytest.mark.parametrize("gpu_id", NEW_GPUS)
def test_new_gpu_rows_are_sourced_and_in_a_known_interconnect_family(gpu_id):
    g = catalogue.load_gpus()[gpu_id]
    assert len(g.source) > 40 and g.hbm_bytes > 0 and g.hbm_bandwidth_bytes_per_s > 0 and "bf16" in g.tflops
    assert g.interconnect.startswith(INTERCONNECT_FAMILIES), g.interconnect


def test_datasheet_figures_of_the_new_rows():
    g = catalogue.load_gpus()
    assert (g["rtx-3090"].hbm_bytes, g["rtx-3090"].hbm_bandwidth_bytes_per_s) == (24e9, 936e9)
    assert (g["rtx-5090"].hbm_bytes, g["rtx-5090"].hbm_bandwidth_bytes_per_s) == (32e9, 1792e9)
    assert g["rtx-5090"].tflops["fp4"] == 1676  # 3,352 sparse / 2
    assert g["mi250x"].hbm_bytes == 64e9 and g["mi250x"].vendor == "amd"  # per GCD: half of 128 GB
    assert "fp8" not in g["a100-pcie-80gb"].tflops and g["gb200"].tflops["fp4"] == 10_000


@pytest.mark.parametrize(("model", "expected"), [("gpt-oss-20b", "mxfp4"), ("gpt-oss-120b", "mxfp4"),
                                                 ("deepseek-v3", "fp8-block"), ("llama-3.1-8b", "bf16")])
def test_native_resolves_to_the_checkpoint_format(model, expected):
    spec = catalogue.get_model(model)
    assert catalogue.resolve_quant_id("native", spec) == expected
    assert catalogue.resolve_quant_id("int4", spec) == "int4"
    assert expected in catalogue.load_quants()


def test_active_excluding_embedding_matches_the_vendors():
    """openai/gpt-oss model card (Table 1): gpt-oss-120b 5.13B active, gpt-oss-20b 3.61B, counting the unembedding
    but not the embedding; DeepSeek-V3 technical report (arXiv 2412.19437): 671B total, 37B activated."""
    models = catalogue.load_models()
    big, small, ds = (param_counts(models[m]) for m in ("gpt-oss-120b", "gpt-oss-20b", "deepseek-v3"))
    assert round(big.active_excl_embedding / 1e9, 2) == 5.13
    assert round(small.active_excl_embedding / 1e9, 2) == 3.61
    assert round(ds.active_excl_embedding / 1e9) == 37 and round(ds.total / 1e9) == 671
    # the difference is exactly the input embedding table: vocab x hidden
    assert big.active - big.active_excl_embedding == 201_088 * 2_880
    assert ds.active - ds.active_excl_embedding == 129_280 * 7_168


def test_a_tied_table_stays_in_the_active_count():
    from tests.profiler.analytic.specs import gemma_like

    counts = param_counts(gemma_like())  # tied: the table is the lm_head's matmul too
    assert counts.active_excl_embedding == counts.active
