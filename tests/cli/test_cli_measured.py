"""`inferplan profile --measure --device cpu` and `inferplan calibrate` end to end through the real app, on a
tiny model (tests/profiler/measure/tiny.py) given as a user models file: exit codes, what the terminal says, what
the files hold. Correct with and without torchao installed (the [gpu] extra): where the answer depends on it, the
expectation is what the installed packages imply."""

import json
import platform
import sys
from importlib.metadata import version

import pytest
import yaml

torch = pytest.importorskip("torch", reason="the measured profiler needs torch (the dev extra installs it)")

from profiler.measure.timers import TimerPolicy  # noqa: E402
from profiler.schema import read_profile  # noqa: E402
from tests.helpers import cli  # noqa: E402
from tests.profiler.measure.fakes import hide_torchao, one_torch_thread, torchao_importable  # noqa: E402
from tests.profiler.measure.tiny import TINY, spec  # noqa: E402

MEASURE = ("profile", "tiny-llama", "--measure", "--device", "cpu", "--quant", "bf16,int8", "--batch", "1,2",
           "--context", "16,32")
TORCHAO = torchao_importable()
QUANTS_RUN = {"bf16", "int8"} if TORCHAO else {"bf16"}  # int8 needs torchao's kernels (on the CPU too)


@pytest.fixture(scope="module", autouse=True)
def one_cpu_thread():
    """Tiny models on one torch thread (fakes.one_torch_thread says why); nothing asserted here depends on it."""
    with one_torch_thread():
        yield


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
    """A real CPU sweep written to a file, argv as typed. The CLI has no timer option: its CPU policy (>= 0.3 s per
    point) is swapped for the quick one, which the library takes as an argument (which policy is the default:
    tests/profiler/measure/test_timer_policy.py)."""
    out = home / "measured.csv"
    args = [*MEASURE, "--models", str(models_file), "-o", str(out)]
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(TimerPolicy, "cpu", classmethod(lambda cls: cls.quick()))
        mp.setattr(sys, "argv", ["/usr/local/bin/inferplan", *args])
        mp.setenv("INFERPLAN_HOME", str(home))
        result = cli(*args)
    return result, out


def test_a_measured_cpu_sweep_writes_its_rows_and_the_real_command(measured, models_file):
    result, out = measured
    assert result.exit_code == 0, result.output
    df, meta = read_profile(out)
    assert set(df["source"]) == {"measured"} and set(df["gpu"]) == {"cpu"}
    assert len(df) == 2 * 2 * 2 * 2  # quants x phases x batches x contexts
    assert set(df[df["quant"] == "bf16"]["status"]) == {"ok"}
    int8 = df[df["quant"] == "int8"]
    if TORCHAO:
        assert set(int8["status"]) == {"ok"} and (int8["weights_bytes"] < df[df["quant"] == "bf16"]["weights_bytes"]
                                                  .iloc[0]).all()
    else:
        assert set(int8["status"]) == {"unsupported"} and int8["note"].str.startswith("torchao is not installed").all()
    assert meta.command == " ".join(["inferplan", *MEASURE, "--models", str(models_file), "-o", str(out)])


def test_notes_keep_their_bracketed_text(models_file, tmp_path, monkeypatch):
    """A reason with "[gpu]" in it (torchao missing, whether or not it is installed here) reaches the terminal as
    written: rich markup used to eat "[gpu]". It is said once, before the sweep (profiler.measure.sweep)."""
    hide_torchao(monkeypatch)
    monkeypatch.setenv("INFERPLAN_HOME", str(tmp_path))
    result = cli("profile", "tiny-llama", "--measure", "--device", "cpu", "--quant", "int8", "--batch", "1",
                 "--context", "16", "--models", models_file)  # refused before any point is measured
    assert result.exit_code == 0, result.output
    assert "int8 (torchao is not installed" in result.output and "install the [gpu] extra" in result.output
    assert "install the  extra" not in result.output


def test_the_memory_boundary_is_explained_for_cli_users(measured):
    _, out = measured
    df, _ = read_profile(out)
    ok = df[df["status"] == "ok"]
    assert len(ok) == 8 * len(QUANTS_RUN)
    assert not df["note"].str.contains("memory_limit_bytes").any()  # a library parameter the CLI does not have
    assert ok["note"].str.contains("CPU run: the memory boundary is an emulated card, not this machine's RAM").all()


