"""quants.yaml `fallback` / `tensor_formats`: a user file's mix is applied; bad entries are one-line errors naming
file, line, entry and field; the measured path refuses GGUF schemes with the reason."""

from __future__ import annotations

from fractions import Fraction

import pytest

from profiler import catalogue
from profiler.analytic.params import tensor_inventory
from profiler.analytic.weights import group_bytes
from tests.helpers import cli_error, cli_json

GOOD = """\
quants:
  my-mix:
    weight_bits: 4
    group_size: 256
    scale_bits: 64
    zero_bits: 64
    fallback: {weight_bits: 5, group_size: 32, scale_bits: 16}
    tensor_formats:
      - tensors: [layers.mlp.down_proj.weight]
        layers: [0, -1]
        format: my-eight
      - tensors: [lm_head.weight]
        format: q6_k
  my-eight:
    weight_bits: 8
    group_size: 32
    scale_bits: 16
"""


def _write(tmp_path, text: str):
    path = tmp_path / "quants.yaml"
    path.write_text(text)
    return path


def test_a_user_mix_names_its_own_and_catalogue_formats(tmp_path):
    quants = catalogue.load_quants(_write(tmp_path, GOOD))
    mix, model = quants["my-mix"], catalogue.get_model("llama-3.1-8b")
    assert list(quants)[-2:] == ["my-mix", "my-eight"]  # file order kept though my-eight was built first
    down = next(g for g in tensor_inventory(model) if g.name == "layers.mlp.down_proj.weight")
    numel = 4096 * 14336
    assert sum(group_bytes(down, model, mix)) == numel * (2 * Fraction(17, 2) + 30 * Fraction(9, 2)) / 8
    head = next(g for g in tensor_inventory(model) if g.name == "lm_head.weight")
    assert sum(group_bytes(head, model, mix)) == 128256 * 4096 * Fraction(105, 16) / 8


MIX_LIST = GOOD[GOOD.index("    tensor_formats:\n"):GOOD.index("  my-eight:")]


@pytest.mark.parametrize("old, new, field, words", [
    ("down_proj.weight]", "down_prj.weight]", "tensor_formats.0.tensors", "did you mean 'layers.mlp.down_proj.weight'"),
    ("layers: [0, -1]", "layers: some", "tensor_formats.0.layers", "llama.cpp-use-more-bits"),
    ("layers: [0, -1]", "when: {num_expert: 8}", "tensor_formats.0.when.num_expert", "did you mean 'num_experts'"),
    ("layers: [0, -1]", "when: {num_experts: many}", "tensor_formats.0.when.num_experts", "an integer"),
    ("format: my-eight", "format: q7_k", "tensor_formats.0.format", "unknown quant id 'q7_k'"),
    ("format: my-eight", "formt: my-eight", "tensor_formats.0.formt", "did you mean 'format'"),
    ("        format: my-eight\n", "", "tensor_formats.0.format", "is required"),
    ("scale_bits: 16}", "scale_bit: 16}", "fallback.scale_bit", "did you mean 'scale_bits'"),
    ("    group_size: 256\n", "", "fallback", "set group_size"),
    (MIX_LIST, "    tensor_formats: 3\n", "tensor_formats", "non-empty list"),
    ("    scale_bits: 16\n", "    scale_bits: 16\n    fallback: my-mix\n", "fallback", "leads back to itself"),
])
def test_bad_tensor_formats_are_one_line_errors(tmp_path, old, new, field, words):
    text = GOOD.replace(old, new, 1)
    assert text != GOOD
    path = _write(tmp_path, text)
    out = cli_error("quants", "--quants", str(path))
    assert f"{path}:" in out and f"field '{field}'" in out and words in out, out


def test_measure_refuses_gguf_with_the_reason():
    from profiler.measure.quantise import unavailable_reason

    reason = unavailable_reason(catalogue.get_quant("q4_k_m"), "cpu")
    assert "llama.cpp GGUF format" in reason and "llama-bench" in reason


def test_gguf_profile_runs_from_cli():
    rows = cli_json("profile", "llama-3.1-8b", "--gpu", "rtx-4090", "--quant", "q4_k_m", "--batch", "1",
                    "--context", "1024")
    assert {r["status"] for r in rows} == {"ok"}
    assert {r["weights_bytes"] for r in rows} == {4912898048}  # test_gguf_sizes: llama.cpp's 4.8944 bits/weight
