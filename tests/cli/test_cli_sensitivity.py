"""`inferplan sensitivity`: bad --inputs and -o, the table at 100 columns, JSON and CSV, and the files it writes.

Runs llama-3.1-8b on H100 fp8 at the seed volume with three inputs, so each run is a handful of small plans.
"""

from __future__ import annotations

import io

import pandas as pd
from rich.cells import cell_len
from typer.testing import CliRunner

from tests.helpers import cli, cli_error, cli_json

RUN = ("sensitivity", "llama-3.1-8b", "--gpu", "h100-sxm", "--quant", "fp8", "--inputs", "gpu-price,volume,standby")


def test_unknown_input_is_one_line_naming_the_real_ones():
    out = cli_error(*RUN[:-1], "gpu-price,nope")
    assert "'nope'" in out and "people-cost" in out and "output-length" in out


def test_bad_output_suffix_and_plot_suffix():
    assert ".xlsx" in cli_error(*RUN, "-o", "x.txt")
    assert ".png" in cli_error(*RUN, "--plot", "x.gif")


def test_table_fits_100_columns():
    from planner.cli import app

    r = CliRunner().invoke(app, list(RUN), env={"COLUMNS": "100"})
    assert r.exit_code == 0, r.output
    lines = r.stdout.splitlines()
    assert max(cell_len(line) for line in lines) <= 100
    text = r.stdout
    for words in ("GPU price per hour", "daily volume", "hot standby", "swing", "stays use-api",
                  "No input turns the verdict (use-api) within its range."):
        assert words in text, words


def test_json_is_ranked_and_csv_has_every_column():
    doc = cli_json(*RUN)
    rows = doc["inputs"]
    assert [r["input"] for r in rows] != [] and {r["input"] for r in rows} == {"gpu-price", "volume", "standby"}
    swings = [r["swing_usd"] for r in rows]
    assert swings == sorted(swings, reverse=True) and [r["rank"] for r in rows] == [1, 2, 3]
    assert doc["base_decision"] == "use-api" and doc["flips"] == []
    gpu = next(r for r in rows if r["input"] == "gpu-price")
    assert (gpu["low_value"], gpu["high_value"]) == (0.7, 1.3)
    assert gpu["low_monthly_usd"] < doc["base_monthly_usd"] < gpu["high_monthly_usd"]
    r = cli(*RUN, "--format", "csv")
    assert r.exit_code == 0, r.output
    df = pd.read_csv(io.StringIO(r.stdout))
    assert len(df) == 3 and {"swing_usd", "low_api_monthly_usd", "low_ratio", "verdict", "range_basis"} <= set(df)
    assert list(df["input"]) == [row["input"] for row in rows]


def test_writes_the_tornado_png_and_the_files(tmp_path):
    png, xlsx, md = tmp_path / "tornado.png", tmp_path / "s.xlsx", tmp_path / "s.md"
    r = cli(*RUN, "--plot", png, "-o", xlsx)
    assert r.exit_code == 0, r.output
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
    assert f"wrote {png}" in r.output
    assert set(pd.read_excel(xlsx, sheet_name=None)) == {"sensitivity", "verdict turns", "summary"}
    assert cli(*RUN, "-o", md).exit_code == 0
    assert "| what |" in md.read_text() and "GPU price per hour" in md.read_text()
