"""Every command's default terminal output at 100 columns: no line longer, no number or id broken across lines.

Each command runs in-process with COLUMNS=100 (what a 100-column terminal exports); every table it prints passes
through planner.render_rows.fit_columns, which the test wraps to learn each shown column's formatted cells. A
cell without a space (a number, an id, a date) must then appear whole on one output line, and so must every word
of a wrapped text cell: a number folded mid-digit ('1,5' / '72.0') or an id split ('llama-3' / '.1-8b') fails.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from rich.cells import cell_len
from typer.testing import CliRunner

from planner import render_rows
from tests.cli.test_cli_calibrate import measured_profile

WIDTH = 100

# one default invocation per command (small runs where a command simulates; the defaults otherwise)
COMMANDS = {
    "models": ["models"],
    "quants": ["quants"],
    "gpus": ["gpus"],
    "profile": ["profile", "llama-3.1-8b"],
    "compare": ["compare"],
    "plan": ["plan"],
    "crossover": ["crossover"],
    "simulate": ["simulate", "llama-3.1-8b", "--rate", "2/s", "--duration", "1m"],
    "throughput": ["throughput", "llama-3.1-8b", "--input-tokens", "1000", "--output-tokens", "200"],
    "calibrate": ["calibrate"],  # the measured file and -o are added below
    "seed": ["seed"],
    "sensitivity": ["sensitivity", "llama-3.1-8b", "--gpu", "h100-sxm", "--quant", "fp8", "--inputs",
                    "gpu-price,volume,standby"],
    "scenarios": ["scenarios", str(Path(__file__).resolve().parents[2] / "examples" / "scenarios.yaml")],
    "plan-views": ["plan", "llama-3.1-8b", "--gpu", "h100-sxm", "--quant", "fp8", "--pricing", "buy", "--hybrid",
                   "--growth", "8%", "--months", "6"],  # the budget views under the plan
    "profile-laptop": ["profile", "llama-3.1-8b", "--gpu", "m3-pro", "--quant", "q4_k_m,q8_0", "--batch", "1"],
    "plan-consumer": ["plan", "llama-3.1-8b", "--gpu", "rtx-4090", "--quant", "q4_k_m", "--pricing", "on-demand"],
    # URL added by the test: the fake OpenAI server (tests/endpoint/fake_server.py), with /metrics for the 2nd table
    "endpoint": ["endpoint", "--input-tokens", "40", "--output-tokens", "8", "--requests", "8", "--concurrency",
                 "1,4", "--ttft-p99", "500", "--tpot-p99", "50"],
}


def _run(args: list[str], monkeypatch, width: int = WIDTH):
    from planner.cli import app

    seen = []
    real = render_rows.fit_columns

    def recording(spec, w):
        layout = real(spec, w)
        seen.append((spec, layout))
        return layout

    monkeypatch.setattr(render_rows, "fit_columns", recording)
    result = CliRunner().invoke(app, args, env={"COLUMNS": str(width)})
    assert result.exit_code == 0, result.output
    return result.stdout, seen


def _args(name: str, tmp_path) -> list[str]:
    if name != "calibrate":
        return COMMANDS[name]
    src, _ = measured_profile(tmp_path)
    return ["calibrate", str(src), "-o", str(tmp_path / "cal.yaml")]


def _whole(text: str, lines: list[str]) -> bool:
    return any(text in line for line in lines)


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_default_output_fits_100_columns_and_never_breaks_a_number_or_an_id(name, tmp_path, monkeypatch):
    if name == "endpoint":
        from tests.endpoint.fake_server import serve_in_thread

        with serve_in_thread(ttft_ms=200, itl_ms=20) as url:  # long enough for a /metrics scrape in each point
            args = COMMANDS[name]
            out, tables = _run([args[0], url, *args[1:]], monkeypatch)
    else:
        out, tables = _run(_args(name, tmp_path), monkeypatch)
    lines = out.splitlines()
    too_long = [line for line in lines if cell_len(line.rstrip()) > WIDTH]
    assert not too_long, f"{len(too_long)} lines over {WIDTH} columns, e.g. {too_long[0]!r}"
    assert tables, "the command printed no table"
    checked = 0
    for spec, layout in tables:
        for col in layout.columns:
            _, cells, _ = spec[col]
            for cell in cells:
                words = [cell] if col in layout.unbroken else \
                    [w for w in cell.split() if len(w) <= render_rows.PROSE_WORD_MAX]
                for word in words:
                    if len(word) >= 3:  # a break needs at least 2 characters on one side and 1 on the other
                        assert _whole(word, lines), f"{name}: {col} cell {word!r} is broken across lines"
                        checked += 1
    assert checked >= 5  # the check saw the tables' cells


def test_wide_shows_every_column_at_full_width(monkeypatch):
    out, tables = _run(["models", "--wide"], monkeypatch)
    [(spec, layout)] = tables
    assert not layout.left_out and set(layout.columns) == set(spec)  # nothing left out
    assert "max_context" in out and "params_active_excl_embedding" in out  # headers unbroken
    default_out, [(_, default_layout)] = _run(["models"], monkeypatch)
    assert "params_active_excl_embedding" not in _header_text(default_out)
    assert "Not shown: model_type, layers, hidden, params_active_excl_embedding" in " ".join(default_out.split())
    assert set(default_layout.columns) < set(layout.columns)


def _header_text(out: str) -> str:
    return "".join(line for line in out.splitlines() if line.startswith("┃"))


def test_columns_picks_the_table_columns_and_refuses_an_unknown_one(monkeypatch):
    out, [(_, layout)] = _run(["models", "--columns", "name,kv_bytes_per_token"], monkeypatch)
    assert layout.columns == ("name", "kv_bytes_per_token")
    assert "llama-3.1-8b" in out and "128.0 KiB" in out and "attention" not in _header_text(out)
    from tests.helpers import cli_error

    message = cli_error("models", "--columns", "name,nope")
    assert "no column 'nope'" in message and "kv_bytes_per_token" in message


def test_a_narrow_terminal_leaves_columns_out_and_says_which(monkeypatch):
    out, [(spec, layout)] = _run(["profile", "llama-3.1-8b"], monkeypatch, width=60)
    hidden = [c for c in spec if c not in layout.columns]
    assert hidden and layout.columns[0] == "quant"  # the row's key stays
    assert "Not shown at 60 columns" in out and hidden[-1] in out
    assert all(cell_len(line.rstrip()) <= 60 for line in out.splitlines() if "│" in line or "┃" in line)


def test_fit_columns_gives_spare_width_to_text_and_keeps_numbers_whole():
    spec = {"id": ("id", ["h100-sxm", "a100-80gb"], False),
            "monthly_usd": ("monthly_usd", ["$12,588", "$2,044"], True),
            "basis": ("basis", ["one two three four five six seven eight nine ten " * 3] * 2, False)}
    layout = render_rows.fit_columns(spec, 60)
    assert layout.columns == ("id", "monthly_usd", "basis") and not layout.left_out
    assert layout.widths["id"] >= len("a100-80gb") and layout.widths["monthly_usd"] >= len("$12,588")
    assert sum(layout.widths.values()) + 3 * 3 + 1 <= 60  # the whole table fits
    assert layout.headers["monthly_usd"] in ("monthly_usd", "monthly_\nusd")
    assert {"id", "monthly_usd"} <= layout.unbroken and "basis" not in layout.unbroken


def test_piped_output_is_100_wide_without_columns_and_keeps_sentences_on_one_line(monkeypatch):
    monkeypatch.delenv("COLUMNS", raising=False)
    assert render_rows.terminal_width() == render_rows.PIPED_WIDTH
    console = render_rows.console()
    assert console.width == 100 and console.soft_wrap  # prose is not wrapped for grep
    monkeypatch.setenv("COLUMNS", "120")
    assert render_rows.terminal_width() == 120 and not render_rows.console().soft_wrap
