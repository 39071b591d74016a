"""Ctrl-C during `inferplan profile --measure`: the sweep stops at the next safe point (between points, probes or
timed repetitions), keeps every journaled row, prints one line on stderr naming the points kept and the command
that resumes, and exits 130; the resumed run measures the rest. Tested for real: the console script in a
subprocess, a real SIGINT, the tiny model (tests/profiler/measure/tiny.py) on one thread; and in-process for the
library's side (what is raised, what the journal holds, what a second Ctrl-C does)."""

import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

torch = pytest.importorskip("torch", reason="the measured profiler needs torch (the dev extra installs it)")

from profiler.measure import interrupt  # noqa: E402
from profiler.measure.journal import journal_path  # noqa: E402
from profiler.measure.sweep import run_measured_profile  # noqa: E402
from profiler.measure.timers import TimerPolicy  # noqa: E402
from profiler.schema import KEY_COLUMNS, read_profile  # noqa: E402
from tests.helpers import cli  # noqa: E402
from tests.profiler.measure.fakes import one_torch_thread  # noqa: E402
from tests.profiler.measure.tiny import TINY, spec  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
INFERPLAN = Path(sys.executable).with_name("inferplan")  # the console script of this environment
# 2 phases x 1 batch x 2 contexts = 4 points. Each takes 0.3-2 s: the CPU policy repeats a millisecond step until its
# spread is under 10 % (up to 500 times on a busy machine), so the sweep is still running when the signal comes.
GRID = ["--batch", "1", "--context", "16,32"]
STOP_WITHIN_S = 5.0  # a safe point comes within one tiny step (ms); the rest is unwinding and interpreter exit


def rows_in(journal: Path) -> int:
    try:
        return journal.read_text(encoding="utf-8").count('"type": "row"')
    except FileNotFoundError:
        return 0


def keys(df) -> set:
    return set(df[list(KEY_COLUMNS)].itertuples(index=False, name=None))


@pytest.fixture
def models_file(tmp_path):
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump({"models": {"tiny-llama": TINY}}), encoding="utf-8")
    return path


