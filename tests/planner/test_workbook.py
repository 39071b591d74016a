"""The plan workbook (planner.workbook, `-o plan.xlsx`): its formulas, recomputed by tests/xlsx_eval.py as a
spreadsheet would, give the plan's numbers, and follow an input that changes as the planner's own re-pricing does."""

from __future__ import annotations

import dataclasses
import sys
from types import SimpleNamespace

import pandas as pd
import pytest

from tests.xlsx_eval import Evaluator, load

SMALL = dict(model="llama-3.1-8b", gpus=("h100-sxm",), quants=("fp8",))  # a plan of ~1 s
GPU_PRICED = ("gpu_primary", "gpu_failover", "gpu_instance_rounding", "guardrails")  # the guard runs on GPU time


def _plan(tmp_path_factory, **kw):
    from planner.api import PlanRequest, plan

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("INFERPLAN_HOME", str(tmp_path_factory.mktemp("home-wb")))
        return plan(PlanRequest(**kw))


def _write(plan, path, **kw):
    from planner.render import write_plan

    if kw:
        from planner.workbook import write_plan_workbook

        write_plan_workbook(plan, path, {"line_items": plan.line_items}, **kw)
    else:
        write_plan(plan, path)
    return load(path)


@pytest.fixture(scope="module")
def seed_book(seed_plan, tmp_path_factory) -> Evaluator:
    return _write(seed_plan, tmp_path_factory.mktemp("wb") / "plan.xlsx")


def _input(ev: Evaluator, key: str, sheet: str = "Inputs") -> str:
    """The value cell of the input whose key is `key` (column E)."""
    ws = ev.wb[sheet]
    return next(f"B{r}" for r in range(2, ws.max_row + 1) if ws[f"E{r}"].value == key)


def _total_row(ev: Evaluator, sheet: str = "Bill") -> int:
    ws = ev.wb[sheet]
    return next(r for r in range(2, ws.max_row + 1) if ws[f"A{r}"].value == "Total")


def _summary(ev: Evaluator) -> dict:
    ws = ev.wb["Summary"]
    return {ws[f"A{r}"].value: ev.value("Summary", f"B{r}") for r in range(2, ws.max_row + 1)}


def _check_lines(ev: Evaluator, plan) -> None:
    """Every bill line is a formula of the Inputs giving the plan's amount; no amount was copied in as planned."""
    ws = ev.wb["Bill"]
    for r, line in enumerate(plan.line_items.to_dict("records"), 2):
        assert ws[f"A{r}"].value == line["item"]
        assert ws[f"C{r}"].data_type == "f" and "Inputs!" in ws[f"C{r}"].value, line["id"]
        assert ev.value("Bill", f"C{r}") == pytest.approx(line["monthly_usd"], rel=1e-9, abs=1e-9), line["id"]
    keys = [row[4] for row in ev.wb["Inputs"].iter_rows(min_row=2, values_only=True) if row[4]]
    assert not [k for k in keys if k.endswith("as_planned")]


def test_the_bill_total_is_a_sum_of_formulas_giving_the_plan_total(seed_book, seed_plan):
    r = _total_row(seed_book)
    assert seed_book.wb["Bill"][f"C{r}"].value == f"=SUM(C2:C{r - 1})"
    assert seed_book.value("Bill", f"C{r}") == pytest.approx(seed_plan.monthly_total_cost, rel=1e-9)
    assert seed_book.value("Bill", f"D{r}") == pytest.approx(12 * seed_plan.monthly_total_cost, rel=1e-9)
    _check_lines(seed_book, seed_plan)


def test_doubling_the_gpu_price_adds_the_gpu_priced_lines_as_the_planner_reprices(seed_plan, catalogues, tmp_path):
    from planner.tco import tco_monthly_total

    ev = _write(seed_plan, tmp_path / "plan.xlsx")
    r, cell = _total_row(ev), _input(ev, "usd_per_gpu_hour")
    before = ev.value("Bill", f"C{r}")
    rate = ev.value("Inputs", cell)
    ev.set("Inputs", cell, 2 * rate)
    items = seed_plan.line_items
    gpu_lines = float(items.loc[items["id"].isin(GPU_PRICED), "monthly_usd"].sum())
    assert ev.value("Bill", f"C{r}") - before == pytest.approx(gpu_lines, rel=1e-9)
    d = seed_plan.deployment  # the planner's own bill at twice the rate, same deployment
    primary, spare = int(d["replicas"] * d["tp"]), int(d["spare_replicas"] * d["tp"])
    assert int(d["gpus_billed"]) == primary + spare  # no idle GPUs of whole instances to add
    again = tco_monthly_total(2 * rate * 730 * primary, primary, spare, int(d["replicas"]), seed_plan.workload,
                              catalogues.tco_defaults, gpu=catalogues.gpus[d["gpu"]])
    assert ev.value("Bill", f"C{r}") == pytest.approx(again, rel=1e-9)


