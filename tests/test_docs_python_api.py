"""docs/python_api.md runs as written (issue 13): every ```python block, in order, in one namespace, in a temporary
working directory with matplotlib's file-only Agg backend; then the numbers it made are checked against the CLI's
for the same inputs, and the plot it saved is a real PNG. The README's short Python API example runs too.

A block right after a ``<!-- not run: ... -->`` line is skipped: the page has exactly one, the measured profile,
which needs torch and a GPU."""

from __future__ import annotations

import math
import re
from pathlib import Path

import pandas as pd
import pytest

from tests.helpers import cli_json

DOC = Path(__file__).resolve().parents[1] / "docs" / "python_api.md"
BLOCK = re.compile(r"(<!-- not run:[^>]*-->\n)?```python\n(.*?)```", re.S)
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"  # the PNG signature (PNG specification, section 5.2)


def blocks() -> tuple[list[str], list[str]]:
    """(the python blocks to run, the ones marked not to run), in the page's order."""
    run, skipped = [], []
    for m in BLOCK.finditer(DOC.read_text(encoding="utf-8")):
        (skipped if m.group(1) else run).append(m.group(2))
    return run, skipped


@pytest.fixture(scope="module")
def ns(tmp_path_factory) -> dict:
    """The namespace after running every block, in a fresh working directory (the files they write land there)."""
    import os

    matplotlib = pytest.importorskip("matplotlib", reason="the page plots with matplotlib (the report and dev extras)")

    matplotlib.use("Agg")
    cwd, here = tmp_path_factory.mktemp("python-api-doc"), os.getcwd()
    os.chdir(cwd)
    try:
        namespace: dict = {"__name__": "__doc_example__"}
        for i, code in enumerate(blocks()[0]):
            exec(compile(code, f"{DOC.name}, python block {i + 1}", "exec"), namespace)  # noqa: S102
    finally:
        os.chdir(here)
    namespace["__cwd__"] = cwd
    return namespace


def test_the_page_has_the_example_and_one_block_that_needs_a_gpu():
    run, skipped = blocks()
    assert len(run) == 11
    assert len(skipped) == 1 and "measure=True" in skipped[0] and "calibrate(" in skipped[0]


def test_the_budget_views_are_the_clis(ns):
    assert (ns["seed"].monthly_total_usd, ns["seed"].raw_gpu_monthly_usd) == (13_275, 5_100)
    cli = cli_json("plan", "llama-3.1-8b", "--gpu", "h100-sxm", "--quant", "fp8", "--pricing", "buy", "--growth", "8%",
                   "--months", "24")
    months = pd.DataFrame(cli["views"]["growth"]["tables"]["growth"])
    growth = ns["growth"].main
    assert list(growth["replicas"]) == list(months["replicas"])
    assert list(growth["self_host_usd"]) == pytest.approx(list(months["self_host_usd"]), rel=1e-12)
    split = ns["hybrid"].tables["hybrid"].set_index("option")["monthly_usd"]
    assert split["best split"] < min(split["API only"], split["self-host only"])  # the page's peaky day: a real split
    assert ns["hybrid"].record["best_replicas"] > 0


def test_the_profile_is_the_clis(ns):
    cli_rows = cli_json("profile", "llama-3.3-70b", "--gpu", "h100-sxm", "--quant", "bf16,fp8", "--tp", "2,4",
                        "--batch", "1,8,32,128", "--context", "1024,8192")
    table = ns["table"]
    assert len(table) == len(cli_rows) == 2 * 2 * 2 * 4 * 2  # quants x TPs x phases x batches x contexts
    cli_latency = [math.nan if r["latency_ms"] is None else r["latency_ms"] for r in cli_rows]  # JSON null: an oom row
    assert list(table["latency_ms"]) == pytest.approx(cli_latency, rel=1e-12, nan_ok=True)
    assert list(table["status"]) == [r["status"] for r in cli_rows]
    decode = ns["decode"]
    assert set(decode["phase"]) == {"decode"} and set(decode["status"]) == {"ok"} and len(decode) > 0


