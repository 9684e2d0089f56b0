"""What the commands show on a terminal and only there: progress on stderr, colour in the table.

Output that is not a terminal (a pipe, a file, CI logs) stays plain, and so does a terminal when
`NO_COLOR` is set (https://no-color.org) or `TERM=dumb`. Text that comes from the input (names,
messages, paths) goes through `printable` wherever it is shown as text, terminal or not: an ANSI
escape, a carriage return or a bidi control in a resource name would otherwise hide or reorder the
rest of the report. The JSON and SARIF reports keep the real value (JSON escapes it anyway).
"""
from __future__ import annotations

import contextlib
import os
import threading
import time
from typing import Iterator

_COLORS = {"red": "31", "yellow": "33", "cyan": "36", "green": "32"}


def _is_tty(stream) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False


def use_color(stream) -> bool:
    return _is_tty(stream) and not os.environ.get("NO_COLOR") and os.environ.get("TERM") != "dumb"


def printable(text: str, *, newlines: bool = False) -> str:
    """`text` with every character a terminal would act on or hide (control characters, ANSI
    escapes, CR, bidi and other format controls, line separators) written as a Python escape
    (`\\x1b`, `\\u202e`); `newlines` keeps line feeds and tabs (a multi-line error message)."""
    if text.isprintable():
        return text
    kept = "\n\t" if newlines else ""
    return "".join(ch if ch.isprintable() or ch == " " or ch in kept else _escaped(ch) for ch in text)


def _escaped(ch: str) -> str:
    code = ord(ch)
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def paint(text: str, color: str, enabled: bool) -> str:
    return f"\033[{_COLORS[color]}m{text}\033[0m" if enabled else text


class Progress:
    """Stage messages on a terminal; `stage()` also shows the seconds a long stage has run so far."""

    def __init__(self, stream):
        self.stream = stream
        self.enabled = _is_tty(stream)

    def __call__(self, message: str) -> None:
        if self.enabled:
            print(f"… {printable(message)}", file=self.stream, flush=True)

    @contextlib.contextmanager
    def stage(self, message: str, interval: float = 1.0) -> Iterator[None]:
        if not self.enabled:
            yield
            return
        done = threading.Event()
        message = printable(message)

        def tick() -> None:
            start = time.monotonic()
            while not done.wait(interval):
                self.stream.write(f"\r… {message} ({time.monotonic() - start:.0f} s)")
                self.stream.flush()

        self.stream.write(f"… {message}")
        self.stream.flush()
        ticker = threading.Thread(target=tick, daemon=True)
        ticker.start()
        try:
            yield
        finally:
            done.set()
            ticker.join()
            self.stream.write("\n")
            self.stream.flush()
