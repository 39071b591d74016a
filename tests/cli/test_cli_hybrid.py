"""`inferplan plan --hybrid`: the hybrid view in the terminal (100 columns), in JSON and as the CSV table."""

from __future__ import annotations

import csv
import io

from rich.cells import cell_len
from typer.testing import CliRunner

from tests.helpers import cli, cli_error, cli_json

# llama-3.1-8b on H100 SXM at fp8 (one configuration: fast); 10B in + 2B out tokens/day needs several replicas, so
# the split table has rows between the two pure options
ARGS = ["plan", "llama-3.1-8b", "--gpu", "h100-sxm", "--quant", "fp8", "--tokens-per-day-in", "10B",
        "--tokens-per-day-out", "2B", "--hybrid"]
OPTIONS = ["self-host only", "API only", "best split"]


def test_hybrid_table_fits_100_columns():
    from planner.cli import app

    r = CliRunner().invoke(app, ARGS, env={"COLUMNS": "100"})
    assert r.exit_code == 0, r.output
    assert "Hybrid: self-host the base load" in r.stdout and "Split by replicas" in r.stdout
    assert all(cell_len(line) <= 100 for line in r.stdout.splitlines()), max(r.stdout.splitlines(), key=cell_len)
    for option in OPTIONS:
        assert option in r.stdout
    assert "Best split:" in r.stdout and "Load shape: peak-to-average 2" in r.stdout


def test_hybrid_json_has_the_view():
    out = cli_json(*ARGS)
    view = out["views"]["hybrid"]
    rec = view["record"]
    assert {"best_replicas", "best_monthly_usd", "self_host_token_share", "api_only_usd", "self_host_only_usd",
            "crossover_tokens_per_day"} <= set(rec)
    assert rec["self_host_only_usd"] == out["monthly_total_cost"]  # n = N is the plan itself
    rows = view["tables"]["hybrid"]
    assert [r["option"] for r in rows] == OPTIONS
    assert rows[2]["monthly_usd"] == min(r["monthly_usd"] for r in view["tables"]["split_by_replicas"])
    assert len(view["tables"]["split_by_replicas"]) == out["replicas"] + 1  # every n from 0 to N
    assert view["lines"][0].startswith("Best split")


def test_hybrid_csv_is_the_hybrid_table():
    r = cli(*ARGS, "--format", "csv")
    assert r.exit_code == 0, r.output
    rows = list(csv.DictReader(io.StringIO(r.stdout)))
    assert [row["option"] for row in rows] == OPTIONS
    assert list(rows[0]) == ["option", "replicas", "spare_replicas", "gpus", "self_host_token_share",
                             "api_token_share", "self_host_usd", "api_usd", "monthly_usd"]


def test_hybrid_with_residency_is_one_line_error():
    out = cli_error("plan", "llama-3.1-8b", "--gpu", "h100-sxm", "--quant", "fp8", "--residency", "--hybrid")
    assert "--hybrid" in out and "residency" in out
