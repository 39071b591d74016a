"""The profiler's commands as a user meets them (audit fixes): calibrate fits measured rows only and says who
reads the file it wrote, output paths fail before the work with the path the user gave, unstable timings are
flagged, `gpus` headers name the unit shown, and measured-only options are refused without --measure."""

import json

import pytest
import yaml
from typer.testing import CliRunner

from planner.cli import app
from profiler import api
from profiler.schema import read_profile, write_profile

runner = CliRunner()
ANALYTIC_REFUSAL = "holds analytic rows; calibrate needs a measured profile: inferplan profile MODEL --measure -o FILE"


def run(*args):
    return runner.invoke(app, [str(a) for a in args])


def _sweep(tmp_path, name: str, source: str | None = "measured"):
    """An analytic llama-3.1-8b sweep written to `name`, its rows relabelled `source` (None: left analytic)."""
    df, meta = api.profile(api.ProfileRequest(model="llama-3.1-8b", batches=(1, 8, 64), contexts=(1024, 8192)))
    if source:
        df["source"] = source
    path = tmp_path / name
    write_profile(df, path, meta)
    return path


def _home(monkeypatch, tmp_path):
    home = tmp_path / "home"
    monkeypatch.setenv("INFERPLAN_HOME", str(home))
    return home


# ---- 1. calibrate needs measured rows ---------------------------------------------------------------------------


def test_calibrating_an_analytic_profile_is_refused_and_nothing_becomes_calibrated(tmp_path, monkeypatch):
    home = _home(monkeypatch, tmp_path)
    monkeypatch.chdir(tmp_path)
    assert run("profile", "llama-3.1-8b", "-o", "a.csv").exit_code == 0
    r = run("calibrate", "a.csv")
    assert r.exit_code == 1 and "Traceback" not in r.output
    assert r.output.strip() == f"error: a.csv {ANALYTIC_REFUSAL}"
    assert not (home / "calibration.yaml").exists()
    later = json.loads(run("profile", "llama-3.1-8b", "--format", "json").stdout)
    assert {row["source"] for row in later} == {"analytic"}


def test_a_calibrated_profile_is_not_a_measurement_either(tmp_path, monkeypatch):
    _home(monkeypatch, tmp_path)
    r = run("calibrate", _sweep(tmp_path, "c.csv", "calibrated"), "-o", tmp_path / "cal.yaml")
    assert r.exit_code == 1 and "holds calibrated rows; calibrate needs a measured profile" in r.output
    assert not (tmp_path / "cal.yaml").exists()


def test_a_mixed_file_fits_its_measured_rows_only_and_says_what_it_left_out(tmp_path, monkeypatch):
    _home(monkeypatch, tmp_path)
    df, meta = read_profile(_sweep(tmp_path, "m.csv"))
    mixed = df.copy()
    decode = mixed.index[mixed["phase"] == "decode"]
    mixed.loc[decode[:2], "source"] = "analytic"  # two of the six decode rows
    write_profile(mixed, tmp_path / "mixed.csv", meta)
    r = run("calibrate", tmp_path / "mixed.csv", "-o", tmp_path / "cal.yaml", "--format", "json")
    assert r.exit_code == 0, r.output
    (row,) = json.loads(r.stdout)
    fitted = (mixed["phase"] == "decode") & (mixed["status"] == "ok") & (mixed["source"] == "measured")
    assert row["decode_points"] == int(fitted.sum()) < int(((df["phase"] == "decode") & (df["status"] == "ok")).sum())
    assert "left out 2 analytic row(s); only measured rows are fitted" in r.stderr


# ---- 2. where the calibration went, and who reads it --------------------------------------------------------------


def test_a_calibration_written_elsewhere_says_how_to_use_it(tmp_path, monkeypatch):
    home = _home(monkeypatch, tmp_path)
    monkeypatch.chdir(tmp_path)
    r = run("calibrate", _sweep(tmp_path, "m.csv"), "-o", "t/cal.yaml")
    assert r.exit_code == 0, r.output
    saved = r.output.strip().splitlines()[-1]
    assert "now use it" not in r.output
    assert saved.startswith("saved to t/cal.yaml; nothing reads it by default")
    assert "inferplan profile MODEL --calibration t/cal.yaml" in saved
    assert f"copy it to {home / 'calibration.yaml'} ($INFERPLAN_HOME/calibration.yaml)" in saved
    assert (tmp_path / "t" / "cal.yaml").exists() and not (home / "calibration.yaml").exists()
    used = json.loads(run("profile", "llama-3.1-8b", "--calibration", "t/cal.yaml", "--format", "json").stdout)
    assert {row["source"] for row in used} == {"calibrated"}


