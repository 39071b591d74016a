"""--gpus / --quants catalogue files and --gpu-memory-utilization on every command; bad files end in one line
naming the file, the entry and the field."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.helpers import cli, cli_error, cli_json

RTX3090_PAIR = """gpus:
  rtx-3090:
    name: RTX 3090 pair on an NVLink bridge
    memory_gb: 24
    hbm_bandwidth_tb_s: 0.936
    tflops: {bf16: 71}
    interconnect: NVLink 3
    interconnect_gb_s: 56.25
    tdp_w: 350
    gpus_per_node: 2
    source: "my pair (112.5 GB/s bridge)"
"""
CAPPED_A100 = """gpus:
  a100-80gb:
    name: A100 SXM 80GB capped at 250 W
    memory_gib: 80
    hbm_bandwidth_tb_s: 2.039
    tflops: {bf16: 250, int8: 500}
    interconnect: NVLink 3
    interconnect_gb_s: 300
    tdp_w: 250
"""
HOMELAB_PRICES = """offers:
  - {provider: homelab, gpu: rtx-3090, pricing: on-demand, usd_per_gpu_hour: 0.2, gpus_per_instance: 2,
     as_of: 2026-12, source: "my electricity and amortisation"}
"""
MY_QUANT = """quants:
  int4-g256:
    weight_bits: 4
    group_size: 256
    scale_bits: 16
    zero_bits: 16
    keep: [embedding, lm_head, router]
