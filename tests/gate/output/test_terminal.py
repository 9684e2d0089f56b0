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
