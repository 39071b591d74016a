"""`inferplan calibrate`: it fits measured rows only (recovering known efficiencies: test_cli_calibrate.py),
warns when a fitted factor sits at its clipping limit, checks its output path before fitting, and says where the
fit went and who reads it.

The "measured" profiles here are analytic llama-3.1-8b sweeps relabelled measured, so the efficiencies that made
them are known: bandwidth 0.8 and compute 0.6 (the h100-sxm/bf16 defaults recorded in their metadata).
"""

import json
import os
from pathlib import Path

import pytest
import yaml

from tests.helpers import cli, cli_error, cli_json

ANALYTIC_REFUSAL = "holds analytic rows; calibrate needs a measured profile: inferplan profile MODEL --measure -o FILE"


def _sweep(tmp_path, name: str, source: str | None = "measured", decode_scale: float = 1.0) -> Path:
    """An analytic llama-3.1-8b sweep (batches 1, 8, 64 x contexts 1024, 8192) written to `name`, its decode
    latencies multiplied by `decode_scale` and its rows relabelled `source` (None: left analytic)."""
    from profiler import api
    from profiler.schema import write_profile

    df, meta = api.profile(api.ProfileRequest(model="llama-3.1-8b", batches=(1, 8, 64), contexts=(1024, 8192)))
    dec = df["phase"] == "decode"
    df.loc[dec, "latency_ms"] = df.loc[dec, "latency_ms"] * decode_scale
    if source:
        df["source"] = source
    path = tmp_path / name
    write_profile(df, path, meta)
    return path


def _home() -> Path:
    return Path(os.environ["INFERPLAN_HOME"])  # a private folder per test (tests/conftest.py)


# ---- what is fitted --------------------------------------------------------------------------------------------


def test_calibrating_an_analytic_profile_is_refused_and_nothing_becomes_calibrated(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert cli("profile", "llama-3.1-8b", "-o", "a.csv").exit_code == 0
    assert cli_error("calibrate", "a.csv").strip() == f"error: a.csv {ANALYTIC_REFUSAL}"
    assert not (_home() / "calibration.yaml").exists()
    assert {row["source"] for row in cli_json("profile", "llama-3.1-8b")} == {"analytic"}


def test_a_calibrated_profile_is_not_a_measurement_either(tmp_path):
    out = cli_error("calibrate", _sweep(tmp_path, "c.csv", "calibrated"), "-o", tmp_path / "cal.yaml")
    assert "holds calibrated rows; calibrate needs a measured profile" in out
    assert not (tmp_path / "cal.yaml").exists()


def test_a_mixed_file_fits_its_measured_rows_only_and_says_what_it_left_out(tmp_path):
    from profiler.schema import read_profile, write_profile

    df, meta = read_profile(_sweep(tmp_path, "m.csv"))
    mixed = df.copy()
    decode = mixed.index[mixed["phase"] == "decode"]
    mixed.loc[decode[:2], "source"] = "analytic"  # two of the six decode rows
    write_profile(mixed, tmp_path / "mixed.csv", meta)
    r = cli("calibrate", tmp_path / "mixed.csv", "-o", tmp_path / "cal.yaml", "--format", "json")
    assert r.exit_code == 0, r.output
    (row,) = json.loads(r.stdout)
    fitted = (mixed["phase"] == "decode") & (mixed["status"] == "ok") & (mixed["source"] == "measured")
    assert row["decode_points"] == int(fitted.sum()) < int(((df["phase"] == "decode") & (df["status"] == "ok")).sum())
    assert "left out 2 analytic row(s); only measured rows are fitted" in r.stderr


def test_calibrate_refuses_to_save_a_fit_at_its_clipping_limit_without_force(tmp_path):
    from profiler.analytic.calibration import ETA_RANGE

    # decode 5x faster than the model: it is off by 1/0.2 - 1 = 400 %, and a bandwidth efficiency of
    # 0.8 / 0.2 = 4 would be needed, above the accepted upper limit ETA_RANGE[1] = 2
    measured = _sweep(tmp_path, "m.csv", decode_scale=0.2)
    refused = cli("calibrate", measured, "-o", tmp_path / "c.yaml")
    assert refused.exit_code == 1 and refused.output.count("\n") == 1, refused.output
    assert refused.output.startswith(f"error: not saved: h100-sxm/bf16: fitted bandwidth efficiency {ETA_RANGE[1]:g} "
                                     "sits at the clipping limit")
    assert refused.output.rstrip().endswith("pass --force to save it anyway")
    assert not (tmp_path / "c.yaml").exists()
    r = cli("calibrate", measured, "-o", tmp_path / "c.yaml", "--force")
    assert r.exit_code == 0, r.output
    assert "h100-sxm/bf16 fit error (median abs): decode 400.0% -> " in r.output
    warning = next(x for x in r.output.splitlines() if x.startswith("warning:"))
    assert warning.startswith(f"warning: h100-sxm/bf16: fitted bandwidth efficiency {ETA_RANGE[1]:g} sits at the "
                              f"clipping limit {ETA_RANGE[1]:g}")
    assert yaml.safe_load((tmp_path / "c.yaml").read_text())["calibrations"]["h100-sxm"]["bf16"]["bandwidth"] == 2.0


@pytest.mark.parametrize("path, says", [
    ("p.csv/x.yaml", "error: cannot write p.csv/x.yaml: p.csv is a file, not a folder"),
    ("/proc/x.yaml", "error: cannot write /proc/x.yaml: cannot create files in /proc"),  # procfs: even for root
])
def test_the_output_path_is_checked_before_fitting(tmp_path, monkeypatch, path, says):
    import profiler.analytic.calibration as calibration

    if path.startswith("/proc") and not os.path.isdir("/proc/self"):
        pytest.skip("needs Linux /proc")
    measured = _sweep(tmp_path, "m.csv")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "p.csv").write_text("not a folder")
    monkeypatch.setattr(calibration, "fit_efficiency", lambda *a, **k: pytest.fail("fitted before the path check"))
    out = cli_error("calibrate", measured, "-o", path, one_line=False)
    assert out.startswith(says) and ".tmp" not in out


