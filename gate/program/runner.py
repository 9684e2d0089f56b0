"""Run a Pulumi program (Python, or Node.js: `gate/program/node_bridge.py`) offline under Pulumi's mocks and collect every registered resource.

The program runs with the project's own interpreter (its virtualenv, chosen as Pulumi's language
host chooses it: `gate/program/interpreter.py`), in a child process of its own (`supervisor.py` and
the host `child.py`, imported from a private copy: `child_package.py`). Pulumi keeps its runtime
state in process globals, and a program may crash, exit, print or start processes of its own; none
of that may touch the gate, and whatever it started ends with the run (the supervisor). The spec
(with the config, secret values in plaintext) goes to the child over its stdin and everything else
comes back over a pipe as it happens: the resources (`on_resource` gets them while the program still
runs), every value the program marks secret, its log messages, then the answer; nothing of it is
written to disk.

No secret the program knows is ever shown: every value it marks secret reaches the gate before the
program could print it (`gate/program/secret_watch.py`), the resources carry them as `Secret`
wherever they appear (also where the program passed a secret on as a plain value), and the program's
messages, its stdout and stderr and its error are redacted with all of them after the run. What is
read of the program's output is bounded (`gate/program/diagnostics.py`).

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
from stateless_pack.gate.program import child_package, diagnostics, node_runtime, supervisor
from stateless_pack.gate.program.diagnostics import Diagnostic, StreamCapture
from stateless_pack.gate.program.interpreter import Interpreter, for_project

# Re-exported: what the rest of the gate uses of a project's files comes from here.
from stateless_pack.gate.program.project import (  # noqa: F401
    ProgramError,
    default_stack,
    load_config,
    load_project,
    main_file,
    runtime_name,
    secret_config_values,
)
from stateless_pack.gate.program.pulumi_wire import STACK_TYPE
from stateless_pack.gate.program.secure_config import PASSPHRASE, PASSPHRASE_FILE
from stateless_pack.gate.program.values import decode, mark_found, secret_values
from stateless_pack.policies.gate_lifetime import gate_environment
from stateless_pack.policies.redaction import finder, quoted_forms, redactor

DEFAULT_TIMEOUT = 600.0
_DRAIN_SECONDS = 5.0  # after the child's group is gone, its pipes close at once; a process that
                      # escaped the group may still hold them: stop waiting after this long
_STOP_GRACE = 5.0     # the supervisor ends what the program started, then itself
MAX_MESSAGE = 64 << 20  # bytes of one line of the answer pipe (a resource's inputs): past it, broken


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
    # (file, line) of the program's code that created it (the innermost frame in the project folder),
    # a yaml/v2 child's document in its YAML file, else its parent's
    source: tuple[str, int] | None = None
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
    announced: tuple = ()      # every value the program marked secret (Output.secret, *_secret, ...)
    diagnostics: tuple = ()    # Diagnostic(severity, message, urn): its logs, stdout, stderr; redacted
    python: str = ""           # the interpreter it ran with

    def secrets(self) -> list:
        """Every value that must never be printed: secret config values, the values the program
        marked secret and secret inputs."""
        return (secret_config_values(self.config, self.secret_keys) + list(self.announced)
                + [v for r in self.resources for v in secret_values(r.inputs)])


class ProgramFailure(ProgramError):
    """The program ran and failed; `diagnostics` are what it said on the way (redacted)."""

    def __init__(self, message: str, diagnostics: tuple = ()):
        super().__init__(message)
        self.diagnostics = diagnostics


# --- running -------------------------------------------------------------------------------------

def interpreter_for(program_dir: str | os.PathLike) -> Interpreter:
    """The interpreter the program in `program_dir` runs with (ProgramError if it has none, or if a
    Node.js program's node or packages are missing)."""
    program_dir = Path(program_dir).resolve()
    return _host(program_dir, load_project(program_dir), None).interpreter


@dataclass(frozen=True)
class _Host:
    interpreter: Interpreter  # what runs the supervisor and the host
    main: Path                # the program's file (or a Node.js program's entry folder)
    spec: dict                # what the host needs beyond the project and the config
    arguments: tuple = ()     # the host's (`supervisor.NODEJS` for a Node.js program)


def _host(program_dir: Path, project: Mapping, python: str | None) -> _Host:
    """A Python program runs in the project's interpreter; a Node.js one in node, its mocks answered
    by a host in the gate's own interpreter (`gate/program/node_bridge.py`)."""
    if runtime_name(project) == "nodejs":
        node = node_runtime.for_project(program_dir, project)
        interpreter = Interpreter(sys.executable, "the gate's own: it answers the Node.js program's mocks")
        return _Host(interpreter, node.main, {"node": node.spec()}, (supervisor.NODEJS,))
    main = main_file(program_dir, project)
    interpreter = Interpreter(python, "") if python else for_project(program_dir, project, main.parent)
    return _Host(interpreter, main, {})


def run_program(program_dir: str | os.PathLike, stack: str | None = None,
                timeout: float = DEFAULT_TIMEOUT, python: str | None = None,
                on_resource: Callable[[RegisteredResource], None] | None = None,
                tools: Mapping[str, str | None] | None = None) -> ProgramRun:
    """Run the program under mocks in a child process and return what it registered.
    `python`: the interpreter to use instead of the project's. `on_resource` gets each resource as
    soon as it is registered (on another thread; it must not raise), the same objects the run
    returns; a run that fails may have announced some. `tools`: {"helm": PATH, "kubectl": PATH}
    given on the command line, for the charts and kustomizations the child renders (else it finds
    them as gate/render/tools.py says)."""
    program_dir = Path(program_dir).resolve()
    if not program_dir.is_dir():
        raise ProgramError(f"{program_dir} is not a folder")
    project = load_project(program_dir)
    stack = stack or default_stack(program_dir, project)
    config, secret_keys, secure_keys = load_config(program_dir, project, stack)
    host = _host(program_dir, project, python)
    main, interpreter = host.main, host.interpreter
    spec = {"project": project["name"], "stack": stack, "main": str(main), "project_dir": str(program_dir),
            "config": config, "secret_keys": secret_keys, "secure_keys": secure_keys,
            "tools": {k: v for k, v in (tools or {}).items() if v}, **host.spec}
    answer = _Answer(program_dir, on_resource, secret_config_values(config, secret_keys))
    with processes.private_folder("stateless-pack-program-") as folder:
        child_package.write(folder)
        out, err, returncode = _run_child(host, folder, program_dir, spec, timeout, answer)
    result = answer.result()
    stack_urn = f"urn:pulumi:{stack}::{project['name']}::{STACK_TYPE}::{project['name']}-{stack}"
    said = _diagnostics(answer, out, err, stack_urn)
    if result is None or "error" in result:
        raise ProgramFailure(_failure(result, answer, main, stack, returncode, interpreter), said)
    return ProgramRun(project=project["name"], stack=stack, program_dir=program_dir, main=main,
                      resources=_ordered(answer.resources), config=config, secret_keys=tuple(secret_keys),
                      announced=tuple(answer.secrets), diagnostics=said, python=interpreter.python)


def _failure(result: dict | None, answer: "_Answer", main: Path, stack: str, returncode: int,
             interpreter: Interpreter) -> str:
    """The failure as one message, redacted: the gate's own refusal as its line, the program's
    error under a heading, or what is known of a child that gave no answer."""
    scrub = answer.scrub()
    if result is None:
        why = answer.broken or f"its process ended with exit code {returncode} and no answer"
        return f"program {main} failed (stack {stack}): {why}"
    if result.get("kind") == "gate":
        chosen = f" (chosen as {interpreter.how})" if result.get("interpreter") and interpreter.how else ""
        return scrub(str(result["error"])) + chosen
    text = f"program {main} failed (stack {stack}):\n{scrub(str(result['error']))}"
    if result.get("exception") in ("ModuleNotFoundError", "ImportError"):
        text += f"\n(the program ran with {interpreter.python}{': ' + interpreter.how if interpreter.how else ''})"
    return text


def _diagnostics(answer: "_Answer", out: StreamCapture, err: StreamCapture, stack_urn: str) -> tuple:
    """What the program said (its logs, then its stdout, then its stderr), redacted with every secret."""
    scrub, margin = answer.scrub(), answer.longest_form()
    said = [Diagnostic(d.severity, scrub(d.message), d.urn) for d in answer.logs]
    for capture, severity in ((out, diagnostics.INFO), (err, diagnostics.STDERR)):
        said += diagnostics.of_stream(scrub(capture.text(margin)), severity, stack_urn)
    return tuple(diagnostics.bounded(said, stack_urn))


def _source(source) -> tuple[str, int] | None:
    """(absolute file, line); gate/source_positions.py decides which are the user's own."""
    return (str(source[0]), int(source[1])) if source else None


class _Answer(threading.Thread):
    """Reads the child's answer pipe to its end: the resources as they come (each handed to
    `on_resource`), the secrets and logs, then the answer. A line cut short (the child died while
    writing), too long, or a count that does not match leaves no answer: the run failed."""

    def __init__(self, program_dir: Path, on_resource: Callable[[RegisteredResource], None] | None,
                 secrets: list):
        super().__init__(daemon=True)
        self.program_dir, self.on_resource = program_dir, on_resource
        self.resources: list = []
        self.secrets: list = []
        self._known: set = set()
        self._learn(secrets)
        self.logs: list = []
        self.sources: dict = {}
        self.answer = None
        self.broken = ""
        self._finder, self._found_count = None, 0  # compiled for the first `_found_count` secrets

    def read(self, stream) -> None:
        self.stream = stream
        self.start()

    def run(self) -> None:
        with self.stream:
            while True:
                line = self.stream.readline(MAX_MESSAGE)
                if not line:
                    return
                if not line.endswith(b"\n") and len(line) == MAX_MESSAGE:
                    self.broken = self.broken or f"it sent a message over {MAX_MESSAGE >> 20} MiB"
                    continue  # the rest of that line follows: it is not read as messages
                if self.broken or self.answer is not None:
                    continue  # drain: nothing after the answer counts
                try:
                    self._take(json.loads(line))
                except (ValueError, KeyError, TypeError):
                    self.broken = "its answer was cut short or garbled"

    def _take(self, message) -> None:
        if not isinstance(message, dict):
            raise ValueError(message)
        if isinstance(message.get("resource"), dict):
            self._resource(message["resource"])
        elif isinstance(message.get("secrets"), list):
            self._learn(str(s) for s in message["secrets"])
        elif isinstance(message.get("log"), dict):
            log = message["log"]
            self.logs.append(Diagnostic(str(log["severity"]), str(log["message"]), str(log["urn"])))
        else:
            self.answer = message

    def _learn(self, values) -> None:
        for value in values:
            if value and value not in self._known:
                self._known.add(value)
                self.secrets.append(value)

    def _resource(self, r: dict) -> None:
        inputs = decode(r["inputs"])
        self._learn(str(v) for v in secret_values(inputs))
        source = _source(r.get("source")) or self.sources.get(r["parent"])
        self.sources[r["urn"]] = source
        resource = RegisteredResource(
            type=r["type"], name=r["name"], urn=r["urn"], custom=r["custom"],
            inputs=mark_found(inputs, self._contains_secret()), parent=r["parent"],
            dependencies=tuple(r["dependencies"]),
            property_dependencies={k: tuple(v) for k, v in r["property_dependencies"].items()},
            provider=r["provider"], id=r["id"], source=source, remote=bool(r.get("remote")),
            origin=r.get("origin") or {})
        self.resources.append(resource)
        if self.on_resource is not None:
            self.on_resource(resource)

    def _contains_secret(self) -> Callable[[str], bool]:
        """Whether a text holds a known secret (as `redact` would find it). Recompiled as secrets come;
        past 256 only when their number has doubled (compiling costs as much as all their forms):
        meanwhile the newest count where they are the whole value."""
        count = len(self.secrets)
        if self._finder is None or (count > self._found_count and (count <= 256 or count >= 2 * self._found_count)):
            self._finder, self._found_count = finder(self.secrets), count
        exact, found = self._known, self._finder
        return lambda text: text in exact or found(text)

    def scrub(self) -> Callable[[str], str]:
        return redactor(self.secrets)

    def longest_form(self) -> int:
        return max((len(f) for s in self.secrets for f in quoted_forms(s)), default=0)

    def result(self) -> dict | None:
        self.join(_DRAIN_SECONDS)
        answer = None if self.broken or self.is_alive() else self.answer
        if answer is not None and "error" not in answer and answer.get("done") != len(self.resources):
            return None
        return answer


class _Drain(threading.Thread):
    """Reads a pipe to its end (so that a chatty child never blocks on a full pipe), keeping its head
    and tail only."""

    def __init__(self, stream):
        super().__init__(daemon=True)
        self.stream, self.capture = stream, StreamCapture()
        self.start()

    def run(self) -> None:
        with self.stream:
            for chunk in iter(lambda: self.stream.read(65536), b""):
                self.capture.feed(chunk)

    def captured(self) -> StreamCapture:
        self.join(_DRAIN_SECONDS)
        return self.capture


def _feed(stream, data: bytes) -> None:
    try:
        with stream:
            stream.write(data)
    except (BrokenPipeError, OSError):
        pass  # the child died before reading its spec: its exit says why


def _run_child(host: _Host, folder: Path, program_dir: Path, spec: dict, timeout: float,
               answer: _Answer) -> tuple[StreamCapture, StreamCapture, int]:
    """(stdout, stderr, exit code) of the child; the spec goes over stdin, `answer` reads the answer pipe."""
    interpreter, main = host.interpreter, host.main
    read_end, write_end = os.pipe()
    # the passphrase stays with the gate: the program gets the decrypted config, never the key to it
    inherited = {k: v for k, v in os.environ.items() if k not in (PASSPHRASE, PASSPHRASE_FILE)}
    env = interpreter.environment({**inherited, "PYTHONDONTWRITEBYTECODE": "1", **gate_environment()})
    try:
        child = processes.popen(
            child_package.command(interpreter.python, folder, write_end, *host.arguments), cwd=program_dir, env=env,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, pass_fds=(write_end,),
            graceful=True)
    except OSError as err:
        os.close(read_end)
        raise ProgramError(f"cannot start {interpreter.python}: {err}") from None
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
        processes.stop(child, grace=_STOP_GRACE)  # the supervisor ends what the program started
    return out.captured(), err.captured(), child.returncode


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
