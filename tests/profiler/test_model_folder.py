"""A model argument that is a local folder or config.json path (issue 13): catalogue.get_model reads it, labels it
with the folder's name, and refuses a folder without config.json or a file that is no JSON in one line.

The commands and the planner's APIs on the same folder: tests/cli/test_cli_model_folder.py."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from profiler import catalogue
from profiler.errors import CatalogueError, UnknownNameError

TINY = "smollm2-135m"  # a small catalogue llama: 134,515,008 parameters (`inferplan models`, checked against
# transformers in tests/profiler/analytic/test_params_exact.py)


def write_model(folder: Path, model_id: str = TINY, **changes) -> Path:
    """`folder`/config.json holding the catalogue entry `model_id`'s Hugging Face fields (with `changes`)."""
    folder.mkdir(parents=True, exist_ok=True)
    cfg = {**catalogue.load_models()[model_id].hf_config, **changes}
    (folder / "config.json").write_text(json.dumps(cfg), encoding="utf-8")
    return folder


def test_folder_and_config_path_are_the_catalogue_model_under_the_folder_name(tmp_path):
    folder = write_model(tmp_path / "mymodel")
    want = catalogue.get_model(TINY)
    for arg in (str(folder), str(folder / "config.json"), f"{folder}/"):
        spec = catalogue.get_model(arg)
        assert spec.name == "mymodel"
        assert spec == want.__class__(**{**want.__dict__, "name": "mymodel", "source": spec.source})
        assert spec.source == f"config.json at {folder / 'config.json'}"


def test_relative_paths_and_a_bare_folder_name(tmp_path, monkeypatch):
    write_model(tmp_path / "mymodel")
    monkeypatch.chdir(tmp_path)
    assert catalogue.get_model("mymodel").name == "mymodel"  # no catalogue id: the folder in the working directory
    assert catalogue.get_model("./mymodel/config.json").name == "mymodel"
    monkeypatch.chdir(tmp_path / "mymodel")
    assert catalogue.get_model("config.json").name == "mymodel"  # the json's folder, though the path names none
    assert catalogue.get_model(".").name == "mymodel"


def test_a_catalogue_id_wins_over_a_folder_of_that_name(tmp_path, monkeypatch):
    write_model(tmp_path / TINY, num_hidden_layers=2)
    monkeypatch.chdir(tmp_path)
    assert catalogue.get_model(TINY).num_layers == 30  # the catalogue's
    with pytest.raises(CatalogueError) as exc:  # ./smollm2-135m: the folder, whose rows would carry the catalogue id
        catalogue.get_model(f"./{TINY}")
    msg = str(exc.value)
    assert "'smollm2-135m' is a catalogue model id" in msg and "num_layers 2, not 30" in msg
    assert "rename the folder" in msg and "\n" not in msg


def test_a_folder_named_like_the_catalogue_model_it_holds_keeps_the_id(tmp_path):
    assert catalogue.get_model(str(write_model(tmp_path / TINY))).name == TINY


def test_a_folder_without_config_json_is_one_clear_line(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(CatalogueError, match=r"^the folder .*empty holds no config\.json; give a Hugging Face "):
        catalogue.get_model(str(tmp_path / "empty"))


def test_a_file_that_is_no_json_is_refused_with_the_models_option_named(tmp_path):
    (tmp_path / "models.yaml").write_text("models: {}\n")
    with pytest.raises(CatalogueError, match=r"is a file but no config\.json.*--models FILE"):
        catalogue.get_model(str(tmp_path / "models.yaml"))


def test_a_broken_config_json_names_the_file(tmp_path):
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "config.json").write_text("{not json")
    with pytest.raises(CatalogueError, match=r"bad/config\.json"):
        catalogue.get_model(str(tmp_path / "bad"))


@pytest.mark.parametrize("name", ["llama-3.1-8", "./no/such/folder", "x" * 5000, "nul\0byte"])
def test_an_unknown_name_keeps_the_suggestions_and_says_a_folder_works(name):
    with pytest.raises(UnknownNameError) as exc:
        catalogue.get_model(name)
    msg = str(exc.value)
    assert msg.startswith(f"Unknown model '{name}'.")
    assert msg.endswith("A local model folder holding config.json, or a config.json path, works too.")
    if name == "llama-3.1-8":
        assert "Did you mean: llama-3.1-8b" in msg
    assert ("No folder or .json file is at that path either." in msg) == (name == "./no/such/folder")


def test_profile_api_takes_the_folder(tmp_path):
    from profiler.api import ProfileRequest, profile

    folder = write_model(tmp_path / "mymodel")
    mine, _ = profile(ProfileRequest(model=str(folder), gpu="l4"))
    theirs, _ = profile(ProfileRequest(model=TINY, gpu="l4"))
    assert set(mine["model"]) == {"mymodel"}
    assert mine.drop(columns="model").equals(theirs.drop(columns="model"))
    assert int(mine["weights_bytes"].iloc[0]) == 269_030_016  # 134,515,008 params x 2 B (bf16)