@pytest.mark.parametrize("explicit", [False, True])
def test_the_default_calibration_file_is_used_by_later_profiles(tmp_path, monkeypatch, explicit):
    home = _home(monkeypatch, tmp_path)
    args = ("-o", home / "calibration.yaml") if explicit else ()
    r = run("calibrate", _sweep(tmp_path, "m.csv"), *args)
    assert r.exit_code == 0, r.output
    assert r.output.strip().splitlines()[-1] == (f"saved to {home / 'calibration.yaml'}; analytic profiles for "
                                                 "these GPUs now use it")
    assert "h100-sxm" in yaml.safe_load((home / "calibration.yaml").read_text())["calibrations"]


# ---- 3. output paths: the path the user gave, checked before the work ------------------------------------------


def _no_work(monkeypatch):
    """Make the work itself fail loudly, so a test passes only if the path was refused before it."""
    import profiler.analytic.calibration as calibration
    import profiler.measure.sweep as sweep

    def boom(*a, **k):
        raise AssertionError("the work ran before the output path was checked")

    monkeypatch.setattr(api, "analytic_profile", boom)
    monkeypatch.setattr(sweep, "run_measured_profile", boom)
    monkeypatch.setattr(calibration, "fit_efficiency", boom)


def test_a_file_in_the_output_folder_path_is_named_before_any_work(tmp_path, monkeypatch):
    m = _sweep(tmp_path, "m.csv")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "p.csv").write_text("not a folder")
    _no_work(monkeypatch)
    for args in (("profile", "llama-3.1-8b", "-o", "p.csv/x.json"),
                 ("profile", "llama-3.1-8b", "--measure", "--device", "cpu", "-o", "p.csv/x.json"),
                 ("calibrate", m, "-o", "p.csv/x.json")):
        r = run(*args)
        assert r.exit_code == 1, r.output
        assert r.output.strip() == "error: cannot write p.csv/x.json: p.csv is a file, not a folder"


@pytest.mark.parametrize("command", ["profile", "calibrate"])
def test_an_unwritable_folder_is_reported_with_the_users_path_not_a_temp_file(tmp_path, monkeypatch, command):
    import os

    if not os.path.isdir("/proc/self"):
        pytest.skip("needs Linux /proc")
    first = "llama-3.1-8b" if command == "profile" else _sweep(tmp_path, "m.csv")
    _no_work(monkeypatch)
    r = run(command, first, "-o", "/proc/x.json")
    assert r.exit_code == 1 and "Traceback" not in r.output
    assert r.output.startswith("error: cannot write /proc/x.json: cannot create files in /proc")
    assert ".tmp" not in r.output and ".x.json." not in r.output


def test_a_profile_path_with_another_suffix_is_refused_before_the_work(tmp_path, monkeypatch):
    _no_work(monkeypatch)
    r = run("profile", "llama-3.1-8b", "-o", tmp_path / "p.txt")
    assert r.exit_code == 1 and "profile files are .csv or .json" in r.output


def test_a_good_nested_output_path_is_created(tmp_path):
    r = run("profile", "llama-3.1-8b", "--batch", "1", "--context", "1k", "-o", tmp_path / "a" / "b" / "p.json")
    assert r.exit_code == 0, r.output
    assert sorted(p.name for p in (tmp_path / "a" / "b").iterdir()) == ["p.json"]


# ---- 4. unstable timings --------------------------------------------------------------------------------------


