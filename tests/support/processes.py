"""Real server processes for a test, on loopback only, each stopped by the test that started it.

`Processes` starts commands in their own process group with their output in a log file, and
`stop_all()` (called from a fixture's teardown, so also when the test fails) ends every group it
started, by its id. `loopback_block()` gives a test its own 127.a.b.0/24 so that servers bound to
the same port on different addresses (like pods) do not collide with other tests running at the
same time; `free_port()` checks the port on every address that will use it.
"""
from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Callable, Mapping, Sequence, TypeVar

T = TypeVar("T")


class Processes:
    def __init__(self, log_dir: Path):
        self.log_dir = log_dir
        self.started: dict = {}  # name -> Popen

    def start(self, name: str, argv: Sequence[str], env: Mapping[str, str], cwd: Path | None = None):
        if name in self.started and self.started[name].poll() is None:
            raise AssertionError(f"{name} is already running")
        log = open(self.log_dir / f"{name}.log", "ab")
        try:
            proc = subprocess.Popen(list(argv), env=dict(env), cwd=cwd, stdout=log, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, start_new_session=True)
        finally:
            log.close()
        self.started[name] = proc
        return proc

    def log(self, name: str) -> str:
        path = self.log_dir / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def kill(self, name: str) -> None:
        """SIGKILL the process group: a crash, no goodbye to clients or peers."""
        self._signal(name, signal.SIGKILL)

    def stop(self, name: str) -> None:
        self._signal(name, signal.SIGTERM)

    def _signal(self, name: str, sig: int) -> None:
        proc = self.started[name]
        if proc.poll() is None:
            try:
                os.killpg(proc.pid, sig)
            except ProcessLookupError:
                pass
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)

    def stop_all(self) -> None:
        for name in list(self.started):
            self.stop(name)

    def logs(self) -> str:
        """The tail of every log, for an assertion message."""
        return "\n".join(f"--- {name}\n" + "\n".join(self.log(name).splitlines()[-15:]) for name in self.started)


def loopback_block() -> str:
    """'127.a.b': a /24 of the loopback range of one's own (never 127.0.0.x)."""
    return f"127.{random.randint(1, 254)}.{random.randint(1, 254)}"


def free_port(hosts: Sequence[str] = ("127.0.0.1",)) -> int:
    """A TCP port nobody listens on at any of `hosts`."""
    for _ in range(50):
        with socket.socket() as probe:
            probe.bind((hosts[0], 0))
            port = probe.getsockname()[1]
        try:
            for host in hosts:
                with socket.socket() as s:
                    s.bind((host, port))
            return port
        except OSError:
            continue
    raise AssertionError(f"no free port on {', '.join(hosts)}")


def wait_for(check: Callable[[], T], timeout: float, what: str, interval: float = 0.2,
             diagnostics: Callable[[], str] = lambda: "") -> T:
    """Poll `check` until it returns something truthy; fail with `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    last_error = None
    while time.monotonic() < deadline:
        try:
            value = check()
            if value:
                return value
        except Exception as exc:  # noqa: BLE001 - a server still starting answers with errors
            last_error = exc
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what} (last error: {last_error!r})\n"
                         f"{diagnostics()}")
