"""The child processes and temporary folders of one `stateless-pack` command: stopped and removed on
every path (a normal end, a crash, SIGTERM or SIGINT, a stage past its deadline).

Every child starts in a process group of its own, so stopping it stops whatever it started as well
(Checkov's workers, a program's leftover processes). A signal is handled like a crash: the handler
kills every child's group at once (threads blocked on a child return), then raises `Interrupted` in
the main thread, so that every `finally` runs and the command exits 2 with one line. A child started
`graceful` (the program's supervisor, which ends a tree no process group holds) gets SIGTERM first.
Temporary folders made here are removed by `cleanup()` even when an interrupted `finally` could not.
Whatever a stage is doing, the command ends within `FORCED_EXIT_SECONDS` of the first signal, and at
once on a second one: everything is killed, the folders are removed, and the process exits 2.
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

_lock = threading.Lock()
_groups: set[int] = set()      # process group ids of running children (their leaders' pids)
_graceful: set[int] = set()    # those whose leader ends its own tree on SIGTERM
_folders: set[str] = set()     # temporary folders not yet removed
_SIGNALS = (signal.SIGTERM, signal.SIGINT)
FORCED_EXIT_SECONDS = 20.0
EXIT_STOPPED = 2


class Interrupted(BaseException):
    """SIGTERM or SIGINT arrived. A BaseException, like KeyboardInterrupt, so that no stage's
    `except Exception` mistakes it for its own failure."""

    def __init__(self, signal_name: str):
        super().__init__(signal_name)
        self.signal_name = signal_name


class StageTimeout(BaseException):
    """A stage ran past its deadline (see `deadline`)."""

    def __init__(self, stage: str, seconds: float, option: str = ""):
        super().__init__(f"{stage} did not finish within {seconds:g}s"
                         + (f" (raise it with {option})" if option else ""))
        self.stage, self.seconds, self.option = stage, seconds, option


# ---- children -------------------------------------------------------------------------------------

def popen(command: list[str], graceful: bool = False, **kwargs) -> subprocess.Popen:
    """`subprocess.Popen` in a new process group, remembered until `stop` (or a signal) ends it.
    `graceful`: a signal to the command sends it SIGTERM (not SIGKILL) first."""
    process = subprocess.Popen(command, start_new_session=True, **kwargs)
    with _lock:
        _groups.add(process.pid)
        if graceful:
            _graceful.add(process.pid)
    return process


def run(command: list[str], *, input: str | None = None, timeout: float | None = None,
        **kwargs) -> subprocess.CompletedProcess:
    """Run `command` to its end in a group of its own (text in, text out, both captured); past
    `timeout` seconds the whole group is stopped and `subprocess.TimeoutExpired` raised."""
    process = popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                    text=True, **kwargs)
    try:
        stdout, stderr = process.communicate(input, timeout=timeout)
    finally:
        stop(process)  # also what it left running, and on a timeout or a signal
    return subprocess.CompletedProcess(command, process.returncode, stdout, stderr)


def _kill_group(pgid: int, sig: int = signal.SIGKILL) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass  # the whole group has already gone


def stop(process: subprocess.Popen, grace: float = 0.0) -> None:
    """Stop `process` and everything in its group; reap it. With `grace`, SIGTERM first and wait
    that long before SIGKILL. Also right after a child exited on its own: its leftovers go too."""
    if grace and process.poll() is None:
        _kill_group(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            pass
    _kill_group(process.pid)
    process.wait()
    with _lock:
        _groups.discard(process.pid)
        _graceful.discard(process.pid)


def kill_all(keep: frozenset = frozenset(), force: bool = True) -> None:
    """Kill every child's process group now but those in `keep` (from a signal handler too: no
    waiting, no reaping). Not `force`: graceful ones get SIGTERM."""
    with _lock:
        groups = [(pgid, pgid in _graceful and not force) for pgid in _groups - keep]
    for pgid, gently in groups:
        _kill_group(pgid, signal.SIGTERM if gently else signal.SIGKILL)


# ---- temporary folders ----------------------------------------------------------------------------

def temp_folder(prefix: str, parent: str | os.PathLike | None = None) -> Path:
    """A new private (0700) folder, removed by `remove` or at the latest by `cleanup`."""
    path = tempfile.mkdtemp(prefix=prefix, dir=parent)
    with _lock:
        _folders.add(path)
    return Path(path)


def forget(folder: str | os.PathLike) -> None:
    """`folder` is no longer temporary (it was renamed into place): `cleanup` leaves it alone."""
    with _lock:
        _folders.discard(str(folder))


def remove(folder: str | os.PathLike) -> None:
    shutil.rmtree(folder, ignore_errors=True)
    with _lock:
        _folders.discard(str(folder))


@contextmanager
def private_folder(prefix: str) -> Iterator[Path]:
    folder = temp_folder(prefix)
    try:
        yield folder
    finally:
        remove(folder)


def cleanup(keep_groups: frozenset = frozenset(), keep_folders: frozenset = frozenset()) -> None:
    """Kill every remaining child group and remove every remaining temporary folder (but those kept:
    children and folders that existed before a command began belong to its caller)."""
    kill_all(keep_groups)
    with _lock:
        folders = list(_folders - keep_folders)
    for folder in folders:
        remove(folder)


# ---- signals and deadlines ------------------------------------------------------------------------

@contextmanager
def stopping_on_signals() -> Iterator[None]:
    """While inside: SIGTERM/SIGINT kill every child group started inside and raise `Interrupted`
    (once) in the main thread. On the way out the previous handlers come back and whatever was
    started or made inside and is still there is stopped and removed."""
    with _lock:
        groups_before, folders_before = frozenset(_groups), frozenset(_folders)
    if threading.current_thread() is not threading.main_thread():
        try:  # handlers can only be set from the main thread; the caller's own stay in force
            yield
        finally:
            cleanup(groups_before, folders_before)
        return
    raised = False
    done = threading.Event()

    def forced_exit(name: str) -> None:
        """Everything killed, every folder removed, exit 2: the stuck stage never returns."""
        cleanup(groups_before, folders_before)
        os.write(2, f"stateless-pack: error: stopped by {name}; a stage did not stop in time: "
                    "killed it\n".encode())
        os._exit(EXIT_STOPPED)

    def handler(signum, _frame):
        nonlocal raised
        name = signal.Signals(signum).name
        if raised:  # a second signal: the user wants out now (the cleanup still happens)
            forced_exit(name)
        raised = True
        kill_all(groups_before, force=False)
        watchdog = threading.Timer(FORCED_EXIT_SECONDS, lambda: None if done.is_set() else forced_exit(name))
        watchdog.daemon = True
        watchdog.start()
        raise Interrupted(name)

    previous = {sig: signal.signal(sig, handler) for sig in _SIGNALS}
    try:
        yield
    finally:
        try:
            cleanup(groups_before, folders_before)
        finally:
            done.set()
            for sig, old in previous.items():
                signal.signal(sig, old)


@contextmanager
def deadline(stage: str, seconds: float | None, option: str = "") -> Iterator[None]:
    """Raise `StageTimeout` in the main thread if the block runs longer than `seconds` (None or 0:
    no limit). For stages that block the main thread in a system call (opening a FIFO, reading):
    the alarm interrupts the call. Not nestable; a no-op outside the main thread."""
    if not seconds or threading.current_thread() is not threading.main_thread():
        yield
        return

    def expired(_signum, _frame):
        raise StageTimeout(stage, seconds, option)

    previous = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
