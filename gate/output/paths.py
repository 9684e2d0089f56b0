"""The files and folders a command writes, checked before it does any work.

A report the command cannot write must not cost a whole run and then fail after the verdict: every
output path is tried first, and a bad one ends the command at once in one line (exit 2). No folder
is created that the user did not ask for: a file's folder must exist, or be one the command creates
anyway. The one folder a command creates is `--out`, the output folder the user names (its parent
must exist), or the default `out/manifests`, which is created with `out/` (so `--json
out/report.json` next to the default works in a fresh checkout).
"""
from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path
from typing import Iterable, Mapping


class OutputPathError(Exception):
    """An output path that cannot be written: the message names the option, the path and why."""


def check_files(named: Mapping[str, str | os.PathLike | None], *, created: Iterable[Path] = ()) -> None:
    """Each file given ({option: path}; None: not asked for) can be written: its folder exists (or
    is among the folders the command `created` before it writes: `check_folder` tried those), it
    is not a folder, and it opens for writing (a probe; a file that was not there is removed
    again, one that was is left as it was). Two options naming one file are an error too."""
    given = {option: Path(path) for option, path in named.items() if path}
    made = {folder.absolute() for folder in created}
    seen: dict = {}
    for option, path in given.items():
        key = os.path.realpath(path)
        if key in seen:
            raise OutputPathError(f"{seen[key]} and {option} both name {path}: give each its own file")
        seen[key] = option
        if path.absolute().parent not in made:
            _probe_file(option, path)


def check_folder(option: str, path: str | os.PathLike, *, create_parents: bool = False) -> list[Path]:
    """`path` is a folder, or can be created: its parent (any missing ancestor, with
    `create_parents`) is a folder the command may write in. Returns the folders the command will
    create (absolute; none if `path` is there)."""
    path = Path(path)
    if path.is_dir():
        return []
    if os.path.lexists(path):
        raise OutputPathError(f"{option} {path}: exists and is not a folder")
    missing = [path.absolute()]
    if create_parents:
        while not os.path.lexists(missing[-1].parent) and missing[-1].parent != missing[-1]:
            missing.append(missing[-1].parent)
    parent = missing[-1].parent
    if not parent.is_dir():
        raise OutputPathError(f"{option} {path}: the folder {parent} does not exist (create it first)")
    try:
        os.rmdir(tempfile.mkdtemp(prefix=".stateless-pack-probe-", dir=parent))
    except OSError as err:
        raise OutputPathError(f"{option} {path}: cannot create a folder in {parent}: {err.strerror}") from None
    return missing


def _probe_file(option: str, path: Path) -> None:
    if path.is_dir():
        raise OutputPathError(f"{option} {path}: is a folder, not a file")
    if os.path.lexists(path) and not path.exists():
        raise OutputPathError(f"{option} {path}: a link to nothing")
    if not path.absolute().parent.is_dir():
        raise OutputPathError(f"{option} {path}: the folder {path.absolute().parent} does not exist "
                              "(create it first)")
    existed = path.exists()
    try:
        if existed:  # written later, not now: opened without truncating (and a FIFO without waiting)
            blocking = 0 if stat.S_ISREG(path.stat().st_mode) else os.O_NONBLOCK
            os.close(os.open(path, os.O_WRONLY | os.O_APPEND | blocking))
        else:
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
            os.unlink(path)
    except OSError as err:
        raise OutputPathError(f"{option} {path}: cannot be written: {err.strerror}") from None


def write_text(option: str, path: str | os.PathLike, text: str) -> None:
    """`text` into the file `path` (its folder exists: `check_files` said so); a failure now (a
    full disk, a folder removed meanwhile) is an OutputPathError too, never a traceback."""
    try:
        Path(path).write_text(text, encoding="utf-8")
    except OSError as err:
        raise OutputPathError(f"{option} {path}: cannot be written: {err.strerror or err}") from None