@pytest.mark.skipif(not INFERPLAN.exists(), reason="the inferplan console script is not installed in this environment")
def test_ctrl_c_stops_the_cli_at_once_keeps_the_journal_and_the_printed_command_resumes(tmp_path, models_file):
    out = tmp_path / "p.csv"
    journal = journal_path(out)
    argv = [str(INFERPLAN), "profile", "tiny-llama", "--measure", "--device", "cpu", *GRID, "--models",
            str(models_file), "-o", str(out)]
    env = {**os.environ, "INFERPLAN_HOME": str(tmp_path / "home"), "OMP_NUM_THREADS": "1", "COLUMNS": "200"}
    proc = subprocess.Popen(argv, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while rows_in(journal) < 1 and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        assert proc.poll() is None, f"the sweep ended before it could be interrupted: {proc.communicate()}"
        assert rows_in(journal) >= 1
        sent = time.monotonic()
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=60)
        took = time.monotonic() - sent
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == interrupt.SIGINT_EXIT_CODE == 130, stderr
    assert took < STOP_WITHIN_S, f"took {took:.1f} s to stop"
    assert "Traceback" not in stderr + stdout
    (line,) = stderr.strip().splitlines()  # one line, nothing else on stderr
    kept = rows_in(journal)
    assert 1 <= kept < 4  # stopped part-way: the rows journaled before the signal are all there
    command = line.split("; resume with: ", 1)[1]
    assert line == (f"stopped by Ctrl-C: {kept} of 4 points kept in {out} (journal {journal}); "
                    f"resume with: {command}")
    assert shlex.split(command) == argv  # the command exactly as it was run
    first, _ = read_profile(out)  # the profile on disk is valid and holds the kept rows
    assert len(first) == kept

    again = subprocess.run(shlex.split(command), cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert again.returncode == 0, again.stderr
    df, _ = read_profile(out)
    assert len(df) == 4 == rows_in(journal) and keys(first) <= keys(df)  # none repeated, none lost
    assert set(df["status"]) == {"ok"}


@pytest.fixture
def tiny():
    return spec("tiny-llama", TINY)


def sigint_after(n: int):
    """An on_point that sends this process a real SIGINT once `n` rows are written."""
    seen = []

    def on_point(row):
        seen.append(row)
        if len(seen) == n:
            os.kill(os.getpid(), signal.SIGINT)

    on_point.seen = seen
    return on_point


def test_a_sigint_stops_the_library_sweep_at_the_next_safe_point(tiny, tmp_path):
    out = tmp_path / "s.csv"
    on_point = sigint_after(2)
    grid = dict(model=tiny, gpu_id=None, quants=["bf16"], kv_dtypes=["bf16"], batches=[1, 2], contexts=[16, 32],
                device="cpu", out=out, progress=False, timer=TimerPolicy.quick(), max_batch_cap=4)
    before = signal.getsignal(signal.SIGINT)  # Python's default_int_handler, or SIG_IGN in a background job
    with one_torch_thread(), pytest.raises(interrupt.SweepInterrupted) as stopped:
        run_measured_profile(**grid, on_point=on_point)
    assert (stopped.value.kept, stopped.value.planned, stopped.value.out) == (2, 8, out)
    assert len(on_point.seen) == 2  # the handler only asked; the next safe point (before the third point) stopped it
    assert isinstance(stopped.value, KeyboardInterrupt)  # a caller that does not catch it stops as on any Ctrl-C
    assert signal.getsignal(signal.SIGINT) is before  # the sweep's handler is gone again, the caller's restored
    assert not interrupt.requested()
    with one_torch_thread():
        df, _ = run_measured_profile(**grid)  # resumes: the other six
    assert len(df) == 8 and keys(df) >= {tuple(r[k] for k in KEY_COLUMNS) for r in on_point.seen}


def test_the_timer_stops_between_repetitions_not_after_its_minimum_time():
    """A 10-second timing policy stops at the repetition after the Ctrl-C."""
    calls = []

    def step():
        calls.append(1)
        if len(calls) == 3:
            os.kill(os.getpid(), signal.SIGINT)

    from profiler.measure.timers import time_call

    start = time.perf_counter()
    with pytest.raises(interrupt.StopRequested), interrupt.stop_on_sigint():
        time_call(step, "cpu", TimerPolicy(warmup=1, min_count=10**6, min_time_s=10.0, max_time_s=10.0))
    assert len(calls) == 3 and time.perf_counter() - start < 1.0


def test_a_second_ctrl_c_stops_at_once():
    with pytest.raises(KeyboardInterrupt) as hard, interrupt.stop_on_sigint():
        os.kill(os.getpid(), signal.SIGINT)  # first: only a request
        assert interrupt.requested()
        os.kill(os.getpid(), signal.SIGINT)  # second: raised where it lands
        time.sleep(5)  # never reached in full
    assert type(hard.value) is KeyboardInterrupt


def test_without_an_output_file_the_line_says_nothing_was_kept(tiny, monkeypatch, models_file):
    """In-process CLI (the real app): a SIGINT after the first row of a sweep without -o."""
    import profiler.measure.runner as runner

    emit = runner.Runner.emit

    def emit_then_sigint(self, row, detail=None):
        emit(self, row, detail)
        os.kill(os.getpid(), signal.SIGINT)

    monkeypatch.setattr(runner.Runner, "emit", emit_then_sigint)
    monkeypatch.setattr(TimerPolicy, "cpu", classmethod(lambda cls: cls.quick()))
    monkeypatch.setattr(sys, "argv", ["/usr/local/bin/inferplan", "profile", "tiny-llama", "--measure"])
    with one_torch_thread():
        result = cli("profile", "tiny-llama", "--measure", "--device", "cpu", *GRID, "--models", models_file)
    assert result.exit_code == 130 and "Traceback" not in result.output
    assert result.stderr.strip() == (
        "stopped by Ctrl-C after 1 of 4 points; nothing was kept (no -o file to journal them in), so a rerun starts "
        "over: to make a sweep resumable give it -o FILE: /usr/local/bin/inferplan profile tiny-llama --measure")
    assert result.stdout == ""  # no table of a sweep that did not finish


def test_the_rerun_command_is_the_command_as_run(monkeypatch):
    from profiler.cli import rerun_command

    monkeypatch.setattr(sys, "argv", [str(ROOT / "planner" / "cli.py"), "profile", "x", "-o", "a b.csv"])
    assert rerun_command() == shlex.join([sys.executable, "-m", "planner.cli", "profile", "x", "-o", "a b.csv"])
    monkeypatch.setattr(sys, "argv", ["./bin/inferplan", "profile", "x"])
    assert rerun_command() == "./bin/inferplan profile x"  # not the one on PATH: the path it was started by
