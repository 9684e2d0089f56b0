"""A process the gate started ends with the gate, even when the gate is killed outright.

The gate stops its children on every path it sees (a normal end, a crash, SIGTERM, SIGINT, a
deadline: `gate/processes.py`), but SIGKILL and the OOM killer give it no last word. The program
under mocks would then run on to its end, and the policy pack, a gRPC server waiting for calls,
would wait forever. The gate names itself in their environment (`GATE_PID_ENV`); each watches
that it is still the gate's child and, once it is not, kills its own process group (itself and
whatever it started; the program's supervisor, `gate/program/supervisor.py`, its whole tree). A pack
run by the Pulumi CLI has no such variable and is left to the CLI.
"""
from __future__ import annotations

import os
import signal
import threading
import time

GATE_PID_ENV = "STATELESS_PACK_GATE_PID"
POLL_SECONDS = 0.5


def gate_environment() -> dict[str, str]:
    """What the gate adds to a child's environment so that the child can watch it."""
    return {GATE_PID_ENV: str(os.getpid())}


def gate_pid() -> int | None:
    """The gate's pid if the gate started this process, else None (the Pulumi CLI's child, or a
    variable inherited further down)."""
    named = os.environ.get(GATE_PID_ENV, "")
    return int(named) if named.isdigit() and os.getppid() == int(named) else None


def end_with_gate() -> bool:
    """If the gate started this process, watch it (a daemon thread); whether it watches."""
    gate = gate_pid()
    if gate is None:
        return False

    def watch() -> None:
        while os.getppid() == gate:
            time.sleep(POLL_SECONDS)
        if os.getpgid(0) == os.getpid():  # the gate made us a group of our own (gate/processes.py)
            os.killpg(os.getpid(), signal.SIGKILL)  # the gate is gone: so are we and what we started
        os._exit(1)  # never a group we do not lead (it may hold whoever ran the gate)

    threading.Thread(target=watch, name="end-with-gate", daemon=True).start()
    return True
