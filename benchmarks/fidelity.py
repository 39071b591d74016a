"""Fidelity of the uncalibrated analytic model against public measurements (issue 9).

Reads two data files kept in the repo, each row with its source, setup and a `split` fixed before any
comparison with the model:

- ``benchmarks/data/fidelity_measurements.yaml``: batch-1 decode (ms per token or tokens/s, TP1-8) and
  offline max-load throughput (tokens/s) from gpt-fast, torchao, Qwen, NVIDIA NIM and TensorRT-LLM tables;
- ``benchmarks/data/kv_capacity_logs.yaml``: vLLM startup logs ("Model loading took X GiB", "GPU KV cache
  size: N tokens") -> the weights and KV-capacity categories.

For each row it computes the analytic prediction (``inferplan``'s profiler, default efficiencies, no
calibration file) and prints, per category and split, the number of rows, the median |error|, the median signed
error and the worst signed error (prediction / measurement - 1). ``--rows`` prints every row. The fitting split
is what the defaults in ``profiler/analytic/efficiency.py`` may be chosen on; the validation split never is.

Throughput rows are predicted by the steady state of a continuous-batching replica (planner/capacity.py's
mean-value model): the largest batch ``B`` whose KV for ``B`` sequences of ``ISL + OSL`` tokens fits and that the
engine admits, each step decoding ``B`` tokens and prefilling ``B x ISL / OSL``; output tokens/s =
``B x OSL / ((OSL + ceil(ISL / (chunk - B))) x step)``. Engine limits (max sequences, tokens per step) are
ENGINE_LIMITS below. Runs on CPU in a few seconds::

    python benchmarks/fidelity.py [--rows] [--split validation]
    python benchmarks/fidelity.py --sim          # + the throughput rows through the simulator (~30 s)
    python benchmarks/fidelity.py --fit-ratios   # re-derive the int8/int4 bandwidth ratios (fitting split only)

``--sim`` (category ``throughput_sim``) runs each throughput row as its benchmark tool did: the row's requests
queued at t = 0 through the continuous-batching simulator (planner.throughput_api.run_case) on the row's engine
(TensorRT-LLM rows: GUARANTEED_NO_EVICT, its KV sizing, the limits the setup states or trtllm-bench tunes).
"""

from __future__ import annotations

import argparse
import math
import sys
from dataclasses import replace
from pathlib import Path

import pandas as pd
import yaml

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT.parent))

from profiler import catalogue  # noqa: E402
from profiler.analytic import memory, timing  # noqa: E402
from profiler.analytic.efficiency import default_efficiency  # noqa: E402
from profiler.errors import ProfilerError  # noqa: E402
from profiler.specs import AttentionSpec, KvDtype, ModelSpec  # noqa: E402

MEASUREMENTS = ROOT / "data" / "fidelity_measurements.yaml"
KV_LOGS = ROOT / "data" / "kv_capacity_logs.yaml"
GIB = 2**30
DEFAULT_OUTPUT = 100  # gpt-fast generate.py --max_new_tokens default, for rows that do not state it
# (max sequences, max tokens per step) an engine admits in these offline runs. vLLM: EngineArgs defaults
# max_num_seqs 256, max_num_batched_tokens 8192 (planner/capacity.py). TensorRT-LLM: trtllm-bench's defaults are
# not stated in the perf-overview tables; max_batch_size 2048 / max_num_tokens 8192 assumed.
ENGINE_LIMITS = {"vllm": (256, 8192), "tensorrt-llm": (2048, 8192), "sglang": (256, 8192)}


