"""The stack's own files are read only as regular files of bounded size: a device, a FIFO, a folder
or a huge file is refused at once, in one line, and never read (or never read past the limit)."""
from __future__ import annotations

import os
import time

import pytest

from stateless_pack.policies import safe_files


@pytest.fixture
def fifo(tmp_path):
    path = tmp_path / "waivers.yaml"
    os.mkfifo(path)
    return path


def refusal(path, limit: int = safe_files.MAX_BYTES) -> str:
    started = time.monotonic()
    with pytest.raises(safe_files.UnreadableFile) as refused:
        safe_files.read_text(path, limit)
    assert time.monotonic() - started < 1.0
    message = str(refused.value)
    assert "\n" not in message
    return message


def test_a_regular_file_and_a_link_to_one_are_read(tmp_path):
    (tmp_path / "real.yaml").write_text("version: 1\nwaivers: []\n", encoding="utf-8")
    (tmp_path / "link.yaml").symlink_to(tmp_path / "real.yaml")
    assert safe_files.read_text(tmp_path / "real.yaml") == "version: 1\nwaivers: []\n"
    assert safe_files.read_text(str(tmp_path / "link.yaml")) == "version: 1\nwaivers: []\n"


def test_dev_zero_and_a_link_to_it_are_refused_without_reading(tmp_path):
    (tmp_path / "waivers.yaml").symlink_to("/dev/zero")
    assert refusal(tmp_path / "waivers.yaml") == "not a regular file (a device): not read"
    assert refusal("/dev/zero") == "not a regular file (a device): not read"


def test_a_fifo_is_refused_at_once_even_with_no_writer(fifo):
    assert refusal(fifo) == "not a regular file (a FIFO): not read"


def test_a_fifo_swapped_in_after_the_first_look_is_refused_on_the_open_descriptor(fifo, tmp_path, monkeypatch):
    """The check on the descriptor: the file opened is the file checked (opened non-blocking, so even
    a FIFO with no writer does not hang the open)."""
    (tmp_path / "regular").write_text("x")
    regular = os.stat(tmp_path / "regular")
    monkeypatch.setattr(safe_files.os, "stat", lambda path: regular)
    assert refusal(fifo) == "not a regular file (a FIFO): not read"


def test_a_folder_is_refused(tmp_path):
    assert refusal(tmp_path) == "not a regular file (a folder): not read"


def test_a_file_over_the_limit_is_refused_and_one_at_the_limit_is_read(tmp_path):
    (tmp_path / "at.yaml").write_bytes(b"a" * 1000)
    (tmp_path / "over.yaml").write_bytes(b"a" * 1001)
    assert safe_files.read_text(tmp_path / "at.yaml", limit=1000) == "a" * 1000
    assert refusal(tmp_path / "over.yaml", limit=1000) == "larger than 1000 bytes: not read"


def test_a_20_mb_registry_is_refused_by_the_default_limit(tmp_path):
    (tmp_path / "waivers.yaml").write_bytes(b"# padding\n" * 2_000_000)
    assert refusal(tmp_path / "waivers.yaml") == "larger than 4 MiB: not read"


def test_text_that_is_not_utf8_is_refused_with_where(tmp_path):
    (tmp_path / "waivers.yaml").write_bytes(b"version: 1\n\xff")
    assert refusal(tmp_path / "waivers.yaml") == "not UTF-8 text (byte 0xff at offset 11): not read"


def test_a_missing_file_is_the_systems_own_error(tmp_path):
    with pytest.raises(FileNotFoundError):
        safe_files.read_text(tmp_path / "missing.yaml")