"""


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_a_users_rtx_3090_runs_end_to_end_on_profile_and_plan(tmp_path):
    gpus = _write(tmp_path, "gpus.yaml", RTX3090_PAIR)
    rows = cli_json("profile", "llama-3.1-8b", "--gpus", gpus, "--gpu", "rtx-3090", "--quant", "int4-g64",
                    "--batch", "1", "--context", "1024", "--tp", "1,2")
    assert {r["gpu"] for r in rows} == {"rtx-3090"} and {r["tp"] for r in rows} == {1, 2}
    assert all(r["status"] == "ok" for r in rows)
    prices = _write(tmp_path, "prices.yaml", HOMELAB_PRICES)
    plan = cli_json("plan", "llama-3.1-8b", "--gpus", gpus, "--gpu", "rtx-3090", "--gpu-prices", prices,
                    "--pricing", "on-demand", "--quant", "int4")
    assert (plan["gpu"], plan["quant"]) == ("rtx-3090", "int4")


def test_a_power_capped_a100_replaces_the_catalogue_row(tmp_path):
    gpus = _write(tmp_path, "capped.yaml", CAPPED_A100)
    listed = {g["id"]: g for g in cli_json("gpus", "--gpus", gpus)}
    assert (listed["a100-80gb"]["tdp_w"], listed["a100-80gb"]["bf16_tflops"]) == (250, 250)
    plan = cli_json("plan", "llama-3.1-8b", "--gpus", gpus, "--gpu", "a100-80gb", "--quant", "bf16")
    assert plan["gpu"] == "a100-80gb"
    rows = cli_json("profile", "llama-3.1-8b", "--gpus", gpus, "--gpu", "a100-80gb", "--batch", "64",
                    "--context", "1024")
    capped = next(r for r in rows if r["phase"] == "prefill")
    base = next(r for r in cli_json("profile", "llama-3.1-8b", "--gpu", "a100-80gb", "--batch", "64",
                                    "--context", "1024") if r["phase"] == "prefill")
    assert capped["latency_ms"] > base["latency_ms"]  # 250 instead of 312 TFLOP/s: compute-bound prefill slower


def test_a_quants_file_adds_a_scheme_listed_and_profiled(tmp_path):
    quants = _write(tmp_path, "quants.yaml", MY_QUANT)
    listed = {q["id"]: q for q in cli_json("quants", "--quants", quants)}
    assert listed["int4-g256"]["bits_per_weight"] == 4.125  # 4 + 32/256
    rows = cli_json("profile", "llama-3.1-8b", "--quants", quants, "--quant", "int4-g256", "--batch", "1",
                    "--context", "1024")
    assert {r["quant"] for r in rows} == {"int4-g256"}


def test_native_resolves_to_the_checkpoint_format_in_output():
    rows = cli_json("profile", "gpt-oss-20b", "--quant", "native", "--batch", "1", "--context", "1024")
    assert {r["quant"] for r in rows} == {"mxfp4"}
    r = cli("simulate", "llama-3.1-8b", "--quant", "native", "--rate", "1/s", "--duration", "30s", "--format", "json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["request"]["quant"] == "bf16"


def test_gpu_memory_utilization_grows_the_kv_budget():
    def max_batch(*extra):
        rows = cli_json("profile", "llama-3.1-8b", "--batch", "1", "--context", "8192", *extra)
        return rows[0]["max_batch"]

    assert max_batch("--gpu-memory-utilization", "0.98") > max_batch() > max_batch("--gpu-memory-utilization", "0.5")
    r = cli("simulate", "llama-3.1-8b", "--rate", "1/s", "--duration", "30s", "--gpu-memory-utilization", "0.95",
            "--format", "json")
    assert r.exit_code == 0, r.output


@pytest.mark.parametrize("command", [
    ("profile", "llama-3.1-8b"), ("plan", "llama-3.1-8b"), ("simulate", "llama-3.1-8b", "--rate", "1/s")])
@pytest.mark.parametrize("value", ["0", "1.5", "-0.2"])
def test_gpu_memory_utilization_outside_0_1_is_one_line(command, value):
    out = cli_error(*command, "--gpu-memory-utilization", value)
    assert "--gpu-memory-utilization must be a fraction in (0, 1]" in out


GOOD_GPU = {"name": "x", "memory_gb": 24, "hbm_bandwidth_tb_s": 1.0, "tflops": "{bf16: 100}",
            "interconnect": "PCIe Gen4 x16", "interconnect_gb_s": 32, "tdp_w": 300}


def _gpu_file(tmp_path: Path, **fields) -> Path:
    entry = {**GOOD_GPU, **fields}
    body = "".join(f"    {k}: {v}\n" for k, v in entry.items() if v is not None)
    return _write(tmp_path, "bad_gpus.yaml", f"gpus:\n  my-gpu:\n{body}")


@pytest.mark.parametrize(("fields", "field", "says"), [
    ({"hbm_bandwidth_tb_s": None}, "hbm_bandwidth_tb_s", "required field is missing"),
    ({"hbm_bandwidth_tb_s": "fast"}, "hbm_bandwidth_tb_s", "must be a positive number"),
    ({"hbm_bandwidth_tb_s": -1}, "hbm_bandwidth_tb_s", "must be a positive number"),
    ({"hbm_bandwidth_tb_s": 0}, "hbm_bandwidth_tb_s", "must be a positive number"),
    ({"tflops": "{bf16: 100, tf32: 50}"}, "tflops.tf32", "unknown compute dtype 'tf32'"),
    ({"tdp_w": "[300]"}, "tdp_w", "must be a positive number"),
])
@pytest.mark.parametrize("command", [("gpus",), ("profile", "llama-3.1-8b"), ("plan", "llama-3.1-8b"),
                                     ("simulate", "llama-3.1-8b", "--rate", "1/s")])
def test_bad_gpu_files_end_in_one_line_naming_file_entry_and_field(tmp_path, fields, field, says, command):
    path = _gpu_file(tmp_path, **fields)
    out = cli_error(*command, "--gpus", path)
    assert str(path) in out and "entry 'my-gpu'" in out and f"field '{field}'" in out and says in out


@pytest.mark.parametrize(("body", "field", "says"), [
    ("    weight_bits: 4\n    keep: [embeddings]\n", "keep", "unknown tensor kind 'embeddings'"),
    ("    weight_bits: 8\n    compute_dtype: bf16\n    requires: fp8\n", "requires", "not a dtype this scheme can use"),
    ("    weight_bits: 8\n    compute_dtype: fp6\n", "compute_dtype", "unknown compute dtype 'fp6'"),
    ("    weight_bits: four\n", "weight_bits", "must be an integer"),
    ("    group_size: 64\n", "weight_bits", "required field is missing"),
    ("    weight_bits: 8\n    block_rows: 128\n", "block_rows", "need group_size"),
])
@pytest.mark.parametrize("command", [("quants",), ("profile", "llama-3.1-8b"), ("plan", "llama-3.1-8b")])
def test_bad_quant_files_end_in_one_line_naming_file_entry_and_field(tmp_path, body, field, says, command):
    path = _write(tmp_path, "bad_quants.yaml", f"quants:\n  my-quant:\n{body}")
    out = cli_error(*command, "--quants", path)
    assert str(path) in out and "entry 'my-quant'" in out and f"field '{field}'" in out and says in out


@pytest.mark.parametrize("command", [("profile", "llama-3.2-1b", "--quant", "keep-far"),
                                     ("plan", "llama-3.2-1b", "--quant", "keep-far")])
def test_keep_layers_beyond_the_model_name_the_model(tmp_path, command):
    path = _write(tmp_path, "far.yaml", "quants:\n  keep-far:\n    weight_bits: 8\n    keep_layers: [0, 40]\n")
    out = cli_error(*command, "--quants", path)
    assert "entry 'keep-far'" in out and "field 'keep_layers'" in out and "llama-3.2-1b" in out


def test_calibrate_and_models_take_their_catalogue_files(tmp_path):
    assert {"--gpus", "--quants"} <= set(cli("calibrate", "--help").output.split())
    assert "params_active_excl_embedding" in cli_json("models")[0]