def test_doubling_the_volume_moves_the_volume_lines_as_the_planner_does(seed_plan, catalogues, tmp_path):
    from planner.tco import VOLUME_BASES, tco_line_items

    ev = _write(seed_plan, tmp_path / "plan.xlsx")
    for key in ("tokens_in_per_day", "tokens_out_per_day", "requests_per_day"):
        cell = _input(ev, key)
        ev.set("Inputs", cell, 2 * ev.value("Inputs", cell))
    d = seed_plan.deployment
    primary, spare = int(d["replicas"] * d["tp"]), int(d["spare_replicas"] * d["tp"])
    again = tco_line_items(d["usd_per_gpu_hour"] * 730 * primary, primary, spare, int(d["replicas"]),
                           seed_plan.workload.scaled_to(2 * seed_plan.workload.tokens_per_day),
                           catalogues.tco_defaults, gpu=catalogues.gpus[d["gpu"]])
    moved = [it.id for it in catalogues.tco_defaults.items if it.basis in VOLUME_BASES - {"guard_model"}]
    assert moved  # network egress and the audit log grow with the volume
    for r, line_id in enumerate(seed_plan.line_items["id"], 2):
        if line_id in moved:
            want = float(again.loc[again["id"] == line_id, "monthly_usd"].iloc[0])
            assert ev.value("Bill", f"C{r}") == pytest.approx(want, rel=1e-9), line_id


def test_the_summary_recomputes_the_reference_api_and_the_ratio(seed_book, seed_plan):
    s = _summary(seed_book)
    ref = seed_plan.api[seed_plan.api["label"] == seed_plan.reference_api].iloc[0]
    assert s["reference API"] == seed_plan.reference_api
    assert s["reference API, monthly cost"] == pytest.approx(ref["monthly_cost"], rel=1e-9)
    assert s["API cost / self-hosted cost"] == pytest.approx(seed_plan.verdict.api_to_tco_ratio, rel=1e-9)
    assert s["monthly total"] == pytest.approx(seed_plan.monthly_total_cost, rel=1e-9)
    assert s["raw GPU cost (primary GPUs, monthly)"] == pytest.approx(seed_plan.monthly_gpu_cost, rel=1e-9)
    assert s["cost multiplier (total / raw GPU cost)"] == pytest.approx(seed_plan.tco_multiplier, rel=1e-9)
    assert s["self-hosting clears the margin"] == ("yes" if seed_plan.verdict.decision == "self-host" else "no")
    assert s["verdict"] == seed_plan.verdict.decision and s["reason 1"] == seed_plan.verdict.reasons[0]
    # the cached share is billed at the cached price: a what-if a finance lead can try in the sheet
    ev = seed_book
    ev.set("Inputs", _input(ev, "cached_input_fraction"), 1.0)
    from planner.api_costs import api_daily_cost
    from planner.units import DAYS_PER_MONTH

    w = seed_plan.workload
    want = api_daily_cost(w.tokens_in_per_day, w.tokens_out_per_day, ref["usd_per_mtok_in"], ref["usd_per_mtok_out"],
                          ref["usd_per_mtok_cached_in"], 1.0) * DAYS_PER_MONTH
    assert _summary(ev)["reference API, monthly cost"] == pytest.approx(want, rel=1e-9)
    ev.set("Inputs", _input(ev, "cached_input_fraction"), w.cached_input_fraction)


def test_headers_are_frozen_and_money_is_in_dollars(seed_book):
    wb = seed_book.wb
    assert wb.sheetnames[:3] == ["Inputs", "Bill", "Summary"] and wb.active.title == "Summary"
    assert all(wb[name].freeze_panes == "A2" for name in wb.sheetnames)
    bill = wb["Bill"]
    assert bill["A1"].font.b and bill[f"A{_total_row(seed_book)}"].font.b
    assert {bill[f"{c}{r}"].number_format for c in "CD" for r in range(2, bill.max_row + 1)} == {'"$"#,##0'}
    assert "$" in wb["Inputs"][_input(seed_book, "usd_per_gpu_hour")].number_format
    api = wb["api"]
    col = next(c.column_letter for c in api[1] if c.value == "monthly_cost")
    assert "$" in api[f"{col}2"].number_format
    assert bill.column_dimensions["E"].width == 60  # the basis wraps at 60 characters, the money stays in view