# ---- where the calibration went, and who reads it --------------------------------------------------------------


def test_a_calibration_written_elsewhere_says_how_to_use_it(tmp_path, monkeypatch):
    home = _home()
    monkeypatch.chdir(tmp_path)
    (tmp_path / "t").mkdir()  # an output path's folder must exist (never created silently)
    r = cli("calibrate", _sweep(tmp_path, "m.csv"), "-o", "t/cal.yaml")
    assert r.exit_code == 0, r.output
    saved = r.output.strip().splitlines()[-1]
    assert "now use it" not in r.output
    assert saved.startswith("saved to t/cal.yaml; nothing reads it by default")
    assert "inferplan profile MODEL --calibration t/cal.yaml" in saved
    assert f"copy it to {home / 'calibration.yaml'} ($INFERPLAN_HOME/calibration.yaml)" in saved
    assert (tmp_path / "t" / "cal.yaml").exists() and not (home / "calibration.yaml").exists()
    assert {row["source"] for row in cli_json("profile", "llama-3.1-8b")} == {"analytic"}  # not read by default
    used = cli_json("profile", "llama-3.1-8b", "--calibration", "t/cal.yaml")
    assert {row["source"] for row in used} == {"calibrated"}


@pytest.mark.parametrize("explicit", [False, True])
def test_the_default_calibration_file_is_used_by_later_profiles(tmp_path, explicit):
    home = _home()
    grid = ("llama-3.1-8b", "--batch", "1", "--context", "1024")
    before = {r["phase"]: r for r in cli_json("profile", *grid)}
    args = ("-o", home / "calibration.yaml") if explicit else ()
    r = cli("calibrate", _sweep(tmp_path, "m.csv", decode_scale=0.5), *args)
    assert r.exit_code == 0, r.output
    assert r.output.strip().splitlines()[-1] == (f"saved to {home / 'calibration.yaml'}; analytic profiles for "
                                                 "these GPUs now use it")
    assert "h100-sxm" in yaml.safe_load((home / "calibration.yaml").read_text())["calibrations"]
    # a later plain profile reads it: fitted to decode measured 2x faster than the defaults predict, it predicts
    # decode at half the latency (within the fit's few-% error) and prefill, measured as predicted, unchanged
    later = {r["phase"]: r for r in cli_json("profile", *grid)}
    assert {r["source"] for r in before.values()} == {"analytic"} and {r["source"] for r in later.values()} == {
        "calibrated"}
    assert later["decode"]["latency_ms"] == pytest.approx(0.5 * before["decode"]["latency_ms"], rel=0.03)
    # (prefill moves by ~1%: its memory-bound kernels, the one-row lm_head and the KV writes, take the fitted
    # bandwidth too, so it may not stay within 1%; 2% bounds that share of a 1,024-token prefill)
    assert later["prefill"]["latency_ms"] == pytest.approx(before["prefill"]["latency_ms"], rel=0.02)


def test_a_profile_of_a_quant_outside_the_catalogue_is_calibrated_with_its_quants_file(tmp_path):
    """calibrate takes --quants like every command: a measured sweep of a user quant ('awq-g64', int4 weights in
    groups of 64) needs its scheme to compute the analytic twin; without the file, one line says which flag."""
    from profiler import api
    from profiler.schema import write_profile

    quants = tmp_path / "quants.yaml"
    quants.write_text("quants:\n  awq-g64:\n    weight_bits: 4\n    group_size: 64\n    scale_bits: 16\n"
                      "    zero_bits: 16\n    keep: [embedding, lm_head, router]\n    compute_dtype: bf16\n"
                      "    source: test scheme\n")
    df, meta = api.profile(api.ProfileRequest(model="llama-3.1-8b", quants=("awq-g64",), batches=(1, 8, 64),
                                              contexts=(1024, 8192), quants_file=quants))
    df["source"] = "measured"
    sweep = tmp_path / "m.csv"
    write_profile(df, sweep, meta)
    out = tmp_path / "c.yaml"
    assert cli_error("calibrate", sweep, "-o", out).strip() == (
        "error: quant 'awq-g64' of the measured profile is not in the catalogue; pass its catalogue file "
        "(--quants) so the analytic twin can be computed")
    r = cli("calibrate", sweep, "-o", out, "--quants", quants)
    assert r.exit_code == 0, r.output
    assert "awq-g64" in yaml.safe_load(out.read_text())["calibrations"]["h100-sxm"]
