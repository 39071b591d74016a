"""`inferplan profile --measure` options: what reaches the measured sweep (the sweep itself is replaced, so no
torch is needed), options it cannot honour refused before it runs, and measured-only options refused without it."""

import json

import pytest

from tests.helpers import cli, cli_error


def _capture_sweep(monkeypatch) -> dict:
    """Replace the GPU sweep (the outermost side effect) by one that records its arguments and measures nothing."""
    import profiler.measure.sweep as sweep
    from profiler.schema import ProfileMeta, normalise

    seen = {}

    def fake(model, gpu, *grid, **kw):
        seen.update(model=model.name, gpu=gpu, grid=grid, **kw)
        return normalise([]), ProfileMeta(tool_version="t", environment={"gpu": gpu or "h100-sxm", "torch": "x"})

    monkeypatch.setattr(sweep, "run_measured_profile", fake)
    return seen


@pytest.mark.parametrize("args, says", [
    (("--tp", "1,4"), "one TP degree per measured run"),
    (("--tp", "2", "--weights", "/tmp"), "--weights with --tp"),
    (("--calibration", "c.yaml"), "--calibration applies to analytic profiles"),
    (("--device", "cpu", "--gpu", "h100-sxm"), "drop --gpu"),
    (("--force-gpu",), "--force-gpu needs --gpu"),
])
def test_measured_options_it_cannot_honour_are_refused(args, says, monkeypatch):
    import profiler.measure.sweep as sweep

    monkeypatch.setattr(sweep, "run_measured_profile", lambda *a, **k: pytest.fail("must be refused first"))
    assert says in cli_error("profile", "llama-3.1-8b", "--measure", *args)


@pytest.mark.parametrize("args, says", [
    (("--weights", "/tmp"), "--weights applies to measured profiles only"),
    (("--gpu", "h200", "--force-gpu"), "--force-gpu applies to measured profiles only"),
    (("--device", "cpu"), "--device cpu applies to measured profiles only; add --measure"),
    (("--device", "cuda"), "--device cuda applies to measured profiles only; add --measure"),
    (("--device", "cuda:1"), "--device cuda:1 applies to measured profiles only; add --measure"),
])
def test_measured_only_options_without_measure_are_refused(args, says, monkeypatch):
    from profiler import api

    monkeypatch.setattr(api, "analytic_profile", lambda *a, **k: pytest.fail("must be refused first"))
    assert says in cli_error("profile", "llama-3.1-8b", *args)


@pytest.mark.parametrize("args, gpu_id, force", [((), None, False), (("--gpu", "h200"), "h200", False),
                                                 (("--gpu", "h200", "--force-gpu"), "h200", True)])
def test_measure_detects_the_gpu_unless_one_is_named(args, gpu_id, force, monkeypatch):
    seen = _capture_sweep(monkeypatch)
    typed = ["profile", "llama-3.1-8b", "--measure", *args, "--batch", "1,8", "--context", "1k,2k"]
    monkeypatch.setattr("sys.argv", ["/home/u/.venv/bin/inferplan", *typed])  # CliRunner leaves pytest's argv
    r = cli(*typed, "--format", "json")
    assert r.exit_code == 0, r.output
    assert seen["gpu"] == gpu_id and seen["force_gpu"] is force  # None: detect the card from the device
    assert seen["model"] == "llama-3.1-8b" and seen["device"] == "cuda"
    assert [1, 8] in [list(g) for g in seen["grid"]] and [1024, 2048] in [list(g) for g in seen["grid"]]
    assert seen["command"] == "inferplan " + " ".join(typed)  # the program's name, not its install path
    assert json.loads(r.stdout) == []  # json on stdout stays machine-readable; the summary goes to stderr


def test_measure_without_device_defaults_to_cuda_and_cpu_is_passed_on(monkeypatch):
    seen = _capture_sweep(monkeypatch)
    assert cli("profile", "llama-3.1-8b", "--measure", "--format", "json").exit_code == 0
    assert seen["device"] == "cuda"
    assert cli("profile", "llama-3.1-8b", "--measure", "--device", "cpu", "--format", "json").exit_code == 0
    assert seen["device"] == "cpu"
