"""Run a Pulumi Python program offline under Pulumi's mocks and collect every registered resource.

The program runs in a child process (`gate/program/child.py`) in a process group of its own: Pulumi
keeps its runtime state in process globals, and a program may crash, exit, print or start processes
of its own; none of that may touch the gate. The spec (with the config, secret values in plaintext)
goes to the child over its stdin and the resources come back over a pipe, each as it is registered
(`on_resource` gets them while the program still runs), then the answer: nothing of it is written to
disk. When the child exits, whatever it left running in its group is killed, so a leftover process
holding its output open cannot keep the gate waiting. This module turns the answer into
`RegisteredResource`s.

Values keep Pulumi's secret-ness (`gate/program/values.py`); project and config loading is in
`gate/program/project.py`.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Mapping

from stateless_pack.gate import processes

# Re-exported: what the rest of the gate uses of a project's files comes from here.
from stateless_pack.gate.program.project import (  # noqa: F401
    ProgramError,
    default_stack,
    load_config,
    load_project,
    main_file,
    secret_config_values,
)
from stateless_pack.gate.program.values import decode, secret_values
from stateless_pack.policies.gate_lifetime import gate_environment
from stateless_pack.policies.redaction import redact as redact_text

DEFAULT_TIMEOUT = 600.0
_DRAIN_SECONDS = 5.0  # after the child's group is gone, its pipes close at once; a process that
                      # escaped the group may still hold them: stop waiting after this long


@dataclass(frozen=True)
class RegisteredResource:
    type: str                 # "kubernetes:apps/v1:Deployment", "pulumi:pulumi:Stack", component types
    name: str                 # logical name
    urn: str
    custom: bool              # False for components (and the stack)
    inputs: dict              # plain values; secret values wrapped in `Secret`
    parent: str = ""          # parent URN ("" for the stack)
    dependencies: tuple = ()  # URNs this resource depends on
    property_dependencies: Mapping[str, tuple] = field(default_factory=dict)
    provider: str = ""        # provider reference, if explicit
    id: str = ""
    source: tuple = ()        # (file, 1-based line) of the program line that created it (the SDK's
                              # sourcePosition; a yaml/v2 child: its YAML file), () unknown
    remote: bool = False      # a remote component: a provider's Construct registers its children
    origin: Mapping = field(default_factory=dict)  # rendered from a chart or kustomization: see
                                                   # gate/render/helm_components.py `origin`

    @property
    def gate_only(self) -> bool:
        """Checked by the gate only: the engine never registers it (a helm.sh/v3:Release's objects)."""
        return bool(self.origin.get("gate_only"))


@dataclass(frozen=True)
class ProgramRun:
    project: str
    stack: str
    program_dir: Path          # folder with Pulumi.yaml
    main: Path                 # the program file that ran
    resources: list            # RegisteredResource, in registration order (stack first)
    config: Mapping[str, str]  # the config the program saw (secure keys excluded)
    secret_keys: tuple = ()    # config keys whose values are secret

    def secrets(self) -> list:
        """Every value that must never be printed: secret config values and secret inputs."""
        return (secret_config_values(self.config, self.secret_keys)
                + [v for r in self.resources for v in secret_values(r.inputs)])


# --- running -------------------------------------------------------------------------------------

def run_program(program_dir: str | os.PathLike, stack: str | None = None,
                timeout: float = DEFAULT_TIMEOUT, python: str | None = None,
                on_resource: Callable[[RegisteredResource], None] | None = None,
                tools: Mapping[str, str | None] | None = None) -> ProgramRun:
    """Run the program under mocks in a child process and return what it registered.
    `on_resource` gets each resource as soon as it is registered (on another thread; it must not
    raise), the same objects the run returns; a run that fails may have announced some. `tools`:
    {"helm": PATH, "kubectl": PATH} given on the command line, for the charts and kustomizations
    the child renders (else it finds them as gate/render/tools.py says)."""
    program_dir = Path(program_dir).resolve()
    if not program_dir.is_dir():
        raise ProgramError(f"{program_dir} is not a folder")
    project = load_project(program_dir)
    main = main_file(program_dir, project)
    stack = stack or default_stack(program_dir, project)
    config, secret_keys, secure_keys = load_config(program_dir, project, stack)
    spec = {"project": project["name"], "stack": stack, "main": str(main),
            "config": config, "secret_keys": secret_keys, "secure_keys": secure_keys,
            "tools": {k: v for k, v in (tools or {}).items() if v}}
    answer = _Answer(on_resource)
    stderr, returncode = _run_child(python or sys.executable, program_dir, spec, timeout, main, answer)
    result = answer.result()
    if result is None or "error" in result:
        secrets = secret_config_values(config, secret_keys) + [str(s) for s in (result or {}).get("secrets", [])]
        detail = (result or {}).get("error") or _tail(stderr) or f"exit code {returncode}"
        raise ProgramError(f"program {main} failed (stack {stack}):\n{redact_text(detail, secrets)}")
    return ProgramRun(project=project["name"], stack=stack, program_dir=program_dir, main=main,
                      resources=_ordered(answer.resources), config=config, secret_keys=tuple(secret_keys))


def _registered(r: dict) -> RegisteredResource:
    return RegisteredResource(
        type=r["type"], name=r["name"], urn=r["urn"], custom=r["custom"], inputs=decode(r["inputs"]),
        parent=r["parent"], dependencies=tuple(r["dependencies"]),
        property_dependencies={k: tuple(v) for k, v in r["property_dependencies"].items()},
        provider=r["provider"], id=r["id"], remote=bool(r.get("remote")), origin=r.get("origin") or {},
        source=tuple(r.get("source") or ()))


class _Answer(threading.Thread):
    """Reads the child's answer pipe to its end: the resources as they come (each handed to
    `on_resource`), then the answer. A line cut short (the child died while writing) or a count
    that does not match leaves no answer: the run failed."""

    def __init__(self, on_resource: Callable[[RegisteredResource], None] | None):
        super().__init__(daemon=True)
        self.on_resource, self.resources, self.answer = on_resource, [], None
        self.broken = False

    def read(self, stream) -> None:
        self.stream = stream
        self.start()

    def run(self) -> None:
        with self.stream:
            for line in self.stream:
                if self.broken or self.answer is not None:
                    continue  # drain: nothing after the answer counts
                try:
                    message = json.loads(line)
                except ValueError:
                    self.broken = True
                    continue
                self._take(message)

    def _take(self, message) -> None:
        if isinstance(message, dict) and isinstance(message.get("resource"), dict):
            resource = _registered(message["resource"])
            self.resources.append(resource)
            if self.on_resource is not None:
                self.on_resource(resource)
        elif isinstance(message, dict):
            self.answer = message
        else:
            self.broken = True

    def result(self) -> dict | None:
        self.join(_DRAIN_SECONDS)
        answer = None if self.broken or self.is_alive() else self.answer
        if answer is not None and "error" not in answer and answer.get("done") != len(self.resources):
            return None
        return answer


class _Drain(threading.Thread):
    """Reads a pipe to its end (so that a chatty child never blocks on a full pipe)."""

    def __init__(self, stream):
        super().__init__(daemon=True)
        self.stream, self.chunks = stream, []
        self.start()

    def run(self) -> None:
        with self.stream:
            for chunk in iter(lambda: self.stream.read(65536), b""):
                self.chunks.append(chunk)

    def text(self) -> bytes:
        self.join(_DRAIN_SECONDS)
        return b"".join(self.chunks)


def _feed(stream, data: bytes) -> None:
    try:
        with stream:
            stream.write(data)
    except (BrokenPipeError, OSError):
        pass  # the child died before reading its spec: its exit says why


def _run_child(python: str, program_dir: Path, spec: dict, timeout: float, main: Path,
               answer: _Answer) -> tuple[str, int]:
    """(stderr, exit code) of the child; the spec goes over stdin, `answer` reads the answer pipe."""
    read_end, write_end = os.pipe()
    try:
        child = processes.popen(
            [python, "-m", "stateless_pack.gate.program.child", str(write_end)], cwd=program_dir,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, pass_fds=(write_end,),
            env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1", **gate_environment()})
    except OSError as err:
        os.close(read_end)
        raise ProgramError(f"cannot start {python}: {err}") from None
    finally:
        os.close(write_end)
    answer.read(os.fdopen(read_end, "rb"))
    out, err = _Drain(child.stdout), _Drain(child.stderr)
    threading.Thread(target=_feed, args=(child.stdin, json.dumps(spec).encode()), daemon=True).start()
    try:
        child.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        raise ProgramError(f"program {main} did not finish within {timeout:g}s (--timeout-program)") from None
    finally:
        processes.stop(child)  # and whatever it left running in its group
    out.text()
    return err.text().decode("utf-8", "replace"), child.returncode


def _ordered(resources: list) -> list:
    """Parents and dependencies first, else by URN: registration order varies between runs
    (the SDK registers from several threads), reports and state exports must not."""
    by_urn = {r.urn: r for r in resources}
    before = {r.urn: {u for u in (r.parent, *r.dependencies) if u in by_urn and u != r.urn}
              for r in resources}
    done: list = []
    placed: set = set()
    while len(done) < len(resources):
        ready = sorted(u for u in by_urn if u not in placed and before[u] <= placed)
        if not ready:  # a cycle cannot come from Pulumi; keep the rest in URN order
            ready = sorted(u for u in by_urn if u not in placed)
        done.extend(by_urn[u] for u in ready)
        placed.update(ready)
    return done


def _tail(text: str, lines: int = 25) -> str:
    return "\n".join((text or "").strip().splitlines()[-lines:])
