"""The program's own messages (print, pulumi.log, its stderr, its error) as the gate keeps and shows them.

Bounded: a program may print gigabytes or raise an error with a 50 MB message; the gate keeps the head
and the tail of each (`excerpt`, `StreamCapture`), with a note of how much it cut, so that reading,
redacting and printing cost the same whatever the program wrote. Where text is cut, the characters next
to the cut go too (`margin`: as many as the longest secret form): a secret cut in half would no longer
match its redaction. Shown as the Pulumi CLI shows diagnostics: grouped by resource, `warning: ` and
`error: ` in front of those, info and the program's output as they are. Used by the gate and by the
program's child (imports nothing else).
"""
from __future__ import annotations

from collections import deque
from typing import Iterable, NamedTuple

INFO, WARNING, ERROR = "info", "warning", "error"
STDERR = "info#err"  # the program's stderr: Pulumi's name for it (shown like info)
MESSAGE_LIMIT = 16_384   # characters of one message kept, head and tail together
STREAM_LIMIT = 131_072   # bytes of stdout (and of stderr) kept, head and tail together
MAX_DIAGNOSTICS = 1_000  # per run: past this, one line says how many more there were


class Diagnostic(NamedTuple):
    severity: str   # INFO, WARNING, ERROR or STDERR (debug messages are not kept, as the CLI hides them)
    message: str    # redacted
    urn: str        # the resource it is about; the stack's URN for the program's own output


def cut_note(count: int, unit: str) -> str:
    return f"\n[... {count:,} {unit} cut ...]\n"


def excerpt(text: str, limit: int = MESSAGE_LIMIT, margin: int = 0) -> str:
    """`text` if it has at most `limit` characters, else its head and tail with a note between."""
    if len(text) <= limit:
        return text
    half = limit // 2
    head, tail = text[:max(half - margin, 0)], text[len(text) - half + margin:] if half > margin else ""
    return head + cut_note(len(text) - len(head) - len(tail), "characters") + tail


class StreamCapture:
    """The head and the tail of a byte stream, whatever its length (fed chunk by chunk)."""

    def __init__(self, limit: int = STREAM_LIMIT):
        self.half = limit // 2
        self.head = bytearray()
        self.tail: deque = deque()
        self.tail_size = 0
        self.total = 0

    def feed(self, chunk: bytes) -> None:
        self.total += len(chunk)
        room = self.half - len(self.head)
        if room > 0:
            self.head += chunk[:room]
            chunk = chunk[room:]
        if chunk:
            self.tail.append(chunk)
            self.tail_size += len(chunk)
            while self.tail_size - len(self.tail[0]) >= self.half:
                self.tail_size -= len(self.tail.popleft())

    def text(self, margin: int = 0) -> str:
        tail = b"".join(self.tail)[-self.half:] if self.tail else b""
        cut = self.total - len(self.head) - len(tail)
        head_text = self.head.decode("utf-8", "replace")
        tail_text = tail.decode("utf-8", "replace")
        if not cut:
            return head_text + tail_text
        head_text = head_text[:max(len(head_text) - margin, 0)]
        tail_text = tail_text[margin:]
        return head_text + cut_note(cut, "bytes") + tail_text


def of_stream(text: str, severity: str, urn: str) -> list[Diagnostic]:
    """The lines of the program's stdout or stderr, one diagnostic each, as the CLI shows them."""
    return [Diagnostic(severity, line, urn) for line in text.rstrip("\n").split("\n") if text.strip()]


def bounded(diagnostics: list[Diagnostic], urn: str) -> list[Diagnostic]:
    """At most MAX_DIAGNOSTICS, the last one saying how many were left out."""
    if len(diagnostics) <= MAX_DIAGNOSTICS:
        return diagnostics
    left_out = len(diagnostics) - MAX_DIAGNOSTICS + 1
    return diagnostics[:MAX_DIAGNOSTICS - 1] + [Diagnostic(INFO, f"[... {left_out:,} more messages ...]", urn)]


def _label(urn: str) -> str:
    """`type (name)`, as the CLI heads a resource's diagnostics."""
    parts = urn.split("::")
    if len(parts) < 4:
        return urn or "the stack"
    return f"{parts[2].rsplit('$', 1)[-1]} ({parts[3]})"


def render(diagnostics: Iterable[Diagnostic]) -> str:
    """The CLI's "Diagnostics:" section ("" when there is none)."""
    by_urn: dict[str, list[str]] = {}
    for d in diagnostics:
        prefix = f"{d.severity}: " if d.severity in (WARNING, ERROR) else ""
        by_urn.setdefault(d.urn, []).extend(prefix + line for line in d.message.split("\n"))
    if not by_urn:
        return ""
    blocks = [f"  {_label(urn)}:\n" + "".join(f"    {line}\n" for line in lines) for urn, lines in by_urn.items()]
    return "Diagnostics:\n" + "\n".join(blocks)
