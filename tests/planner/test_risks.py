"""Risks that are not line items (issue 19 item 5): numbers checked exactly, sources present, errors clear."""

import math

import pytest

from planner.buy import load_purchase
from planner.errors import PlannerError
from planner.redundancy import SEED_POLICY, plan_redundancy
from planner.risks import (
    RISK_COLUMNS,
    RISKS_FILE,
    PlanFacts,
    commitment_months,
    engineer_usd_per_hour,
    load_risks,
    opportunity_cost_monthly,
    risk_table,
    talent_engineer_usd_per_year,
    update_lag_months,
)
from planner.tco import (
    HOURS_WORKED_PER_YEAR,
    load_tco_defaults,
    seed_bill,
    tco_line_items,
    tco_summary,
    with_engineer_cost,
)
from planner.units import read_yaml
from planner.workload import DEFAULT_WORKLOAD
from profiler.errors import CatalogueError

GPU_BILL = 7_650.0  # seed §1: 5,100 primary + 2,550 failover
TOTAL = 13_275.0


def _facts(pricing="reserved-1y", **kw):
    return PlanFacts(**{"pricing": pricing, "gpu": "h100-sxm", "gpus": 3, "gpu_monthly_usd": GPU_BILL,
                        "self_host_monthly_usd": TOTAL, **kw})


def _row(table, id_):
    rows = table[table["id"] == id_]
    assert len(rows) == 1, f"{id_}: {len(rows)} rows"
    return rows.iloc[0]


@pytest.mark.parametrize("pricing, months", [("on-demand", 0), ("spot", 0), ("reserved-1y", 12), ("reserved-3y", 36)])
def test_committed_amount_is_the_gpu_bill_times_the_term(pricing, months):
    row = _row(risk_table(_facts(pricing)), "commitment")
    assert row["value"] == GPU_BILL * months  # exact: $91,800 for reserved-1y
    assert row["unit"] == "USD"
    if months:
        assert "$91,800" in row["what_it_means"] or "$275,400" in row["what_it_means"]
        assert "leaving early still pays it" in row["what_it_means"]
    else:
        assert "commits $0" in row["what_it_means"]


def test_buy_commits_the_depreciation_life_of_buy_py():
    life = load_purchase()[0].amortisation_years
    assert commitment_months("buy") == 12 * life == 48
    assert _row(risk_table(_facts("buy")), "commitment")["value"] == GPU_BILL * 12 * life
    assert commitment_months("buy", buy_life_years=5) == 60  # a --gpu-prices file's life is followed


def test_unknown_pricing_is_refused():
    with pytest.raises(PlannerError, match="reserved-1y"):
        commitment_months("reserved-2y")


def test_talent_mid_point_exact():
    assert talent_engineer_usd_per_year("us")[0] == (180_000 + 280_000) / 2 == 230_000
    usd, source = talent_engineer_usd_per_year("uk-london")
    assert usd == (100_000 + 150_000) / 2 * 1.2440
    assert usd == pytest.approx(155_500, abs=1e-6)
    assert "obitechjobs" in source and "base" in source
    assert talent_engineer_usd_per_year("germany-berlin")[0] == pytest.approx(127_500 * 1.0817, abs=1e-6)


def test_unknown_region_lists_the_known_ones():
    with pytest.raises(PlannerError) as exc:
        talent_engineer_usd_per_year("india")
    msg = str(exc.value)
    assert "unknown talent region 'india'" in msg
    for region in load_risks().talent.index:
        assert region in msg
    with pytest.raises(PlannerError, match="did you mean 'uk-london'"):
        risk_table(_facts(talent_region="uk-londn"))


def test_talent_row_shows_the_basis_in_use_and_the_region_range():
    row = _row(risk_table(_facts()), "talent")
    assert row["value"] == 192_000  # tco_defaults.yaml globals.engineer_usd_per_year
    assert "$180,000-$280,000" in row["what_it_means"] and "+46%" in row["what_it_means"]
    usd, _ = talent_engineer_usd_per_year("uk-london")
    row = _row(risk_table(_facts(talent_region="uk-london", engineer_usd_per_year=usd)), "talent")
    assert row["value"] == usd and "$124,400-$186,600" in row["what_it_means"]
    assert "--talent-region" in row["overridable_by"]


def test_opportunity_cost_is_hours_times_rate_and_absent_without_hours():
    assert opportunity_cost_monthly(20, 92.5) == 20 * 92.5
    rate = engineer_usd_per_hour(192_000)
    assert rate == 192_000 / 2_080 and load_risks().values["hours_worked_per_year"].value == HOURS_WORKED_PER_YEAR
    row = _row(risk_table(_facts(opportunity_hours_per_month=20)), "opportunity")
    assert row["value"] == 20 * (192_000 / 2_080)
    assert row["unit"] == "USD/month" and "$92.31/h" in row["what_it_means"]
    assert "--opportunity-hours" in row["overridable_by"]
    assert "opportunity" not in set(risk_table(_facts())["id"])
    with pytest.raises(PlannerError):
        opportunity_cost_monthly(-1, 90)


def test_update_lag_from_the_upgrade_events():
    up = load_tco_defaults().item("upgrades").params
    mean, worst = update_lag_months(up["events_per_year"], up["engineer_weeks_per_event"])
    assert mean == 12 / 2.5 / 2 + 3 / (52 / 12)  # 2.4 + 0.692 = 3.09 months
    assert worst == 12 / 2.5 + 3 / (52 / 12)
    assert _row(risk_table(_facts()), "update_lag")["value"] == mean
    assert update_lag_months(0, 3) == (math.inf, math.inf)
    assert update_lag_months(2.5, 3, 2)[0] == 2.4 + 1.5 / (52 / 12)


