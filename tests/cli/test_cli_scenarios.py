"""`inferplan scenarios FILE`: the comparison table at 100 columns, JSON / CSV, -o files and one-line errors.

The file plans llama-3.1-8b on h100-sxm fp8 only (about a second a scenario), with one scenario nothing can serve.
"""

from __future__ import annotations

import csv
import io
import json

import pytest
from rich.cells import cell_len

from planner.cmd_scenarios import TABLE_COLUMNS
from planner.scenarios import COLUMNS
from tests.helpers import cli, cli_error, cli_json

SMALL = """\
defaults:
  model: llama-3.1-8b
  gpu: h100-sxm
  quant: fp8
  tokens_in_per_day: 5M
  tokens_out_per_day: 1M
scenarios:
  - name: Today, reserved-1y
  - name: Answers in 1 ms
    tpot_p99: 1ms          # below one sequence's decode step: nothing can serve it
  - name: On-demand at 3x the volume
    pricing: on-demand
    volume_factor: 3
"""


@pytest.fixture
def small(write_file):
    return write_file("scenarios.yaml", SMALL)


def test_table_fits_100_columns(small, monkeypatch):
    monkeypatch.setenv("COLUMNS", "100")
    r = cli("scenarios", small)
    assert r.exit_code == 0, r.output
    lines = r.stdout.splitlines()
    assert max(cell_len(line) for line in lines) <= 100
    header = "\n".join(lines[:6])
    for col in ("scenario", "pricing", "verdict"):
        assert col in header
    assert "Not shown:" in r.stdout and "reference_api" in r.stdout  # --wide's columns named
    assert "No plan for 'Answers in 1 ms': no configuration of llama-3.1-8b" in r.stdout.replace("\n", " ")
    assert "2 of 3 scenarios planned" in r.stdout
    assert "On-demand at 3x the" in r.stdout and "no plan" in r.stdout


def test_wide_shows_every_column(small):
    r = cli("scenarios", small, "--wide")
    assert r.exit_code == 0, r.output
    for col in ("reference_api", "tco_multiplier", "annual_total_usd"):
        assert col in r.stdout
    assert set(TABLE_COLUMNS) <= set(COLUMNS)


def test_json_has_the_comparison_and_each_plan(small):
    out = cli_json("scenarios", small)
    rows, plans = out["comparison"], out["plans"]
    assert [r["scenario"] for r in rows] == ["Today, reserved-1y", "Answers in 1 ms", "On-demand at 3x the volume"]
    assert list(rows[0]) == list(COLUMNS)
    assert plans["Answers in 1 ms"] is None and rows[1]["verdict"] == "no plan"
    for row in (rows[0], rows[2]):
        p = plans[row["scenario"]]
        assert p["monthly_total_cost"] == pytest.approx(row["monthly_total_usd"])
        assert p["annual_total_cost"] == pytest.approx(row["annual_total_usd"])
        assert (p["gpu"], p["pricing"], p["gpus_total"]) == (row["gpu"], row["pricing"], row["gpus_total"])
        assert p["verdict"] == row["verdict"]
    assert rows[2]["tokens_per_day"] == pytest.approx(3 * rows[0]["tokens_per_day"])


def test_csv_is_the_comparison(small):
    r = cli("scenarios", small, "--format", "csv")
    assert r.exit_code == 0, r.output
    table = list(csv.DictReader(io.StringIO(r.stdout)))
    assert list(table[0]) == list(COLUMNS)
    assert [t["verdict"] == "no plan" for t in table] == [False, True, False]
    assert float(table[2]["annual_total_usd"]) == pytest.approx(12 * float(table[2]["monthly_total_usd"]))


def test_output_files(small, tmp_path):
    for suffix in (".json", ".csv", ".md"):
        out = tmp_path / f"s{suffix}"
        r = cli("scenarios", small, "-o", out)
        assert r.exit_code == 0, r.output
        assert f"wrote {out}" in r.stdout.replace("\n", "")
    assert json.loads((tmp_path / "s.json").read_text())["plans"]["Answers in 1 ms"] is None
    assert (tmp_path / "s.csv").read_text().splitlines()[0] == ",".join(COLUMNS)
    md = (tmp_path / "s.md").read_text()
    assert "## On-demand at 3x the volume" in md and "No plan: no configuration" in md


def test_xlsx_has_a_sheet_per_planned_scenario_and_a_comparison(small, tmp_path):
    openpyxl = pytest.importorskip("openpyxl")
    out = tmp_path / "s.xlsx"
    r = cli("scenarios", small, "-o", out)
    assert r.exit_code == 0, r.output
    book = openpyxl.load_workbook(out)
    assert "Comparison" in book.sheetnames
    others = [s for s in book.sheetnames if s != "Comparison"]
    for name in ("Today, reserved-1y", "On-demand at 3x the"):
        assert any(s.startswith(name[:20]) for s in others), book.sheetnames
    assert not any(s.startswith("Answers in 1 ms") for s in others)  # no plan, no sheet
    rows = list(book["Comparison"].iter_rows(values_only=True))
    assert any("Answers in 1 ms" in row for row in rows)


@pytest.mark.parametrize(("text", "expected"), [
    ("scenarios:\n  - model: llama-3.1-8b\n", "scenarios.yaml:2: scenario 1 has no name"),
    ("scenarios:\n  - name: a\n  - name: a\n", "scenarios.yaml:3, entry 'a': scenario name 'a' is used twice"),
    ("scenarios:\n  - name: a\n    regoin: us\n", "unknown key 'regoin' (did you mean 'region'?)"),
    ("scenarios:\n  - name: a\n    model: llama-3.3-7b\n", "Unknown model 'llama-3.3-7b'. Did you mean: llama-3.3-70b"),
])
def test_bad_files_are_one_line(write_file, text, expected):
    path = write_file("scenarios.yaml", text)
    assert expected in cli_error("scenarios", path)


def test_bad_output_suffix_fails_before_planning(small, tmp_path):
    out = cli_error("scenarios", small, "-o", tmp_path / "s.txt")
    assert "scenario files are .xlsx, .csv, .json, .md" in out


def test_missing_file_is_one_line(tmp_path):
    assert "no-such.yaml" in cli_error("scenarios", tmp_path / "no-such.yaml")
