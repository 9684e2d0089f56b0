"""gate/output/terminal.py: colour and progress on a terminal only; NO_COLOR and pipes stay plain."""
from __future__ import annotations

import io
import subprocess
import sys

import pytest

from stateless_pack.gate.output import terminal
from support.paths import FIXTURES, REPO


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize("stream, env, expected", [
    (FakeTerminal(), {}, True),
    (FakeTerminal(), {"NO_COLOR": "1"}, False),
    (FakeTerminal(), {"TERM": "dumb"}, False),
    (io.StringIO(), {}, False),
    (None, {}, False),
])
def test_colour_only_on_a_terminal_without_no_color(monkeypatch, stream, env, expected):
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("TERM", "xterm")
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    assert terminal.use_color(stream) is expected


def test_progress_on_a_terminal_shows_the_stage_and_its_seconds():
    tty = FakeTerminal()
    progress = terminal.Progress(tty)
    progress("loading")
    with progress.stage("running Checkov", interval=0.05):
        import time
        time.sleep(0.2)
    text = tty.getvalue()
    assert text.startswith("… loading\n… running Checkov") and "s)" in text and text.endswith("\n")


def test_no_progress_in_a_pipe():
    pipe = io.StringIO()
    progress = terminal.Progress(pipe)
    progress("loading")
    with progress.stage("running Checkov", interval=0.01):
        pass
    assert pipe.getvalue() == ""


def test_the_command_in_a_pipe_prints_plain_text():
    done = subprocess.run([sys.executable, "-m", "stateless_pack.gate.cli", "scan", str(FIXTURES / "scan" / "violating")],
                          capture_output=True, text=True, cwd=REPO, timeout=600)
    assert done.returncode == 1
    assert "\033[" not in done.stdout + done.stderr and "BLOCK" in done.stdout


@pytest.mark.parametrize("text, shown", [
    ("web", "web"),
    ("caf\u00e9 \u65e5\u672c", "caf\u00e9 \u65e5\u672c"),  # letters of any script stay
    ("a\x1b[8mhidden", "a\\x1b[8mhidden"),
    ("over\rwrite", "over\\x0dwrite"),
    ("evil\u202etxt.exe", "evil\\u202etxt.exe"),
    ("iso\u2066late\u2069", "iso\\u2066late\\u2069"),
    ("zero\u200bwidth\u2028line", "zero\\u200bwidth\\u2028line"),
    ("c1\x9bcsi\x7f", "c1\\x9bcsi\\x7f"),
    ("two\nlines\ttab", "two\\x0alines\\x09tab"),
])
def test_printable_escapes_what_a_terminal_would_act_on(text, shown):
    assert terminal.printable(text) == shown


def test_printable_keeps_line_feeds_and_tabs_of_a_multi_line_message_when_asked():
    assert terminal.printable("one\n\ttwo\r\x1b[2J", newlines=True) == "one\n\ttwo\\x0d\\x1b[2J"


def test_progress_lines_are_printable():
    tty = FakeTerminal()
    progress = terminal.Progress(tty)
    progress("running /tmp/x\x1b[8m\r (stack dev)")
    with progress.stage("checking \u202eevil", interval=60):  # never ticks: a tick writes a CR of its own
        pass
    assert "\x1b" not in tty.getvalue() and "\r" not in tty.getvalue() and "\u202e" not in tty.getvalue()
    assert "running /tmp/x\\x1b[8m\\x0d (stack dev)" in tty.getvalue()