def test_spot_row_names_the_band_and_says_when_none_is_published():
    row = _row(risk_table(_facts("spot")), "spot")
    assert row["value"] == 0.20 and "15%-20%" in row["what_it_means"] and "runs on spot" in row["what_it_means"]
    row = _row(risk_table(_facts(gpu="h200")), "spot")
    assert math.isnan(row["value"]) and "no published" in row["what_it_means"]


def test_migration_row_prices_the_weeks():
    row = _row(risk_table(_facts()), "migration")
    assert row["value"] == 3 and f"${3 * 192_000 / 52:,.0f}" in row["what_it_means"]


def test_table_shape_and_every_row_sourced():
    table = risk_table(_facts(opportunity_hours_per_month=10))
    assert list(table.columns) == list(RISK_COLUMNS)
    assert list(table["id"]) == ["commitment", "migration", "spot", "talent", "opportunity", "update_lag"]
    for _, r in table.iterrows():
        assert len(r["source"]) > 10 and r["as_of"] and r["overridable_by"] and r["what_it_means"].endswith(".")


def test_every_packaged_entry_has_source_and_as_of():
    data = read_yaml(RISKS_FILE).data
    sections = [k for k in data if k != "schema_version"]
    assert sections
    for section in sections:
        for row in data[section]:
            assert str(row.get("source", "")).strip(), (section, row)
            assert str(row.get("as_of", "")).strip(), (section, row)


# ---- the people-cost basis ----


def _lines(defaults):
    red = plan_redundancy(4, DEFAULT_WORKLOAD.availability, SEED_POLICY)
    items = tco_line_items(4 * 2_550.0, 4, red.spare_gpus, 4, DEFAULT_WORKLOAD, defaults)
    return dict(zip(items["id"], items["monthly_usd"], strict=True))


def test_with_engineer_cost_scales_the_people_lines_in_proportion():
    base = load_tco_defaults()
    usd, source = talent_engineer_usd_per_year("us")
    scaled = with_engineer_cost(base, usd, source)
    assert scaled.globals["engineer_usd_per_year"] == usd and "talent region us" in scaled.globals[
        "engineer_usd_per_year_source"]
    assert base.globals["engineer_usd_per_year"] == 192_000  # the input is not changed
    before, after = _lines(base), _lines(scaled)
    assert before["upgrades"] > 0 and before["incidents"] > 0
    for item in ("mlops", "upgrades", "incidents"):
        assert after[item] == pytest.approx(before[item] * usd / 192_000, rel=1e-12), item
    for item in set(before) - {"mlops", "upgrades", "incidents"}:
        assert after[item] == before[item], item


def test_seed_bill_unchanged_when_not_used():
    assert tco_summary(seed_bill())[0] == pytest.approx(13_275, abs=0.005)
    same = with_engineer_cost(None, 192_000)
    assert tco_summary(seed_bill(same))[0] == pytest.approx(13_275, abs=0.005)
    with pytest.raises(PlannerError):
        with_engineer_cost(None, 0)


# ---- overrides and errors ----


def test_a_risks_file_overrides_the_fields_it_sets(tmp_path):
    f = tmp_path / "risks.yaml"
    f.write_text("talent:\n  - {region: us, low: 200000, high: 300000, currency: USD, usd_per_unit: 1, pay: total-comp,"
                 " as_of: 2026-12, source: our offers}\n"
                 "  - {region: india, low: 3000000, high: 4000000, currency: INR, usd_per_unit: 0.0121, pay: base,"
                 " as_of: 2026-12, source: our offers}\n")
    rk = load_risks(f)
    assert talent_engineer_usd_per_year("us", rk)[0] == 250_000
    assert talent_engineer_usd_per_year("india", rk)[0] == 3_500_000 * 0.0121
    assert talent_engineer_usd_per_year("uk-london", rk)[0] == talent_engineer_usd_per_year("uk-london")[0]


def test_bad_yaml_one_clear_error_with_file_and_line(tmp_path):
    f = tmp_path / "bad.yaml"
    f.write_text("talent:\n  - {region: us, low: 1\n")
    with pytest.raises(CatalogueError) as exc:
        load_risks(f)
    assert str(f) in str(exc.value) and exc.value.line is not None


@pytest.mark.parametrize("text, line, field", [
    ("values:\n  - {id: migration_engineer_weeks, value: -3, as_of: 2026, source: x}\n", 2, "value"),
    ("values:\n  - {id: migraton_engineer_weeks, value: 3, as_of: 2026, source: x}\n", 2, "id"),
    ("spot_interruption:\n  - {gpu: l4, instance: g6, low: 0.3, high: 0.1, as_of: 2026, source: x}\n", 2, "low"),
    ("commitments:\n  - {pricing: reserved-1y, months: 12, as_of: 2026}\n", 2, "source"),
    ("\n\ntalnt: []\n", 3, None),
])
def test_bad_entries_name_file_line_and_field(tmp_path, text, line, field):
    f = tmp_path / "bad.yaml"
    f.write_text(text)
    with pytest.raises(CatalogueError) as exc:
        load_risks(f)
    assert exc.value.file == str(f) and exc.value.line == line
    if field:
        assert exc.value.field == field
    assert "\n" not in str(exc.value)
