"""Output files the user names: atomic writes and the up-front check say what is wrong with the path they gave
(never a temp file), and a check before long work creates nothing."""

import errno
import os
from pathlib import Path

import pytest

from profiler import schema
from profiler.errors import InferplanError
from profiler.schema import OutputPathError, check_profile_path, check_writable


def test_a_file_where_a_folder_should_be_is_named(tmp_path):
    (tmp_path / "p.csv").write_text("x")
    target = tmp_path / "p.csv" / "x.json"
    for call in (lambda: schema.atomic_write_text(target, "{}"), lambda: check_writable(target)):
        with pytest.raises(OutputPathError) as err:
            call()
        assert str(err.value) == f"cannot write {target}: {tmp_path / 'p.csv'} is a file, not a folder"
    deeper = tmp_path / "p.csv" / "a" / "b" / "x.json"  # an ancestor further up is the file
    with pytest.raises(OutputPathError, match="p.csv is a file, not a folder"):
        schema.atomic_write_text(deeper, "{}")
    assert (tmp_path / "p.csv").read_text() == "x"


def test_a_folder_given_as_the_file_is_refused(tmp_path):
    for call in (lambda: schema.atomic_write_text(tmp_path, "{}"), lambda: check_writable(tmp_path)):
        with pytest.raises(OutputPathError, match="it is a folder, not a file"):
            call()


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="needs Linux /proc")
def test_an_unwritable_folder_names_the_target_not_the_temp_file():
    for call in (lambda: schema.atomic_write_text("/proc/x.json", "{}"), lambda: check_writable("/proc/x.json")):
        with pytest.raises(OutputPathError) as err:
            call()
        message = str(err.value)
        assert message.startswith("cannot write /proc/x.json: cannot create files in /proc (")
        assert ".tmp" not in message and ".probe" not in message and ".x.json." not in message


def test_a_failed_write_names_the_target_and_leaves_no_temp_file(tmp_path, monkeypatch):
    def full_disk(src, dst):
        raise OSError(28, "No space left on device", str(src))

    monkeypatch.setattr(schema.os, "replace", full_disk)
    with pytest.raises(OutputPathError) as err:
        schema.atomic_write_text(tmp_path / "a.json", "{}")
    assert str(err.value) == f"cannot write {tmp_path / 'a.json'}: No space left on device"
    assert err.value.errno == 28 and list(tmp_path.iterdir()) == []


def test_a_refused_write_reaches_both_kinds_of_handler_with_the_path_named(tmp_path):
    """The CLI's boundary catches InferplanError (one line, exit 1); a cache that tolerates an unwritable home
    catches OSError and reports ``exc.strerror or str(exc)``. A real refusal must satisfy both."""
    (tmp_path / "home").write_text("a file")
    target = tmp_path / "home" / "cache.json"
    expected = f"cannot write {target}: {tmp_path / 'home'} is a file, not a folder"
    with pytest.raises(InferplanError) as domain:
        schema.atomic_write_text(target, "{}")
    assert str(domain.value) == expected and domain.value.exit_code == 1
    try:
        schema.atomic_write_text(target, "{}")
    except OSError as exc:  # as planner.simulate.capacity_cache does
        reason = exc.strerror or str(exc)
    assert reason == expected


def test_check_writable_refuses_a_missing_folder_unless_asked_to_create_it_and_creates_nothing(tmp_path):
    target = tmp_path / "a" / "b" / "x.json"
    with pytest.raises(OutputPathError, match=r"the folder .*/a/b does not exist; create it first \(mkdir -p "):
        check_writable(target)  # a user's -o never makes folders (a typo would become a tree)
    assert check_writable(target, create_folders=True) == target  # inferplan's own files under $INFERPLAN_HOME
    assert list(tmp_path.iterdir()) == []
    (tmp_path / "y.csv").write_text("old")
    check_writable(tmp_path / "y.csv")  # an existing file is replaced by the write, so it is fine
    assert sorted(p.name for p in tmp_path.iterdir()) == ["y.csv"]


def test_a_read_only_folder_is_refused_up_front(tmp_path, monkeypatch):
    """A folder that refuses new files (mode 0o500 for a normal user). Root writes into such a folder anyway and
    CI runs as root, so the kernel's refusal is simulated where both writers create files: tempfile.mkstemp
    in that folder raises EACCES, as open(O_CREAT) does there for a non-root user."""
    ro = tmp_path / "ro"
    ro.mkdir()
    real_mkstemp = schema.tempfile.mkstemp

    def mkstemp(*args, dir=None, **kw):
        if dir is not None and Path(dir) == ro:
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(Path(dir) / ".x.csv.probe"))
        return real_mkstemp(*args, dir=dir, **kw)

    monkeypatch.setattr(schema.tempfile, "mkstemp", mkstemp)
    target = ro / "x.csv"
    expected = f"cannot write {target}: cannot create files in {ro} (Permission denied)"
    for call in (lambda: check_writable(target), lambda: schema.atomic_write_text(target, "a,b\n")):
        with pytest.raises(OutputPathError) as err:
            call()
        assert str(err.value) == expected and err.value.errno == errno.EACCES
    assert list(ro.iterdir()) == []
    # the same folder one level up (not refused) still takes the file: the refusal is about `ro` alone
    schema.atomic_write_text(tmp_path / "x.csv", "a,b\n")
    assert (tmp_path / "x.csv").read_text() == "a,b\n"


def test_a_profile_path_must_be_csv_or_json(tmp_path):
    with pytest.raises(schema.SchemaError, match=r"\.csv or \.json"):
        check_profile_path(tmp_path / "p.txt")
    assert check_profile_path(tmp_path / "p.json") == tmp_path / "p.json"
