"""`inferplan profile --measure --device cpu` and `inferplan calibrate` end to end through the real app, on a
tiny model (tests/profiler/measure/conftest.py) given as a user models file: exit codes, what the terminal
says, what the files hold."""

import json
import sys

import pytest
import yaml
from typer.testing import CliRunner

pytest.importorskip("torch", reason="the measured profiler needs torch (the dev extra installs it)")

from planner.cli import app  # noqa: E402
from profiler.schema import read_profile  # noqa: E402
from tests.profiler.measure.conftest import TINY  # noqa: E402

runner = CliRunner()
MEASURE = ("profile", "tiny-llama", "--measure", "--device", "cpu", "--quant", "bf16,int8", "--batch", "1,2",
           "--context", "16,32")


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    return tmp_path_factory.mktemp("inferplan-home")


@pytest.fixture(scope="module")
def models_file(home):
    path = home / "tiny.yaml"
    path.write_text(yaml.safe_dump({"models": {"tiny-llama": TINY}}), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def measured(home, models_file):
    """A real CPU sweep written to a file, torchao hidden (as where it is not installed), argv as typed."""
    out = home / "measured.csv"
    args = [*MEASURE, "--models", str(models_file), "-o", str(out)]
    with pytest.MonkeyPatch.context() as mp:
        mp.setitem(sys.modules, "torchao", None)
        mp.setitem(sys.modules, "torchao.quantization", None)
        mp.setattr(sys, "argv", ["/usr/local/bin/inferplan", *args])
        mp.setenv("INFERPLAN_HOME", str(home))
        result = runner.invoke(app, args)
    return result, out


def test_a_measured_cpu_sweep_writes_its_rows_and_the_real_command(measured, models_file):
    result, out = measured
    assert result.exit_code == 0, result.output
    df, meta = read_profile(out)
    assert set(df["source"]) == {"measured"} and set(df["gpu"]) == {"cpu"} and len(df) == 2 * 2 * 2 * 2
    assert set(df[df["quant"] == "bf16"]["status"]) == {"ok"}
    assert meta.command.startswith("inferplan profile tiny-llama --measure --device cpu")
    assert str(models_file) in meta.command


def test_notes_keep_their_bracketed_text(measured):
    result, _ = measured
    assert "install the [gpu] extra" in result.output  # rich markup used to eat "[gpu]"
    assert "install the  extra" not in result.output


def test_the_memory_boundary_is_explained_for_cli_users(measured):
    _, out = measured
    df, _ = read_profile(out)
    notes = " ".join(df["note"].dropna())
    assert "memory_limit_bytes" not in notes  # a library parameter the CLI does not have
    assert "CPU run: the memory boundary is an emulated card, not this machine's RAM" in notes


def test_the_environment_is_summarised_after_a_measured_run(measured):
    result, _ = measured
    line = next(x for x in result.output.splitlines() if x.startswith("measured on "))
    assert "CPU" in line and "rows labelled cpu" in line
    for pkg in ("torch", "transformers", "torchao not installed"):
        assert pkg in line


def test_calibrate_fits_a_cpu_measured_file_prints_errors_per_phase_and_writes_the_file(measured, models_file,
                                                                                      home, monkeypatch):
    _, out = measured
    monkeypatch.setenv("INFERPLAN_HOME", str(home))
    result = runner.invoke(app, ["calibrate", str(out), "--models", str(models_file)])
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output and "not in the catalogue" not in result.output
    line = next(x for x in result.output.splitlines() if x.startswith("cpu/bf16 fit error"))
    assert "decode" in line and "prefill" in line and "(4 points)" in line
    saved = yaml.safe_load((home / "calibration.yaml").read_text())["calibrations"]
    entry = saved["cpu"]["bf16"]
    assert entry["points"] == {"decode": 4, "prefill": 4} and entry["models"] == ["tiny-llama"]
    assert 0 < entry["bandwidth"] <= 2.0 and entry["error_after"]["decode_median"] is not None
    assert f"saved to {home / 'calibration.yaml'}" in result.output


def test_calibrate_json_has_the_fit_errors_of_both_phases(measured, models_file, tmp_path):
    _, out = measured
    result = runner.invoke(app, ["calibrate", str(out), "--models", str(models_file), "-o", str(tmp_path / "c.yaml"),
                                 "--format", "json"])
    assert result.exit_code == 0, result.output
    (row,) = json.loads(result.stdout)
    assert (row["gpu"], row["quant"], row["decode_points"], row["prefill_points"]) == ("cpu", "bf16", 4, 4)
    assert row["decode_err_after_pct"] <= row["decode_err_before_pct"]


def test_calibrate_without_the_models_file_says_how_to_describe_the_model(measured, tmp_path):
    _, out = measured
    result = runner.invoke(app, ["calibrate", str(out), "-o", str(tmp_path / "c.yaml")])
    assert result.exit_code == 1 and "tiny-llama" in result.output and "--models" in result.output
    assert "Traceback" not in result.output


def test_a_weights_folder_of_another_model_is_refused_in_one_line(tmp_path):
    import torch

    from profiler.measure import build
    from tests.profiler.measure.conftest import spec

    build.build_model(spec("tiny-llama", TINY), torch.device("cpu")).model.save_pretrained(tmp_path)
    result = runner.invoke(app, ["profile", "smollm2-135m", "--measure", "--device", "cpu", "--batch", "1",
                                 "--context", "16", "--weights", str(tmp_path)])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "its config.json is not smollm2-135m" in result.output
    assert "num_layers: spec 30, config.json 2" in result.output
