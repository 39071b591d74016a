"""Mutation check: does the test suite catch a wrong number?

Each mutation below is a small, plausible slip in the planner or the simulator (a flipped comparison, a term
dropped from the bill, an off-by-one in the scheduler). For each one the script copies the working tree into a
temporary folder, applies the mutation there (never to your checkout), runs the test suite on the copy and
records whether some test failed (the mutation is *caught*) or all passed (it *survived*).

    python benchmarks/mutation_check.py                  # every mutation, the whole suite (-x: first failure)
    python benchmarks/mutation_check.py --list           # the mutations, nothing run
    python benchmarks/mutation_check.py --only bill      # mutations whose name contains "bill"
    python benchmarks/mutation_check.py --tests tests/planner   # a narrower suite (faster; may miss catches)

Prints one line per mutation (caught by which test, or SURVIVED) and a summary; the exit code is 1 when a
mutation survived or no longer applies (its source text changed: update the mutation with the code), else 0.
Run it from the repository root with the project's venv (the one the tests use).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SKIP = shutil.ignore_patterns(".git", ".venv", "__pycache__", "*.egg-info", "build", "dist", ".pytest_cache",
                              ".ruff_cache", ".hypothesis")


@dataclass(frozen=True)
class Mutation:
    name: str
    path: str  # relative to the repository root
    old: str  # must occur exactly once in the file
    new: str
    why: str  # the slip it stands for


MUTATIONS = (
    # --- capacity: the rate and the SLO checks that set the replica count --------------------------------------
    Mutation("capacity-tpot-slo-loosened", "planner/capacity.py",
             "    if tpot > w.tpot_p99_s:", "    if tpot > w.tpot_p99_s * 1.25:",
             "TPOT compared with a target 25% looser than the user's"),
    Mutation("capacity-prefill-limit-flipped", "planner/capacity.py",
             "    if p > CHUNK_TOKENS - b:", "    if p >= CHUNK_TOKENS + b:",
             "the prefill budget check lets through more prefill than a step holds"),
    Mutation("capacity-rate-drops-prefill-steps", "planner/capacity.py",
             "    lam = b / ((l_out + _prefill_steps(l_in * f, b)) * tpot)", "    lam = b / (l_out * tpot)",
             "a request's prefill steps left out of Little's law: the sustained rate too high"),
    Mutation("capacity-utilisation-cap", "planner/capacity.py",
             "MAX_UTILISATION = 0.8 ", "MAX_UTILISATION = 0.9 ",
             "replicas loaded to 90% instead of the documented 80%"),
    Mutation("capacity-replicas-rounded-not-ceiled", "planner/capacity.py",
             "    return max(1, math.ceil(peak_requests_per_s / capacity.requests_per_s - 1e-12))",
             "    return max(1, round(peak_requests_per_s / capacity.requests_per_s))",
             "replicas rounded to nearest instead of up"),
    Mutation("launch-max-model-len-whole-context", "planner/capacity.py",
             "    return max_model_len(longest_request_tokens, model_max_context)", "    return model_max_context",
             "--max-model-len admits the model's whole context, not the request the plan was sized on"),
    Mutation("prefix-cache-ignored-by-self-hosting", "planner/capacity.py",
             "    return 1.0 - w.cached_input_fraction", "    return 1.0",
             "cached prompt tokens discount only the API side"),
    # --- the bill ----------------------------------------------------------------------------------------------
    Mutation("bill-hosts-drop-orchestrators", "planner/tco.py",
             "    hosts = d.total_replicas + d.orchestrators", "    hosts = d.total_replicas",
             "per-host items forget the orchestration hosts"),
    Mutation("bill-egress-dropped", "planner/tco.py",
             "    return p[\"unit_usd\"] + egress, (", "    return p[\"unit_usd\"], (",
             "the egress term dropped from the networking line"),
    Mutation("guard-spare-instance-dropped", "planner/guard.py",
             "        total = share * (2 if spare and share < 1 else 1) + (1 if spare and share >= 1 else 0)",
             "        total = share", "the guard model loses its spare instance"),
    Mutation("guard-output-check-dropped", "planner/guard.py",
             '"input-output": (mean_in, mean_out)', '"input-output": (mean_in,)',
             "input-output guardrails screen only the prompts"),
    Mutation("incidents-off-hours-premium-dropped", "planner/tco.py",
             "    cost = hours * d.engineer_usd_per_hour * (1 + off_hours * premium)",
             "    cost = hours * d.engineer_usd_per_hour", "on-call pay left out of incident response"),
    Mutation("month-api-30-days", "planner/units.py",
             "DAYS_PER_MONTH = HOURS_PER_MONTH / 24", "DAYS_PER_MONTH = 30",
             "the API month is 30 days while the GPU month is 730 h"),
    Mutation("compliance-shared-costs-not-netted", "planner/crossover.py",
             "    return MemoCost(lambda v: (memo(v)[0] - shared(v) / margin, memo(v)[1]))", "    return memo",
             "break-evens ignore the costs both sides pay"),
    Mutation("bill-idle-gpus-dropped", "planner/search.py",
             "            + idle * usd_per_gpu_hour * HOURS_PER_MONTH)", "            + 0 * idle)",
             "the fast bill (crossover, cost curve) forgets idle GPUs of whole rented instances"),
    Mutation("curve-lower-bound-overestimated", "planner/cost_curve.py",
             "        bound = ns * self.tps * self.usd_min", "        bound = 2 * ns * self.tps * self.usd_min",
             "the cost curve's lower bound on a candidate's GPU bill is not a bound: it skips cheaper candidates"),
    Mutation("curve-egress-priced-once", "planner/tco.py",
             '"fixed_plus_per_request", "fixed_plus_egress", "guard_model"',
             '"fixed_plus_per_request", "guard_model"',
             "egress, which grows with traffic, is priced once per deployment on the cost curve"),
    Mutation("api-output-tokens-dropped", "planner/api_costs.py",
             "           + np.asarray(tokens_out_per_day, dtype=float) / 1e6 * np.asarray(usd_per_mtok_out, "
             "dtype=float))",
             "           + 0.0)",
             "API cost without output tokens"),
    # --- crossover ---------------------------------------------------------------------------------------------
    Mutation("crossover-grid-resolution-only", "planner/crossover.py",
             "OFF_GRID_BUDGET = 12 ", "OFF_GRID_BUDGET = 0 ",
             "the break-even search sees only grid points: a window cheaper to self-host between two is missed"),
    # --- redundancy --------------------------------------------------------------------------------------------
    Mutation("redundancy-normal-start-kept", "planner/redundancy.py",
             "        while k > 0 and ok(k - 1):\n            k -= 1\n", "",
             "the availability search keeps the normal approximation's start when it already meets the target"),
    Mutation("redundancy-zone-loss-off-by-one", "planner/redundancy.py",
             "    while n - math.ceil(n / zones) < n_peak:", "    while n - math.ceil(n / zones) <= n_peak:",
             "zone-loss rule asks one replica too many"),
    Mutation("redundancy-availability-comparison-flipped", "planner/redundancy.py",
             "        return prob_at_least(n_peak + spares, n_peak, a) >= target",
             "        return prob_at_least(n_peak + spares, n_peak, a) > target + 1e-4",
             "availability target compared against a stricter value than the user's"),
    # --- the continuous-batching scheduler ----------------------------------------------------------------------
    Mutation("scheduler-too-long-off-by-one", "planner/simulate/engine.py",
             "    too_long = total - 1 > config.kv_tokens", "    too_long = total > config.kv_tokens",
             "a request whose last token needs no KV slot is refused (off by one)"),
    Mutation("scheduler-block-rounding-off-by-one", "planner/simulate/engine.py",
             "        p_need = (b.computed[partial] + p_chunk + bs - 1) // bs - b.held[partial]",
             "        p_need = (b.computed[partial] + p_chunk + bs) // bs - b.held[partial]",
             "a prefill chunk asks one KV block too many on block boundaries"),
    Mutation("scheduler-seats-off-by-one", "planner/simulate/state.py",
             "    while waiting and budget > 0 and len(running) < max_seqs:",
             "    while waiting and budget > 0 and len(running) <= max_seqs:",
             "the scheduler admits one sequence more than --max-num-seqs"),
    Mutation("scheduler-no-evict-reservation-leak", "planner/simulate/state.py",
             "        b.resv -= b.maxb[v]\n        b.cnt[", "        b.cnt[",
             "guaranteed-no-evict never releases a finished request's reservation"),
    Mutation("scheduler-sglang-ratio-not-reset", "planner/simulate/state.py",
             "    b.ratio0 = min(1.0, (out + SGLANG_RETRACT_DECODE_STEPS * n_dec) / mx) if mx else 1.0",
             "    b.ratio0 = b.ratio0",
             "SGLang's new_token_ratio is not reset after a retraction, so it keeps admitting optimistically"),
    # --- the analytic step model (profiler/analytic) ------------------------------------------------------------
    Mutation("kernels-launch-floor-scaled-by-activations", "profiler/analytic/kernels.py",
             "    per_launch = (w.quant_bytes + w.plain_bytes + activations) / launches",
             "    per_launch = (w.quant_bytes + w.plain_bytes) / launches",
             "a GEMM's launch floor read at its weights only (scaled by the activation traffic)"),
    Mutation("allreduce-table-one-size-off", "profiler/analytic/kernel_efficiency.py",
             "    i = int(pos)\n", "    i = min(int(pos) + 1, last - 1)\n",
             "the all-reduce table read one message size too large"),
    Mutation("fp4-gemm-runs-at-the-bf16-fit", "profiler/analytic/kernel_efficiency.py",
             '"fp4" if dtype.startswith("fp4")', '"bf16" if dtype.startswith("fp4")',
             "an NVFP4 GEMM timed with the bf16 family's efficiency"),
    # --- the p99 model: what the default plan sizes replicas on ----------------------------------------------
    Mutation("tail-slot-wait-dropped", "planner/tail.py",
             "        wait = np.where(ahead > 0, rng.gamma(np.maximum(ahead, 1), 1.0 / mu[-1]), 0.0)",
             "        wait = np.zeros(samples)",
             "requests that find every slot taken start at once: no Erlang wait in TTFT"),
    Mutation("tail-prefill-variance-dropped", "planner/tail.py",
             "        a = lam + mu + lam * (mu0 ** 2 * c2 + 2 * mu0 * c)", "        a = lam + mu",
             "the batch's spread without the prefill work arrivals bring: p99s too low"),
    Mutation("tail-tpot-ignores-prefill", "planner/tail.py",
             "        tpot = (decode + work) / steps", "        tpot = decode / steps",
             "a request's TPOT without the prompts prefilled during its decode"),
    Mutation("tail-bisection-keeps-failing-rate", "planner/tail.py",
             "                lo, best = mid, p", "                hi, best = mid, p",
             "the capacity search narrows the wrong end on a passing probe"),
    # --- the decision framework (issue 19) -------------------------------------------------------------------------
    Mutation("needs-unmet-need-does-not-flip", "planner/needs.py",
             '    unmet = [r for r in results if r.api_can_meet == "no"]', "    unmet = []",
             "a need no API meets only qualifies the verdict instead of making it a capability decision"),
    Mutation("framework-rule-of-thumb-multipliers-swapped", "planner/framework.py",
             "    mult = RULE_OF_THUMB[existing]", "    mult = RULE_OF_THUMB[not existing]",
             "step 3 uses x2.5 without existing ML infrastructure and x3 with it"),
    Mutation("framework-middle-ground-ignores-infrastructure", "planner/framework.py",
             "    if w.existing_infra or not (band or close):", "    if not (band or close):",
             "the middle-ground warning fires on an existing platform, where the seed says self-hosting can win"),
    Mutation("latency-median-under-limit-called-a-miss", "planner/latency.py",
             '    return "no" if total_s > limit_s and not upper_bound else "unknown"',
             '    return "no" if total_s > limit_s * 2 and not upper_bound else "unknown"',
             "a published median over the limit is not taken as proof that the API's p99 misses it"),
    Mutation("trends-decline-per-month-not-per-year", "planner/trends.py",
             "    return (1.0 - annual_decline) ** (months / 12.0)", "    return (1.0 - annual_decline) ** months",
             "an annual price decline applied every month"),
)


def _apply(tree: Path, m: Mutation) -> str | None:
    """Apply `m` in `tree`; None when done, else why it could not be applied."""
    path = tree / m.path
    if not path.is_file():
        return f"{m.path} does not exist"
    text = path.read_text(encoding="utf-8")
    count = text.count(m.old)
    if count != 1:
        return f"its source text occurs {count} times in {m.path} (expected once)"
    path.write_text(text.replace(m.old, m.new), encoding="utf-8")
    return None


def _run_suite(tree: Path, tests: list[str], timeout_s: float) -> tuple[bool, str, float]:
    """(caught, first failing test or note, seconds) for the suite run on `tree`; the note ends with pytest's
    last lines when no failing test could be named."""
    env = {**os.environ, "PYTHONPATH": str(tree), "PYTHONDONTWRITEBYTECODE": "1"}
    cmd = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", "--no-header", "-rfE", *tests]
    t0 = time.perf_counter()
    try:
        r = subprocess.run(cmd, cwd=tree, env=env, capture_output=True, text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        return True, f"suite timed out after {timeout_s:.0f} s (counted as caught: it did not pass)", timeout_s
    dt = time.perf_counter() - t0
    if r.returncode == 0:
        return False, "", dt
    failed = re.findall(r"^(?:FAILED|ERROR) (\S+)", r.stdout, flags=re.M)
    if not failed:
        failed = re.findall(r"^(\S+::\S+) (?:FAILED|ERROR)", r.stdout, flags=re.M)
    if failed:
        return True, failed[0], dt
    return True, f"pytest exit {r.returncode}:\n" + "\n".join((r.stdout + r.stderr).splitlines()[-15:]), dt


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--list", action="store_true", help="list the mutations and exit")
    ap.add_argument("--only", default="",
                    help="run the mutations whose name contains this text (comma-separated: any of them)")
    ap.add_argument("--tests", nargs="*", default=["tests"], help="test paths to run (default: the whole suite)")
    ap.add_argument("--timeout", type=float, default=None,
                    help="seconds per mutated suite run (default: 3x the unmutated run, at least 120); a mutant "
                         "that hangs the suite is counted as caught when it runs out")
    args = ap.parse_args(argv)

    chosen = [m for m in MUTATIONS if any(o in m.name for o in args.only.split(","))]
    if args.list or not chosen:
        for m in MUTATIONS:
            print(f"{m.name:45s} {m.path:28s} {m.why}")
        return 0 if args.list else 1

    survived, stale = [], []
    with tempfile.TemporaryDirectory(prefix="inferplan-mutants-") as tmp:
        pristine = Path(tmp) / "pristine"
        shutil.copytree(ROOT, pristine, ignore=SKIP, symlinks=True)
        ok, note, dt = _run_suite(pristine, args.tests, args.timeout or 3600.0)
        if ok:
            print(f"the unmutated suite fails ({note}): fix it before checking mutations")
            return 1
        timeout = args.timeout or max(120.0, 3 * dt)
        print(f"unmutated suite passes in {dt:.0f} s; {len(chosen)} mutations, {timeout:.0f} s allowed each")
        for m in chosen:
            tree = Path(tmp) / m.name
            shutil.copytree(pristine, tree, symlinks=True)
            why = _apply(tree, m)
            if why:
                stale.append(m.name)
                print(f"STALE     {m.name}: {why}")
            else:
                caught, by, dt = _run_suite(tree, args.tests, timeout)
                if not caught:
                    survived.append(m.name)
                print(f"{'caught  ' if caught else 'SURVIVED'}  {m.name:45s} {dt:5.0f} s  "
                      f"{by if caught else m.why}", flush=True)
            shutil.rmtree(tree, ignore_errors=True)
    n = len(chosen)
    print(f"{n - len(survived) - len(stale)} of {n} mutations caught; {len(survived)} survived; {len(stale)} stale")
    return 1 if survived or stale else 0


if __name__ == "__main__":
    sys.exit(main())
