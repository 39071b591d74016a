"""Measured tensor parallelism on the CPU: real torchrun processes joined by gloo.

- the sharded model is the model: each rank's shard, holding its slice of a full model's weights, gives the full
  model's logits (tp_logits_worker.py, dense, tied and MoE tiny models);
- `inferplan profile --measure --device cpu --tp 2` end to end: rows at tp 2 whose per-rank weight and KV bytes
  equal the analytic per-rank figures exactly, a timed all-reduce per point, a resumed rerun measuring nothing;
- the launcher's pieces without processes: the torchrun line for a group larger than the machine, the first failing
  rank's line, the refusals.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch", reason="the measured profiler needs torch (the dev extra installs it)")
if not torch.distributed.is_available() or not torch.distributed.is_gloo_available():
    pytest.skip("this torch build has no gloo backend (torch.distributed): measured TP on the CPU needs it",
                allow_module_level=True)

from profiler import api  # noqa: E402
from profiler.analytic import memory as amem  # noqa: E402
from profiler.catalogue import get_quant  # noqa: E402
from profiler.errors import InvalidValueError  # noqa: E402
from profiler.measure import tp_launch  # noqa: E402
from profiler.measure.journal import journal_path  # noqa: E402
from profiler.specs import KvDtype  # noqa: E402
from tests.helpers import cli_error  # noqa: E402
from tests.profiler.measure.tiny import TINY  # noqa: E402

ROOT = Path(__file__).resolve().parents[3]


def test_each_rank_holding_its_slice_gives_the_full_models_logits():
    worker = Path(__file__).with_name("tp_logits_worker.py")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    run = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2",
                          str(worker)], capture_output=True, text=True, env=env, cwd=ROOT, timeout=300)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    lines = {ln.split()[0]: ln.split()[1:] for ln in run.stdout.splitlines() if ln.startswith("tiny")}
    assert set(lines) == {"tiny-llama", "tiny-llama-tied", "tiny-moe"}
    for name, (diff, scale) in lines.items():
        # bf16 keeps 8 bits of mantissa: two ranks' partial sums added in another order differ by rounding only
        assert float(diff) <= 2**-7 * max(float(scale), 1.0), (name, diff, scale)


@pytest.fixture(scope="module")
def tiny_tp2(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tp2")
    config = folder / "config.json"
    config.write_text(__import__("json").dumps(TINY))
    out = folder / "tp2.csv"
    req = api.ProfileRequest(model="", config=config, measure=True, device="cpu", tps=(2,), batches=(1, 4),
                             contexts=(16, 512), output=out, command="inferplan profile --measure --tp 2")
    df, meta = api.profile(req)
    return req, df, meta, out


def test_tp2_rows_hold_one_ranks_bytes_exactly_as_the_analytic_model_counts_them(tiny_tp2):
    req, df, meta, out = tiny_tp2
    model = api.catalogue.get_model("", config_path=req.config)
    assert len(df) == 8 and set(df["tp"]) == {2} and set(df["status"]) == {"ok"}, df[["status", "note"]]
    assert set(df["weights_bytes"]) == {amem.weight_bytes(model, get_quant("bf16"), 2)}
    assert set(df["kv_bytes_per_token"]) == {amem.kv_bytes_per_token(model, KvDtype.BF16, 2)}
    # TINY: 106,816 parameters; one of two ranks holds half of every sharded tensor and all of the norms (2 x 2 x 64
    # + 64 values): (106,816 - 320) / 2 + 320 = 53,568 values = 107,136 B; KV: 1 of 2 KV heads x 16 x 2 x 2 layers
    # x 2 B = 128 B
    assert set(df["weights_bytes"]) == {107_136} and set(df["kv_bytes_per_token"]) == {128}
    tokens = [b * c if p == "prefill" else b for p, b, c in df[["phase", "batch", "context"]].itertuples(index=False)]
    assert list(df["allreduce_bytes"]) == [t * TINY["hidden_size"] * 2 for t in tokens]
    assert (df["allreduce_ms"] > 0).all() and (df["latency_ms"] > 0).all()
    assert (df["peak_bytes"] >= df["weights_bytes"]).all()
    assert meta.environment["tp_backend"] == "gloo" and meta.environment["tp_world_size"] == 2
    assert all("every rank holds the same bytes" in n and "TP 2 over gloo" in n for n in df["note"])


def test_a_rerun_resumes_from_rank_zeros_journal_and_measures_nothing_again(tiny_tp2):
    req, df, _, out = tiny_tp2
    before = journal_path(out).read_text()
    again, _ = api.profile(req)
    assert journal_path(out).read_text() == before
    assert list(again["latency_ms"]) == list(df["latency_ms"])


def test_calibrate_fits_a_collective_line_to_the_measured_all_reduces(tiny_tp2, tmp_path):
    # messages of 128 B to 256 KiB (decode batch 1 to prefill 4 x 512 tokens x 64 x 2 B): the largest takes a
    # measurable share longer than gloo's ~0.5 ms latency, so the line has a positive slope to find
    req, df, _, out = tiny_tp2
    fit = api.calibrate(out, tmp_path / "cal.yaml", config=req.config, force=True)  # a toy: efficiencies clip
    row = fit.collectives.set_index(["gpu", "tp"]).loc[("cpu", 2)]
    assert row["points"] == len(df) and row["sizes"] == df["allreduce_bytes"].nunique()
    assert row["latency_us"] >= 0 and row["busbw_gb_s"] > 0


def test_a_failure_on_the_ranks_ends_the_run_with_one_line_naming_the_first_rank(tmp_path):
    from profiler import catalogue
    from profiler.errors import ProfilerError

    model = catalogue.spec_from_hf_config("tiny-llama", TINY, "test fixture")
    request = {"model": model, "gpu_id": None, "quants": ["no-such-quant"], "kv_dtypes": ["bf16"], "batches": [1],
               "contexts": [16], "device": "cpu", "out": tmp_path / "x.csv", "tp": 2, "command": "", "force_gpu": False,
               "points": 2}
    with pytest.raises(ProfilerError) as err:
        tp_launch.measure_tp(request, progress=False)
    text = str(err.value)
    assert text.startswith(("rank 0: ", "rank 1: ")) and "no-such-quant" in text and "\n" not in text


def test_a_group_larger_than_the_machine_is_refused_with_the_torchrun_line(monkeypatch):
    monkeypatch.setattr(tp_launch, "_local_slots", lambda device: 8)
    with pytest.raises(InvalidValueError) as err:
        tp_launch.measure_tp({"tp": 16, "device": "cuda", "out": None, "points": 4,
                              "command": "inferplan profile llama-3.1-405b --measure --tp 16 -o tp16.csv"})
    text = str(err.value)
    assert "needs 16 GPUs and this machine has 8 GPUs" in text
    assert ("torchrun --nnodes=2 --nproc-per-node=8 --rdzv-backend=c10d --rdzv-endpoint=HOST:29500 -m planner.cli "
            "profile llama-3.1-405b --measure --tp 16 -o tp16.csv") in text


def test_no_gpu_says_where_it_would_run_and_offers_the_cpu(monkeypatch):
    monkeypatch.setattr(tp_launch, "_local_slots", lambda device: 0)
    typed = ["profile", "llama-3.1-8b", "--measure", "--tp", "2"]
    monkeypatch.setattr("sys.argv", ["inferplan", *typed])  # the command the line repeats (CliRunner keeps pytest's)
    text = cli_error(*typed)
    assert "needs 2 GPUs and this machine has no CUDA GPU" in text and "--device cpu (gloo)" in text
    assert "torchrun --nnodes=1 --nproc-per-node=2 --standalone -m planner.cli profile llama-3.1-8b" in text


def test_one_node_line_is_standalone():
    assert tp_launch.torchrun_line("inferplan profile m --measure --tp 4", 4, 8) == (
        "torchrun --nnodes=1 --nproc-per-node=4 --standalone -m planner.cli profile m --measure --tp 4")


def test_the_first_rank_that_failed_is_the_line(tmp_path):
    (tmp_path / "rank-1.txt").write_text("100.5 rank 1: RuntimeError: Connection closed by peer\n")
    (tmp_path / "rank-0.txt").write_text("99.25 rank 0: out of memory building the shard\n")
    log = tmp_path / "torchrun.log"
    log.write_text("noise\n")
    assert tp_launch._failure(tmp_path, log, 1).startswith("rank 0: out of memory building the shard (other ranks")
    for f in tmp_path.glob("rank-*.txt"):
        f.unlink()
    assert tp_launch._failure(tmp_path, log, 3) == f"torchrun exited with status 3: noise (log: {log})"


@pytest.mark.parametrize("args, words", [
    (["--tp", "2,4"], "one TP degree per measured run"),
    (["--tp", "3"], "does not divide its 4 attention heads"),
])
def test_bad_tp_requests_are_one_line(tmp_path, args, words):
    config = tmp_path / "config.json"
    config.write_text(__import__("json").dumps(TINY))
    assert words in cli_error("profile", "--config", str(config), "--measure", "--device", "cpu", *args)


def test_mla_is_refused_before_any_process_starts():
    assert "multi-head latent attention" in cli_error("profile", "deepseek-v3", "--measure", "--device", "cpu",
                                                      "--tp", "8")