def test_the_environment_is_summarised_after_a_measured_run(measured):
    result, _ = measured
    (line,) = [x for x in result.output.splitlines() if x.startswith("measured on ")]
    torchao = f"torchao {version('torchao')}" if TORCHAO else "torchao not installed"
    cpu = platform.processor() or platform.machine()
    assert line == (f"measured on CPU {cpu} ({torch.get_num_threads()} threads, rows labelled cpu); "
                    f"torch {torch.__version__}, transformers {version('transformers')}, {torchao}")


def test_calibrate_fits_a_cpu_measured_file_prints_errors_per_phase_and_writes_the_file(measured, models_file,
                                                                                      home, monkeypatch):
    _, out = measured
    monkeypatch.setenv("INFERPLAN_HOME", str(home))
    # a toy model on a CPU fits factors at their clipping limits: saved only with --force (the test of the refusal
    # is tests/cli/test_cli_calibrate_inputs.py); this test is about what a saved fit holds
    result = cli("calibrate", out, "--models", models_file, "--force")
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output and "not in the catalogue" not in result.output
    line = next(x for x in result.output.splitlines() if x.startswith("cpu/bf16 fit error"))
    assert "decode" in line and "prefill" in line and "(4 points)" in line  # 2 batches x 2 contexts per phase
    saved = yaml.safe_load((home / "calibration.yaml").read_text())["calibrations"]
    assert set(saved["cpu"]) == QUANTS_RUN  # one fit per quant with ok rows
    entry = saved["cpu"]["bf16"]
    assert entry["points"] == {"decode": 4, "prefill": 4} and entry["models"] == ["tiny-llama"]
    assert entry["source_file"] == str(out)
    assert f"saved to {home / 'calibration.yaml'}" in result.output


def test_calibrate_json_has_the_fit_errors_of_both_phases(measured, models_file, tmp_path):
    _, out = measured
    result = cli("calibrate", out, "--models", models_file, "-o", tmp_path / "c.yaml", "--format", "json", "--force")
    assert result.exit_code == 0, result.output
    rows = {r["quant"]: r for r in json.loads(result.stdout)}
    assert set(rows) == QUANTS_RUN
    row = rows["bf16"]
    assert (row["gpu"], row["decode_points"], row["prefill_points"]) == ("cpu", 4, 4)
    # both phases' errors are reported, the max at least the median; whether a phase's median falls is not promised
    # on a CPU's noisy timings (the fit minimises the squared relative error of both phases together, so one
    # phase's median may rise while the total falls: tests/profiler/analytic/test_calibration.py checks the fit)
    for phase in ("decode", "prefill"):
        assert 0 <= row[f"{phase}_err_after_pct"] <= row[f"{phase}_err_max_after_pct"] < float("inf")
        assert row[f"{phase}_err_before_pct"] >= 0
    saved = yaml.safe_load((tmp_path / "c.yaml").read_text())["calibrations"]["cpu"]["bf16"]
    assert row["bandwidth"] == pytest.approx(saved["bandwidth"], rel=1e-3)  # the file holds the fit reported


def test_calibrate_without_the_models_file_says_how_to_describe_the_model(measured, tmp_path):
    _, out = measured
    result = cli("calibrate", out, "-o", tmp_path / "c.yaml")
    assert result.exit_code == 1 and "tiny-llama" in result.output and "--models" in result.output
    assert "Traceback" not in result.output


def test_a_weights_folder_of_another_model_is_refused_in_one_line(tmp_path):
    from profiler.measure import build

    build.build_model(spec("tiny-llama", TINY), torch.device("cpu")).model.save_pretrained(tmp_path)
    result = cli("profile", "smollm2-135m", "--measure", "--device", "cpu", "--batch", "1", "--context", "16",
                 "--weights", tmp_path)
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert result.output.strip().count("\n") == 0
    assert "its config.json is not smollm2-135m" in result.output
    assert "num_layers: spec 30, config.json 2" in result.output
