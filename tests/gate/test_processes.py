"""gate/processes.py: children in process groups of their own, stopped with all they started; a
command cleans up what it started, not what its caller did; stage deadlines interrupt blocking calls."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import psutil
import pytest

from stateless_pack.gate import processes


def grandchild_of(parent: subprocess.Popen, timeout: float = 10) -> psutil.Process:
    give_up = time.monotonic() + timeout
    while time.monotonic() < give_up:
        children = psutil.Process(parent.pid).children()
        if children:
            return children[0]
        time.sleep(0.05)
    pytest.fail("no grandchild started")


def test_stop_ends_the_child_and_everything_it_started():
    child = processes.popen(["sh", "-c", "sleep 600 & wait"])
    grandchild = grandchild_of(child)
    processes.stop(child)
    assert child.returncode is not None
    assert psutil.wait_procs([grandchild], timeout=5)[1] == []


def test_a_command_stops_what_it_started_and_leaves_its_callers_children_alone():
    callers = processes.popen(["sleep", "600"])
    folder_before = processes.temp_folder("stateless-pack-test-")
    try:
        with processes.stopping_on_signals():
            mine = processes.popen(["sleep", "600"])
            my_folder = processes.temp_folder("stateless-pack-test-")
        assert mine.wait(timeout=5) is not None and not my_folder.exists()
        assert callers.poll() is None and folder_before.is_dir()
    finally:
        processes.stop(callers)
        processes.remove(folder_before)


def test_a_deadline_interrupts_a_call_that_blocks(tmp_path):
    os.mkfifo(tmp_path / "fifo")
    started = time.monotonic()
    with pytest.raises(processes.StageTimeout, match=r"opening did not finish within 0.5s \(raise it with --x\)"):
        with processes.deadline("opening", 0.5, "--x"):
            open(tmp_path / "fifo").close()  # no writer: blocks until the alarm
    assert time.monotonic() - started < 5


# ---- a command that does not stop on the first signal ------------------------------------------------


COMMAND = textwrap.dedent("""\
    import os, sys, time
    from stateless_pack.gate import processes
    processes.FORCED_EXIT_SECONDS = float(sys.argv[2])
    trap = ("import signal, sys, time\\n"
            "signal.signal(signal.SIGTERM, lambda *_: (open(sys.argv[1], 'w').write('asked'), sys.exit(0)))\\n"
            "open(sys.argv[1] + '.ready', 'w').close()\\n"
            "time.sleep(600)\\n")
    with processes.stopping_on_signals():
        folder = processes.temp_folder("stateless-pack-test-")
        processes.popen([sys.executable, "-c", trap, sys.argv[1]], graceful=True)
        while not os.path.exists(sys.argv[1] + ".ready"):
            time.sleep(0.05)
        try:
            print(folder, flush=True)
            time.sleep(600)
        finally:
            while True:  # a stage that never returns
                time.sleep(0.1)
    """)


def stuck_command(tmp_path, forced_after: float) -> tuple[subprocess.Popen, str]:
    process = subprocess.Popen([sys.executable, "-c", COMMAND, str(tmp_path / "asked"), str(forced_after)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return process, process.stdout.readline().strip()


def test_a_stuck_command_ends_on_the_second_signal_with_nothing_left(tmp_path):
    process, folder = stuck_command(tmp_path, 600)
    process.send_signal(signal.SIGTERM)
    time.sleep(1)
    assert process.poll() is None  # still in its stuck `finally`
    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=10) == 2
    assert (tmp_path / "asked").read_text() == "asked"  # the graceful child got SIGTERM, not SIGKILL
    assert not Path(folder).exists()
    assert "stopped by SIGINT" in process.stderr.read()


def test_a_stuck_command_ends_by_itself_soon_after_the_first_signal(tmp_path):
    process, folder = stuck_command(tmp_path, 2)
    started = time.monotonic()
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=15) == 2, process.stderr.read()
    assert time.monotonic() - started < 10
    assert not Path(folder).exists()