def _model(row: dict, models: dict[str, ModelSpec]) -> ModelSpec:
    if row["model"] in models:
        return models[row["model"]]
    arch = row.get("architecture")
    if not arch:
        raise ProfilerError(f"{row['id']}: model {row['model']} is not in the catalogue and has no architecture")
    att = AttentionSpec(num_heads=arch["heads"], num_kv_heads=arch["kv_heads"],
                        head_dim=arch["hidden"] // arch["heads"])
    return ModelSpec(name=row["model"], model_type="llama", hidden_size=arch["hidden"], num_layers=arch["layers"],
                     intermediate_size=arch["intermediate"], vocab_size=arch["vocab"], attention=att,
                     max_context=4096, source=arch.get("source", ""))


def _kv(row: dict) -> KvDtype:
    return KvDtype.FP8 if str(row.get("kv_dtype") or "").startswith("fp8") else KvDtype.BF16


def _engine(row: dict) -> tuple[int, int]:
    name = str(row.get("engine") or "").lower()
    return next((v for k, v in ENGINE_LIMITS.items() if k in name), ENGINE_LIMITS["vllm"])


def batch1(row: dict, model: ModelSpec, gpu, quant) -> float:
    """Predicted value in the row's metric for one sequence decoding."""
    eff = default_efficiency(gpu.id, quant.id, timing.compute_dtype(gpu, quant))
    isl, osl = row.get("input_tokens") or 1, row.get("output_tokens") or DEFAULT_OUTPUT
    step = timing.decode_step(model, gpu, quant, _kv(row), row["tp"], 1, int(isl + osl / 2), eff).latency_s
    if row["metric"] == "ms_per_output_token":
        return step * 1e3
    if row["metric"] == "total_tokens_per_s":
        pre = timing.prefill(model, gpu, quant, _kv(row), row["tp"], 1, int(isl), eff).latency_s
        return (isl + osl) / (pre + osl * step)
    return 1.0 / step  # output tokens/s of the one sequence


def throughput(row: dict, model: ModelSpec, gpu, quant) -> float:
    """Predicted offline max-load throughput in the row's metric (module docstring)."""
    eff = default_efficiency(gpu.id, quant.id, timing.compute_dtype(gpu, quant))
    tp, kv = row["tp"], _kv(row)
    isl, osl = row["input_tokens"], row["output_tokens"]
    budget = memory.memory_budget(model, gpu, quant, kv, tp, eff)
    seqs, chunk = _engine(row)
    fit = memory.max_concurrent_sequences(budget, model, kv, tp, isl + osl)
    b = min(seqs, fit, chunk - 1)
    while b > 1 and b * isl / osl > chunk - b:  # prefill of the replacements must fit the step's token budget
        b -= 1
    if b < 1:
        raise ProfilerError(f"{row['id']}: no sequence fits")
    step = timing.mixed_step(model, gpu, quant, kv, tp, eff, round(b * isl / osl), b,
                             int(b * (isl + osl / 2))).latency_s
    out = b * osl / ((osl + math.ceil(isl / max(chunk - b, 1))) * step)
    if row["metric"] == "output_tokens_per_s_per_gpu":
        return out / tp
    if row["metric"] == "total_tokens_per_s":
        return out * (isl + osl) / osl
    return out


# trtllm-bench datasets of the TensorRT-LLM performance overview: $num_requests per ISL/OSL ("For each input and
# output sequence length combination, the table below details the $num_requests that were used", NVIDIA/TensorRT-LLM
# docs/source/performance/perf-overview.md @00f37686, the v1.0 page). Other engines' rows: 1,000 (vllm bench
# throughput's --num-prompts default) unless the row states its own `requests`.
TRTLLM_BENCH_REQUESTS = {(128, 128): 30000, (128, 2048): 3000, (128, 4096): 1500, (1000, 2000): 1500,
                         (2048, 128): 3000, (2048, 2048): 1500, (5000, 500): 1500, (1000, 1000): 3000,
                         (500, 2000): 3000, (20000, 2000): 1000}
SIM_REQUESTS_DEFAULT = 1000
# Scheduler limits by engine string, as the rows' setups state them: the v0.14 perf-overview engines were built with
# max runtime batch 4096 and max tokens 8192; the v1.0 page ran trtllm-bench, which tunes both to each dataset
# (None: planner.engines.trtllm_bench_limits). Other engines: ENGINE_LIMITS.
SIM_LIMITS: dict[str, tuple[int | None, int | None]] = {"TensorRT-LLM 0.14.0 (C++": (4096, 8192),
                                                          "TensorRT-LLM 1.": (None, None)}


def sim_throughput(row: dict) -> float:
    """Offline throughput predicted by the continuous-batching simulator (`inferplan throughput`): the row's requests
    queued at t = 0 on the row's engine (TensorRT-LLM rows: GUARANTEED_NO_EVICT, its KV sizing and 32-token blocks;
    vLLM/SGLang rows: vLLM V1), with ENGINE_LIMITS as the scheduler limits, in the row's metric."""
    from planner.engines import EngineKnobs
    from planner.simulate_api import replica
    from planner.throughput_api import case_config, run_case

    isl, osl, tp = row["input_tokens"], row["output_tokens"], row["tp"]
    engine = str(row.get("engine") or "")
    trt = "tensorrt" in engine.lower()
    seqs, chunk = next((v for k, v in SIM_LIMITS.items() if engine.startswith(k)), _engine(row))
    knobs = EngineKnobs("trtllm" if trt else "vllm", None, seqs, chunk, None, None)
    _, step, config = replica(row["model"], row["gpu"], row["quant"], tp, _kv(row).value, knobs)
    n = row.get("requests") or (TRTLLM_BENCH_REQUESTS.get((isl, osl)) if trt else None) or SIM_REQUESTS_DEFAULT
    case = run_case(case_config(config, knobs, isl, osl), step, isl, osl, n, tp)
    if case.status != "ok":
        raise ProfilerError(f"{row['id']}: {case.note}")
    out = case.output_tokens_per_s
    if row["metric"] == "output_tokens_per_s_per_gpu":
        return out / tp
    if row["metric"] == "total_tokens_per_s":
        return out * (isl + osl) / osl
    return out


def sim_rows() -> list[dict]:
    """The throughput rows predicted by the simulator (category ``throughput_sim``)."""
    out = []
    for row in yaml.safe_load(MEASUREMENTS.read_text())["measurements"]:
        if row["category"] != "throughput":
            continue
        base = {"category": "throughput_sim", "id": row["id"], "split": row["split"], "measured": row["value"]}
        try:
            out.append({**base, "predicted": sim_throughput(row), "note": row["metric"]})
        except (ProfilerError, KeyError) as exc:
            out.append({**base, "predicted": float("nan"), "note": f"not predicted: {exc}"})
    return out


SERVING = ROOT / "data" / "serving_measurements.yaml"
SERVING_SIGMA = 0.6  # lognormal sigma standing in for ShareGPT's lengths (the simulate command's DEFAULT_SIGMA;
#   the rows give only the means): an assumption, stated in the row notes of the output
SERVING_METRICS = (("median_ttft_ms", "ttft", "p50"), ("median_tpot_ms", "tpot", "p50"),
                   ("p99_ttft_ms", "ttft", "p99"), ("p99_tpot_ms", "tpot", "p99"))


def _lengths(mean: float, sigma: float):
    from planner import simulate as sim

    return sim.Fixed(max(1, round(mean))) if sigma == 0 else sim.LogNormal(mean=mean, sigma=sigma)


def serving_rows() -> list[dict]:
    """`benchmarks/data/serving_measurements.yaml` rows with Poisson arrivals, simulated at their rate on their
    engine (categories ``serving_{ttft,tpot}_{p50,p99}``, ms); closed-loop (fixed-concurrency) and all-at-once
    rows are listed as not predicted (the simulator's arrivals are open-loop)."""
    from planner import simulate as sim
    from planner.engines import EngineKnobs
    from planner.simulate_api import replica

    out = []
    for row in yaml.safe_load(SERVING.read_text())["rows"]:
        arrival, ds = row["arrival"], row["dataset"]
        base = {"id": row["id"], "split": row["split"]}
        if arrival.get("kind") != "poisson":
            out.append({**base, "category": "serving", "measured": float("nan"), "predicted": float("nan"),
                        "note": f"not predicted: {arrival.get('kind')} arrivals (closed loop or all at once)"})
            continue
        engine = str((row.get("engine") or {}).get("name") or "vllm").lower()
        knobs = EngineKnobs("trtllm" if "tensorrt" in engine or "trt" in engine else
                            "sglang" if "sglang" in engine else "vllm")
        _, step, config = replica(row["model"], row["gpu"], row["quant"], row["tp"], row.get("kv_dtype") or "bf16",
                                  knobs)
        sigma = 0.0 if ds.get("lengths") == "fixed" else SERVING_SIGMA

        shape = sim.WorkloadShape(sim.Poisson(arrival["rate_rps"]), _lengths(ds["input_tokens"], sigma),
                                  _lengths(ds["output_tokens"], sigma))
        run = sim.simulate(sim.make_requests(shape, n_requests=row["num_requests"], seed=0), config, step)
        m = sim.summarize(run, warmup_s=0.0)
        for key, metric, q in SERVING_METRICS:
            if row["measured"].get(key) is None:
                continue
            out.append({**base, "category": f"serving_{metric}_{q}", "measured": row["measured"][key],
                        "predicted": 1e3 * getattr(getattr(m, metric), q),
                        "note": f"{key} ({'fixed' if sigma == 0 else f'lognormal sigma {sigma}'} lengths)"})
    return out


def measurement_rows() -> list[dict]:
    """Rows of both data files as (category, id, split, measured, predicted, setup) records."""
    models, gpus, quants = catalogue.load_models(), catalogue.load_gpus(), catalogue.load_quants()
    out = []
    for row in yaml.safe_load(MEASUREMENTS.read_text())["measurements"]:
        try:
            model, gpu, quant = _model(row, models), gpus[row["gpu"]], quants[row["quant"]]
            pred = (batch1 if row["category"] == "batch1_decode" else throughput)(row, model, gpu, quant)
        except (ProfilerError, KeyError) as exc:
            out.append({"category": row["category"], "id": row["id"], "split": row["split"], "measured":
                        row["value"], "predicted": float("nan"), "note": f"not predicted: {exc}"})
            continue
        out.append({"category": row["category"], "id": row["id"], "split": row["split"], "measured": row["value"],
                    "predicted": pred, "note": f"{row['metric']}"})
    return out + kv_log_rows(models, gpus, quants)


def kv_log_rows(models, gpus, quants) -> list[dict]:
    """Weights (GiB), available KV memory (GiB) and KV capacity (tokens) of the vLLM startup logs.

    The engine is set up as the row states it: utilisation (default 0.9), max_num_batched_tokens and max_num_seqs
    (default: memory.py's), enforce_eager (no graph estimate), KV dtype, TP, and the memory accounting of the
    row's vLLM version (memory.engine_version; ``vllm_version_at_date`` where no version is stated). A GPU named in
    words is read as its ``gpu_id``. The file header's rule: V0 and expert-parallel rows predict the weights only;
    KV tokens (vLLM's "GPU KV cache size", hybrid groups included) only at block size 16.
    """
    out = []
    for i, row in enumerate(yaml.safe_load(KV_LOGS.read_text())["rows"]):
        gpu_id = row.get("gpu_id") or row["gpu"]
        ident = f"kvlog{i}-{row['model']}-{gpu_id}-tp{row['tp']}"
        if gpu_id not in gpus or row["model"] not in models:
            continue
        model, gpu, quant = models[row["model"]], gpus[gpu_id], quants[row.get("quant") or "bf16"]
        kv = KvDtype.FP8 if str(row.get("kv_cache_dtype")).startswith("fp8") else KvDtype.BF16
        eff = default_efficiency(gpu.id, quant.id)
        eff = replace(eff, gpu_memory_utilization=row.get("gpu_memory_utilization") or eff.gpu_memory_utilization)
        chunk = row.get("max_num_batched_tokens") or memory.DEFAULT_CHUNK_TOKENS
        seqs = row.get("max_num_seqs") or memory.DEFAULT_MAX_NUM_SEQS
        kv_modelled = row.get("engine") == "v1" and not row.get("expert_parallel")
        engine = memory.engine_version(str(row.get("vllm_version") or row.get("vllm_version_at_date") or "")) \
            if kv_modelled else memory.DEFAULT_ENGINE
        budget = memory.memory_budget(model, gpu, quant, kv, row["tp"], eff, chunk_tokens=chunk, max_num_seqs=seqs,
                                      engine=engine, cuda_graphs=not row.get("enforce_eager"))
        base = {"id": ident, "split": row["split"]}
        if row.get("logged_weights_gib") and not row.get("expert_parallel"):
            out.append({**base, "category": "weights", "measured": row["logged_weights_gib"],
                        "predicted": budget.weights_bytes / GIB, "note": "GiB per GPU"})
        if not kv_modelled:
            continue
        if row.get("logged_available_kv_gib") is not None:
            out.append({**base, "category": "kv_memory", "measured": row["logged_available_kv_gib"],
                        "predicted": budget.kv_budget_bytes / GIB, "note": f"available KV GiB ({engine.value})"})
        if row.get("logged_kv_tokens") and (row.get("block_size") or memory.BLOCK_TOKENS) == memory.BLOCK_TOKENS:
            mml = row.get("max_model_len") or model.max_context
            tokens = memory.engine_kv_numbers(budget, model, kv, row["tp"], mml, chunk)[1]
            out.append({**base, "category": "kv_capacity", "measured": row["logged_kv_tokens"],
                        "predicted": tokens, "note": f"KV tokens ({engine.value})"})
    return out


def summary(rows: pd.DataFrame) -> pd.DataFrame:
    """Per category and split: rows, median |error|, median signed, worst signed (fractions)."""
    ok = rows.dropna(subset=["predicted"]).copy()
    ok["error"] = ok["predicted"] / ok["measured"] - 1
    out = []
    for (cat, split), g in ok.groupby(["category", "split"]):
        worst = g.loc[g["error"].abs().idxmax(), "error"]
        out.append({"category": cat, "split": split, "rows": len(g), "median_abs_pct": 100 * g["error"].abs().median(),
                    "median_signed_pct": 100 * g["error"].median(), "worst_signed_pct": 100 * worst})
    return pd.DataFrame(out)


def fit_bandwidth_ratio(family: str, start: float) -> tuple[float, int]:
    """The procedure behind efficiency.BANDWIDTH_RATIO's fitted entries: on the FITTING split only, the batch-1 rows
    whose quant is of `family` (int8, int4); from `start`, repeat ``r <- r x median(measured / predicted)`` until it
    moves by < 1e-4 (the prediction is not exactly proportional to 1 / r: launch floors do not scale with it).
    Returns (r, rows used). Runs on copies of the table; nothing is written."""
    from profiler.analytic import efficiency

    models, gpus, quants = catalogue.load_models(), catalogue.load_gpus(), catalogue.load_quants()
    rows = [r for r in yaml.safe_load(MEASUREMENTS.read_text())["measurements"] if r["split"] == "fit"
            and r["category"] == "batch1_decode" and efficiency.kernel_family(r["quant"]) == family]
    saved, ratio = efficiency.BANDWIDTH_RATIO[family], start
    try:
        for _ in range(50):
            efficiency.BANDWIDTH_RATIO[family] = (ratio, saved[1])
            timing._token_times.cache_clear()
            kernels_cache_clear()
            ratios = [r["value"] / batch1(r, _model(r, models), gpus[r["gpu"]], quants[r["quant"]]) for r in rows]
            step = float(pd.Series(ratios).median())
            if abs(ratio * step - ratio) < 1e-4:
                break
            ratio *= step
    finally:
        efficiency.BANDWIDTH_RATIO[family] = saved
        timing._token_times.cache_clear()
        kernels_cache_clear()
    return ratio, len(rows)


def kernels_cache_clear() -> None:
    from profiler.analytic import kernels

    kernels.gemm_weights.cache_clear()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", action="store_true", help="print every row with its error")
    parser.add_argument("--split", choices=("fit", "validation"), help="only this split")
    parser.add_argument("--sim", action="store_true",
                        help="also predict the throughput rows with the continuous-batching simulator (slower)")
    parser.add_argument("--fit-ratios", action="store_true",
                        help="re-derive the int8/int4 bandwidth ratios on the fitting split (fit_bandwidth_ratio)")
    args = parser.parse_args(argv)
    if args.fit_ratios:
        for family, start in (("int8", 0.69), ("int4", 0.50)):
            ratio, n = fit_bandwidth_ratio(family, start)
            print(f"{family}: bandwidth ratio {ratio:.3f} from {n} fitting rows (start {start})")
        return 0
    rows = pd.DataFrame(measurement_rows() + (sim_rows() + serving_rows() if args.sim else []))
    if args.split:
        rows = rows[rows["split"] == args.split]
    if args.rows:
        shown = rows.assign(error_pct=100 * (rows["predicted"] / rows["measured"] - 1))
        print(shown.to_string(index=False, float_format=lambda x: f"{x:,.3g}"))
    print(summary(rows).to_string(index=False, float_format=lambda x: f"{x:+.1f}"))
    skipped = rows["predicted"].isna().sum()
    if skipped:
        print(f"{skipped} rows not predicted (see --rows)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
