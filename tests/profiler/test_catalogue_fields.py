"""What a model entry may hold, and how a name and a config combine.

- A catalogue YAML entry (``--models FILE`` and the packaged models.yaml) is strict: a misspelt field
  would otherwise be ignored (``num_key_value_head: 8`` read as full multi-head attention). A user's
  config.json (``--config``) keeps every field, as tools write many inferplan need not know.
- An unknown model_type is refused, in YAML and config.json alike (tests in test_catalogue.py).
- ``get_model(catalogue_id, config_path=...)`` refuses a catalogue id naming another architecture.
- ``check_tp_in_node``: a TP group fits in one node.
"""

from __future__ import annotations

import inspect
import json
from dataclasses import replace
from pathlib import Path

import pytest
import yaml

from profiler import catalogue, hf_mapping
from profiler.errors import CatalogueError, InvalidValueError
from tests.profiler.catalogue_entries import TINY

MODELS_YAML = Path(catalogue.__file__).parent / "catalogues" / "models.yaml"


def allowed(model_type: str) -> set[str]:
    fam = hf_mapping.FAMILIES[model_type]
    return {*hf_mapping.INFERPLAN_FIELDS, *hf_mapping.COMMON_FIELDS, *fam.fields}


# ------------------------------------------------------------------------------------------------
# Strict fields in catalogue YAML
# ------------------------------------------------------------------------------------------------


def test_misspelt_field_names_file_line_entry_field_and_the_right_name(write_file):
    path = write_file("m.yaml", TINY.replace("num_key_value_heads: 2", "num_key_value_head: 8"))
    with pytest.raises(CatalogueError) as err:
        catalogue.load_models(path)
    e = err.value
    assert (e.file, e.line, e.entry, e.field) == (str(path), 7, "tiny", "num_key_value_head"), str(e)
    assert f"{path}:7" in str(e) and "did you mean 'num_key_value_heads'?" in str(e)


def test_unknown_field_without_a_close_name_points_at_config(write_file):
    path = write_file("m.yaml", TINY + "    flux_capacitor: 3\n")
    with pytest.raises(CatalogueError, match="unknown field") as err:
        catalogue.load_models(path)
    assert err.value.field == "flux_capacitor" and err.value.line == 10
    assert "did you mean" not in str(err.value) and "--config" in str(err.value)


def test_field_of_another_model_type_is_refused(write_file):
    # a llama has no experts: transformers would build a dense model and ignore the field
    path = write_file("m.yaml", TINY + "    num_local_experts: 8\n    num_experts_per_tok: 2\n")
    with pytest.raises(CatalogueError, match="model_type 'llama' has no field 'num_local_experts'") as err:
        catalogue.load_models(path)
    assert "mixtral" in str(err.value) and err.value.line == 10
    window = write_file("w.yaml", TINY + "    sliding_window: 4096\n")
    with pytest.raises(CatalogueError, match="has no field 'sliding_window'"):
        catalogue.load_models(window)


def test_real_config_fields_and_inferplan_keys_are_accepted_in_yaml(write_file):
    extra = ("    hf_repo: me/tiny\n    note: a test\n    source: here\n    rope_theta: 10000.0\n"
             "    rms_norm_eps: 1.0e-05\n    torch_dtype: bfloat16\n    bos_token_id: 1\n    mlp_bias: false\n")
    spec = catalogue.load_models(write_file("m.yaml", TINY + extra))["tiny"]
    assert spec.source == "here" and spec.hf_config["hf_repo"] == "me/tiny"
    # accepted, and none of them changes the architecture: the same spec as the bare entry
    bare = catalogue.load_models(write_file("bare.yaml", TINY))["tiny"]
    assert replace(spec, source=bare.source) == bare


def test_config_json_keeps_accepting_unknown_fields(write_file):
    cfg = json.loads(json.dumps(catalogue.load_models()["llama-3.2-1b"].hf_config))
    # a misspelt KV-head count (2, unlike the real 8), an unknown field, and a field llama does not have
    cfg.update(num_key_value_head=2, some_new_field={"a": 1}, sliding_window=4096)
    spec = catalogue.get_model("", config_path=write_file("cfg/config.json", json.dumps(cfg)))
    # Llama-3.2-1B: 32 query heads, 8 KV heads, full attention everywhere; the extra fields are ignored
    assert spec.name == "cfg" and spec.attention.num_kv_heads == 8 and spec.attention.sliding_window is None
    catalogued = catalogue.get_model("llama-3.2-1b")
    assert replace(spec, name=catalogued.name, source=catalogued.source) == catalogued


def test_packaged_entries_hold_only_fields_of_their_type():
    entries = yaml.safe_load(MODELS_YAML.read_text(encoding="utf-8"))["models"]
    for name, entry in entries.items():
        assert set(entry) <= allowed(entry["model_type"]), name


