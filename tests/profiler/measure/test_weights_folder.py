"""--weights must hold the model the rows are labelled as: a folder of another architecture is refused, naming the
fields that differ, before anything is built; rows measured from a folder say so."""

from dataclasses import replace

import pytest

torch = pytest.importorskip("torch", reason="the measured profiler needs torch (the dev extra installs it)")

from profiler import catalogue  # noqa: E402
from profiler.errors import ProfilerError  # noqa: E402
from profiler.measure import build  # noqa: E402
from profiler.measure.sweep import run_measured_profile  # noqa: E402


@pytest.fixture(scope="module")
def saved(tiny, tmp_path_factory):
    folder = tmp_path_factory.mktemp("weights")
    build.build_model(tiny, torch.device("cpu"), seed=5).model.save_pretrained(folder)
    return folder


def test_a_weights_folder_of_the_same_architecture_is_accepted(tiny, saved):
    assert build.check_weights_folder(tiny, saved) is None


def test_a_weights_folder_of_another_architecture_is_refused_naming_the_fields(tiny, saved):
    deeper = replace(tiny, num_layers=3)
    wider = replace(tiny, attention=replace(tiny.attention, num_kv_heads=4))
    with pytest.raises(ProfilerError) as err:
        build.check_weights_folder(deeper, saved)
    assert "is not tiny-llama" in str(err.value) and "num_layers: spec 3, config.json 2" in str(err.value)
    with pytest.raises(ProfilerError, match="attention.num_kv_heads: spec 4, config.json 2"):
        build.build_model(wider, torch.device("cpu"), weights_path=saved)


def test_the_sweep_refuses_a_mismatched_folder_before_building_anything(saved, monkeypatch):
    monkeypatch.setattr(build, "build_model", lambda *a, **k: pytest.fail("built before the folder was checked"))
    with pytest.raises(ProfilerError, match="--weights"):
        run_measured_profile(catalogue.get_model("smollm2-135m"), None, ["bf16"], ["bf16"], [1], [16],
                             device="cpu", weights_path=saved, progress=False)


def test_a_weights_folder_without_config_json_is_a_clear_error(tiny, saved, tmp_path):
    (tmp_path / "model.safetensors").write_bytes((saved / "model.safetensors").read_bytes())
    with pytest.raises(ProfilerError, match="config.json"):
        build.check_weights_folder(tiny, tmp_path)


def test_rows_measured_from_a_weights_folder_say_so(tiny, saved, fixed_timer):
    df, _ = run_measured_profile(tiny, None, ["bf16"], ["bf16"], [1], [16], device="cpu", weights_path=saved,
                                 progress=False, phases=["decode"], max_batch_cap=2)
    assert list(df["status"]) == ["ok"]
    assert df["note"].iloc[0].endswith(f"; safetensors from {saved}")  # the level's note ends with where from
