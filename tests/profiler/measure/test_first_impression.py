"""What a new user of `profile --measure` sees: one line, before the sweep, naming the quantisations and KV dtypes
this machine cannot measure and why (instead of a row and a note each); a progress bar on stderr with points done,
total and time left; and no import-time or run-time chatter from torch, transformers or torchao.

Correct with and without torchao installed (CI runs both): where the answer depends on it, the expectation is what
the installed packages imply."""

import os
import subprocess
import sys

import pytest
import yaml

torch = pytest.importorskip("torch", reason="the measured profiler needs torch (the dev extra installs it)")

from profiler.measure import sweep  # noqa: E402
from profiler.measure.quantise import kv_unsupported_reason  # noqa: E402
from profiler.measure.sweep import run_measured_profile, unavailable_line  # noqa: E402
from profiler.measure.timers import TimerPolicy  # noqa: E402
from profiler.specs import KvDtype  # noqa: E402
from tests.profiler.measure.fakes import hide_torchao, torchao_importable  # noqa: E402
from tests.profiler.measure.tiny import TINY  # noqa: E402

QUICK = TimerPolicy.quick()
CUDA_ONLY = "{q}: torchao's {q} kernels run on CUDA only, not on cpu"  # quantise._check_capability on a CPU
KV_FP8 = kv_unsupported_reason(KvDtype.FP8)
HEAD = "not measurable on cpu, so not measured (their rows say unsupported): "


def test_levels_that_fail_alike_share_one_reason_in_the_line():
    line = unavailable_line({"int4": CUDA_ONLY.format(q="int4"), "fp8": CUDA_ONLY.format(q="fp8"),
                             "fp8 KV cache": KV_FP8}, "cpu")
    assert line == (HEAD + "int4, fp8 (torchao's int4/fp8 kernels run on CUDA only, not on cpu); fp8 KV cache ("
                    + KV_FP8.removeprefix("fp8 KV cache: ") + ")")
    assert "\n" not in line


def test_the_sweep_says_once_before_it_begins_what_it_cannot_measure(tiny, tmp_path, capsys):
    df, meta = run_measured_profile(tiny, None, ["bf16", "int4", "fp8"], [KvDtype.BF16, KvDtype.FP8], [1], [16],
                                    device="cpu", out=tmp_path / "p.csv", progress=True, timer=QUICK)
    err = capsys.readouterr().err
    lines = [x for x in err.splitlines() if x.startswith("not measurable")]
    assert lines == [HEAD + "int4, fp8 (torchao's int4/fp8 kernels run on CUDA only, not on cpu); fp8 KV cache ("
                     + KV_FP8.removeprefix("fp8 KV cache: ") + ")"]
    unavailable = meta.environment["unavailable"]  # stored with the profile: the table leaves these rows out
    assert unavailable == {"int4": CUDA_ONLY.format(q="int4"), "fp8": CUDA_ONLY.format(q="fp8"),
                           "fp8 KV cache": KV_FP8}
    gone = df[df["status"] == "unsupported"]
    assert len(gone) == 3 * 2 * 2 - 2 and set(gone["note"]) == set(unavailable.values())  # all but bf16/bf16
    assert set(df.loc[df["status"] == "ok", "quant"]) == {"bf16"}


def test_without_torchao_the_line_says_so_and_how_to_install_it(tiny, monkeypatch, capsys):
    hide_torchao(monkeypatch)
    df, meta = run_measured_profile(tiny, None, ["int8"], [KvDtype.BF16], [1], [16], device="cpu", progress=True,
                                    timer=QUICK)
    (line,) = [x for x in capsys.readouterr().err.splitlines() if x.startswith("not measurable")]
    assert line.startswith(HEAD + "int8 (torchao is not installed (") and "install the [gpu] extra" in line
    assert set(df["status"]) == {"unsupported"} and set(meta.environment["unavailable"]) == {"int8"}


