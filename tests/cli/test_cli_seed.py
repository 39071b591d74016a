"""`inferplan seed`: the write-up's example in a 100-column terminal, as JSON, as one CSV table and in each -o file."""

from __future__ import annotations

import csv
import io
import json

import pytest
from typer.testing import CliRunner

from tests.helpers import cli, cli_error, cli_json

SECTIONS = {"bill", "api", "slips", "replan"}


def test_the_table_fits_100_columns_and_shows_each_section():
    from planner.cli import app

    r = CliRunner().invoke(app, ["seed"], env={"COLUMNS": "100"})
    assert r.exit_code == 0, r.output
    lines = r.stdout.splitlines()
    assert max(len(line) for line in lines) <= 100, max(lines, key=len)
    out = r.stdout
    assert "Total $13,275/month (the write-up: $13,275) = 2.60x the $5,100 raw GPU cost" in out
    assert "$45.00" in out and "5 x $3.00 + 1 x $15.00" in out  # a slip beside its working
    assert "The same scenario planned today" in out and "Verdict: use-api." in out


def test_json_is_one_object_of_the_four_sections():
    d = cli_json("seed")
    assert set(d) == SECTIONS
    assert d["bill"]["record"]["monthly_total_usd"] == pytest.approx(13_275)
    assert d["bill"]["record"]["multiplier"] == pytest.approx(13_275 / 5_100)
    slips = {r["api"]: r["daily_usd"] for r in d["slips"]["tables"]["slips"]}
    assert slips == pytest.approx({"Claude 3.5 Sonnet": 30.0, "Gemini 2.5 Flash": 1.35,
                                   "Together Llama 3.3 70B": 5.40, "Groq Llama 3.3 70B": 3.74})
    assert len(d["api"]["tables"]["api"]) == 6
    assert d["replan"]["record"]["verdict"] == "use-api"
    assert d["replan"]["record"]["deployment"]["gpu"]


def test_csv_is_one_table_with_a_column_naming_each_section():
    r = cli("seed", "--format", "csv")
    assert r.exit_code == 0, r.output
    rows = list(csv.DictReader(io.StringIO(r.stdout)))
    assert [k for k in rows[0]][0] == "table"
    assert {row["table"] for row in rows} == {"bill", "api", "slips", "replan", "today_bill"}
    bill = [row for row in rows if row["table"] == "bill"]
    assert sum(float(row["monthly_usd"]) for row in bill) == pytest.approx(13_275)
    slips = [float(row["daily_usd"]) for row in rows if row["table"] == "slips"]
    assert slips == pytest.approx([30.0, 1.35, 5.40, 3.74])


@pytest.mark.parametrize("suffix", [".json", ".csv", ".md", ".xlsx"])
def test_each_output_file(tmp_path, suffix):
    path = tmp_path / f"seed{suffix}"
    r = cli("seed", "-o", path)
    assert r.exit_code == 0, r.output
    assert f"wrote {path}" in r.stdout
    if suffix == ".json":
        assert set(json.loads(path.read_text())) == SECTIONS
    elif suffix == ".csv":
        assert path.read_text().startswith("table,")
    elif suffix == ".md":
        text = path.read_text()
        assert "## 3. The write-up's arithmetic slips, corrected" in text and "| Groq Llama 3.3 70B |" in text
    else:
        import openpyxl

        sheets = openpyxl.load_workbook(path, read_only=True).sheetnames
        assert sheets == ["bill", "api", "slips", "replan", "today_bill"]


def test_a_bad_output_suffix_is_one_line():
    out = cli_error("seed", "-o", "seed.txt")
    assert "seed report files are .json, .csv, .md, .xlsx" in out