def _fake_sweep(monkeypatch, spreads):
    """run_measured_profile replaced by rows of one decode point per spread (latency 10 ms)."""
    import profiler.measure.sweep as sweep
    from profiler.schema import ProfileMeta, normalise

    def fake(model, gpu, *grid, **kw):
        rows = [{"model": model.name, "gpu": "cpu", "quant": "bf16", "kv_dtype": "bf16", "tp": 1, "phase": "decode",
                 "batch": b + 1, "context": 16, "latency_ms": 10.0, "tokens_per_s": 100.0 * (b + 1),
                 "weights_bytes": 1, "kv_bytes_per_token": 1, "peak_bytes": 1, "kv_capacity_tokens": 1,
                 "max_batch": 8, "mbu": 0.1, "mfu": 0.1, "source": "measured", "status": "ok", "note": "",
                 "latency_ms_spread": s} for b, s in enumerate(spreads)]
        return normalise(rows), ProfileMeta(tool_version="t", environment={"gpu": "cpu", "cpu": "x86_64"})

    monkeypatch.setattr(sweep, "run_measured_profile", fake)


def test_unstable_measured_points_get_one_warning_after_the_table(monkeypatch):
    _fake_sweep(monkeypatch, [0.5, 4.0, 6.0])  # 5 %, 40 %, 60 % of the 10 ms median
    r = run("profile", "smollm2-135m", "--measure", "--device", "cpu")
    assert r.exit_code == 0, r.output
    warnings = [line for line in r.output.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1
    assert warnings[0].startswith("warning: 2 of 3 measured points have unstable timings (spread up to 60% of the "
                                  "median")
    assert "machine was probably busy" in warnings[0]


def test_stable_measured_points_and_analytic_bands_give_no_warning(monkeypatch):
    _fake_sweep(monkeypatch, [0.5, 2.5])  # 5 %, 25 % (the limit itself is stable)
    r = run("profile", "smollm2-135m", "--measure", "--device", "cpu")
    assert r.exit_code == 0 and "unstable" not in r.output
    analytic = run("profile", "llama-3.1-8b")
    assert analytic.exit_code == 0 and "unstable" not in analytic.output


def test_unstable_timings_lists_measured_ok_rows_past_the_limit_only():
    import pandas as pd

    from profiler.measure.timers import UNSTABLE_REL_SPREAD
    from profiler.tables import unstable_timings

    df = pd.DataFrame({"source": ["measured", "measured", "calibrated", "measured"],
                       "status": ["ok", "ok", "ok", "oom"], "latency_ms": [10.0, 10.0, 10.0, None],
                       "latency_ms_spread": [10 * UNSTABLE_REL_SPREAD + 0.1, 1.0, 9.0, None]})
    out = unstable_timings(df)
    assert list(out.index) == [0] and out["spread_pct"].iloc[0] == pytest.approx(26.0)


# ---- 5. gpus headers ------------------------------------------------------------------------------------------


def test_the_gpus_table_header_names_the_unit_it_shows_and_json_keeps_bytes():
    from profiler import catalogue

    table = run("gpus")
    assert table.exit_code == 0
    header = next(line for line in table.output.splitlines() if "hbm_tb_s" in line)
    assert "memory_gib" in header and "memory_bytes" not in header and "GiB" not in table.output.split("sources")[0]
    h100 = next(line for line in table.output.splitlines() if line.startswith("│ h100-sxm "))
    assert "79.7" in h100  # 80 GB = 79.65 GiB
    rows = {g["id"]: g for g in json.loads(run("gpus", "--format", "json").stdout)}
    assert rows["h100-sxm"]["memory_bytes"] == catalogue.get_gpu("h100-sxm").hbm_bytes
    assert "memory_gib" not in rows["h100-sxm"]


# ---- 6. measured-only options without --measure ------------------------------------------------------------


@pytest.mark.parametrize("device", ["cpu", "cuda", "cuda:1"])
def test_device_without_measure_is_refused(device):
    r = run("profile", "llama-3.1-8b", "--device", device)
    assert r.exit_code == 1 and "Traceback" not in r.output
    assert f"--device {device} applies to measured profiles only; add --measure" in r.output


def test_measure_without_device_still_defaults_to_cuda(monkeypatch):
    import profiler.measure.sweep as sweep
    from profiler.schema import ProfileMeta, normalise

    seen = {}

    def fake(model, gpu, *grid, **kw):
        seen.update(kw)
        return normalise([]), ProfileMeta(tool_version="t", environment={"gpu": "h100-sxm"})

    monkeypatch.setattr(sweep, "run_measured_profile", fake)
    assert run("profile", "llama-3.1-8b", "--measure", "--format", "json").exit_code == 0
    assert seen["device"] == "cuda"
