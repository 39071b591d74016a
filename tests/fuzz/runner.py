"""Run bad inputs through :mod:`tests.fuzz.driver` workers and judge each result against the CLI's promise.

The promise (README, "Errors"): every input ends with exit code 0, 1 or 2; never a traceback; an exit 1 prints one
line on stderr; nothing runs past a time bound or a memory bound. A worker that exceeds the memory limit
(``RLIMIT_AS``), hangs in C code or dies is killed and restarted, and its case is judged a hang or a crash.
"""

from __future__ import annotations

import json
import os
import resource
import select
import subprocess
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data"
MEMORY_LIMIT_BYTES = 4 * 2**30  # well above any honest plan (a few hundred MB); the report's blow-ups reached 24 GB


@dataclass
class Verdict:
    case: dict
    result: dict
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def describe(self) -> str:
        args = " ".join(self.case["args"])
        detail = (self.result.get("traceback") or self.result.get("stderr") or "")[-1200:]
        return f"inferplan {args}\n  -> {'; '.join(self.problems)}\n{detail}"


def judge(case: dict, result: dict, time_bound_s: float) -> Verdict:
    v = Verdict(case, result)
    if result.get("crashed"):
        v.problems.append(f"worker died ({result['crashed']})")
        return v
    if result.get("timed_out"):
        v.problems.append(f"hang: still running after {time_bound_s:g} s")
        return v
    if result.get("traceback"):
        v.problems.append("traceback: " + result["traceback"].strip().splitlines()[-1][:200])
    code = result.get("exit_code")
    if code not in (0, 1, 2):
        v.problems.append(f"exit code {code}")
    stderr = (result.get("stderr") or "").strip()
    if "Traceback (most recent call last)" in stderr:
        v.problems.append("traceback text on stderr")
    if code == 1 and stderr.count("\n") > 0:
        v.problems.append(f"{stderr.count(chr(10)) + 1} lines on stderr for exit 1")
    if result.get("warnings"):
        v.problems.append("warning shown: " + result["warnings"][0][:200])
    if result.get("seconds", 0) > time_bound_s:
        v.problems.append(f"took {result['seconds']:.1f} s (bound {time_bound_s:g} s)")
    return v


def _limit_memory() -> None:  # runs in the child before exec
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT_BYTES, MEMORY_LIMIT_BYTES))


class Worker:
    def __init__(self, timeout_s: float):
        self.timeout_s = timeout_s
        env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""),
                   INFERPLAN_NO_CACHE="1", PYTHONHASHSEED="0")
        self.proc = subprocess.Popen([sys.executable, "-m", "tests.fuzz.driver", str(timeout_s)], cwd=ROOT, env=env,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                     text=True, preexec_fn=_limit_memory)
        ready = self._read(60.0)
        if ready is None or not ready.get("ready"):
            self.close()
            raise RuntimeError("the fuzz worker did not start")

    def _read(self, wait_s: float) -> dict | None:
        out = self.proc.stdout
        ready, _, _ = select.select([out], [], [], wait_s)
        if not ready:
            return None
        line = out.readline()
        return json.loads(line) if line else None

    def run(self, case: dict) -> dict:
        try:
            self.proc.stdin.write(json.dumps(case) + "\n")
            self.proc.stdin.flush()
        except BrokenPipeError:
            return {"crashed": "worker gone before the case"}
        result = self._read(self.timeout_s + 15.0)  # the soft limit fires first unless C code holds the thread
        if result is None:
            rc = self.proc.poll()
            return {"crashed": f"exit status {rc}"} if rc is not None else {"timed_out": True, "killed": True}
        return result

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()


def run_cases(cases: Iterable[dict], timeout_s: float = 20.0) -> Iterator[tuple[dict, dict]]:
    """Yield (case, result) for each case, restarting the worker after a hang or a crash."""
    worker = None
    try:
        for case in cases:
            if worker is None:
                worker = Worker(timeout_s)
            result = worker.run(case)
            if result.get("crashed") or result.get("killed") or result.get("timed_out"):
                worker.close()
                worker = None  # a timed-out case may have left the interpreter in any state
            yield case, result
    finally:
        if worker is not None:
            worker.close()


def load_report(path: Path = DATA / "bad_inputs.jsonl") -> list[dict]:
    """The fuzzing report's cases (tests/data/bad_inputs.jsonl): args and files, as the driver takes them."""
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
