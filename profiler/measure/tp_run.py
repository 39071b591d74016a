"""One rank of a measured tensor-parallel sweep (run under torchrun: ``tp_launch`` starts it, or the user does).

    run_tp_profile(model, gpu_id, quants, kv_dtypes, batches, contexts, device, out, ...) -> (table, meta)

Every rank builds its shard of the model (:mod:`tp_shard`: built at shard shapes, random weights), quantises it
and runs the same points in the same order as the one-GPU sweep (:class:`runner.Runner`), with these differences:

- rows have ``tp = N``; ``weights_bytes``, ``kv_bytes_per_token`` and ``peak_bytes`` are one rank's (the schema is
  per GPU), and the level note compares them with the analytic per-rank figures and says whether every rank held
  the same bytes (the largest rank's are reported when they differ);
- the ranks agree on everything that decides what runs next, so no rank waits in a collective another never
  enters: rank 0's journal (resume) is broadcast, each max-batch probe fits only when it fits on every rank, and
  the timer runs a count fixed from the slowest rank's pilot repetition; a repetition's time is the slowest rank's;
- decode steps run eager (no CUDA graph: capturing NCCL collectives is not attempted here), and the note says so;
- each point also times one all-reduce of the step's activation message (tokens x hidden, bf16) alone on the
  group: ``allreduce_bytes`` and ``allreduce_ms``, which ``inferplan calibrate`` fits a collective line to;
- only rank 0 writes the journal and the profile; the other ranks print nothing.

Backends: NCCL on CUDA (one GPU per rank, ``cuda:LOCAL_RANK``), gloo on the CPU. A failure on a rank raises
:class:`RankFailed` ("rank K: ..."), and with ``INFERPLAN_TP_STATUS_DIR`` set (``tp_launch``) the line is also written
there so the launching process can name the rank that failed first.
"""

from __future__ import annotations

import math
import os
import sys
import time
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import pandas as pd

from profiler.errors import InvalidValueError, ProfilerError
from profiler.measure import steps
from profiler.measure.runner import Level, Point, Runner
from profiler.measure.timers import TimerPolicy, Timing
from profiler.specs import KvDtype, ModelSpec

STATUS_DIR_ENV = "INFERPLAN_TP_STATUS_DIR"  # tp_launch: where each rank writes its failure line
# How long a rank waits in a collective for the others before the run fails (torch's default is 10 min for NCCL,
# 30 for gloo): a rank that died leaves the others waiting this long. Design choice: long enough for the slowest
# single forward we time (a large prefill) plus a max-batch probe.
COLLECTIVE_TIMEOUT_S = 300


class RankFailed(ProfilerError):
    """A rank of a TP sweep failed: the message starts with "rank K: "."""


def world() -> tuple[int, int, int] | None:
    """(rank, world size, local rank) when this process was started by torchrun, else None."""
    if "WORLD_SIZE" not in os.environ or "RANK" not in os.environ:
        return None
    return int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"]), int(os.environ.get("LOCAL_RANK", "0"))


def _agree_max(values: list[float], dev) -> list[float]:
    """Every rank's list replaced by the element-wise maximum over ranks (on `dev`: NCCL reduces CUDA tensors
    only, gloo CPU ones)."""
    import torch
    import torch.distributed as dist

    t = torch.tensor(values, dtype=torch.float64, device=dev)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return t.tolist()


def agreed_time(fn, dev, policy: TimerPolicy) -> Timing:
    """Time `fn` on every rank with the same number of repetitions: warm-ups, one pilot repetition (the slowest
    rank's sets the count that reaches policy.min_time_s), then the repetitions; each one's time is the slowest
    rank's (a TP step ends when its last rank does)."""
    from profiler.measure.device import is_cuda, synchronize

    for _ in range(policy.warmup):
        fn()
    synchronize(dev)
    pilot = _agree_max([_samples(fn, dev, 1)[0]], dev)[0]
    count = max(policy.min_count, math.ceil(policy.min_time_s / max(pilot, 1e-9)))
    count = int(min(count, policy.max_count, max(policy.min_count, policy.max_time_s / max(pilot, 1e-9))))
    samples = _agree_max(_samples(fn, dev, count), dev)
    return Timing.from_samples(samples, ("cuda-events" if is_cuda(dev) else "perf_counter")
                               + ", slowest rank per repetition")


def _samples(fn, dev, count: int) -> list[float]:
    """`count` repetitions of `fn`, seconds each: CUDA events (one sync at the end), else perf_counter."""
    from profiler.measure.device import is_cuda
    from profiler.measure.timers import cuda_event_samples

    if is_cuda(dev):
        return cuda_event_samples(fn, count, dev)
    out = []
    for _ in range(count):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


