"""Reading the files a stack or a pack brings (waiver registry, approvers, policy config, stack config):
only regular files, only up to a size limit, never blocking.

A pull request controls these files. A link to `/dev/zero` would be read until the machine runs out
of memory, a FIFO would block the read forever, and a huge file would be parsed for hours. So the
type is checked before the file is opened (opening some devices has effects of its own), the file is
opened non-blocking and checked again on the open descriptor (it may have been swapped in between),
and at most `limit` bytes are read: one more byte refuses it. A link to a regular file is read like
the file. Every refusal is an `UnreadableFile` (an `OSError`) whose text says why in one line; the
caller names the file.

Imports only the stdlib: the pack's minimal environment and Checkov's use it too.
"""
from __future__ import annotations

import os
import stat

MAX_BYTES = 4 * 1024 * 1024  # a registry of hundreds of signed waivers is well under 1 MiB
MAX_MANIFEST_BYTES = 256 * 1024 * 1024  # manifests: `kubectl get -o yaml` of a whole cluster is tens of MiB
_CHUNK = 1024 * 1024
_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_CLOEXEC", 0)


class UnreadableFile(OSError):
    """A file that is not read: not a regular file, too large, or not UTF-8 text. `str()` says why."""


class NotARegularFile(UnreadableFile):
    """A FIFO, socket, device or folder where a file was expected."""


def file_type(mode: int) -> str:
    """What a non-regular file is, as messages name it."""
    for test, name in ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket"), (stat.S_ISCHR, "a device"),
                       (stat.S_ISBLK, "a device"), (stat.S_ISDIR, "a folder")):
        if test(mode):
            return name
    return "not a file"


def _require_regular(mode: int) -> None:
    if not stat.S_ISREG(mode):
        raise NotARegularFile(f"not a regular file ({file_type(mode)}): not read")


def _size_text(limit: int) -> str:
    return f"{limit // (1024 * 1024)} MiB" if limit >= 1024 * 1024 and limit % (1024 * 1024) == 0 else f"{limit} bytes"


def read_bytes(path: str | os.PathLike, limit: int = MAX_BYTES) -> bytes:
    """The bytes of the regular file at `path` (links followed); `UnreadableFile` if it is not one or
    holds more than `limit` bytes; `FileNotFoundError` and other `OSError`s as the system gives them."""
    _require_regular(os.stat(path).st_mode)  # before opening: opening a device may do something
    descriptor = os.open(path, _OPEN_FLAGS)
    try:
        _require_regular(os.fstat(descriptor).st_mode)  # the file opened is the file checked
        chunks, size = [], 0
        while size <= limit:
            chunk = os.read(descriptor, min(_CHUNK, limit + 1 - size))
            if not chunk:
                return b"".join(chunks)
            chunks.append(chunk)
            size += len(chunk)
        raise UnreadableFile(f"larger than {_size_text(limit)}: not read")
    finally:
        os.close(descriptor)


def read_text(path: str | os.PathLike, limit: int = MAX_BYTES) -> str:
    """`read_bytes` decoded as UTF-8; text that is not UTF-8 is an `UnreadableFile` too."""
    data = read_bytes(path, limit)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise UnreadableFile(f"not UTF-8 text (byte {data[err.start]:#04x} at offset {err.start}): "
                             "not read") from None
