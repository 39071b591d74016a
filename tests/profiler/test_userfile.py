"""profiler.userfile: user files are decoded, bounded and refused with file:line, before anything walks them."""

from __future__ import annotations

import codecs

import pytest
import yaml

from profiler import userfile
from profiler.errors import CatalogueError
from tests.fuzz import files


@pytest.mark.parametrize("encode", [
    lambda t: t.encode("utf-8"), lambda t: codecs.BOM_UTF8 + t.encode("utf-8"), lambda t: t.encode("utf-16"),
    lambda t: codecs.BOM_UTF16_BE + t.encode("utf-16-be"), lambda t: t.encode("utf-32"),
], ids=["utf-8", "utf-8 bom", "utf-16", "utf-16-be bom", "utf-32"])
def test_text_with_or_without_a_byte_order_mark_decodes_to_the_same_string(encode):
    assert userfile.decode(encode("name: caf\u00e9\n"), "f") == "name: caf\u00e9\n"


def test_undecodable_bytes_name_the_byte_and_its_line():
    with pytest.raises(CatalogueError, match=r"^f\.yaml:2: not UTF-8 text \(byte 0xe9 cannot be decoded\)"):
        userfile.decode(b"a: 1\nname: caf\xe9\n", "f.yaml")
    with pytest.raises(CatalogueError, match=r"^f:1: holds a NUL character"):
        userfile.decode(b"a: 1\x00\n", "f")


def test_a_file_one_byte_over_the_bound_is_refused_and_one_at_it_is_read(tmp_path):
    (tmp_path / "ok.yaml").write_bytes(b"#" * 99 + b"\n")
    assert userfile.read_text(tmp_path / "ok.yaml", max_bytes=100)[0] == "#" * 99 + "\n"
    (tmp_path / "big.yaml").write_bytes(b"#" * 101)
    with pytest.raises(CatalogueError, match="is larger than 0.0976562 KiB"):
        userfile.read_text(tmp_path / "big.yaml", max_bytes=100)


def test_folders_and_missing_files_say_what_to_give(tmp_path):
    with pytest.raises(CatalogueError, match="is a folder; give the path of a workload"):
        userfile.read_text(tmp_path, "a workload")
    with pytest.raises(CatalogueError, match=r"cannot read the file \(No such file or directory\)"):
        userfile.read_text(tmp_path / "nope.yaml")


def test_depth_is_counted_exactly():
    ok = yaml.compose("[" * userfile.MAX_DEPTH + "]" * userfile.MAX_DEPTH)
    userfile.check_tree(ok, "f")
    deep = yaml.compose("[" * (userfile.MAX_DEPTH + 1) + "]" * (userfile.MAX_DEPTH + 1))
    with pytest.raises(CatalogueError, match="nests deeper than 64 levels"):
        userfile.check_tree(deep, "f")


def test_aliases_are_counted_each_time_they_are_met():
    # 3 levels of 9 aliases expand to 9^3 = 729 leaves: read; 9 levels to 9^9 = 387M: refused at the bound
    small = yaml.compose(files.laughs_seq(3))
    userfile.check_tree(small, "f")
    with pytest.raises(CatalogueError, match="expands to more than 1,000,000 values"):
        userfile.check_tree(yaml.compose(files.laughs_seq(9)), "f")
    with pytest.raises(CatalogueError, match="expands to more than 1,000,000 values"):
        userfile.check_tree(yaml.compose(files.laughs_map(9)), "f")


def test_json_too_deep_for_python_or_for_the_bound_is_one_error():
    with pytest.raises(CatalogueError, match="nested too deeply to parse"):
        userfile.parse_json(files.deep_seq(), "c.json")
    with pytest.raises(CatalogueError, match="nests deeper than 64 levels"):
        userfile.parse_json("[" * 65 + "]" * 65, "c.json")
    with pytest.raises(CatalogueError, match=r"^c\.json:2: not valid JSON"):
        userfile.parse_json('{\n"a": }', "c.json")


def test_yaml_errors_are_one_line_at_their_line():
    with pytest.raises(CatalogueError) as err:
        userfile.load_yaml("a: 1\nb: [1, 2\n", "f.yaml")
    assert str(err.value).startswith("f.yaml:3: not valid YAML") and "\n" not in str(err.value)
