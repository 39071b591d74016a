"""profiler.yamldoc, the one YAML-with-line-numbers parser: the planner's files and the profiler's catalogues share
its line index, keep their two wordings of an error, and its packaged reads go through the parse cache."""

from __future__ import annotations

import pytest

import planner.units as units
from profiler import catalogue, userfile, yaml_cache, yamldoc
from profiler.errors import CatalogueError

TEXT = "a: 1\nitems:\n  - x: 2\n    y: [3, 4]\n  - z:\n      w: 5\n"
LINES = {("a",): 1, ("items",): 2, ("items", 0): 3, ("items", 0, "x"): 3, ("items", 0, "y"): 4,
         ("items", 0, "y", 0): 4, ("items", 0, "y", 1): 4, ("items", 1): 5, ("items", 1, "z"): 5,
         ("items", 1, "z", "w"): 6}


def test_the_planner_and_the_catalogues_use_this_module():
    assert units.YamlDoc is yamldoc.YamlDoc and units.parse_yaml is yamldoc.parse_yaml
    assert catalogue.YamlDoc is yamldoc.YamlDoc
    assert not hasattr(catalogue, "_Doc") and not hasattr(catalogue, "_index") and not hasattr(units, "_index_lines")


@pytest.mark.parametrize("detailed", [False, True])
def test_both_wordings_share_one_line_index(detailed):
    doc = yamldoc.parse_yaml(TEXT, "f.yaml", detailed=detailed)
    assert doc.data == {"a": 1, "items": [{"x": 2, "y": [3, 4]}, {"z": {"w": 5}}]}
    assert doc.lines == LINES
    assert doc.line("items", 1, "z", "missing") == 5 and doc.line("nowhere") is None
    err = doc.error("bad", "items", 0, "y", entry="e", field="y")
    assert (err.file, err.line, err.entry, err.field) == ("f.yaml", 4, "e", "y")


@pytest.mark.parametrize("detailed, message", [
    (False, "f.yaml:3: duplicate key 'x'"),
    (True, "f.yaml:3: duplicate key 'x' (YAML would silently keep only the last one)"),
])
def test_a_duplicate_key_inside_a_list_item_is_refused_in_either_wording(detailed, message):
    with pytest.raises(CatalogueError) as err:
        yamldoc.parse_yaml("items:\n  - x: 1\n    x: 2\n", "f.yaml", detailed=detailed)
    assert str(err.value) == message


def test_a_catalogue_file_now_refuses_a_duplicate_key_inside_a_list(write_file):
    """The catalogues' old indexer walked mappings only; the shared one walks lists too."""
    path = write_file("q.yaml", "quants:\n  q4:\n    weight_bits: 4\n    keep:\n      - {a: 1, a: 2}\n")
    with pytest.raises(CatalogueError) as err:
        catalogue.load_file("quants", path)
    assert str(err.value) == f"{path}:5: duplicate key 'a' (YAML would silently keep only the last one)"


def test_a_packaged_read_is_cached_and_keyed_on_this_module(write_file, monkeypatch):
    path = write_file("cat.yaml", TEXT)
    parsers = []
    real_load = yaml_cache.load
    monkeypatch.setattr(yaml_cache, "load",
                        lambda name, raw, parse: parsers.append(parse) or real_load(name, raw, parse))
    cold = yamldoc.read_yaml(path, "tests/cat.yaml")
    assert yaml_cache.cache_path("tests/cat.yaml").is_file()
    assert parsers[0].__module__ == "profiler.yamldoc"  # an edit to this parser changes the cache key

    def boom(text: str):
        raise AssertionError("parsed although the cache holds this file")

    monkeypatch.setattr(yaml_cache, "compose", boom)
    warm = yamldoc.read_yaml(path, "tests/cat.yaml")
    assert warm.data == cold.data == {"a": 1, "items": [{"x": 2, "y": [3, 4]}, {"z": {"w": 5}}]}
    assert warm.lines == cold.lines == LINES and warm.file == cold.file == str(path)


def test_a_user_file_that_holds_no_data_is_refused(write_file):
    path = write_file("empty.yaml", "# only a comment\n")
    with pytest.raises(CatalogueError) as err:
        yamldoc.read_yaml(path)
    assert str(err.value) == f"{path}: holds no YAML data (it is empty or only comments); give the file you meant"
    assert yamldoc.parse_yaml("# only a comment\n", "f.yaml").data is None  # text alone: None, for the caller


def test_load_yaml_gives_the_data_alone_with_the_detailed_wording():
    assert yamldoc.load_yaml(TEXT, "f.yaml") == userfile.load_yaml(TEXT, "f.yaml") == yamldoc.parse_yaml(TEXT).data
    message = ("f.yaml:2: not valid YAML: did not find expected ',' or ']' (while parsing a flow sequence that "
               "starts at line 1)")
    for load in (yamldoc.load_yaml, userfile.load_yaml):
        with pytest.raises(CatalogueError) as err:
            load("a: [1, 2\n", "f.yaml")
        assert str(err.value) == message
