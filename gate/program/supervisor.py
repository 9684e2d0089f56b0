"""The process the gate starts for a program: checks the interpreter, then hosts the program under a supervisor.

`python -c <child_package's bootstrap> RESULT_FD`, with the project's interpreter (its virtualenv):
1. The interpreter must have Python 3.10+ and pulumi `MIN_PULUMI` or later; else one line with the
   remedy goes over the answer pipe (RESULT_FD) and nothing runs.
2. It forks the host (`gate/program/child.py`), which runs the program (a Node.js one in `node`, its
   mocks answered by the host: `gate/program/node_bridge.py`), and stays as its supervisor:
   when the host exits, when the gate stops it (SIGTERM: its deadline, a signal to the gate) or when
   the gate is gone (killed outright: `policies/gate_lifetime.py`), it kills every process the
   program started and then exits with the host's exit code.

Every process the program started is found because this process is a child subreaper on Linux
(prctl PR_SET_CHILD_SUBREAPER): a process whose parent exits is adopted by it instead of init, so a
daemon (`setsid sleep 777`, a double fork) stays in its tree, whatever its process group or session.
Why not the alternatives: a process group does not hold `setsid`; a PID namespace (unshare) or a
cgroup of its own would, but need privileges (root, or user namespaces and cgroup delegation) that
users' CI does not give. Without prctl (macOS) only the host's process group is stopped.
"""
from __future__ import annotations

import ctypes
import importlib.metadata
import json
import os
import signal
import sys

from stateless_pack.policies.gate_lifetime import gate_pid

NODEJS = "nodejs"  # the host's argument for a Node.js program: its mocks forward to `node_bridge`
MIN_PULUMI = (3, 200)  # the oldest pulumi the host's mocks and hooks are proven on: pyproject's floor
PR_SET_CHILD_SUBREAPER = 36
_WATCHED = {signal.SIGCHLD, signal.SIGTERM, signal.SIGINT, signal.SIGHUP}
_POLL_SECONDS = 0.5
_KILL_ROUNDS = 200


def interpreter_problem() -> str | None:
    """Why this interpreter cannot host the program (one line with the remedy), or None."""
    python = sys.executable
    if sys.version_info < (3, 10):
        return (f"the program's interpreter {python} is Python {sys.version.split()[0]}: the gate runs "
                "programs on Python 3.10 or later")
    try:
        version = importlib.metadata.version("pulumi")
    except importlib.metadata.PackageNotFoundError:
        return (f"the program's interpreter {python} has no pulumi: install the project's requirements "
                f"into it ({python} -m pip install -r requirements.txt)")
    numbers = tuple(int(part) for part in version.split(".")[:2] if part.isdigit())
    if numbers < MIN_PULUMI:
        floor = ".".join(map(str, MIN_PULUMI))
        return (f"the program's interpreter {python} has pulumi {version}; the gate runs programs on "
                f"pulumi {floor} or later: {python} -m pip install 'pulumi>={floor},<4'")
    return None


def _become_subreaper() -> bool:
    try:
        return ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    except (OSError, AttributeError):  # not Linux
        return False


def _parents() -> dict[int, int]:
    """pid -> parent pid of every live (not zombie) process, from /proc."""
    parents = {}
    try:
        entries = [e.name for e in os.scandir("/proc") if e.name.isdigit()]
    except OSError:
        return parents
    for name in entries:
        try:
            with open(f"/proc/{name}/stat", "rb") as stat:
                fields = stat.read().rsplit(b")", 1)[1].split()  # after "pid (comm)", comm may hold spaces
        except (OSError, IndexError):
            continue
        if fields and fields[0] != b"Z":
            parents[int(name)] = int(fields[1])
    return parents


def descendants(root: int) -> list[int]:
    parents = _parents()
    children: dict[int, list[int]] = {}
    for pid, parent in parents.items():
        children.setdefault(parent, []).append(pid)
    found, queue = [], [root]
    while queue:
        for child in children.get(queue.pop(), []):
            found.append(child)
            queue.append(child)
    return found


def _reap() -> bool:
    """Reap every child that has exited; whether any child is left."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return False
        if pid == 0:
            return True


def end_all() -> None:
    """Kill every descendant (orphans are adopted by this process, so they are descendants too)."""
    for _ in range(_KILL_ROUNDS):
        pids = descendants(os.getpid())
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if not _reap() and not pids:
            return
        signal.sigtimedwait({signal.SIGCHLD}, 0.01)


def _supervise(host: int) -> int:
    """Wait for the host, the gate's stop or the gate's end; then end everything. The host's exit code."""
    gate = gate_pid()
    code = 1
    while True:
        info = signal.sigtimedwait(_WATCHED, _POLL_SECONDS)
        if info is None:
            if gate is not None and os.getppid() != gate:
                break  # the gate is gone: so is everything the program started
            continue
        if info.si_signo != signal.SIGCHLD:
            break  # stopped by the gate
        try:
            pid, status = os.waitpid(host, os.WNOHANG)
        except ChildProcessError:
            break
        if pid == host:
            code = os.waitstatus_to_exitcode(status)
            break
    end_all()
    return code if code >= 0 else 128 - code


def main(argv: list[str]) -> int:
    result_fd = int(argv[1])
    problem = interpreter_problem()
    if problem is not None:
        with os.fdopen(result_fd, "w", encoding="utf-8") as out:
            out.write(json.dumps({"error": problem, "kind": "gate", "interpreter": True}) + "\n")
        return 0
    _become_subreaper()
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, _WATCHED)  # before the fork: no signal is missed
    host = os.fork()
    if host == 0:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)
        code = 1
        try:
            from stateless_pack.gate.program import child, node_bridge

            code = child.main(argv, node_bridge.host) if argv[2:] == [NODEJS] else child.main(argv)
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)
    os.close(result_fd)  # the answer is the host's: the gate reads it to its end
    return _supervise(host)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
