"""The parsed-catalogue cache (profiler.yaml_cache): hits equal fresh parses, no parse on a hit, corrupt or unusable
caches fall back to parsing, keys follow the bytes, INFERPLAN_NO_CACHE; and user files keep their error lines."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import pytest
import yaml

import planner.units as units
from profiler import catalogue, yaml_cache, yamldoc
from profiler.errors import CatalogueError

PLANNER_FILES = sorted((Path(units.__file__).resolve().parent / "catalogues").glob("*.yaml"))
PROFILER_SECTIONS = sorted(catalogue.CATALOGUE_FILES)


def _pure_planner(path: Path) -> tuple[object, dict]:
    """What the pure-Python safe loader makes of a planner catalogue: data and line index."""
    text = path.read_text(encoding="utf-8")
    lines: dict = {}
    yamldoc.index_lines(yaml.compose(text, Loader=yaml.SafeLoader), (), lines, str(path))
    return yaml.load(text, Loader=yaml.SafeLoader), lines


def _pure_profiler(section: str) -> tuple[object, dict]:
    text, file = catalogue._packaged_text(section)
    lines: dict = {}
    yamldoc.index_lines(yaml.compose(text, Loader=yaml.SafeLoader), (), lines, file)
    return yaml.load(text, Loader=yaml.SafeLoader), lines


def _profiler_doc(section: str) -> yamldoc.YamlDoc:
    text, file = catalogue._packaged_text(section)
    return yamldoc.load_packaged(file, text.encode("utf-8"), file, detailed=True)


def _cache_dir() -> Path:
    return Path(os.environ["INFERPLAN_HOME"]) / yaml_cache.CACHE_DIR


@pytest.fixture
def parses(monkeypatch) -> list[str]:
    """Counts calls of the one YAML parse (yaml_cache.compose) that both loaders use."""
    calls: list[str] = []
    real = yaml_cache.compose

    def counting(text: str):
        calls.append(text[:40])
        return real(text)

    monkeypatch.setattr(yaml_cache, "compose", counting)
    return calls


@pytest.fixture
def no_parse(monkeypatch):
    """From here on any YAML parse fails the test."""

    def boom(text: str):
        raise AssertionError("parsed although the cache holds this file")

    def arm() -> None:
        monkeypatch.setattr(yaml_cache, "compose", boom)
        monkeypatch.setattr(yamldoc, "_pure_parse", boom)

    return arm


def test_there_are_packaged_catalogues_to_cache():
    assert len(PLANNER_FILES) >= 8 and PROFILER_SECTIONS == ["gpus", "models", "quants"]


@pytest.mark.parametrize("path", PLANNER_FILES, ids=lambda p: p.name)
def test_planner_catalogue_from_the_cache_equals_a_fresh_parse(path, no_parse):
    cold = units.read_yaml(path)
    assert yaml_cache.cache_path(f"planner/catalogues/{path.name}").is_file()
    no_parse()
    warm = units.read_yaml(path)
    data, lines = _pure_planner(path)
    assert cold.data == warm.data == data and cold.lines == warm.lines == lines and lines
    assert warm.file == cold.file == str(path)
    assert warm.data is not cold.data  # every load hands out its own copy: a caller's edit cannot leak


@pytest.mark.parametrize("section", PROFILER_SECTIONS)
def test_profiler_catalogue_from_the_cache_equals_a_fresh_parse(section, no_parse):
    cold = _profiler_doc(section)
    assert yaml_cache.cache_path(f"profiler/catalogues/{catalogue.CATALOGUE_FILES[section]}").is_file()
    no_parse()
    warm = _profiler_doc(section)
    data, lines = _pure_profiler(section)
    assert cold.data == warm.data == data and dict(cold.lines) == dict(warm.lines) == lines and lines
    assert warm.file == cold.file == f"profiler/catalogues/{catalogue.CATALOGUE_FILES[section]}"


def test_catalogue_dates_survive_the_cache(no_parse):
    path = next(p for p in PLANNER_FILES if p.name == "gpu_prices.yaml")
    units.read_yaml(path)
    no_parse()
    row = units.read_yaml(path).data["offers"][0]
    assert row["as_of"] == _pure_planner(path)[0]["offers"][0]["as_of"]


def test_load_models_and_catalogues_in_a_new_process_read_the_cache(no_parse):
    from planner import prices

    catalogue._load_text.cache_clear()
    before = catalogue.load_models(), catalogue.load_gpus(), prices.load_gpu_prices()
    no_parse()
    catalogue._load_text.cache_clear()  # as a fresh process would
    after = catalogue.load_models(), catalogue.load_gpus(), prices.load_gpu_prices()
    assert before[0] == after[0] and before[1] == after[1] and before[2].equals(after[2])
    catalogue._load_text.cache_clear()


@pytest.mark.parametrize("damage", ["truncated", "garbage", "empty", "other key", "foreign global", "wrong shape"])
def test_a_damaged_entry_is_parsed_again_and_rewritten(damage, parses):
    path = PLANNER_FILES[0]
    entry = yaml_cache.cache_path(f"planner/catalogues/{path.name}")
    good = units.read_yaml(path)
    blob = entry.read_bytes()
    header = blob[:blob.index(b"\n", len(yaml_cache._MAGIC)) + 1]
    entry.write_bytes({"truncated": blob[:len(blob) // 2],
                       "garbage": b"\x80\x04not a pickle at all",
                       "empty": b"",
                       "other key": blob.replace(header, yaml_cache._MAGIC + b"0" * 64 + b"\n"),
                       "foreign global": header + pickle.dumps((os.system, {})),
                       "wrong shape": header + pickle.dumps(["data", "lines"])}[damage])
    parses.clear()
    again = units.read_yaml(path)
    assert len(parses) == 1 and again.data == good.data and again.lines == good.lines
    assert entry.read_bytes() == blob  # rewritten
    parses.clear()
    units.read_yaml(path)
    assert parses == []


def test_an_unusable_home_still_loads_without_a_word(tmp_path, monkeypatch, capsys, parses):
    not_a_folder = tmp_path / "home-is-a-file"
    not_a_folder.write_text("x")
    monkeypatch.setenv("INFERPLAN_HOME", str(not_a_folder))
    path = PLANNER_FILES[0]
    first, second = units.read_yaml(path), units.read_yaml(path)
    assert first.data == second.data == _pure_planner(path)[0] and len(parses) == 2
    assert _profiler_doc("gpus").data == _pure_profiler("gpus")[0]
    assert capsys.readouterr() == ("", "") and not_a_folder.read_text() == "x"


def test_an_unreadable_cache_folder_still_loads(monkeypatch, parses):
    """The cache folder exists but its entry cannot be opened (here: a folder where the file should be)."""
    path = PLANNER_FILES[0]
    yaml_cache.cache_path(f"planner/catalogues/{path.name}").mkdir(parents=True)
    assert units.read_yaml(path).data == _pure_planner(path)[0] and len(parses) == 1
    assert list(_cache_dir().glob(".*.tmp")) == []  # the failed write left no temp file behind


def test_the_key_follows_the_bytes_the_version_and_the_name(monkeypatch):
    def parse() -> tuple[object, dict]:
        return {}, {}

    a = yaml_cache.cache_key("planner/catalogues/x.yaml", b"a: 1\n", parse)
    assert a == yaml_cache.cache_key("planner/catalogues/x.yaml", b"a: 1\n", parse)
    assert a != yaml_cache.cache_key("planner/catalogues/x.yaml", b"a: 2\n", parse)
    assert a != yaml_cache.cache_key("planner/catalogues/y.yaml", b"a: 1\n", parse)
    monkeypatch.setattr(yaml_cache, "_package_version", lambda: "99.0")
    assert a != yaml_cache.cache_key("planner/catalogues/x.yaml", b"a: 1\n", parse)
    monkeypatch.setattr(yaml_cache, "CACHE_FORMAT", yaml_cache.CACHE_FORMAT + 1)
    assert a != yaml_cache.cache_key("planner/catalogues/x.yaml", b"a: 1\n", parse)


def test_changed_bytes_are_parsed_again_not_served_from_the_old_entry():
    name = "planner/catalogues/example.yaml"
    calls = []

    def parser(text: str):
        return lambda: calls.append(text) or yamldoc._parse(text, name)

    old, new = "a: 1\n", "a: 2\n"
    assert yaml_cache.load(name, old.encode(), parser(old))[0] == {"a": 1}
    assert yaml_cache.load(name, old.encode(), parser(old))[0] == {"a": 1}
    assert yaml_cache.load(name, new.encode(), parser(new))[0] == {"a": 2}
    assert calls == [old, new]


def test_a_parse_error_is_raised_and_never_cached():
    name = "planner/catalogues/broken.yaml"
    for _ in range(2):
        with pytest.raises(CatalogueError, match=r"broken\.yaml:2: duplicate key 'a'"):
            yaml_cache.load(name, b"a: 1\na: 2\n", lambda: yamldoc._parse("a: 1\na: 2\n", name))
    assert not yaml_cache.cache_path(name).exists()


@pytest.mark.parametrize("value, cached", [("1", False), ("yes", False), ("0", True), ("", True)])
def test_inferplan_no_cache_turns_it_off(monkeypatch, parses, value, cached):
    monkeypatch.setenv("INFERPLAN_NO_CACHE", value)
    path = PLANNER_FILES[0]
    assert units.read_yaml(path).data == units.read_yaml(path).data
    assert len(parses) == (1 if cached else 2)
    assert _cache_dir().exists() == cached


def test_user_files_are_not_cached(write_file, parses):
    path = write_file("gpu_prices.yaml", "offers: []\n")
    assert units.read_yaml(path).data == units.read_yaml(path).data == {"offers": []}
    assert len(parses) == 2 and not _cache_dir().exists()


# User files: the one-pass libyaml parse keeps the messages and lines the pure-Python parser gave.

@pytest.mark.parametrize("text, message", [
    ("a: [1, 2\n", "f.yaml:2: not valid YAML: expected ',' or ']', but got '<stream end>'"),
    ("x:\n  - {id: x\n", "f.yaml:3: not valid YAML: expected ',' or '}', but got '<stream end>'"),
    ("a: b: c\n", "f.yaml:1: not valid YAML: mapping values are not allowed here"),
    ("k: v\n\tt: 1\n", "f.yaml:2: not valid YAML: found character '\\t' that cannot start any token"),
    ("---\na: 1\n---\nb: 2\n", "f.yaml:3: not valid YAML: but found another document"),
    ("a: *x\n", "f.yaml:1: not valid YAML: found undefined alias 'x'"),
    ("a: !!python/object:os.system x\n", "f.yaml:1: not valid YAML: could not determine a constructor for the tag "
                                         "'tag:yaml.org,2002:python/object:os.system'"),
    ("a: 1\nb:\n  c: 2\n  c: 3\n", "f.yaml:4: duplicate key 'c'"),
    ("items:\n  - x: 1\n    x: 2\n", "f.yaml:3: duplicate key 'x'"),
])
def test_planner_user_file_errors_keep_their_message_and_line(write_file, text, message):
    with pytest.raises(CatalogueError) as err:
        units.parse_yaml(text, "f.yaml")
    assert str(err.value) == message
    path = write_file("f.yaml", text)
    with pytest.raises(CatalogueError) as err:
        units.read_yaml(path)
    assert str(err.value) == message.replace("f.yaml", str(path), 1)
    assert not _cache_dir().exists()


def test_a_user_file_keeps_its_line_index():
    doc = units.parse_yaml("a: 1\nitems:\n  - x: 2\n    y: 3\n  - z: 4\n", "f.yaml")
    assert doc.data == {"a": 1, "items": [{"x": 2, "y": 3}, {"z": 4}]}
    assert doc.lines == {("a",): 1, ("items",): 2, ("items", 0): 3, ("items", 0, "x"): 3, ("items", 0, "y"): 4,
                         ("items", 1): 5, ("items", 1, "z"): 5}
    assert units.parse_yaml("", "f.yaml").data is None and yamldoc.parse_yaml("", "f.yaml", detailed=True).data is None


@pytest.mark.parametrize("text, message", [
    ("a: [1, 2\n", "f.yaml:2: not valid YAML: did not find expected ',' or ']' (while parsing a flow sequence that "
                   "starts at line 1)"),
    ("a: 1\na: 2\n", "f.yaml:2: duplicate key 'a' (YAML would silently keep only the last one)"),
])
def test_profiler_user_file_errors_keep_their_message_and_line(text, message):
    with pytest.raises(CatalogueError) as err:
        yamldoc.parse_yaml(text, "f.yaml", detailed=True)
    assert str(err.value) == message
