"""`inferplan plan --growth 8% --months 12` and `--pricing buy`: the growth and capex views from the CLI (issue 14,
deliverables 5 and 6), in a 100-column terminal, as JSON and as CSV; bad --growth / --months as one line."""

from __future__ import annotations

import io

import pandas as pd
import pytest
from rich.cells import cell_len
from typer.testing import CliRunner

from planner.growth import COLUMNS
from tests.helpers import cli, cli_error, cli_json

SMALL = ("llama-3.1-8b", "--gpu", "h100-sxm", "--quant", "fp8")
GROWTH = (*SMALL, "--growth", "8%", "--months", "12")


def _at_100_columns(*args: str) -> str:
    from planner.cli import app

    r = CliRunner().invoke(app, ["plan", *args], env={"COLUMNS": "100"})
    assert r.exit_code == 0, r.output
    too_wide = [line for line in r.stdout.splitlines() if cell_len(line) > 100]
    assert not too_wide, too_wide
    return r.stdout


def test_growth_table_fits_100_columns():
    out = _at_100_columns(*GROWTH)
    assert "Growth: +8.0% volume a month over 12 month(s)" in out
    assert "Commitment" in out and "Replicas stay at 1" in out


def test_capex_tables_fit_100_columns():
    out = _at_100_columns(*SMALL, "--pricing", "buy")
    assert all(t in out for t in ("Capex", "Depreciation", "Opex", "Total upfront", "Total opex"))
    assert "is an annuity" in out and "straight-line" in out


def test_growth_json_has_the_view():
    d = cli_json("plan", *GROWTH)
    view = d["views"]["growth"]
    assert view["record"]["months"] == 12 and view["record"]["growth_per_month"] == pytest.approx(0.08)
    rows = view["tables"]["growth"]
    assert [r["month"] for r in rows] == list(range(1, 13))
    assert rows[0]["self_host_usd"] == pytest.approx(d["monthly_total_cost"], rel=1e-12)
    assert rows[1]["tokens_per_day"] == pytest.approx(rows[0]["tokens_per_day"] * 1.08)
    assert {r["commitment"] for r in view["tables"]["commitment"]} >= {"reserved-1y", "on-demand only"}


def test_growth_csv_is_the_growth_table():
    r = cli("plan", *GROWTH, "--format", "csv")
    assert r.exit_code == 0, r.output
    table = pd.read_csv(io.StringIO(r.stdout))
    assert list(table.columns) == list(COLUMNS) and len(table) == 12


def test_months_without_growth_is_one_line():
    assert "--growth" in cli_error("plan", *SMALL, "--months", "12")


@pytest.mark.parametrize("flags, words", [(("--growth", "fast"), "--growth"), (("--growth", "150%"), "--growth"),
                                          (("--growth", "8%", "--months", "0"), "--months")])
def test_bad_growth_flags_are_one_line(flags, words):
    assert words in cli_error("plan", *SMALL, *flags)


def test_buying_shows_capex_depreciation_and_opex():
    d = cli_json("plan", *SMALL, "--pricing", "buy")
    view = d["views"]["capex"]
    assert set(view["tables"]) == {"capex", "depreciation", "opex"}
    dep = view["tables"]["depreciation"]
    assert dep[0]["start_book_usd"] == pytest.approx(d["capex"]["upfront_usd"])
    assert dep[-1]["end_book_usd"] == pytest.approx(d["capex"]["residual_usd"])
    assert view["tables"]["opex"][-1]["item"] == "Total opex"
    assert d["annual_total_cost"] == pytest.approx(12 * d["monthly_total_cost"])