def test_the_detail_tables_keep_their_sheet_names_and_values(seed_book, seed_plan):
    names = seed_book.wb.sheetnames
    assert names[3:] == ["line_items", "redundancy", "api", "alternatives", "cost_curve", "framework", "risks",
                         "price_trends"]
    ws = seed_book.wb["line_items"]
    col = next(c.column_letter for c in ws[1] if c.value == "monthly_usd")
    assert sum(ws[f"{col}{r}"].value for r in range(2, ws.max_row + 1)) == pytest.approx(seed_plan.monthly_total_cost)


@pytest.mark.parametrize("case", ["existing-infra", "compliance-and-cache", "buy", "talent-region"])
def test_other_plans_bill_by_formula_too(case, tmp_path_factory, tmp_path):
    from planner.workload import DEFAULT_WORKLOAD as W

    kw = {"existing-infra": dict(workload=dataclasses.replace(W, existing_infra=True)),
          "compliance-and-cache": dict(workload=dataclasses.replace(W, compliance_on_api=True,
                                                                    cached_input_fraction=0.3)),
          "buy": dict(pricing=("buy",)), "talent-region": dict(talent_region="us")}[case]
    p = _plan(tmp_path_factory, **SMALL, **kw)
    ev = _write(p, tmp_path / "plan.xlsx")
    _check_lines(ev, p)
    assert ev.value("Bill", f"C{_total_row(ev)}") == pytest.approx(p.monthly_total_cost, rel=1e-9)
    ref = p.api[p.api["label"] == p.reference_api].iloc[0]
    assert _summary(ev)["reference API, monthly cost"] == pytest.approx(ref["monthly_cost"], rel=1e-9)
    if case == "buy":  # the capex view's tables, each on its own sheet
        assert {n for n in ev.wb.sheetnames if n.startswith("capex ")} == {
            f"capex {t}" for v in p.views if v.name == "capex" for t in v.tables}


def test_a_bill_the_defaults_do_not_reproduce_shows_its_amount_as_an_input(tmp_path_factory, tmp_path):
    from planner.plan import load_catalogues

    tco = tmp_path / "tco.yaml"
    tco.write_text("items:\n  - id: monitoring\n    unit_usd: 210\n")
    p = _plan(tmp_path_factory, **SMALL, tco=tco)
    # other defaults than the plan's (the packaged $105 a host, not the file's $210): that line is an input
    ev = _write(p, tmp_path / "plan.xlsx", defaults=load_catalogues().tco_defaults)
    r = 2 + list(p.line_items["id"]).index("monitoring")
    assert ev.wb["Bill"][f"C{r}"].value == f"=Inputs!$B${_input(ev, 'monitoring.as_planned')[1:]}"
    assert ev.value("Bill", f"C{_total_row(ev)}") == pytest.approx(p.monthly_total_cost, rel=1e-9)
    given = _write(p, tmp_path / "given.xlsx", defaults=load_catalogues(tco=tco).tco_defaults)
    _check_lines(given, p)  # given the defaults it was billed with, every line is a formula again
    _check_lines(_write(p, tmp_path / "own.xlsx"), p)  # and by default: the plan carries them (Plan.tco_defaults)


def test_the_growth_view_grows_the_volume_by_formula(tmp_path_factory, tmp_path):
    p = _plan(tmp_path_factory, **SMALL, growth_per_month=0.08, months=6)
    ev = _write(p, tmp_path / "plan.xlsx")
    table = next(v for v in p.views if v.name == "growth").main
    ws = ev.wb["growth growth"]
    head = [c.value for c in ws[1]]
    tcol = ws.cell(row=1, column=head.index("tokens_per_day") + 1).column_letter
    gcell = f"{ws.cell(row=1, column=head.index('growth per month') + 1).column_letter}2"
    assert ws[f"{tcol}3"].data_type == "f" and ev.value("growth growth", gcell) == pytest.approx(0.08)
    for r, want in enumerate(table["tokens_per_day"], 2):
        assert ev.value("growth growth", f"{tcol}{r}") == pytest.approx(want, rel=1e-9)
    total = len(table) + 2
    assert ws[f"A{total}"].value == "Total"
    scol = ws.cell(row=1, column=head.index("self_host_usd") + 1).column_letter
    assert ev.value("growth growth", f"{scol}{total}") == pytest.approx(table["self_host_usd"].sum(), rel=1e-9)
    ev.set("growth growth", gcell, 0.10)
    assert ev.value("growth growth", f"{tcol}{total - 1}") == pytest.approx(table["tokens_per_day"].iloc[0] * 1.1 ** 5)


