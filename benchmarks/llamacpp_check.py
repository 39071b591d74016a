"""Check the analytic model's Apple-silicon estimates against published llama.cpp numbers, and refit its constants.

    python benchmarks/llamacpp_check.py          # per row: published vs analytic tokens/s; median / worst error
    python benchmarks/llamacpp_check.py --fit    # recompute the Apple/GGUF constants from the FITTING rows only

Rows: benchmarks/data/llamacpp_published.yaml (llama.cpp discussion #4167 llama-bench rows, LLaMA-2 7B; XiongjieDai
LLaMA 3 8B rows), split FITTING (M1/M2) / VALIDATION (M3/M4). An estimate is the profiler's own timing
(profiler.analytic.timing.decode_step / prefill, what `inferplan profile` rows use): tg N = one decode step at
batch 1 and context N/2 (llama-bench generates N tokens from an empty cache), pp N = a prefill of N tokens.
Without --fit the efficiencies are the defaults (efficiency.efficiency_for: kernel_efficiency.APPLE_* and
efficiency.BANDWIDTH_RATIO / COMPUTE_RATIO gguf-*); with --fit they are recomputed here from the fitting rows and
printed beside the constants in the code (tests/profiler/test_llamacpp_check.py asserts they agree).

The fit: decode at batch 1 is memory-bound kernel by kernel, so t = A / eta_q + B / eta_fp16 + L x c with A the
quant-format weight bytes over bandwidth, B the fp16 KV / activation bytes over bandwidth, L the layers and c the
per-layer fixed time: linear in (1/eta_fp16, 1/eta_q8, 1/eta_q4, c), solved by least squares on relative error.
Prefill: per kernel family, the one compute fraction minimising the squared log error (golden-section search).
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from profiler import catalogue  # noqa: E402
from profiler.analytic import efficiency as eff_mod  # noqa: E402
from profiler.analytic import kernel_efficiency as ke  # noqa: E402
from profiler.analytic import timing  # noqa: E402
from profiler.specs import Efficiency, GpuSpec, KvDtype  # noqa: E402

DATA = Path(__file__).resolve().parent / "data" / "llamacpp_published.yaml"
FAMILIES = ("fp16", "gguf-q8", "gguf-q4")
SIG = 3  # significant digits the code keeps of each fitted constant


@dataclass(frozen=True)
class Row:
    chip: str
    gpu: GpuSpec
    model: str
    quant: str  # inferplan quant id
    phase: str  # "tg" or "pp"
    tokens: int
    published: float  # tokens/s
    split: str
    source: str

    @property
    def family(self) -> str:
        return eff_mod.kernel_family(self.quant)


@dataclass(frozen=True)
class Constants:
    bandwidth: float  # fp16 streaming fraction (kernel_efficiency.APPLE_BANDWIDTH)
    compute: float  # fp16 prefill compute fraction (APPLE_COMPUTE)
    layer_overhead_s: float  # APPLE_LAYER_OVERHEAD_S
    bw_ratio: dict  # gguf family -> BANDWIDTH_RATIO
    c_ratio: dict  # gguf family -> COMPUTE_RATIO

    def efficiency(self, family: str) -> Efficiency:
        bw = self.bandwidth * self.bw_ratio.get(family, 1.0)
        return Efficiency(bandwidth=bw, compute=self.compute * self.c_ratio.get(family, 1.0), step_overhead_s=0.0,
                          kv_bandwidth=self.bandwidth, layer_overhead_s=self.layer_overhead_s,
                          source="benchmarks/llamacpp_check.py")

    def rounded(self) -> Constants:
        return Constants(_sig(self.bandwidth), _sig(self.compute), _sig(self.layer_overhead_s),
                         {k: _sig(v) for k, v in self.bw_ratio.items()}, {k: _sig(v) for k, v in self.c_ratio.items()})


def _sig(x: float) -> float:
    return float(f"{x:.{SIG}g}")


def code_constants() -> Constants:
    """The constants as the code holds them."""
    fams = FAMILIES[1:]
    return Constants(ke.APPLE_BANDWIDTH, ke.APPLE_COMPUTE, ke.APPLE_LAYER_OVERHEAD_S,
                     {f: eff_mod.BANDWIDTH_RATIO[f][0] for f in fams}, {f: eff_mod.COMPUTE_RATIO[f][0] for f in fams})


def _chip_gpu(chip_id: str, chip: dict, gpus: dict) -> GpuSpec:
    """The chip as a GpuSpec: the catalogue row, or one built from the data file (M1 chips are not catalogued;
    memory is not checked here, so a nominal 64 GB)."""
    if "catalogue" in chip:
        return gpus[chip["catalogue"]]
    t = chip["fp16_tflops"]
    return GpuSpec(id=chip_id, name=chip["name"], hbm_bytes=64 * 10**9,
                   hbm_bandwidth_bytes_per_s=chip["bandwidth_gb_s"] * 1e9, tflops={"bf16": t, "fp16": t},
                   interconnect_bytes_per_s=5e9, interconnect="none", tdp_w=float("nan"), gpus_per_node=1,
                   vendor="apple", gpu_class="local")


def load_rows(path: Path = DATA) -> tuple[list[Row], list[str]]:
    """The data file's rows whose model and quant the catalogue knows; notes for the ones skipped."""
    doc = yaml.safe_load(path.read_text())
    gpus, models, quants = catalogue.load_gpus(), catalogue.load_models(), catalogue.load_quants()
    rows, skipped = [], []
    for r in doc["rows"]:
        quant = "fp16" if r["quant"] == "f16" else r["quant"]
        if quant not in quants or r["model"] not in models:
            skipped.append(f"{r['chip']} {r['quant']} {r['test']}: {quant if quant not in quants else r['model']} "
                           "not in the catalogue")
            continue
        phase, tokens = r["test"][:2], int(r["test"][2:])
        rows.append(Row(r["chip"], _chip_gpu(r["chip"], doc["chips"][r["chip"]], gpus), r["model"], quant, phase,
                        tokens, float(r["tokens_per_s"]), r["split"], r["source"]))
    return rows, skipped


