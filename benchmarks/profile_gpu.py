"""Reference measured sweep on a CUDA GPU: MBU per point, analytic-vs-measured error before and after
calibration, predicted vs measured bytes, and the sweep's wall time.

    python benchmarks/profile_gpu.py                          # the reference sweep (needs CUDA)
    python benchmarks/profile_gpu.py --only llama-3.1-8b      # one model of it (rerun to resume)
    python benchmarks/profile_gpu.py --device cpu --smoke     # the same code path on a tiny model, no GPU

Reference sweep: llama-3.1-8b at bf16, fp8, int4 x batch 1, 4, 16, 64, 128, 256 x context 512, 2048, 8192,
32768 (prefill at batch 1, 4, 16; KV cache bf16, and fp8, which this stack reports unsupported), plus
qwen3-30b-a3b at bf16 and int4 x batch 1, 4, 16, 64 x context 512, 2048, 8192. Points that do not fit are
OOM rows; levels the stack cannot run (torchao missing, MoE experts torchao cannot quantise, fp8 below sm_89)
are unsupported rows with the reason. Results go to benchmarks/results/<gpu>/<date>/: profile.csv +
profile.meta.json (environment), one journal per model (raw timings, every memory view, power),
calibration.yaml, summary.md. A killed run resumes where it stopped when run again with the same arguments on
the same day (--out to pick the folder).

Targets (issue 5, on an H100), each printed as a PASS / FAIL / N/A line at the end and kept in summary.md:
decode at batch 1, llama-3.1-8b bf16, MBU >= 80%; calibrated analytic decode step latency within 10% (median
abs error over every decode point); measured weight and KV bytes within 2% of the analytic ones; the whole
reference sweep under 5 minutes (N/A when the run resumed or ran --only one model: then it timed only part).

It refuses to run without CUDA (exit code 2): numbers under results/ come only from real GPU runs. The
--smoke mode runs smollm2-135m on the CPU through the same functions and writes only to a temporary folder;
its target lines use the smoke model and a CPU, so they say nothing about the targets.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# (model, quants, KV dtypes, decode batches, prefill batches, contexts)
REFERENCE = [
    ("llama-3.1-8b", ["bf16", "fp8", "int4"], ["bf16", "fp8"], [1, 4, 16, 64, 128, 256], [1, 4, 16],
     [512, 2048, 8192, 32768]),
    ("qwen3-30b-a3b", ["bf16", "int4"], ["bf16"], [1, 4, 16, 64], [1, 4], [512, 2048, 8192]),
]
SMOKE = [("smollm2-135m", ["bf16", "int8"], ["bf16"], [1, 2], [1, 2], [32, 64])]

# Issue 5 targets (measured on an H100): batch-1 bf16 decode MBU, calibrated decode error, bytes error, wall time.
TARGET_MBU = 0.80
TARGET_DECODE_ERR = 0.10  # median |predicted - measured| / measured over the decode points, after calibration
TARGET_BYTES_ERR = 0.02  # |measured / analytic - 1| of weight bytes and of KV bytes per token, every level
TARGET_WALL_S = 5 * 60


def _args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cuda", help="cuda (default), cuda:N, or cpu with --smoke")
    ap.add_argument("--gpu", default=None, help="catalogue GPU id (default: detected from the device name)")
    ap.add_argument("--force-gpu", action="store_true", help="label rows --gpu even if the device reports another")
    ap.add_argument("--smoke", action="store_true", help="tiny model and grid on the CPU; writes to a temp folder")
    ap.add_argument("--only", default=None, help="run one model of the plan")
    ap.add_argument("--out", type=Path, default=None, help="results folder (default results/<gpu>/<date>)")
    ap.add_argument("--no-resume", action="store_true", help="measure every point again")
    return ap.parse_args()


def _refuse(args: argparse.Namespace) -> str | None:
    if args.device == "cpu":
        return None if args.smoke else "the CPU runs only the --smoke plan (add --smoke)"
    import torch

    if not torch.cuda.is_available():
        return (f"no CUDA device is visible (torch {torch.__version__}); the reference sweep needs an NVIDIA GPU. "
                "Use --device cpu --smoke to exercise the same code path on a tiny model.")
    return None


def _bytes_table(df: pd.DataFrame) -> pd.DataFrame:
    from profiler import catalogue
    from profiler.analytic import memory as amem
    from profiler.specs import KvDtype

    ok = df[df["status"] == "ok"].drop_duplicates(["model", "quant", "kv_dtype"])
    rows = []
    for r in ok.itertuples(index=False):
        spec, quant = catalogue.get_model(r.model), catalogue.get_quant(r.quant)
        aw, akv = amem.weight_bytes(spec, quant, 1), amem.kv_bytes_per_token(spec, KvDtype(r.kv_dtype), 1)
        rows.append({"model": r.model, "quant": r.quant, "weights_measured": int(r.weights_bytes),
                     "weights_analytic": aw, "weights_err_pct": 100 * (r.weights_bytes / aw - 1),
                     "kv_tok_measured": int(r.kv_bytes_per_token), "kv_tok_analytic": akv,
                     "kv_err_pct": 100 * (r.kv_bytes_per_token / akv - 1)})
    return pd.DataFrame(rows)


def _errors(terms: pd.DataFrame, fits) -> pd.DataFrame:
    """Median and max abs % error per (gpu, quant, phase) with the defaults and with the fitted factors."""
    from profiler.analytic.calibration import phase_errors
    from profiler.analytic.efficiency import default_efficiency

    rows = []
    for (gpu, quant), grp in terms.groupby(["gpu", "quant"]):
        for phase in ("decode", "prefill"):
            before = phase_errors(grp, default_efficiency(gpu, quant), phase)
            fit = fits.get((gpu, quant))
            after = phase_errors(grp, fit.efficiency, phase) if fit else (float("nan"),) * 2
            rows.append({"gpu": gpu, "quant": quant, "phase": phase, "points": int((grp["phase"] == phase).sum()),
                         "median_err_before_pct": 100 * before[0], "max_err_before_pct": 100 * before[1],
                         "median_err_after_pct": 100 * after[0], "max_err_after_pct": 100 * after[1]})
    return pd.DataFrame(rows)


def _calibrate(measured: pd.DataFrame, meta, out: Path):
    """(fit report, error table, calibration file, analytic terms, fits) of the measured rows."""
    from profiler.analytic import calibration
    from profiler.errors import ProfilerError

    terms = calibration.analytic_terms(measured, meta=meta)
    fits = {}
    groups = dict(iter(terms.groupby(["gpu", "quant"])))
    for gpu, quant in sorted(groups, key=lambda k: k[1] not in calibration.TIED_QUANTS):  # as fit_efficiency does
        tied = next((fits[(gpu, t)] for t in calibration.TIED_QUANTS if (gpu, t) in fits), None)
        try:
            fits[(gpu, quant)] = calibration.fit_group(gpu, quant, groups[(gpu, quant)].reset_index(drop=True),
                                                       tied.efficiency.kv_bandwidth if tied else None)
        except ProfilerError as exc:  # one group with too few points must not lose the others
            print(f"calibration {gpu}/{quant}: {exc}")
    saved = str(calibration.save_calibration(fits, out / "calibration.yaml", str(out / "profile.csv"))) if fits else ""
    return calibration.fit_report(fits), _errors(terms, fits), saved, terms, fits


def _measure(plan, args, out: Path):
    from profiler import catalogue
    from profiler.measure.sweep import run_measured_profile

    frames, meta, fresh = [], None, []
    for name, quants, kv_dtypes, batches, prefill_batches, contexts in plan:
        if args.only and name != args.only:
            continue
        t0 = time.perf_counter()
        df, meta = run_measured_profile(
            catalogue.get_model(name), args.gpu, quants, kv_dtypes, batches, contexts, device=args.device,
            out=out / f"{name}.csv", resume=not args.no_resume, prefill_batches=prefill_batches, progress=True,
            command=shlex.join([sys.executable, *sys.argv]), force_gpu=args.force_gpu, on_point=fresh.append)
        print(f"{name}: {len(df)} points ({(df['status'] == 'ok').sum()} ok) in {time.perf_counter() - t0:.1f} s")
        frames.append(df)
    if not frames:
        raise SystemExit(f"--only {args.only}: not in the plan ({', '.join(p[0] for p in plan)})")
    return pd.concat(frames, ignore_index=True), meta, len(fresh)


def _default_out(args: argparse.Namespace) -> Path:
    if args.device == "cpu":
        return Path(tempfile.mkdtemp(prefix="inferplan-smoke-"))
    import torch

    from profiler.measure.environment import detect_gpu_id

    gpu = args.gpu or detect_gpu_id(torch.cuda.get_device_name(args.device)) or "unknown-gpu"
    return ROOT / "benchmarks" / "results" / gpu / date.today().isoformat()


def _markdown(df: pd.DataFrame) -> str:
    return "```\n" + df.to_string(index=False, float_format=lambda x: f"{x:.4g}") + "\n```" if len(df) else "-"


@dataclass(frozen=True)
class Target:
    """One issue-5 target: ``passed`` None = not assessable from this run (the reason is in ``value``)."""

    name: str
    value: str
    passed: bool | None

    def line(self) -> str:
        verdict = {True: "PASS", False: "FAIL", None: "N/A "}[self.passed]
        return f"{verdict}  {self.name}: {self.value}"


def mbu_target(measured: pd.DataFrame, model: str) -> Target:
    """Decode at batch 1, bf16 weights and KV, the shortest context measured (weights dominate the bytes)."""
    name = f"decode MBU at batch 1, {model} bf16 >= {TARGET_MBU:.0%}"
    rows = measured[(measured["model"] == model) & (measured["quant"] == "bf16") & (measured["kv_dtype"] == "bf16")
                    & (measured["phase"] == "decode") & (measured["batch"] == 1) & (measured["status"] == "ok")]
    if rows.empty:
        return Target(name, f"no ok batch-1 bf16 decode row of {model} in this run", None)
    row = rows.sort_values("context").iloc[0]
    return Target(name, f"{row['mbu']:.1%} at context {int(row['context'])}", bool(row["mbu"] >= TARGET_MBU))


def decode_error_target(terms: pd.DataFrame, fits) -> Target:
    """Median abs relative error of the calibrated analytic decode step over every decode point with a fit."""
    import numpy as np

    from profiler.analytic.calibration import predict

    name = f"calibrated decode step latency, median abs error <= {TARGET_DECODE_ERR:.0%}"
    errs = []
    for (gpu, quant), fit in fits.items():
        rows = terms[(terms["gpu"] == gpu) & (terms["quant"] == quant) & (terms["phase"] == "decode")]
        errs += list(np.abs(predict(rows, fit.efficiency) - rows["t"].to_numpy()) / rows["t"].to_numpy())
    if not errs:
        return Target(name, "no calibrated decode point (too few points to fit)", None)
    med = float(np.median(errs))
    return Target(name, f"{med:.1%} over {len(errs)} decode points", med <= TARGET_DECODE_ERR)


def bytes_target(bytes_table: pd.DataFrame) -> Target:
    name = f"weight and KV bytes within {TARGET_BYTES_ERR:.0%} of the analytic ones"
    if bytes_table.empty:
        return Target(name, "no ok level to compare", None)
    worst_w = float(bytes_table["weights_err_pct"].abs().max())
    worst_kv = float(bytes_table["kv_err_pct"].abs().max())
    ok = max(worst_w, worst_kv) <= 100 * TARGET_BYTES_ERR
    return Target(name, f"worst weights {worst_w:.2f}%, worst KV/token {worst_kv:.2f}% over {len(bytes_table)} "
                        "levels", ok)


def wall_target(wall_s: float, measured_now: int, points: int, partial: str = "") -> Target:
    name = f"whole sweep wall time < {TARGET_WALL_S / 60:.0f} min"
    if partial:
        return Target(name, f"{wall_s:.0f} s, but {partial}", None)
    if measured_now < points:
        return Target(name, f"{wall_s:.0f} s, but only {measured_now} of {points} points were measured in this run "
                            "(resumed); rerun with --no-resume to time the whole sweep", None)
    return Target(name, f"{wall_s:.0f} s for {points} points", wall_s < TARGET_WALL_S)


def targets(measured, bytes_table, terms, fits, wall_s: float, measured_now: int, model: str,
            partial: str = "") -> list[Target]:
    return [mbu_target(measured, model), decode_error_target(terms, fits), bytes_target(bytes_table),
            wall_target(wall_s, measured_now, len(measured), partial)]


def _print_tables(measured, bytes_table, errors, report) -> None:
    pd.set_option("display.width", 200)
    ok = measured[measured["status"] == "ok"]
    cols = ["model", "quant", "phase", "batch", "context", "latency_ms", "tokens_per_s", "mbu", "mfu", "power_w"]
    print("\nMBU per point (measured):")
    print(ok[cols].to_string(index=False, float_format=lambda x: f"{x:.4g}"))
    print("\nweight and KV bytes, measured vs analytic:")
    print(bytes_table.to_string(index=False, float_format=lambda x: f"{x:.3f}"))
    print("\nanalytic vs measured latency, before (defaults) and after calibration:")
    print(errors.to_string(index=False, float_format=lambda x: f"{x:.2f}"))
    if len(report):
        print("\nfitted efficiencies:")
        shown = report.drop(columns=["extrapolation", "model_extrapolation"])
        print(shown.to_string(index=False, float_format=lambda x: f"{x:.4g}"))


def _run(args: argparse.Namespace) -> int:
    from profiler.schema import write_profile

    plan = SMOKE if args.smoke else REFERENCE
    out = args.out or _default_out(args)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    measured, meta, measured_now = _measure(plan, args, out)
    wall = time.perf_counter() - t0
    write_profile(measured, out / "profile.csv", meta)
    bytes_table = _bytes_table(measured)
    report, errors, saved, terms, fits = _calibrate(measured, meta, out)
    _print_tables(measured, bytes_table, errors, report)
    from profiler.api import clipping_warnings

    for warning in clipping_warnings(fits):
        print(f"warning: {warning}")
    print(f"\nsweep wall time: {wall:.1f} s ({len(measured)} points, {(measured['status'] == 'ok').sum()} ok) on "
          f"{meta.environment['device']}")
    partial = f"--only {args.only} ran part of the sweep" if args.only else ""
    checks = targets(measured, bytes_table, terms, fits, wall, measured_now, plan[0][0], partial)
    print("\ntargets (issue 5, on an H100)" + (": smoke run on a CPU, these lines say nothing about them" if
                                             args.smoke else "") + ":")
    for check in checks:
        print(check.line())
    _summary(out, measured, bytes_table, errors, report, wall, meta, saved, checks)
    print(f"wrote {out}")
    return 0


def main() -> int:
    args = _args()
    reason = _refuse(args)
    if reason:
        print(f"profile_gpu.py: {reason}", file=sys.stderr)
        return 2
    from profiler.errors import InferplanError

    try:
        return _run(args)
    except InferplanError as exc:  # e.g. --gpu contradicting the device: one line, no traceback
        print(f"profile_gpu.py: error: {exc}", file=sys.stderr)
        return 1


def _summary(out: Path, measured, bytes_table, errors, report, wall: float, meta, saved: str, checks) -> None:
    env = meta.environment
    lines = [f"# Measured profile, {date.today().isoformat()}", "",
             f"- device: {env.get('gpu_name', env.get('cpu'))} ({env['gpu']}), driver "
             f"{env.get('nvml', {}).get('driver', 'n/a') if isinstance(env.get('nvml'), dict) else 'n/a'}, "
             f"torch {env['torch']}, transformers {env['transformers']}, torchao {env['torchao']}",
             f"- command: `{meta.command}`",
             f"- sweep wall time: {wall:.1f} s; points: {len(measured)} "
             f"({(measured['status'] == 'ok').sum()} ok, {(measured['status'] == 'oom').sum()} oom, "
             f"{(measured['status'] == 'unsupported').sum()} unsupported)",
             f"- calibration file: {saved or 'none (too few points)'}", "", "## Targets", "",
             *[f"- {c.line()}" for c in checks], "", "## Bytes", "",
             _markdown(bytes_table), "", "## Latency error of the analytic model", "", _markdown(errors)]
    if len(report):
        lines += ["", "## Fitted efficiencies", "", _markdown(report)]
    (out / "summary.md").write_text("\n".join(lines) + "\n", encoding="utf-8")


if __name__ == "__main__":
    raise SystemExit(main())