def test_the_plan_is_the_clis(ns, tmp_path):
    cli = cli_json("plan", "llama-3.3-70b", "--tokens-per-day-in", "1B", "--tokens-per-day-out", "200M",
                   "--ttft-p99", "2s", "--tpot-p99", "50ms", "--gpu", "h100-sxm,h200")
    result = ns["result"]
    assert ns["workload"].tokens_per_day == 1.2e9  # 1B in + 200M out
    assert result.monthly_total_cost == pytest.approx(cli["monthly_total_cost"], rel=1e-12)
    assert result.usd_per_mtok_self_host == pytest.approx(cli["usd_per_mtok_self_host"], rel=1e-12)
    assert (result.deployment["gpu"], result.deployment["quant"], result.deployment["replicas"]) == (
        cli["gpu"], cli["quant"], cli["replicas"])
    assert result.verdict.decision == cli["verdict"]


def test_the_bill_and_the_api_tables(ns):
    bill, result = ns["bill"], ns["result"]
    assert bill["monthly_usd"].sum() == pytest.approx(result.monthly_total_cost, rel=1e-9)  # the items add up
    assert ns["by_category"].sum() == pytest.approx(result.monthly_total_cost, rel=1e-9)
    apis = ns["apis"]
    assert set(apis["label"]) == set(result.verdict.compared) and len(apis) >= 3
    assert list(apis["monthly_cost"]) == sorted(apis["monthly_cost"])


def test_the_plot_is_a_png(ns):
    png = ns["__cwd__"] / "llama-70b-plan.png"
    data = png.read_bytes()
    assert data.startswith(PNG_MAGIC) and len(data) > 20_000  # two panels of lines and text, not an empty canvas
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")  # the IHDR chunk
    assert (width, height) == (12 * 110, round(4.5 * 110))  # figsize [in] x dpi


def test_the_folder_plan_is_the_catalogue_models_bill(ns):
    mine, result = ns["mine"], ns["result"]
    assert mine.model == "my-llama-70b"
    assert (ns["__cwd__"] / "my-llama-70b" / "config.json").is_file()
    assert mine.monthly_total_cost == result.monthly_total_cost
    assert pd.Series(mine.deployment).equals(pd.Series(result.deployment))  # NaN capex_usd equal to NaN


def test_the_simulation_and_the_offline_throughput(ns):
    sim, latency = ns["sim"], ns["latency"]
    assert sim.request.model == "llama-3.3-70b" and sim.metrics.requests_measured > 100  # 0.5/s x 300 s, less warm-up
    p99 = latency[(latency["metric"] == "ttft") & (latency["stat"] == "p99")]["value"].item()
    assert p99 == sim.metrics.ttft.p99 > 0
    offline = ns["offline"]
    assert list(offline["status"]) == ["ok"] and offline["output_tokens_per_s"].item() > 0


def test_the_error_example_suggests_the_model(ns):
    from planner import PlanRequest, plan
    from profiler.errors import UnknownNameError

    with pytest.raises(UnknownNameError) as exc:
        plan(PlanRequest(model="llama-3.3-7b", workload=ns["workload"]))
    assert exc.value.suggestions[0] == "llama-3.3-70b"


def test_the_readme_example_runs():
    text = (DOC.parents[1] / "README.md").read_text(encoding="utf-8")
    section = text.split("\n## Python API\n", 1)[1].split("\n## ", 1)[0]
    (code,) = [m.group(2) for m in BLOCK.finditer(section)]
    namespace: dict = {}
    exec(compile(code, "README.md, ## Python API", "exec"), namespace)  # noqa: S102
    result = namespace["result"]
    assert result.model == "llama-3.1-8b" and result.workload.tokens_per_day == 60e6  # 50M in + 10M out
    assert result.line_items["monthly_usd"].sum() == pytest.approx(result.monthly_total_cost, rel=1e-9)
    assert set(namespace["table"]["quant"]) == {"bf16", "fp8"}
