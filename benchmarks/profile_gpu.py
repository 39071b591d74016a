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

It refuses to run without CUDA (exit code 2): numbers under results/ come only from real GPU runs. The
--smoke mode runs smollm2-135m on the CPU through the same functions and writes only to a temporary folder.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
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


def _args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cuda", help="cuda (default), cuda:N, or cpu with --smoke")
    ap.add_argument("--gpu", default=None, help="catalogue GPU id (default: detected from the device name)")
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


def _calibrate(measured: pd.DataFrame, meta, out: Path) -> tuple[pd.DataFrame, pd.DataFrame, str]:
    from profiler.analytic import calibration
    from profiler.errors import ProfilerError

    terms = calibration.analytic_terms(measured, meta=meta)
    fits = {}
    for (gpu, quant), grp in terms.groupby(["gpu", "quant"]):
        try:
            fits[(gpu, quant)] = calibration.fit_group(gpu, quant, grp.reset_index(drop=True))
        except ProfilerError as exc:
            print(f"calibration {gpu}/{quant}: {exc}")
    saved = str(calibration.save_calibration(fits, out / "calibration.yaml", str(out / "profile.csv"))) if fits else ""
    return calibration.fit_report(fits), _errors(terms, fits), saved


def _measure(plan, args, out: Path):
    from profiler import catalogue
    from profiler.measure.sweep import run_measured_profile

    frames, meta = [], None
    for name, quants, kv_dtypes, batches, prefill_batches, contexts in plan:
        if args.only and name != args.only:
            continue
        t0 = time.perf_counter()
        df, meta = run_measured_profile(
            catalogue.get_model(name), args.gpu, quants, kv_dtypes, batches, contexts, device=args.device,
            out=out / f"{name}.csv", resume=not args.no_resume, prefill_batches=prefill_batches, progress=True,
            command=" ".join(sys.argv))
        print(f"{name}: {len(df)} points ({(df['status'] == 'ok').sum()} ok) in {time.perf_counter() - t0:.1f} s")
        frames.append(df)
    if not frames:
        raise SystemExit(f"--only {args.only}: not in the plan ({', '.join(p[0] for p in plan)})")
    return pd.concat(frames, ignore_index=True), meta


def _default_out(args: argparse.Namespace) -> Path:
    if args.device == "cpu":
        return Path(tempfile.mkdtemp(prefix="inferplan-smoke-"))
    import torch

    from profiler.measure.environment import detect_gpu_id

    gpu = args.gpu or detect_gpu_id(torch.cuda.get_device_name(args.device)) or "unknown-gpu"
    return ROOT / "benchmarks" / "results" / gpu / date.today().isoformat()


def _markdown(df: pd.DataFrame) -> str:
    return "```\n" + df.to_string(index=False, float_format=lambda x: f"{x:.4g}") + "\n```" if len(df) else "-"


def main() -> int:
    args = _args()
    reason = _refuse(args)
    if reason:
        print(f"profile_gpu.py: {reason}", file=sys.stderr)
        return 2
    from profiler.schema import write_profile

    plan = SMOKE if args.smoke else REFERENCE
    out = args.out or _default_out(args)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    measured, meta = _measure(plan, args, out)
    wall = time.perf_counter() - t0
    write_profile(measured, out / "profile.csv", meta)
    pd.set_option("display.width", 200)
    ok = measured[measured["status"] == "ok"]
    cols = ["model", "quant", "phase", "batch", "context", "latency_ms", "tokens_per_s", "mbu", "mfu", "power_w"]
    print("\nMBU per point (measured):")
    print(ok[cols].to_string(index=False, float_format=lambda x: f"{x:.4g}"))
    print("\nweight and KV bytes, measured vs analytic:")
    bytes_table = _bytes_table(measured)
    print(bytes_table.to_string(index=False, float_format=lambda x: f"{x:.3f}"))
    report, errors, saved = _calibrate(measured, meta, out)
    print("\nanalytic vs measured latency, before (defaults) and after calibration:")
    print(errors.to_string(index=False, float_format=lambda x: f"{x:.2f}"))
    if len(report):
        print("\nfitted efficiencies:")
        print(report.drop(columns=["extrapolation"]).to_string(index=False, float_format=lambda x: f"{x:.4g}"))
    print(f"\nsweep wall time: {wall:.1f} s ({len(measured)} points, {len(ok)} ok) on {meta.environment['device']}")
    _summary(out, measured, bytes_table, errors, report, wall, meta, saved)
    print(f"wrote {out}")
    return 0


def _summary(out: Path, measured, bytes_table, errors, report, wall: float, meta, saved: str) -> None:
    env = meta.environment
    lines = [f"# Measured profile, {date.today().isoformat()}", "",
             f"- device: {env.get('gpu_name', env.get('cpu'))} ({env['gpu']}), driver "
             f"{env.get('nvml', {}).get('driver', 'n/a') if isinstance(env.get('nvml'), dict) else 'n/a'}, "
             f"torch {env['torch']}, transformers {env['transformers']}, torchao {env['torchao']}",
             f"- sweep wall time: {wall:.1f} s; points: {len(measured)} "
             f"({(measured['status'] == 'ok').sum()} ok, {(measured['status'] == 'oom').sum()} oom, "
             f"{(measured['status'] == 'unsupported').sum()} unsupported)",
             f"- calibration file: {saved or 'none (too few points)'}", "", "## Bytes", "",
             _markdown(bytes_table), "", "## Latency error of the analytic model", "", _markdown(errors)]
    if len(report):
        lines += ["", "## Fitted efficiencies", "", _markdown(report)]
    (out / "summary.md").write_text("\n".join(lines) + "\n", encoding="utf-8")


if __name__ == "__main__":
    raise SystemExit(main())