def predict(row: Row, eff: Efficiency) -> float:
    """Analytic tokens/s of one row under `eff`."""
    model, quant = catalogue.get_model(row.model), catalogue.load_quants()[row.quant]
    if row.phase == "tg":
        step = timing.decode_step(model, row.gpu, quant, KvDtype.BF16, 1, 1, max(row.tokens // 2, 1), eff)
        return 1.0 / step.latency_s
    return row.tokens / timing.prefill(model, row.gpu, quant, KvDtype.BF16, 1, 1, row.tokens, eff).latency_s


def default_predict(row: Row) -> float:
    return predict(row, eff_mod.efficiency_for(row.gpu.id, row.quant))


# ---- fit ------------------------------------------------------------------------------------------------------
_UNIT = Efficiency(bandwidth=1.0, compute=1e9, step_overhead_s=0.0, kv_bandwidth=1e12, layer_overhead_s=0.0)


def _decode_terms(row: Row) -> tuple[float, float, float]:
    """(A, B, L): decode time = A / eta_quant + B / eta_fp16 + L x c, read off the model at unit efficiencies."""
    t = lambda e: 1.0 / predict(row, e)  # noqa: E731
    a = t(_UNIT)
    b = t(replace(_UNIT, bandwidth=1e12, kv_bandwidth=1.0))
    layers = t(replace(_UNIT, bandwidth=1e12, layer_overhead_s=1.0))
    return a, b, layers


def fit_decode(rows: list[Row]) -> tuple[float, dict, float]:
    """(eta_fp16, {family: eta}, per-layer s) from tg rows: linear least squares in relative error."""
    tg = [r for r in rows if r.phase == "tg"]
    fams = sorted({r.family for r in tg} | {"fp16"}, key=FAMILIES.index)
    design, target = [], []
    for r in tg:
        a, b, layers = _decode_terms(r)
        t_pub = 1.0 / r.published
        line = [0.0] * (len(fams) + 1)
        line[fams.index(r.family)] += a / t_pub
        line[fams.index("fp16")] += b / t_pub
        line[-1] = layers / t_pub
        design.append(line)
        target.append(1.0)
    sol, *_ = np.linalg.lstsq(np.array(design), np.array(target), rcond=None)
    etas = {f: 1.0 / sol[i] for i, f in enumerate(fams)}
    return etas["fp16"], etas, float(sol[-1])


def _golden(f, lo: float, hi: float, iters: int = 80) -> float:
    g = (math.sqrt(5) - 1) / 2
    a, b = lo, hi
    for _ in range(iters):
        c, d = b - g * (b - a), a + g * (b - a)
        if f(c) < f(d):
            b = d
        else:
            a = c
    return (a + b) / 2


def fit_prefill(rows: list[Row], bw: float, bw_fam: dict, layer_s: float) -> dict:
    """{family: compute fraction} from pp rows (decode constants fixed), one 1-D search per family."""
    out = {}
    for fam in FAMILIES:
        pp = [r for r in rows if r.phase == "pp" and r.family == fam]
        if not pp:
            continue

        def loss(c, pp=pp, fam=fam):
            e = Efficiency(bandwidth=bw_fam.get(fam, bw), compute=c, step_overhead_s=0.0, kv_bandwidth=bw,
                           layer_overhead_s=layer_s)
            return sum(math.log(predict(r, e) / r.published) ** 2 for r in pp)

        out[fam] = _golden(loss, 0.05, 1.5)
    return out


def fit(rows: list[Row]) -> Constants:
    """The constants from the FITTING rows only (validation rows are dropped here, whatever the caller passes)."""
    fitting = [r for r in rows if r.split == "fitting"]
    bw, bw_fam, layer_s = fit_decode(fitting)
    comp = fit_prefill(fitting, bw, bw_fam, layer_s)
    c16 = comp.get("fp16", ke.APPLE_COMPUTE)
    fams = FAMILIES[1:]
    return Constants(bw, c16, layer_s, {f: bw_fam[f] / bw for f in fams if f in bw_fam},
                     {f: comp[f] / c16 for f in fams if f in comp})


# ---- report ---------------------------------------------------------------------------------------------------
def _err(pred: float, pub: float) -> float:
    return (pred / pub - 1.0) * 100.0


def report(rows: list[Row], predictor) -> list[str]:
    lines = [f"{'split':<10} {'chip':<13} {'model':<12} {'quant':<7} {'test':<6} {'published':>9} "
             f"{'analytic':>9} {'error':>7}  source"]
    errs: dict[str, list[float]] = {"fitting": [], "validation": []}
    for r in rows:
        pred = predictor(r)
        e = _err(pred, r.published)
        errs[r.split].append(e)
        lines.append(f"{r.split:<10} {r.chip:<13} {r.model:<12} {r.quant:<7} {r.phase}{r.tokens:<4} "
                     f"{r.published:>9.2f} {pred:>9.2f} {e:>+6.1f}%  {r.source}")
    for split, es in errs.items():
        if es:
            worst = max(es, key=abs)
            lines.append(f"{split}: n={len(es)}, median |error| {statistics.median(abs(x) for x in es):.1f}%, "
                         f"worst {worst:+.1f}%")
    return lines


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--fit", action="store_true", help="recompute the constants from the FITTING rows")
    ap.add_argument("--data", type=Path, default=DATA)
    args = ap.parse_args(argv)
    rows, skipped = load_rows(args.data)
    for s in skipped:
        print(f"skipped: {s}")
    if args.fit:
        got, code = fit(rows).rounded(), code_constants()
        print("fitted (3 significant digits) vs in the code:")
        for name in ("bandwidth", "compute", "layer_overhead_s"):
            print(f"  APPLE_{name.upper()}: {getattr(got, name)} (code {getattr(code, name)})")
        for kind in ("bw_ratio", "c_ratio"):
            for fam, v in getattr(got, kind).items():
                print(f"  {kind} {fam}: {v} (code {getattr(code, kind).get(fam)})")
        print("\nwith the fitted constants:")
        print("\n".join(report(rows, lambda r: predict(r, got.efficiency(r.family)))))
        return 0
    print("\n".join(report(rows, default_predict)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