class TpRunner(Runner):
    """:class:`Runner` for one rank of a TP group (see the module docstring)."""

    def __init__(self, spec: ModelSpec, dev, machine, journal, meta, out, options, tp: int, rank: int):
        super().__init__(spec, dev, machine, journal, meta, out, options)
        from profiler.measure.tp_shard import rank_spec

        self.tp, self.rank = tp, rank
        self.shard_spec = rank_spec(spec, tp)
        self.remeasures = 0  # a CPU record re-measured on one rank only would label the ranks' rows differently

    def emit(self, row: dict[str, Any], detail: dict[str, Any] | None = None) -> None:
        if self.rank == 0:
            return super().emit(row, detail)
        self.journal.rows[self._key_of(row)] = row  # the others keep the same bookkeeping, write nothing

    @staticmethod
    def _key_of(row: dict[str, Any]) -> tuple:
        from profiler.measure.journal import row_key

        return row_key(row)

    def build_level(self, quant, kv: KvDtype, prefill_cap: dict[int, int]) -> Level:
        from profiler.measure import tp_shard

        spec, tp = self.spec, self.tp
        self.spec, self.tp = self.shard_spec, 1
        try:  # build and quantise this rank's shard as a model of its own; the comparisons below use the whole one
            level = super().build_level(quant, kv, prefill_cap)
        finally:
            self.spec, self.tp = spec, tp
        collectives = tp_shard.install(level.model, spec, self.tp, self.rank)
        level.kv_bytes_per_token, kv_method = steps.kv_bytes_per_token(level.model, self.dev)
        ranks = self._gathered((level.weights_bytes, level.kv_bytes_per_token, level.resident_bytes))
        level.weights_bytes = max(r[0] for r in ranks)
        level.kv_bytes_per_token = max(r[1] for r in ranks)
        level.resident_bytes = max(r[2] for r in ranks)
        same = all(r == ranks[0] for r in ranks)
        level.note = (self._level_note(quant, kv, level.weights_bytes, level.weights_bytes, level.kv_bytes_per_token,
                                       level.detail["weights_source"])
                      + f"; per rank of TP {self.tp} ({self._backend()}): "
                      + ("every rank holds the same bytes" if same else f"ranks differ, largest shown: {ranks}"))
        level.budget = self._budget(level.resident_bytes)
        level.detail.update(tp=self.tp, ranks=[list(r) for r in ranks], all_reduces_per_forward=collectives,
                            kv_method=kv_method)
        return level

    def _backend(self) -> str:
        import torch.distributed as dist

        return dist.get_backend()

    def _gathered(self, value) -> list:
        import torch.distributed as dist

        out: list = [None] * self.tp
        dist.all_gather_object(out, value)
        return [tuple(v) for v in out]

    def _fits(self, run, level: Level, predicted_bytes: int) -> bool:
        mine = super()._fits(run, level, predicted_bytes)
        return _agree_max([0.0 if mine else 1.0], self.dev)[0] == 0.0  # fits only where it fits on every rank

    def _timed(self, fn, policy: TimerPolicy):
        return agreed_time(fn, self.dev, policy), None  # power: NVML reads one GPU; left out of TP rows

    def measure(self, level: Level, p: Point) -> tuple[dict[str, Any], dict[str, Any]]:
        row, detail = super().measure(level, p)
        message = (p.batch * p.context if p.phase == "prefill" else p.batch) * self.spec.hidden_size * 2
        ar = self._allreduce(message)
        row.update(allreduce_bytes=message, allreduce_ms=ar.median_s * 1e3)
        row["note"] = (f"{row['note']}; TP {self.tp} over {self._backend()}, one all-reduce of {message:,} B "
                       f"alone: {ar.median_s * 1e6:,.1f} us (median of {ar.count})")
        detail["allreduce"] = {"bytes": message, "timing": asdict(ar)}
        return row, detail

    def _allreduce(self, message_bytes: int) -> Timing:
        import torch
        import torch.distributed as dist

        buf = torch.ones(message_bytes // 2, dtype=torch.bfloat16, device=self.dev)
        policy = TimerPolicy(warmup=3, min_count=10, min_time_s=0.05, max_count=2000, max_time_s=2.0)
        return agreed_time(lambda: dist.all_reduce(buf), self.dev, policy)


def _silence_other_ranks(rank: int) -> None:
    """Ranks other than 0 print nothing: rank 0 writes the table (and the launcher reads rank 0's file)."""
    if rank:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - for the life of the process


def _fail(rank: int, exc: BaseException) -> RankFailed:
    text = str(exc) if isinstance(exc, ProfilerError) else f"{type(exc).__name__}: {exc}"
    line = f"rank {rank}: {text.splitlines()[0] if text else type(exc).__name__}"
    folder = os.environ.get(STATUS_DIR_ENV)
    if folder:
        (Path(folder) / f"rank-{rank}.txt").write_text(f"{time.time():.6f} {line}\n", encoding="utf-8")
    return RankFailed(line)


def run_tp_profile(model: ModelSpec, gpu_id: str | None, quants: list[str], kv_dtypes: list, batches: list[int],
                   contexts: list[int], device: str = "cuda", out: Path | None = None, *, tp: int,
                   command: str = "", force_gpu: bool = False, timer: TimerPolicy | None = None,
                   memory_limit_bytes: int | None = None) -> tuple[pd.DataFrame, Any]:
    """This rank's part of a TP sweep (torchrun's environment names the rank): rank 0 returns the table and the
    metadata and writes `out`; the others return the same and write nothing. See the module docstring."""
    import torch.distributed as dist

    rank, size, local = world() or (0, 1, 0)
    if size != tp:
        raise InvalidValueError(f"--tp {tp} but torchrun started {size} process(es): start --nproc-per-node x "
                                f"--nnodes = {tp} processes, one per GPU of the TP group")
    _silence_other_ranks(rank)
    try:
        dev = _device(device, local)
        dist.init_process_group("nccl" if dev.type == "cuda" else "gloo", timeout=_timeout())
        try:
            return _sweep(model, gpu_id, quants, kv_dtypes, batches, contexts, dev, out, tp, rank, command,
                          force_gpu, timer, memory_limit_bytes)
        finally:
            dist.destroy_process_group()
    except Exception as exc:  # noqa: BLE001 - every failure leaves as one line naming the rank
        raise _fail(rank, exc) from exc


def _timeout():
    from datetime import timedelta

    return timedelta(seconds=COLLECTIVE_TIMEOUT_S)


def _device(device: str, local_rank: int):
    from profiler.measure.device import prepare_process, resolve_device

    prepare_process()
    if device.startswith("cuda"):
        import torch

        dev = resolve_device(f"cuda:{local_rank}")
        torch.cuda.set_device(dev)
        return dev
    if device != "cpu":
        raise InvalidValueError(f"--device {device} with --tp: measured TP runs on cuda (NCCL) or cpu (gloo)")
    return resolve_device("cpu")


def _sweep(model, gpu_id, quants, kv_dtypes, batches, contexts, dev, out, tp, rank, command, force_gpu, timer,
           memory_limit_bytes):
    import itertools

    import torch.distributed as dist

    from profiler import catalogue
    from profiler.measure.environment import machine_spec
    from profiler.measure.journal import Journal, journal_path
    from profiler.measure.sweep import _kv, _meta, plan_points
    from profiler.schema import write_profile

    points = plan_points([catalogue.get_quant(q) for q in quants], [_kv(k) for k in kv_dtypes],
                         ("prefill", "decode"), batches, batches, contexts)
    shared = [None]
    if rank == 0:
        machine = machine_spec(dev, gpu_id, force_gpu)
        shared = [(machine, _meta(model, dev, machine, None, command))]
    dist.broadcast_object_list(shared, src=0)  # one record for every rank (a CPU's is measured once, on rank 0)
    machine, meta = shared[0]
    header = {"model": model.name, "gpu": machine.id, "device": f"{dev.type} tp{tp}"}
    journal = Journal(journal_path(out) if out and rank == 0 else None, header, resume=True)
    state = [(journal.rows, journal.aux) if rank == 0 else None]
    dist.broadcast_object_list(state, src=0)  # resume: every rank skips the points rank 0 has
    journal.rows, journal.aux = dict(state[0][0]), dict(state[0][1])
    meta = replace(meta, environment={**meta.environment, "tp": tp, "tp_backend": dist.get_backend(),
                                      "tp_world_size": dist.get_world_size()})
    options = {"memory_limit_bytes": memory_limit_bytes, "weights_path": None, "seed": 0, "timer": timer,
               "max_batch_cap": None, "graphs": False, "on_point": None, "nvml": None,
               "nvml_error": "power is not measured in TP sweeps"}
    runner = TpRunner(model, dev, machine, journal, meta, out if rank == 0 else None, options, tp, rank)
    runner.order = [runner.key(p) for p in points]
    for (quant, kv), level_points in itertools.groupby(points, key=lambda p: (p.quant, p.kv)):
        runner.run_level(quant, kv, list(level_points))
        dist.barrier()
    result = [None]
    if rank == 0:
        df = runner.table()
        if out is not None and len(df):
            write_profile(df, out, runner.meta)
        result = [(df, runner.meta)]
    dist.broadcast_object_list(result, src=0)  # every rank returns rank 0's table (the others print to nowhere)
    return result[0]