def test_view_sheets_are_named_view_then_table_short_and_unique(seed_plan, tmp_path):
    from planner.views import View

    df = pd.DataFrame({"month": [1, 2], "start_book_usd": [10.0, 5.0], "spend_usd": [3.0, 4.0], "note": ["a", None]})
    views = (View("budget-of-a-long-name", "t", {"x" * 40: df, "x" * 41: df}), View("a:b", "t", {"c?d": df}))
    ev = _write(dataclasses.replace(seed_plan, views=views), tmp_path / "plan.xlsx")
    names = ev.wb.sheetnames[-3:]
    assert names == [f"budget-of-a-long-name {'x' * 9}", f"budget-of-a-long-name {'x' * 7} 2", "a b c d"]
    ws = ev.wb[names[0]]
    assert [c.value for c in ws[4]] == ["Total", None, "=SUM(C2:C3)", None]  # a book value is held, not spent
    assert ev.value(names[0], "C4") == 7.0


def test_the_scenarios_workbook_compares_the_scenarios_bills(seed_plan, tmp_path_factory, tmp_path):
    from planner.workbook import write_scenarios_workbook

    small = _plan(tmp_path_factory, **SMALL)
    plans = (("Today, 1-year reserved", seed_plan, ""), ("A small model: llama 8B on H100", small, ""),
             ("Too big", None, "nothing fits"))
    rows = [{"scenario": n, "model": p.model if p else "x", "monthly_total_usd": p.monthly_total_cost if p else None,
             "annual_total_usd": 12 * p.monthly_total_cost if p else None,
             "monthly_gpu_usd": p.monthly_gpu_cost if p else None, "tco_multiplier": p.tco_multiplier if p else None,
             "api_monthly_usd": float(p.api.loc[p.api["label"] == p.reference_api, "monthly_cost"].iloc[0])
             if p else None, "verdict": p.verdict.decision if p else "no plan", "note": note} for n, p, note in plans]
    path = tmp_path / "scenarios.xlsx"
    write_scenarios_workbook(SimpleNamespace(plans=plans, comparison=pd.DataFrame(rows)), path)
    ev = load(path)
    assert ev.wb.sheetnames[0] == "Comparison" and all(len(n) <= 31 for n in ev.wb.sheetnames)
    assert len(ev.wb.sheetnames) == 5  # Comparison, then inputs and bill of the two planned scenarios
    ws = ev.wb["Comparison"]
    head = [c.value for c in ws[1]]
    for r, row in enumerate(rows, 2):
        for col in ("monthly_total_usd", "annual_total_usd", "monthly_gpu_usd", "tco_multiplier", "api_monthly_usd"):
            cell = ws.cell(row=r, column=head.index(col) + 1)
            if row[col] is None:
                assert cell.value is None
            else:
                assert cell.data_type == "f", col
                assert ev.value("Comparison", cell.coordinate) == pytest.approx(row[col], rel=1e-9), col


def test_without_openpyxl_the_error_says_how_to_install_it(seed_plan, tmp_path, monkeypatch):
    from planner.workbook import write_plan_workbook
    from profiler.errors import InferplanError

    monkeypatch.setitem(sys.modules, "openpyxl", None)
    with pytest.raises(InferplanError, match=r"writing \.xlsx needs openpyxl: pip install 'inferplan\[report\]'"):
        write_plan_workbook(seed_plan, tmp_path / "plan.xlsx", {})


def test_a_failed_save_leaves_the_old_file_and_no_temporary_one(seed_plan, tmp_path, monkeypatch):
    import openpyxl

    from planner.workbook import write_plan_workbook

    path = tmp_path / "plan.xlsx"
    path.write_bytes(b"the old file")

    def broken(self, filename):
        open(filename, "wb").write(b"half")
        raise OSError("disk full")

    monkeypatch.setattr(openpyxl.Workbook, "save", broken)
    with pytest.raises(OSError, match="disk full"):
        write_plan_workbook(seed_plan, path, {})
    assert path.read_bytes() == b"the old file" and [p.name for p in tmp_path.iterdir()] == ["plan.xlsx"]


def test_the_evaluator_reads_formulas_as_a_spreadsheet_does():
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.title = "Data sheet"
    ws["A1"], ws["A2"], ws["A3"] = 2, 3, "=SUM(A1:A2,10)"
    other = wb.create_sheet("Calc")
    cells = {"A1": "=-A2^2", "A2": 2, "A3": "=2+3*4^2", "A4": "='Data sheet'!A3/5", "A5": "=ROUNDUP(2.01,0)",
             "A6": '=IF(A3>=50,"yes","no")', "A7": "=MAX(1,MIN(4,A2*3))", "A8": "=(1+2)*3-4/2", "A9": "=1E-9*1E9"}
    for k, v in cells.items():
        other[k] = v
    ev = Evaluator(wb)
    got = [ev.value("Calc", f"A{i}") for i in (1, 3, 4, 5, 6, 7, 8, 9)]
    assert got == [4.0, 50.0, 3.0, 3.0, "yes", 4.0, 7.0, 1.0]  # unary minus binds before ^, as in Excel