def test_nothing_is_said_when_everything_can_be_measured_or_progress_is_off(tiny, capsys):
    _, meta = run_measured_profile(tiny, None, ["bf16"], [KvDtype.BF16], [1], [16], device="cpu", progress=True,
                                   timer=QUICK)
    assert "unavailable" not in meta.environment and capsys.readouterr().err == ""
    run_measured_profile(tiny, None, ["int4"], [KvDtype.FP8], [1], [16], device="cpu", progress=False, timer=QUICK)
    assert capsys.readouterr().err == ""  # json / csv: the rows' status and note say it


def test_the_progress_bar_counts_points_and_estimates_the_time_left_on_stderr(monkeypatch):
    from rich.progress import MofNCompleteColumn, TimeRemainingColumn

    monkeypatch.setattr(sys.stderr, "isatty", lambda: True, raising=False)
    bar, advance = sweep._progress(10, 3, True)
    kinds = {type(c) for c in bar.columns}
    assert MofNCompleteColumn in kinds and TimeRemainingColumn in kinds
    assert bar.console.stderr and not bar.disable
    (task,) = bar.tasks
    assert (task.completed, task.total) == (3, 10)
    advance("bf16/bf16 decode b=1 L=16")
    assert bar.tasks[0].completed == 4
    monkeypatch.setattr(sys.stderr, "isatty", lambda: False, raising=False)
    assert sweep._progress(10, 0, True)[0].disable  # a pipe or a file: no bar
    assert sweep._progress(10, 0, False)[0].disable


# What torch, transformers and torchao print when their chatter leaks (issue 12, issue 13): warnings.warn output,
# torchao's logger ("Failed to load ..._C_mxfp8.so", "Skipping import of cpp extensions"), torch's pytree notice.
LEAKS = ("Warning:", "UserWarning", "DeprecationWarning", "FutureWarning", "Failed to load", "Skipping import",
         "register_constant", "triton", "Traceback", "WARNING")
# The CLI in a fresh interpreter, as typed, with the CPU timer policy swapped for the quick one (a loaded machine
# can stretch the CPU policy's repeats to seconds a point; which policy is the default: test_timer_policy.py).
RUN_CLI = ("import sys\nfrom profiler.measure.timers import TimerPolicy\n"
           "TimerPolicy.cpu = classmethod(lambda cls: cls.quick())\n"
           "from planner.cli import app\nsys.argv[0] = 'inferplan'\napp()\n")


def test_a_new_users_first_measured_run_prints_no_library_chatter(tmp_path):
    """Every line a new user sees, stdout and stderr: the one line, the table of what was measured, the pointer to
    what was left out; none of torch's, transformers' or torchao's own messages."""
    models = tmp_path / "tiny.yaml"
    models.write_text(yaml.safe_dump({"models": {"tiny-llama": TINY}}), encoding="utf-8")
    args = ["profile", "tiny-llama", "--models", str(models), "--measure", "--device", "cpu", "--quant",
            "bf16,int8,int4", "--kv-dtype", "bf16,fp8", "--batch", "1", "--context", "16"]
    env = {**os.environ, "INFERPLAN_HOME": str(tmp_path), "COLUMNS": "100"}
    run = subprocess.run([sys.executable, "-c", RUN_CLI, *args], capture_output=True, text=True, timeout=600, env=env)
    assert run.returncode == 0, run.stdout + run.stderr
    text = run.stdout + run.stderr
    assert not [leak for leak in LEAKS if leak in text], text
    said = [x for x in run.stderr.splitlines() if x.startswith("not measurable")]
    int8 = "" if torchao_importable() else "int8 ("
    assert len(said) == 1 and "int4 (torchao's int4 kernels run on CUDA only" in said[0] and int8 in said[0]
    assert "fp8 KV cache (" in said[0]
    assert "note:" not in text  # the per-reason notes the line replaces
    table = [x for x in run.stdout.splitlines() if x.startswith("│")]
    assert {x.split("│")[1].strip() for x in table} - {""} == ({"bf16", "int8"} if torchao_importable() else {"bf16"})
    assert "left out of the table: the " in run.stdout and "int4" in run.stdout
    assert max(len(x) for x in run.stdout.splitlines()) <= 100
