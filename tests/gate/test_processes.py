"""gate/processes.py: children in process groups of their own, stopped with all they started; a
command cleans up what it started, not what its caller did; stage deadlines interrupt blocking calls."""
from __future__ import annotations

import os
import subprocess
import time

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
