"""Runs a measured sweep's points on one device: levels, max-batch searches, points -> Profile rows.

Per (quant, KV dtype) the model is built once (random weights on the device, :mod:`build`), quantised
(:mod:`quantise`), and its resident weight bytes (CUDA: allocator delta over build + quantisation; CPU:
exact tensor census) and KV bytes per token (a static cache at two lengths) are measured and compared
with the analytic ones (difference in ``note``). Per context and phase the largest batch that fits is searched
(:mod:`maxbatch`): a decode point needs its cache, one prefill chunk and one step; a prefill point runs all
B x T tokens in one forward, so it is probed with the prefill step itself (up to the largest prefill batch
asked for) and no row at or below its ``max_batch`` runs out of memory. Per point: prefill latency
(``logits_to_keep=1``) or decode step latency (static cache of context + 1 slots, CUDA graph on GPU), peak
memory, and on CUDA power and energy (NVML). ``mbu`` and ``mfu`` divide the analytic twin's bytes and FLOPs of
the same step (decode attends context + 1 tokens) by the measured latency and the machine record (:mod:`rates`:
catalogue GPU; on CPU the measured copy and matmul rates, measured again when a step outruns them). A point
that does not fit is a row with ``status="oom"``; a level the stack cannot run is ``status="unsupported"`` with
the reason. Each finished point is written at once and a rerun resumes (:mod:`journal`); Ctrl-C stops between
points, probes and timed repetitions (:mod:`interrupt`). The entry point is :func:`sweep.run_measured_profile`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import pandas as pd

from profiler.analytic import memory as amem
from profiler.analytic import timing as atiming
from profiler.analytic.efficiency import default_efficiency
from profiler.errors import UnsupportedQuantError
from profiler.measure import STATIC_CACHE_EXTRA_SLOTS, interrupt, maxbatch, rates, steps
from profiler.measure.device import device_kind, free_memory, is_cuda, is_oom, mps_unsupported_op
from profiler.measure.journal import Journal, row_key
from profiler.measure.memory import PeakTracker, cache_nbytes
from profiler.measure.timers import TimerPolicy, time_call, unstable_note
from profiler.schema import ProfileMeta, normalise, write_profile
from profiler.specs import GpuSpec, KvDtype, ModelSpec, QuantScheme

DECODE_POLICY = TimerPolicy(warmup=3, min_count=10, min_time_s=1.0)  # >= 1 s: NVML power is a 1 s average
PREFILL_POLICY = TimerPolicy(warmup=2, min_count=3, min_time_s=0.5)  # prefills of seconds: few repeats
LOW_MBU = 0.3  # measurement.md §7 item 6: a graphed decode below this is launch/overhead-bound
# How often a sweep measures the CPU again when a step outruns its record (rates.py): each costs what cpu_spec
# does (0.5-4 s); one is enough after a busy start (the record then holds an idle measurement), a second covers a
# start that was busy twice. More would only repeat a matmul that is no peak for this CPU (its rows are flagged).
CPU_REMEASURES = 2
CPU_REFERENCE_AUX = "cpu_reference"  # journal aux record: the CPU record the sweep's rows divide by (resumes keep it)


@dataclass(frozen=True)
class Point:
    quant: QuantScheme
    kv: KvDtype
    phase: str
    batch: int
    context: int


@dataclass
class Level:
    """One (quant, KV dtype) on a built model, with what was measured about it once."""

    model: Any
    quant: QuantScheme
    kv: KvDtype
    weights_bytes: int
    resident_bytes: int
    kv_bytes_per_token: int
    note: str
    budget: maxbatch.Budget
    detail: dict[str, Any]
    prefill_cap: dict[int, int]  # context -> largest prefill batch asked for: the prefill search's ceiling


class Runner:
    """Runs the plan on one device; every finished row goes through :meth:`emit`."""

    def __init__(self, spec: ModelSpec, dev, machine: GpuSpec, journal: Journal, meta: ProfileMeta,
                 out: Path | None, options: dict[str, Any]):
        self.spec, self.dev, self.machine, self.journal, self.meta, self.out = spec, dev, machine, journal, meta, out
        self.opt = options
        self.cuda = is_cuda(dev)
        self.kind = device_kind(dev)  # "cuda", "mps" or "cpu"
        self.cpu = self.kind == "cpu"  # rows divide by the CPU's measured record (rates.py), not a catalogue row
        self.order: list[tuple] = []
        self.advance: Callable[[str], None] = lambda _desc: None
        self.bar: Any = None  # the progress bar (sweep._start)
        self.remeasures = CPU_REMEASURES if self.cpu else 0
        self.tp = 1  # tensor-parallel degree of the rows (tp_run.TpRunner: each rank runs one shard)
        saved = journal.aux.get(CPU_REFERENCE_AUX)
        if saved and self.cpu:  # a resumed CPU sweep divides by the fastest record any of its runs measured
            fields = {k: v for k, v in saved.items() if k in GpuSpec.__dataclass_fields__}
            self._set_machine(rates.faster_record(machine, GpuSpec(**{**fields, "tdp_w": float("nan")}),
                                                  f"the faster of each rate of this run's and an earlier run's "
                                                  f"measurements (journal); this run: {machine.source}"))

    # ---- output -----------------------------------------------------------------------------------------
    def base(self, p: Point) -> dict[str, Any]:
        return {"model": self.spec.name, "gpu": self.machine.id, "quant": p.quant.id, "kv_dtype": p.kv.value,
                "tp": self.tp, "phase": p.phase, "batch": p.batch, "context": p.context, "source": "measured"}

    def key(self, p: Point) -> tuple:
        return row_key(self.base(p))

    def emit(self, row: dict[str, Any], detail: dict[str, Any] | None = None) -> None:
        self.journal.add_row(row, detail)
        if self.out is not None:
            write_profile(self.table(), self.out, self.meta)
        self.advance(f"{row['quant']}/{row['kv_dtype']} {row['phase']} b={row['batch']} L={row['context']}")
        if self.opt["on_point"] is not None:
            self.opt["on_point"](row)

    def table(self) -> pd.DataFrame:
        rows, planned = self.journal.rows, set(self.order)
        keys = [k for k in self.order if k in rows] + [k for k in rows if k not in planned]
        return normalise([self._rated(rows[k], self.journal.details.get(k) or {}) for k in keys])

    def _rated(self, row: dict[str, Any], detail: dict[str, Any]) -> dict[str, Any]:
        """A CPU row's MBU/MFU against the record as it stands now (it only gets faster: _outrun), with a note
        for a ratio still above 1. GPU rows, and rows journaled without their bytes and FLOPs, as written."""
        r = detail.get("rates")
        if not self.cpu or row.get("status") != "ok" or not r:
            return row
        mbu, mfu = rates.utilisation(r["bytes_moved"], r["flops"], r["seconds"], self.machine, r["dtype"])
        notes = [row.get("note") or "", *rates.over_one_notes(mbu, mfu, self.machine, r["dtype"])]
        return {**row, "mbu": mbu, "mfu": mfu, "note": "; ".join(n for n in notes if n)}

    def _set_machine(self, machine: GpuSpec) -> None:
        from profiler.measure.environment import machine_record

        self.machine = machine
        self.meta = replace(self.meta, environment={**self.meta.environment, "machine_spec": machine_record(machine)})

    def _outrun(self, est, seconds: float, dtype: str) -> None:
        """CPU: a step faster than the record means the record was measured on a busy machine (rates.py): measure
        the CPU again (at most CPU_REMEASURES times a sweep) and keep the faster rates for every row (table)."""
        mbu, mfu = rates.utilisation(est.bytes_moved, est.flops, seconds, self.machine, dtype)
        if not self.cpu or self.remeasures < 1 or (mbu <= 1 and mfu <= 1):
            return
        from profiler.measure.environment import cpu_spec_again, machine_record

        self.remeasures -= 1
        self._set_machine(cpu_spec_again(self.machine))
        self.journal.set_aux(CPU_REFERENCE_AUX, machine_record(self.machine))

    def refuse(self, points: Iterable[Point], status: str, note: str) -> None:
        for p in points:
            self.emit({**self.base(p), "status": status, "note": note})

    # ---- levels -----------------------------------------------------------------------------------------
    def unsupported_reason(self, quant: QuantScheme, kv: KvDtype) -> str | None:
        from profiler.measure.quantise import kv_unsupported_reason

        return kv_unsupported_reason(kv) or self.quant_reason(quant)

    def quant_reason(self, quant: QuantScheme) -> str | None:
        """Why `quant` cannot be measured here, known before a model is built (None: it may run): no torchao
        recipe, kernels this device lacks, torchao missing (quantise), or a dtype the machine record lacks."""
        from profiler.measure.quantise import unavailable_reason

        reason = unavailable_reason(quant, self.dev)
        if reason:
            return reason
        try:
            atiming.compute_dtype(self.machine, quant)  # e.g. fp8 where the machine has no fp8 path
        except UnsupportedQuantError as exc:
            return str(exc)
        return None

    def run_level(self, quant: QuantScheme, kv: KvDtype, points: list[Point]) -> None:
        todo = [p for p in points if not self.journal.done(self.key(p))]
        if not todo:
            return
        interrupt.check()  # a safe point: before a model is built
        reason = self.unsupported_reason(quant, kv)
        if reason:
            return self.refuse(todo, "unsupported", reason)
        too_long = [p for p in todo if p.context > self.spec.max_context]
        self.refuse(too_long, "unsupported", f"context exceeds the model's max_context {self.spec.max_context}")
        todo = [p for p in todo if p not in too_long]
        if not todo:
            return
        level, failure = None, None
        prefill_cap = {c: max(p.batch for p in points if p.phase == "prefill" and p.context == c)
                       for c in {p.context for p in points if p.phase == "prefill"}}
        try:
            level = self.build_level(quant, kv, prefill_cap)
        except UnsupportedQuantError as exc:
            failure = ("unsupported", str(exc))
        except Exception as exc:  # noqa: BLE001 - weights that do not fit are OOM rows; anything else is a bug
            if mps_unsupported_op(exc):
                failure = ("unsupported", mps_unsupported_op(exc))
            elif not is_oom(exc):
                raise
            else:
                failure = ("oom", f"out of memory building or quantising the weights: they do not fit "
                                  f"({type(exc).__name__}: {str(exc)[:160]})")
        if failure:
            free_memory(self.dev)  # outside the except block, so its traceback no longer pins tensors
            return self.refuse(todo, *failure)
        try:
            for p in todo:
                self.run_point(level, p)
        finally:
            level.model = None
            free_memory(self.dev)

    def build_level(self, quant: QuantScheme, kv: KvDtype, prefill_cap: dict[int, int]) -> Level:
        from profiler.measure.build import build_model
        from profiler.measure.memory import census
        from profiler.measure.quantise import quantise

        free_memory(self.dev)
        before = self._allocated()
        built = build_model(self.spec, self.dev, seed=self.opt["seed"], weights_path=self.opt["weights_path"])
        try:
            outcome = quantise(built.model, self.spec, quant, self.dev)
        except UnsupportedQuantError:
            built.model = None
            raise
        free_memory(self.dev)  # the bf16 originals quantisation replaced
        cen = census(built.model)
        weights = self._allocated() - before if self.cuda else cen.parameter_bytes
        kv_tok, kv_method = steps.kv_bytes_per_token(built.model, self.dev)
        resident = self._allocated() if self.cuda else cen.total_bytes
        note = self._level_note(quant, kv, weights, cen.parameter_bytes, kv_tok, built.source)
        detail = {"build_s": built.build_s, "weights_source": built.source, "census": asdict(cen),
                  "quantisation": asdict(outcome), "experts_implementation": built.experts_implementation,
                  "kv_method": kv_method, "resident_bytes": resident}
        if self.cuda:
            from profiler.measure.memory import device_memory

            detail["non_torch_after_build"] = device_memory(self.dev).non_torch
        elif self.kind == "mps":  # the allocator's view beside the census (rounded to Metal heap buffers)
            from profiler.measure.memory import mps_memory

            detail["mps_memory_after_build"] = asdict(mps_memory())
        return Level(built.model, quant, kv, weights, resident, kv_tok, note, self._budget(resident), detail,
                     prefill_cap)

    def _allocated(self) -> int:
        if not self.cuda:
            return 0
        import torch

        torch.cuda.synchronize(self.dev)
        return torch.cuda.memory_allocated(self.dev)

    def _level_note(self, quant, kv, weights: int, census_bytes: int, kv_tok: int, source: str) -> str:
        want_w, want_kv = amem.weight_bytes(self.spec, quant, self.tp), amem.kv_bytes_per_token(self.spec, kv, self.tp)
        how = "allocator delta" if self.cuda else "tensor census"
        parts = [f"weights {weights:,} B ({how}) vs analytic {want_w:,} ({weights / want_w - 1:+.2%})",
                 f"KV {kv_tok:,} B/token vs analytic {want_kv:,} ({kv_tok / want_kv - 1:+.2%})"]
        if self.cuda and abs(census_bytes - weights) > 0.01 * weights:
            parts.append(f"tensor census {census_bytes:,} B differs from the allocator by >1%")
        if self.spec.attention.is_mla:
            parts.append("HF caches MLA as decompressed per-head K/V; the analytic KV is the engine's latent")
        if not source.startswith("random"):
            parts.append(source)
        return "; ".join(parts)

    def _budget(self, resident: int) -> maxbatch.Budget:
        limit = self.opt["memory_limit_bytes"]
        if limit is not None:
            return maxbatch.Budget(int(limit), f"injected memory limit of {int(limit) / 2**20:,.0f} MiB "
                                               "(run_measured_profile(memory_limit_bytes=...))")
        if self.cuda:
            return maxbatch.Budget(None, "the GPU's own memory")
        if self.kind == "mps":  # unified memory: the usable part is macOS's recommended GPU working set
            from profiler.measure.memory import mps_memory

            limit = mps_memory().recommended_max
            return maxbatch.Budget(limit, f"this Mac's GPU working set, {limit / 2**30:,.1f} GiB (torch.mps."
                                          "recommended_max_memory: macOS recommendedMaxWorkingSetSize)")
        return maxbatch.Budget(resident + maxbatch.CPU_EMULATED_HEADROOM_BYTES, maxbatch.cpu_budget_note(resident))

    # ---- max batch --------------------------------------------------------------------------------------
    def max_batch(self, level: Level, context: int, phase: str = "decode", batch: int = 1) -> dict[str, Any]:
        """The largest batch of `phase` points at `context` that fits (journaled, searched once; a prefill search
        stops at the largest prefill batch asked for, and is searched again when a later run asks for more)."""
        name = f"max_batch/{level.quant.id}/{level.kv.value}/{context}" + ("/prefill" if phase == "prefill" else "")
        known = self.journal.aux.get(name)
        if known is not None and not (known["capped"] and batch > known["max_batch"] and phase == "prefill"):
            return known
        available = level.budget.limit_bytes or self._device_room()
        cap = self.opt["max_batch_cap"] or maxbatch.MAX_BATCH_CAP["cuda" if self.cuda else "cpu"]
        if phase == "prefill":
            per_seq = context * level.kv_bytes_per_token  # a tight cache of T slots
            act = amem.activation_bytes(self.spec, self.tp, chunk_tokens=context, max_num_seqs=1)  # one prompt
            predicted = maxbatch.predict_max_batch(available, level.resident_bytes, per_seq + act, 0)
            probe = steps.prefill_probe
            cap = min(cap, max(level.prefill_cap.get(context, 1), batch))
        else:
            per_seq = (context + STATIC_CACHE_EXTRA_SLOTS) * level.kv_bytes_per_token
            chunk = steps.CHUNK_TOKENS["cuda" if self.cuda else "cpu"]
            act = amem.activation_bytes(self.spec, self.tp, chunk_tokens=min(chunk, context), max_num_seqs=1)
            predicted = maxbatch.predict_max_batch(available, level.resident_bytes, per_seq, act)
            probe = steps.fit_probe

        def fits(b: int) -> bool:
            interrupt.check()  # a safe point: between probes
            run = lambda: probe(level.model, self.dev, b, context)  # noqa: E731
            return self._fits(run, level, level.resident_bytes + b * per_seq)

        res = maxbatch.search_max_batch(fits, predicted, cap)
        value = {"max_batch": res.max_batch, "capped": res.capped, "predicted": predicted,
                 "probes": [list(p) for p in res.probes], "budget": level.budget.description}
        self.journal.set_aux(name, value)
        return value

    def _fits(self, run: Callable[[], None], level: Level, predicted_bytes: int) -> bool:
        """One max-batch probe: does `run` fit the level's budget (maxbatch.probe_fits)?"""
        return maxbatch.probe_fits(run, self.dev, level.budget, level.resident_bytes, predicted_bytes,
                                   self.opt["nvml"])[0]

    def _device_room(self) -> int:
        from profiler.measure.memory import device_memory

        snap = device_memory(self.dev)
        return snap.device_total - snap.non_torch

    # ---- points -----------------------------------------------------------------------------------------
    def run_point(self, level: Level, p: Point) -> None:
        interrupt.check()  # a safe point: between points
        try:
            mb = self.max_batch(level, p.context, p.phase, p.batch)
        except NotImplementedError as exc:  # MPS lacks an op only a larger shape reaches: the row says which
            if not mps_unsupported_op(exc):
                raise
            return self.emit({**self.base(p), "status": "unsupported", "note": mps_unsupported_op(exc)})
        slots = p.context + (STATIC_CACHE_EXTRA_SLOTS if p.phase == "decode" else 0)  # prefill: a tight cache
        held = mb["max_batch"] * slots  # KV tokens the largest batch's cache holds
        fit = {"max_batch": mb["max_batch"], "kv_capacity_tokens": held,
               "weights_bytes": level.weights_bytes, "kv_bytes_per_token": level.kv_bytes_per_token}
        what = "batch that fits" if p.phase == "decode" else "prefill batch that fits in one forward"
        search = (f"largest {what} at context {p.context}: {mb['max_batch']}"
                  f"{' or more (search cap)' if mb['capped'] else ''} ({mb['budget']})")
        if p.batch > mb["max_batch"]:
            return self.emit({**self.base(p), **fit, "status": "oom", "note": search}, {"max_batch_search": mb})
        failure = None
        try:
            row, detail = self.measure(level, p)
        except Exception as exc:  # noqa: BLE001 - an OOM is a boundary row; anything else is a bug: re-raise
            if mps_unsupported_op(exc):
                failure = ("unsupported", mps_unsupported_op(exc))
            elif not is_oom(exc):
                raise
            else:
                failure = ("oom", f"out of memory while measuring ({type(exc).__name__}: {str(exc)[:160]}); {search}")
        free_memory(self.dev)
        if failure:
            return self.emit({**self.base(p), **fit, "status": failure[0], "note": failure[1]},
                             {"max_batch_search": mb})
        self.emit({**self.base(p), **fit, **row, "note": f"{row['note']}; {search}; {level.note}"},
                  {**detail, "max_batch_search": mb, "level": level.detail})

    def measure(self, level: Level, p: Point) -> tuple[dict[str, Any], dict[str, Any]]:
        model, dev = level.model, self.dev
        slots = p.context + (STATIC_CACHE_EXTRA_SLOTS if p.phase == "decode" else 0)
        level.budget.check(level.resident_bytes + p.batch * slots * level.kv_bytes_per_token, "predicted need")
        if p.phase == "prefill":
            step = steps.prefill_step(model, dev, p.batch, p.context)
            resident = level.resident_bytes
        else:
            step = steps.decode_step(model, dev, p.batch, p.context, graphs=self.opt["graphs"])
            resident = level.resident_bytes + cache_nbytes(step.cache)
        with PeakTracker(dev, base_bytes=resident, nvml=self.opt["nvml"]) as mem:
            step.fn()
        level.budget.check(mem.peak_device, "measured peak")
        policy = self.opt["timer"] or (PREFILL_POLICY if p.phase == "prefill" else DECODE_POLICY)
        if self.cpu:
            policy = self.opt["timer"] or TimerPolicy.cpu()
        policy = replace(policy, warmup=max(0, policy.warmup - 1))  # the tracked call above was the first
        timing, power = self._timed(step.fn, policy)
        eager = None
        if step.method == "cuda-graph" and step.eager is not None:
            eager = time_call(step.eager, dev, TimerPolicy.quick())
        return self._row(level, p, step, timing, power, mem, eager)

    def _timed(self, fn, policy: TimerPolicy):
        nvml = self.opt["nvml"]
        if nvml is None:
            return time_call(fn, self.dev, policy), None
        from profiler.measure.power import PowerSampler

        with PowerSampler(nvml) as sampler:
            timing = time_call(fn, self.dev, policy)
        return timing, sampler.reading

    def _row(self, level: Level, p: Point, step, timing, power, mem, eager) -> tuple[dict, dict]:
        eff = default_efficiency(self.machine.id, p.quant.id)  # bytes and FLOPs do not depend on it
        if p.phase == "prefill":
            est = atiming.prefill(self.spec, self.machine, p.quant, p.kv, self.tp, p.batch, p.context, eff)
        else:
            est = atiming.decode_step(self.spec, self.machine, p.quant, p.kv, self.tp, p.batch, p.context, eff,
                                      attended=step.attended)
        t, dtype = timing.median_s, atiming.compute_dtype(self.machine, p.quant)
        self._outrun(est, t, dtype)
        mbu, mfu = rates.utilisation(est.bytes_moved, est.flops, t, self.machine, dtype)
        notes = [f"{step.method}, median of {timing.count} ({timing.method})"]
        unstable = unstable_note(t, timing.iqr_s)
        if unstable:
            notes.insert(0, unstable)
        if step.note:
            notes.append(step.note)
        if eager is not None:
            notes.append(f"eager {eager.median_s * 1e3:.3f} ms")
        notes += self._flags(p, est, mbu, power)
        if not self.cpu:  # a CPU row's ratios are rated against the final record, in table()
            notes += rates.over_one_notes(mbu, mfu, self.machine, dtype)
            notes += filter(None, [rates.label_note(self.machine, self.meta.environment)])
        row = {"status": "ok", "latency_ms": t * 1e3, "latency_ms_spread": timing.iqr_s * 1e3,
               "tokens_per_s": step.tokens / t, "peak_bytes": mem.peak_device, "mbu": mbu, "mfu": mfu,
               "power_w": power.mean_w if power else None,
               "energy_j_per_token": power.mean_w * t / step.tokens if power and power.mean_w else None,
               "note": "; ".join(notes)}
        detail = {"timing": asdict(timing), "eager_timing": asdict(eager) if eager else None,
                  "memory": {"peak_allocated": mem.peak_allocated, "peak_reserved": mem.peak_reserved,
                             "peak_device": mem.peak_device, "non_torch": mem.non_torch, "nvml_used": mem.nvml_used,
                             "method": mem.method},
                  "power": asdict(power) if power else None, "analytic": asdict(est), "attended": step.attended,
                  "rates": {"bytes_moved": est.bytes_moved, "flops": est.flops, "seconds": t, "dtype": dtype}}
        return row, detail

    def _flags(self, p: Point, est, mbu: float, power) -> list[str]:
        flags = []
        l2 = self.meta.environment.get("l2_cache_bytes") or 0
        if self.cuda and l2 and est.bytes_moved < 4 * l2:
            flags.append("bytes per step within 4x L2: MBU can exceed what HBM alone allows")
        if self.cuda and p.phase == "decode" and mbu < LOW_MBU:
            flags.append(f"MBU < {LOW_MBU}: launch/overhead-bound")
        if self.cuda and power is None:
            flags.append(f"power: unsupported ({self.opt['nvml_error']})")
        elif power is not None and power.energy_j is None:
            flags.append(f"power: {power.energy_source}")
        if power is not None and power.throttle_reasons:
            flags.append(f"clock events: {','.join(power.throttle_reasons)}")
        if self.cpu:
            flags.append("power: unsupported on CPU (NVML is GPU-only)")
        elif self.kind == "mps":
            from profiler.measure.power import MPS_UNSUPPORTED

            flags.append(f"power: {MPS_UNSUPPORTED}")
        return flags
