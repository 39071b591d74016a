"""`inferplan plan --hybrid --workload routes.yaml`: the per-route split from the CLI (planner.cmd_routes).

A small file (h100-sxm, fp8): one route that an API takes, one with data residency that is self-hosted.
"""

from __future__ import annotations

import csv
import io
import json

import pytest
from typer.testing import CliRunner

from tests.helpers import cli, cli_error, cli_json

ROUTES = """\
gpu: h100-sxm
quant: fp8
routes:
  - name: classify
    requests_per_day: 1M
    mean_input_tokens: 300
    mean_output_tokens: 5
    models: [llama-3.2-1b]
    tier: tiny
  - name: private-answers
    requests_per_day: 40k
    mean_input_tokens: 2000
    mean_output_tokens: 400
    models: [llama-3.1-8b]
    data_residency: true
"""
MAIN = ("route", "tokens_per_day", "destination", "kind", "monthly_usd", "cheapest_api_usd", "cheapest_self_host_usd",
        "why")


@pytest.fixture
def routes_file(tmp_path):
    path = tmp_path / "routes.yaml"
    path.write_text(ROUTES)
    return path


def test_table_fits_100_columns(routes_file, monkeypatch):
    """At COLUMNS=100 no line is longer, every default column shows, and no number or id is split across lines
    (every word of every shown cell appears whole on an output line; tests/cli/test_cli_width.py's check)."""
    from planner import render_rows
    from planner.cli import app

    seen, real = [], render_rows.fit_columns

    def recording(spec, width):
        layout = real(spec, width)
        seen.append((spec, layout))
        return layout

    monkeypatch.setattr(render_rows, "fit_columns", recording)
    r = CliRunner().invoke(app, ["plan", "--hybrid", "--workload", str(routes_file)], env={"COLUMNS": "100"})
    assert r.exit_code == 0, r.output
    lines = r.stdout.splitlines()
    assert max(len(line) for line in lines) <= 100
    assert len(seen) == 2 and all(not layout.left_out for _, layout in seen)  # routes and options, whole
    for spec, layout in seen:
        for c in layout.columns:
            for cell in spec[c][1]:
                for word in cell.split():
                    assert any(word in line for line in lines), (c, word)
    for words in ("Per-route split", "classify: API, the cheapest in tier tiny or above",
                  "private-answers: self-hosted, as data residency rules out shared APIs", "Total: $",
                  "billed as its own deployment", "All routes self-hosted"):
        assert words in r.stdout.replace("\n", " "), words


def test_json_holds_the_view(routes_file):
    d = cli_json("plan", "--hybrid", "--workload", routes_file)
    view = d["views"]["routes"]
    rows = {r["route"]: r for r in view["tables"]["routes"]}
    assert set(rows) == {"classify", "private-answers"}
    assert set(MAIN) <= set(rows["classify"])
    assert rows["classify"]["kind"] == "API" and rows["private-answers"]["kind"] == "self-host"
    assert rows["private-answers"]["cheapest_api_usd"] is None  # data residency: no API allowed
    assert view["record"]["total_monthly_usd"] == pytest.approx(sum(r["monthly_usd"] for r in rows.values()))
    assert view["lines"] and view["tables"]["options"]


def test_csv_is_the_routes_table(routes_file):
    r = cli("plan", "--hybrid", "--workload", routes_file, "--format", "csv")
    assert r.exit_code == 0, r.output
    rows = list(csv.DictReader(io.StringIO(r.stdout)))
    assert [row["route"] for row in rows] == ["classify", "private-answers"]
    assert set(MAIN) <= set(rows[0])


@pytest.mark.parametrize("suffix", [".json", ".csv", ".md", ".xlsx"])
def test_output_files(routes_file, tmp_path, suffix):
    out = tmp_path / f"split{suffix}"
    r = cli("plan", "--hybrid", "--workload", routes_file, "-o", out)
    assert r.exit_code == 0, r.output
    assert f"wrote {out}" in r.stdout.replace("\n", "")
    if suffix == ".json":
        assert set(json.loads(out.read_text())["views"]["routes"]["tables"]) == {"routes", "options"}
    elif suffix == ".csv":
        assert out.read_text().splitlines()[0].split(",")[:3] == ["route", "tokens_per_day", "destination"]
    elif suffix == ".md":
        text = out.read_text()
        assert text.startswith("# Per-route split") and "| route |" in text and "- Total: $" in text
    else:
        import openpyxl

        assert openpyxl.load_workbook(out).sheetnames == ["routes", "options"]


@pytest.mark.parametrize(("text", "words"), [
    ("routes:\n  - tokens_in_per_day: 5M\n", ":2, field 'name': a route needs a name"),
    ("routes:\n  - name: a\n    tokens_in_per_dya: 5M\n", ":3, field 'tokens_in_per_dya': unknown key"),
    ("routes:\n  - name: a\n    models: [lama-3.1-8b]\n", ":3, field 'models': Unknown model 'lama-3.1-8b'"),
    ("routes: []\n", ":1, field 'routes': 'routes' is a list of routes"),
])
def test_bad_route_files_are_one_line(tmp_path, text, words):
    path = tmp_path / "routes.yaml"
    path.write_text(text)
    out = cli_error("plan", "--hybrid", "--workload", path)
    assert f"{path}{words}" in out.replace("\n", "")


def test_bad_output_suffix_fails_before_planning(routes_file, tmp_path):
    out = cli_error("plan", "--hybrid", "--workload", routes_file, "-o", tmp_path / "split.txt")
    assert "plan files are .json, .csv, .xlsx, .md" in out
