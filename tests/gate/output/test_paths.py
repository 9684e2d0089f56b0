"""gate/output/paths.py: output paths tried before any work, one clear error each, no folder made."""
from __future__ import annotations

import os
import threading

import pytest

from stateless_pack.gate.output import paths


def test_a_writable_new_file_passes_and_is_not_left_behind(tmp_path):
    paths.check_files({"--json": tmp_path / "r.json", "--sarif": None})
    assert list(tmp_path.iterdir()) == []


def test_an_existing_file_is_probed_without_being_changed(tmp_path):
    (tmp_path / "r.json").write_text("previous report\n")
    paths.check_files({"--json": tmp_path / "r.json"})
    assert (tmp_path / "r.json").read_text() == "previous report\n"


@pytest.mark.parametrize("name, why", [
    ("missing/r.json", "the folder {tmp}/missing does not exist (create it first)"),
    ("missing/deeper/r.json", "the folder {tmp}/missing/deeper does not exist (create it first)"),
    ("folder", "is a folder, not a file"),
    ("dangling", "a link to nothing"),
])
def test_a_file_that_cannot_be_written_is_one_error_and_no_folder_is_made(tmp_path, name, why):
    (tmp_path / "folder").mkdir()
    (tmp_path / "dangling").symlink_to(tmp_path / "nowhere")
    before = sorted(os.listdir(tmp_path))
    with pytest.raises(paths.OutputPathError) as raised:
        paths.check_files({"--sarif": tmp_path / name})
    assert str(raised.value) == f"--sarif {tmp_path / name}: " + why.format(tmp=tmp_path)
    assert sorted(os.listdir(tmp_path)) == before


def test_a_file_the_kernel_refuses_is_one_error():
    with pytest.raises(paths.OutputPathError, match=r"^--json /proc/x\.json: cannot be written: No such file"):
        paths.check_files({"--json": "/proc/x.json"})


def test_a_read_only_folder_is_refused(tmp_path):
    if os.geteuid() == 0:
        target = "/sys/x.json"  # root may write anywhere a mode allows; sysfs creates nothing
    else:
        (tmp_path / "ro").mkdir(mode=0o500)
        target = str(tmp_path / "ro" / "x.json")
    with pytest.raises(paths.OutputPathError, match="cannot be written"):
        paths.check_files({"--junit": target})


def test_a_fifo_without_a_reader_is_refused_at_once_and_a_device_is_fine(tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    done = threading.Event()

    def probe():
        with pytest.raises(paths.OutputPathError, match="cannot be written"):
            paths.check_files({"--json": fifo})
        done.set()

    worker = threading.Thread(target=probe, daemon=True)
    worker.start()
    worker.join(5)
    assert done.is_set(), "the probe waited for a reader"
    paths.check_files({"--json": os.devnull})


def test_two_options_naming_one_file_are_refused(tmp_path):
    with pytest.raises(paths.OutputPathError, match=r"^--json and --sarif both name"):
        paths.check_files({"--json": tmp_path / "r", "--sarif": tmp_path / "." / "r"})


def test_an_output_folder_is_created_only_where_its_parent_exists(tmp_path):
    assert paths.check_folder("--out", tmp_path / "m") == [tmp_path / "m"]
    assert list(tmp_path.iterdir()) == []  # checked, not made: the run makes it
    with pytest.raises(paths.OutputPathError, match=r"the folder .*/a/b does not exist"):
        paths.check_folder("--out", tmp_path / "a" / "b" / "m")
    created = paths.check_folder("--out", tmp_path / "a" / "b" / "m", create_parents=True)  # the default's way
    assert created == [tmp_path / "a" / "b" / "m", tmp_path / "a" / "b", tmp_path / "a"]
    paths.check_files({"--json": tmp_path / "a" / "r.json"}, created=created)  # it will be there
    with pytest.raises(paths.OutputPathError, match="does not exist"):
        paths.check_files({"--json": tmp_path / "c" / "r.json"}, created=created)
    assert paths.check_folder("--out", tmp_path) == []
    (tmp_path / "file").write_text("")
    with pytest.raises(paths.OutputPathError, match="exists and is not a folder"):
        paths.check_folder("--out", tmp_path / "file")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]


def test_a_write_that_fails_later_is_an_output_path_error(tmp_path):
    (tmp_path / "gone").mkdir()
    paths.check_files({"--json": tmp_path / "gone" / "r.json"})
    (tmp_path / "gone").rmdir()
    with pytest.raises(paths.OutputPathError, match=r"^--json .*/gone/r\.json: cannot be written: No such file"):
        paths.write_text("--json", tmp_path / "gone" / "r.json", "{}")
