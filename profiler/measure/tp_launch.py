"""Start a measured TP sweep under torchrun from an ordinary ``inferplan profile --measure --tp N`` run.

    measure_tp(request) -> (table, meta)    spawn torchrun on this machine, follow its progress, read rank 0's file
    torchrun_line(command, tp, per_node)    the command to run on each node when the group spans several
    worker(request_file)                    what each torchrun process runs (``python -m profiler.measure.tp_launch``)

The launching process stays the CLI: it writes the request (the resolved model spec and the grid) to a private
folder, runs ``python -m torch.distributed.run --standalone --nproc-per-node N -m profiler.measure.tp_launch REQ``
with the workers' output in ``torchrun.log`` there, draws the progress bar from rank 0's journal, and when torchrun
ends reads the profile rank 0 wrote (``-o`` when given, else a file in the folder). A failed run ends with one line:
the first rank that failed and why (``tp_run`` writes it), or torchrun's last log line. Ctrl-C stops torchrun (its
workers get SIGTERM); every point rank 0 finished is in the journal beside ``-o``, and the same command resumes.
A group larger than this machine's GPUs cannot be spawned from here: the refusal gives the torchrun line to run on
every node (the CLI under torchrun is the worker itself: ``tp_run.world()``).
"""

from __future__ import annotations

import os
import pickle
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from profiler.errors import InvalidValueError, ProfilerError
from profiler.measure.tp_run import STATUS_DIR_ENV

RENDEZVOUS_PORT = 29500  # torchrun's default --master-port / c10d rendezvous port (torch.distributed.run docs)
POLL_S = 0.5  # how often the launcher reads rank 0's journal for the progress bar


def torchrun_line(command: str, tp: int, per_node: int) -> str:
    """The torchrun command that runs `command` (an ``inferplan profile ...`` line) as a TP group of `tp` ranks,
    `per_node` per node: the same line on every node, HOST = the first node's address."""
    args = shlex.split(command)[1:] if command else ["profile", "MODEL", "--measure", "--tp", str(tp)]
    nodes = -(-tp // per_node)
    head = ["torchrun", f"--nnodes={nodes}", f"--nproc-per-node={min(tp, per_node)}"]
    if nodes > 1:
        head += ["--rdzv-backend=c10d", f"--rdzv-endpoint=HOST:{RENDEZVOUS_PORT}"]
    else:
        head += ["--standalone"]
    return shlex.join([*head, "-m", "planner.cli", *args])


def _local_slots(device: str) -> int:
    """How many ranks this machine can start: its CUDA GPUs, or (cpu) no limit."""
    if device == "cpu":
        return sys.maxsize
    import torch

    return torch.cuda.device_count()


def _threads_per_rank(tp: int) -> str:
    """gloo ranks share the CPU: each gets an equal share of the cores (torchrun's own default is 1 thread)."""
    return str(max(1, (os.cpu_count() or 1) // tp))


def measure_tp(request: dict[str, Any], progress: bool = True):
    """Run the TP sweep `request` describes (tp_run.run_tp_profile's arguments) under torchrun; see the docstring."""
    tp, device = request["tp"], request["device"]
    slots = _local_slots(device)
    if tp > slots == 0:
        raise InvalidValueError(
            f"--tp {tp} needs {tp} GPUs and this machine has no CUDA GPU: on a host with {tp} GPUs run "
            f"{torchrun_line(request['command'], tp, tp)} (or the same inferplan command), or measure the TP "
            "group's processes on this CPU with --device cpu (gloo)")
    if tp > slots:
        raise InvalidValueError(
            f"--tp {tp} needs {tp} GPUs and this machine has {slots} GPU{'s' * (slots != 1)}. Across nodes, run on "
            f"each node: {torchrun_line(request['command'], tp, slots)} (HOST = the first node's address)")
    folder = Path(tempfile.mkdtemp(prefix="inferplan-tp-"))
    if request["out"] is None:
        request = {**request, "out": folder / "profile.csv"}
    (folder / "request.pkl").write_bytes(pickle.dumps(request))
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nnodes=1", f"--nproc-per-node={tp}",
           "-m", "profiler.measure.tp_launch", str(folder / "request.pkl")]
    env = {**os.environ, STATUS_DIR_ENV: str(folder)}
    env.pop("WORLD_SIZE", None)
    if device == "cpu":
        env.setdefault("OMP_NUM_THREADS", _threads_per_rank(tp))
    log = folder / "torchrun.log"
    with log.open("w") as fh:
        proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, env=env)
        rc = _follow(proc, Path(request["out"]), request["points"], progress)
    if rc != 0:
        raise ProfilerError(_failure(folder, log, rc))
    from profiler.schema import read_profile

    return read_profile(Path(request["out"]))


def _follow(proc: subprocess.Popen, out: Path, points: int, progress: bool) -> int:
    """Wait for torchrun, advancing the bar by rank 0's journal rows; Ctrl-C stops it and keeps what was done."""
    from profiler.measure.interrupt import SweepInterrupted
    from profiler.measure.journal import journal_path
    from profiler.measure.sweep import _progress

    bar, advance = _progress(points, 0, progress)
    seen = 0
    try:
        with bar:
            while proc.poll() is None:
                time.sleep(POLL_S)
                rows = _journal_rows(journal_path(out))
                for _ in range(rows - seen):
                    advance(f"TP sweep: {rows} of {points} points")
                seen = max(seen, rows)
    except KeyboardInterrupt:
        proc.terminate()  # torchrun passes SIGTERM to every worker
        proc.wait()
        raise SweepInterrupted(_journal_rows(journal_path(out)), points, out) from None
    return proc.returncode


def _journal_rows(path: Path) -> int:
    try:
        return sum('"type": "row"' in line for line in path.read_text(encoding="utf-8").splitlines())
    except OSError:
        return 0


def _failure(folder: Path, log: Path, rc: int) -> str:
    """The first rank's failure line (tp_run writes them time-stamped), else torchrun's last log line."""
    lines = []
    for f in folder.glob("rank-*.txt"):
        stamp, _, line = f.read_text(encoding="utf-8").strip().partition(" ")
        lines.append((float(stamp), line))
    if lines:
        return min(lines)[1] + (f" (other ranks failed after it; torchrun's log: {log})" if len(lines) > 1 else "")
    tail = [ln for ln in log.read_text(encoding="utf-8", errors="replace").splitlines() if ln.strip()][-1:]
    return f"torchrun exited with status {rc}: {tail[0] if tail else 'no output'} (log: {log})"


def worker(request_file: str) -> int:
    """One torchrun process: run this rank's part of the sweep in `request_file`."""
    from profiler.measure.tp_run import RankFailed, run_tp_profile

    request = pickle.loads(Path(request_file).read_bytes())
    request.pop("points")
    try:
        run_tp_profile(**request)
    except RankFailed as exc:
        print(exc, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(worker(sys.argv[1]))
