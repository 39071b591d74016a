"""`inferplan plan -o plan.xlsx`: the workbook's formulas, recomputed (tests/xlsx_eval.py), give the plan printed."""

from __future__ import annotations

import pytest

from tests.helpers import cli_json
from tests.xlsx_eval import load

SMALL = ("plan", "llama-3.1-8b", "--gpu", "h100-sxm", "--quant", "fp8")  # a plan of ~1 s


def _value(ev, sheet: str, label: str):
    ws = ev.wb[sheet]
    return next(ev.value(sheet, f"B{r}") for r in range(2, ws.max_row + 1) if ws[f"A{r}"].value == label)


def test_plan_writes_a_workbook_whose_formulas_give_the_plan(tmp_path):
    path = tmp_path / "plan.xlsx"
    d = cli_json(*SMALL, "-o", path)
    ev = load(path)
    assert ev.wb.sheetnames[:4] == ["Inputs", "Bill", "Summary", "line_items"]
    bill = ev.wb["Bill"]
    total = next(r for r in range(2, bill.max_row + 1) if bill[f"A{r}"].value == "Total")
    assert [bill[f"A{r}"].value for r in range(2, total)] == [li["name"] for li in d["line_items"]]
    for r, li in enumerate(d["line_items"], 2):
        assert bill[f"C{r}"].data_type == "f"
        assert ev.value("Bill", f"C{r}") == pytest.approx(li["monthly_cost"], rel=1e-9, abs=1e-9)
    assert ev.value("Bill", f"C{total}") == pytest.approx(d["monthly_total_cost"], rel=1e-9)
    assert ev.value("Bill", f"D{total}") == pytest.approx(d["annual_total_cost"], rel=1e-9)
    assert _value(ev, "Summary", "monthly total") == pytest.approx(d["monthly_total_cost"], rel=1e-9)
    assert _value(ev, "Summary", "verdict") == d["verdict"]
    ref = _value(ev, "Summary", "reference API")
    api = next(a for a in d["api"] if f"{a['provider']} / {a['model']}" == ref)
    assert _value(ev, "Summary", "reference API, monthly cost") == pytest.approx(api["monthly_cost"], rel=1e-9)


def test_a_growth_plan_adds_its_view_sheets(tmp_path):
    path = tmp_path / "plan.xlsx"
    d = cli_json(*SMALL, "--growth", "8%/month", "--months", "4", "-o", path)
    ev = load(path)
    tables = d["views"]["growth"]["tables"]
    assert [n for n in ev.wb.sheetnames if n.startswith("growth ")] == [f"growth {t}" for t in tables]
    ws = ev.wb["growth growth"]
    months = tables["growth"]
    head = [c.value for c in ws[1]]
    col = ws.cell(row=1, column=head.index("tokens_per_day") + 1).column_letter
    assert [ev.value("growth growth", f"{col}{r}") for r in range(2, len(months) + 2)] == pytest.approx(
        [m["tokens_per_day"] for m in months], rel=1e-9)
    assert ws[f"{col}3"].data_type == "f"  # month 2 = month 1 x (1 + growth per month)
