"""The worker that runs bad inputs through the real CLI in-process: ``python -m tests.fuzz.driver``.

It reads one case per line on stdin (JSON: ``args``, ``files``, optional ``home_files``) and answers one result per
line on stdout (JSON: ``exit_code``, ``traceback`` (the exception type, or null), ``stderr`` (its text), ``seconds``,
``timed_out``). Each case runs in a fresh folder with a fresh ``$INFERPLAN_HOME``, under a soft time limit (an
exception raised at the next bytecode); :mod:`tests.fuzz.runner` adds the hard limits a worker cannot give itself
(memory, a hang in C code, a crash) by killing and restarting it.

Running in-process saves the interpreter start and the imports per case (about a second each), which is what lets
the suite replay the report and a seeded set of new inputs in well under two minutes on two cores.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sys
import tempfile
import time
import traceback
import warnings
from pathlib import Path

from tests.fuzz.files import write_files

# Warnings Python itself shows a user by default; the rest (Deprecation, Pending, Import, Resource) it hides.
SHOWN_WARNINGS = (UserWarning, RuntimeWarning, FutureWarning, SyntaxWarning, UnicodeWarning, BytesWarning)


class CaseTimeout(BaseException):
    """Raised by the soft time limit; a BaseException so neither the CLI nor click's runner swallows it."""


def _alarm(signum, frame):
    raise CaseTimeout()


def run_case(case: dict, timeout_s: float) -> dict:
    from typer.testing import CliRunner

    from planner.cli import app

    folder = Path(tempfile.mkdtemp(prefix="fuzz-"))
    home = folder / "_home"
    home.mkdir()
    write_files(folder, case.get("files", {}))
    write_files(home, case.get("home_files", {}))
    cwd = os.getcwd()
    os.chdir(folder)
    env = {"INFERPLAN_HOME": str(home), "COLUMNS": "100", "NO_COLOR": "1"}
    result = {"exit_code": None, "traceback": None, "stderr": "", "stdout_tail": "", "seconds": 0.0,
              "timed_out": False, "warnings": []}
    start = time.perf_counter()
    signal.setitimer(signal.ITIMER_REAL, timeout_s)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            r = CliRunner().invoke(app, case["args"], env=env, catch_exceptions=True)
        result["exit_code"] = r.exit_code
        result["stderr"] = r.stderr
        result["stdout_tail"] = r.stdout[-400:]
        if r.exception is not None and not isinstance(r.exception, SystemExit):
            result["traceback"] = "".join(traceback.format_exception(r.exception))[-3000:]
        result["warnings"] = [f"{w.category.__name__}: {w.message}" for w in caught
                              if issubclass(w.category, SHOWN_WARNINGS)]
    except CaseTimeout:
        result["timed_out"] = True
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        result["seconds"] = round(time.perf_counter() - start, 3)
        os.chdir(cwd)
        shutil.rmtree(folder, ignore_errors=True)
    return result


def main() -> None:
    timeout_s = float(sys.argv[1]) if len(sys.argv) > 1 else 20.0
    out = os.fdopen(os.dup(sys.stdout.fileno()), "w", buffering=1)  # the CLI runner swaps sys.stdout per case
    signal.signal(signal.SIGALRM, _alarm)
    import planner.cli  # noqa: F401  (imported once, before the first case's clock starts)

    out.write(json.dumps({"ready": True}) + "\n")
    for line in sys.stdin:
        if not line.strip():
            continue
        out.write(json.dumps(run_case(json.loads(line), timeout_s)) + "\n")


if __name__ == "__main__":
    main()
