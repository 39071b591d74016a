"""Reference sweep on a CUDA GPU: measured vs analytic, before and after calibration, and wall time.

    python benchmarks/profile_gpu.py                      # the reference sweep (needs CUDA)
    python benchmarks/profile_gpu.py --device cpu --smoke # same code path on a tiny model, no GPU

Reference sweep: llama-3.1-8b at bf16, fp8, int4 x batch 1, 4, 16, 64, 128, 256 x context 512, 2048, 8192,
32768 (points that do not fit are OOM rows), plus qwen3-30b-a3b at bf16. Prints MBU per point, the
analytic-vs-measured median abs error per phase before and after `calibrate`, predicted vs measured
weight and KV bytes, and the sweep's wall time. Results go to benchmarks/results/<gpu>/<date>/
(profile.csv + profile.meta.json with the environment, calibration.yaml, summary.txt). It never writes
numbers it did not measure: without CUDA it refuses (except --smoke on CPU, which writes nothing there).
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import date
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

REFERENCE = [
    ("llama-3.1-8b", ["bf16", "fp8", "int4"], [1, 4, 16, 64, 128, 256], [512, 2048, 8192, 32768]),
    ("qwen3-30b-a3b", ["bf16"], [1, 4, 16, 64], [512, 2048, 8192]),
]
SMOKE = [("smollm2-135m", ["bf16"], [1, 2], [32, 64])]


def _errors(measured: pd.DataFrame, cal_path: Path | None) -> pd.DataFrame:
    """Median abs % error of the analytic profile vs the measured rows, per phase."""
    from profiler import catalogue
    from profiler.analytic.calibration import analytic_times, predict
    from profiler.analytic.efficiency import efficiency_for

    rows = []
    ok = measured[measured["status"] == "ok"]
    for (gpu, quant), grp in ok.groupby(["gpu", "quant"]):
        if gpu not in catalogue.load_gpus():
            continue
        df = analytic_times(grp)
        eff = efficiency_for(gpu, quant, cal_path)
        for phase in ("prefill", "decode"):
            sel = df[df["phase"] == phase]
            if len(sel):
                err = ((predict(sel, eff) - sel["t"]).abs() / sel["t"]).median()
                rows.append({"gpu": gpu, "quant": quant, "phase": phase, "median_abs_err_pct": 100 * err,
                             "efficiency": "calibrated" if cal_path else "defaults"})
    return pd.DataFrame(rows)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--gpu", default="h100-sxm", help="catalogue id of the GPU this runs on")
    ap.add_argument("--smoke", action="store_true", help="tiny model, tiny grid (CPU-friendly)")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()

    import torch

    from profiler import catalogue
    from profiler.analytic import calibration
    from profiler.analytic import memory as amem
    from profiler.measure.sweep import run_measured_profile
    from profiler.schema import write_profile
    from profiler.specs import KvDtype

    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print("profile_gpu.py: no CUDA device visible; the reference sweep needs an H100/H200. "
              "Use --device cpu --smoke to exercise the code path.", file=sys.stderr)
        return 2
    plan = SMOKE if args.smoke else REFERENCE
    out = args.out or (ROOT / "benchmarks" / "results" / (args.gpu if args.device != "cpu" else "cpu-smoke")
                       / date.today().isoformat())
    if args.device == "cpu" and args.out is None:
        out = Path("/tmp") / "inferplan-profile-smoke"
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    frames, meta = [], None
    for name, quants, batches, contexts in plan:
        spec = catalogue.get_model(name)
        df, meta = run_measured_profile(spec, args.gpu if args.device != "cpu" else None, quants, [KvDtype.BF16],
                                        batches, contexts, device=args.device, out=out / f"{name}.csv", progress=True)
        frames.append(df)
        for q in quants:
            row = df[(df["quant"] == q) & (df["status"] == "ok")]
            if len(row):
                wb, kv = int(row["weights_bytes"].iloc[0]), int(row["kv_bytes_per_token"].iloc[0])
                aw = amem.weight_bytes(spec, catalogue.get_quant(q), 1)
                akv = amem.kv_bytes_per_token(spec, KvDtype.BF16, 1)
                print(f"{name} {q}: weights {wb:,} B measured vs {aw:,} analytic ({wb / aw - 1:+.2%}); "
                      f"KV/token {kv:,} vs {akv:,} ({kv / akv - 1:+.2%})")
    wall = time.perf_counter() - t0
    measured = pd.concat(frames, ignore_index=True)
    write_profile(measured, out / "profile.csv", meta)
    dec = measured[(measured["phase"] == "decode") & (measured["status"] == "ok")]
    print(dec[["model", "quant", "batch", "context", "latency_ms", "tokens_per_s", "mbu"]].to_string(index=False))
    if args.device != "cpu":
        before = _errors(measured, None)
        fits = calibration.fit_efficiency(measured)
        cal = calibration.save_calibration(fits, out / "calibration.yaml", source_file=str(out / "profile.csv"))
        after = _errors(measured, cal)
        print(calibration.fit_report(fits).to_string(index=False))
        print(pd.concat([before, after]).to_string(index=False))
    print(f"sweep wall time: {wall:.1f} s (target < 300 s on an H100)")
    (out / "summary.txt").write_text(f"wall_s={wall:.1f}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
