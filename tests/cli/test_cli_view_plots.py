"""`plan --plot cost.png` with --growth / --hybrid also draws cost-growth.png and cost-hybrid.png (planner.plot_views)
beside the cost curve: real PNGs, named after the plot, announced in the table output."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import cli

pytest.importorskip("matplotlib", reason="drawing the PNGs needs matplotlib (the report and dev extras install it)")

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"  # the PNG signature (PNG specification, section 5.2)
SMALL = ["plan", "llama-3.1-8b", "--gpu", "h100-sxm", "--quant", "fp8"]


def test_growth_and_hybrid_each_get_a_png_beside_the_cost_curve(tmp_path):
    plot = tmp_path / "cost.png"
    r = cli(*SMALL, "--growth", "8%", "--months", "6", "--hybrid", "--plot", plot)
    assert r.exit_code == 0, r.output
    for path in (plot, tmp_path / "cost-growth.png", tmp_path / "cost-hybrid.png"):
        assert path.read_bytes()[:8] == PNG_MAGIC
        assert f"wrote {path}" in r.output.replace("\n", "")


def test_without_a_view_only_the_cost_curve_is_drawn(tmp_path):
    plot = tmp_path / "cost.png"
    assert cli(*SMALL, "--plot", plot).exit_code == 0
    assert sorted(p.name for p in Path(tmp_path).iterdir()) == ["cost.png"]