def test_every_field_the_mapping_reads_is_allowed(monkeypatch):
    """Record Fields reads while mapping each packaged entry: the check must not refuse any of them."""
    read: dict[str, set[str]] = {}
    original = hf_mapping.Fields._get

    def spy(self, key, default, aliases=()):
        read.setdefault(self.data["model_type"], set()).update((key, *aliases))
        return original(self, key, default, aliases)

    monkeypatch.setattr(hf_mapping.Fields, "_get", spy)
    for name, entry in yaml.safe_load(MODELS_YAML.read_text(encoding="utf-8"))["models"].items():
        hf_mapping.spec_from_hf_config(name, entry)
    assert set(read) == set(hf_mapping.FAMILIES)
    for model_type, keys in read.items():
        assert keys <= allowed(model_type), (model_type, sorted(keys - allowed(model_type)))


def test_transformers_config_fields_are_allowed():
    """A config.json of a supported type, pasted into YAML, holds only fields the check knows."""
    pytest.importorskip("transformers")
    from transformers.models.auto.configuration_auto import CONFIG_MAPPING

    for model_type in hf_mapping.FAMILIES:
        cls = CONFIG_MAPPING[model_type]
        fields = set(inspect.signature(cls.__init__).parameters) - {"self", "kwargs"}
        fields |= set(cls().to_dict()) | set(cls.attribute_map)  # attribute_map: aliases transformers reads
        assert fields <= allowed(model_type), (model_type, sorted(fields - allowed(model_type)))


def test_gpu_file_typo_gets_a_suggestion(write_file):
    gpus = ("gpus:\n  g:\n    name: G\n    memory_gib: 80\n    hbm_bandwith_tb_s: 3.35\n    tflops: {bf16: 9}\n"
            "    interconnect: NVLink\n    interconnect_gb_s: 450\n    tdp_w: 700\n")
    with pytest.raises(CatalogueError, match="did you mean 'hbm_bandwidth_tb_s'") as err:
        catalogue.load_file("gpus", write_file("g.yaml", gpus))
    assert err.value.line == 5


# ------------------------------------------------------------------------------------------------
# A model name together with --config
# ------------------------------------------------------------------------------------------------


def write_config(write_file, model_id: str, folder: str) -> Path:
    cfg = catalogue.load_models()[model_id].hf_config
    return write_file(f"{folder}/config.json", json.dumps(cfg, indent=1))


def test_catalogue_id_naming_another_architecture_is_refused(write_file):
    path = write_config(write_file, "qwen2.5-7b", "cfgdir")
    with pytest.raises(CatalogueError) as err:
        catalogue.get_model("llama-3.1-8b", config_path=path.parent)
    msg = str(err.value)
    assert err.value.entry == "llama-3.1-8b" and err.value.file == str(path)
    assert "model_type 'qwen2', not 'llama'" in msg and "hidden_size 3584, not 4096" in msg
    assert "labelled 'cfgdir'" in msg and "drop --config" in msg
    # same family, other size: still another model
    with pytest.raises(CatalogueError, match="num_layers 80, not 32"):
        catalogue.get_model("llama-3.1-8b", config_path=write_config(write_file, "llama-3.3-70b", "big"))


def test_catalogue_id_of_the_same_architecture_labels_the_rows(write_file):
    path = write_config(write_file, "llama-3.1-8b", "Llama-3.1-8B-Instruct")
    spec = catalogue.get_model("llama-3.1-8b", config_path=path)
    assert spec.name == "llama-3.1-8b" and spec.source.startswith("config.json at")
    catalogued = catalogue.get_model("llama-3.1-8b")
    assert replace(spec, source=catalogued.source) == catalogued


def test_label_that_is_no_catalogue_id_is_kept(write_file):
    path = write_config(write_file, "qwen2.5-7b", "cfgdir")
    assert catalogue.get_model("my-qwen", config_path=path).name == "my-qwen"
    assert catalogue.get_model("", config_path=path).name == "cfgdir"


def test_ids_of_the_user_models_file_are_checked_too(write_file):
    models = write_file("m.yaml", TINY)
    path = write_config(write_file, "qwen2.5-7b", "cfgdir")
    with pytest.raises(CatalogueError, match="'tiny' is a catalogue model id"):
        catalogue.get_model("tiny", models_file=models, config_path=path)


# ------------------------------------------------------------------------------------------------
# Tensor parallelism inside one node
# ------------------------------------------------------------------------------------------------


def test_tp_beyond_one_node_is_refused():
    l4 = catalogue.get_gpu("l4")
    for tp in (1, 2, 4, 8):
        catalogue.check_tp_in_node(l4, tp)
    with pytest.raises(InvalidValueError) as err:
        catalogue.check_tp_in_node(l4, 16)
    msg = str(err.value)
    assert "TP=16" in msg and "holds 8" in msg and "--tp 8 or less" in msg and l4.interconnect in msg


def test_tp_suggestion_is_the_largest_power_of_two_in_a_node(write_file):
    gpus = ("gpus:\n  six:\n    name: Six\n    memory_gib: 80\n    hbm_bandwidth_tb_s: 3\n    tflops: {bf16: 9}\n"
            "    interconnect: PCIe\n    interconnect_gb_s: 32\n    tdp_w: 300\n    gpus_per_node: 6\n")
    six = catalogue.load_file("gpus", write_file("g.yaml", gpus))["six"]
    with pytest.raises(InvalidValueError, match="--tp 4 or less"):
        catalogue.check_tp_in_node(six, 8)
