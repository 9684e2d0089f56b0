"""Drive a policy pack the way the Pulumi engine does, without the Pulumi CLI.

Launch: like the CLI's `pulumi-analyzer-policy-python` shim, `<python> -u -m pulumi.policy
<engine-address> .` with the pack folder as working directory and PULUMI_PROJECT, PULUMI_STACK,
PULUMI_DRY_RUN, PULUMI_CONFIG (stack config as JSON) set; the pack prints its port on stdout.
The engine address points at a real (minimal) Engine gRPC service on loopback that records `Log`
calls. Note: pulumi's Python policy host (`pulumi/policy/__main__.py`) configures the runtime without
that address, so `pulumi.log` in a pack goes to stderr; `PackProcess.stderr` keeps it.

Protocol, in the engine's order (sdk/go/common/resource/plugin/analyzer_plugin.go):
`Handshake` (Unimplemented by pulumi-policy: tolerated), `ConfigureStack`, `GetAnalyzerInfo`,
`Configure` with the reconciled config (pkg/.../policy config: schema defaults, then the pack's
initialConfig, then user overrides, `all` first; an explicit enforcement level for every policy),
then per resource `Remediate` followed by `Analyze` on the (remediated) inputs, and `AnalyzeStack`
at the end. Inputs are marshalled as the engine does with KeepUnknowns/KeepSecrets: secrets as
Pulumi's secret marker (`gate/program/pulumi_wire.py`), unknowns as
Pulumi's unknown sentinel strings.

Every call has a deadline (`call_timeout`): a pack that hangs is a failed call, never a wait
forever. The pack runs in a process group of its own (`gate/processes.py`), stopped with all it
started.

Results are plain dataclasses, not protobufs.
"""
from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
from collections.abc import Mapping
from concurrent import futures
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

import grpc
import yaml
from google.protobuf import empty_pb2, json_format, struct_pb2
from pulumi.runtime.proto import analyzer_pb2, analyzer_pb2_grpc, engine_pb2, engine_pb2_grpc

from stateless_pack.gate import processes
from stateless_pack.gate.program.pulumi_wire import SECRET_SIG, SIG_KEY, UNKNOWN_SENTINELS
from stateless_pack.policies import safe_files
from stateless_pack.policies.gate_lifetime import gate_environment
from stateless_pack.policies.policy_config import check_properties

ENFORCEMENT_LEVELS = ("advisory", "mandatory", "remediate", "disabled")
DEFAULT_WORKERS = 4  # concurrent calls to a pack, as the engine makes them
_LEVEL_TO_PROTO = {
    "advisory": analyzer_pb2.ADVISORY, "mandatory": analyzer_pb2.MANDATORY,
    "remediate": analyzer_pb2.REMEDIATE, "disabled": analyzer_pb2.DISABLED,
}
_PROTO_TO_LEVEL = {v: k for k, v in _LEVEL_TO_PROTO.items()}
_SEVERITIES = {
    analyzer_pb2.POLICY_SEVERITY_UNSPECIFIED: "", analyzer_pb2.POLICY_SEVERITY_LOW: "low",
    analyzer_pb2.POLICY_SEVERITY_MEDIUM: "medium", analyzer_pb2.POLICY_SEVERITY_HIGH: "high",
    analyzer_pb2.POLICY_SEVERITY_CRITICAL: "critical",
}
_POLICY_TYPES = {analyzer_pb2.POLICY_TYPE_RESOURCE: "resource", analyzer_pb2.POLICY_TYPE_STACK: "stack"}
_MAX_MESSAGE = 400 * 1024 * 1024  # what pulumi-policy's server accepts
_CHANNEL_OPTIONS = [("grpc.max_receive_message_length", _MAX_MESSAGE),
                    ("grpc.max_send_message_length", _MAX_MESSAGE)]
CALL_TIMEOUT = 300.0  # seconds for one call (AnalyzeStack over thousands of resources included)


class PackError(RuntimeError):
    """The pack failed to start, or a call to it failed; carries the pack's stderr when known."""


class ConfigError(ValueError):
    """Policy config overrides that the engine (or this stricter driver) would reject."""


# ---- values the engine sends ---------------------------------------------------------------------

@dataclass(frozen=True)
class Secret:
    """An input the program marked secret."""
    value: Any


@dataclass(frozen=True)
class Unknown:
    """An input not known during preview (an output of a resource not created yet)."""
    type: str = "string"

    def __post_init__(self):
        if self.type not in UNKNOWN_SENTINELS:
            raise ValueError(f"unknown type {self.type!r}: one of {sorted(UNKNOWN_SENTINELS)}")


def encode(value: Any) -> Any:
    """A Python value as the engine marshals it (KeepUnknowns, KeepSecrets)."""
    if isinstance(value, Secret):
        return {SIG_KEY: SECRET_SIG, "value": encode(value.value)}
    if isinstance(value, Unknown):
        return UNKNOWN_SENTINELS[value.type]
    if isinstance(value, Mapping):
        return {str(k): encode(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [encode(v) for v in value]
    return value


def _struct(props: Mapping[str, Any]) -> struct_pb2.Struct:
    s = struct_pb2.Struct()
    s.update(encode(props))
    return s


# ---- resources and results -------------------------------------------------------------------------

@dataclass
class Resource:
    """A resource as the engine knows it when it asks the analyzer."""
    type: str
    name: str
    properties: Mapping[str, Any]
    urn: str = ""            # derived from project/stack/type/name when empty
    parent: str = ""         # parent URN
    dependencies: Sequence[str] = ()
    property_dependencies: Mapping[str, Sequence[str]] = field(default_factory=dict)


def make_urn(project: str, stack: str, type_: str, name: str, parent_type: str = "") -> str:
    qualified = f"{parent_type}${type_}" if parent_type else type_
    return f"urn:pulumi:{stack}::{project}::{qualified}::{name}"


@dataclass(frozen=True)
class Diagnostic:
    policy_name: str
    message: str
    urn: str
    enforcement_level: str   # advisory | mandatory | remediate | disabled
    severity: str            # "" | low | medium | high | critical
    description: str = ""
    policy_pack: str = ""


@dataclass(frozen=True)
class PolicyInfo:
    name: str
    description: str
    enforcement_level: str
    policy_type: str          # resource | stack
    config_schema: Mapping[str, Any]
    required: tuple
    remediation_steps: str
    severity: str
    tags: tuple


@dataclass(frozen=True)
class AnalyzerInfo:
    name: str
    version: str
    supports_config: bool
    policies: tuple
    initial_config: Mapping[str, Mapping[str, Any]]

    def policy(self, name: str) -> PolicyInfo:
        for p in self.policies:
            if p.name == name:
                return p
        raise KeyError(f"policy pack {self.name!r} has no policy {name!r}")


def _diagnostic(d, default_urn: str = "") -> Diagnostic:
    return Diagnostic(policy_name=d.policyName, message=d.message, urn=d.urn or default_urn,
                      enforcement_level=_PROTO_TO_LEVEL.get(d.enforcementLevel, str(d.enforcementLevel)),
                      severity=_SEVERITIES.get(d.severity, ""), description=d.description,
                      policy_pack=d.policyPackName)


# ---- config reconciliation (as the engine does it) -------------------------------------------------

def reconcile_config(info: AnalyzerInfo, overrides: Mapping[str, Any] | None = None) -> dict:
    """{policy: {"enforcementLevel": level, **properties}} for every policy of the pack.

    Order as in the engine: schema defaults and each policy's own level, then the pack's
    initialConfig, then `overrides` (the `--policy-pack-config` JSON shape: a level string or an
    object with `enforcementLevel` and properties; key `all` sets every level). Stricter than the
    engine: unknown policy names and properties are errors, not ignored.
    """
    result = {}
    for p in info.policies:
        props = {k: v["default"] for k, v in p.config_schema.items()
                 if isinstance(v, Mapping) and "default" in v}
        result[p.name] = {"enforcementLevel": p.enforcement_level, **props}
    for source, config in (("initialConfig", info.initial_config), ("overrides", overrides or {})):
        _apply(result, config, source)
    for p in info.policies:
        _validate(p, result[p.name])
    return result


def _apply(result: dict, config: Mapping[str, Any], source: str) -> None:
    def split(key, value) -> tuple[str | None, dict]:
        if isinstance(value, str):
            value = {"enforcementLevel": value}
        if not isinstance(value, Mapping):
            raise ConfigError(f"{source}[{key!r}]: must be an enforcement level or an object, got {value!r}")
        props = dict(value)
        level = props.pop("enforcementLevel", None)
        if level is not None and level not in ENFORCEMENT_LEVELS:
            raise ConfigError(f"{source}[{key!r}]: enforcementLevel {level!r} is not one of "
                              f"{', '.join(ENFORCEMENT_LEVELS)}")
        return level, props

    if "all" in config:
        level, props = split("all", config["all"])
        if props:
            raise ConfigError(f"{source}['all']: only an enforcement level applies to all policies")
        for entry in result.values():
            if level:
                entry["enforcementLevel"] = level
    for key, value in config.items():
        if key == "all":
            continue
        if key not in result:
            raise ConfigError(f"{source}: no policy named {key!r} in the pack "
                              f"(policies: {', '.join(sorted(result))})")
        level, props = split(key, value)
        if level:
            result[key]["enforcementLevel"] = level
        result[key].update(props)


def _validate(policy: PolicyInfo, config: Mapping[str, Any]) -> None:
    props = {k: v for k, v in config.items() if k != "enforcementLevel"}
    problems = check_properties(policy.name, policy.config_schema, props, policy.required)
    if problems:
        raise ConfigError("; ".join(problems))


# ---- the analyzer client ---------------------------------------------------------------------------

class AnalyzerClient:
    """Engine-side client of one running pack. Thread-safe: one channel, concurrent calls allowed."""

    def __init__(self, address: str, *, project: str = "project", stack: str = "dev",
                 stderr: "callable | None" = None, workers: int = DEFAULT_WORKERS, version: str = "",
                 call_timeout: float = CALL_TIMEOUT):
        self.address, self.project, self.stack = address, project, stack
        self.call_timeout = call_timeout
        self._stderr = stderr or (lambda: "")
        self._channel = grpc.insecure_channel(address, options=_CHANNEL_OPTIONS)
        self._stub = analyzer_pb2_grpc.AnalyzerStub(self._channel)
        self._workers = workers
        self._version = version  # PulumiPolicy.yaml's version wins over the SDK's, as in the engine
        self._info: AnalyzerInfo | None = None

    # -- helpers
    def _call(self, method: str, request):
        try:
            return getattr(self._stub, method)(request, timeout=self.call_timeout)
        except grpc.RpcError as e:
            if e.code() == grpc.StatusCode.DEADLINE_EXCEEDED:
                raise PackError(f"{method} did not answer within {self.call_timeout:g}s (--timeout-pack)\n"
                                f"--- pack stderr ---\n{self._stderr()}") from e
            raise PackError(f"{method} failed: {e.code().name}: {e.details()}\n"
                            f"--- pack stderr ---\n{self._stderr()}") from e

    def wait_ready(self, timeout: float = 30) -> None:
        try:
            grpc.channel_ready_future(self._channel).result(timeout=timeout)
        except grpc.FutureTimeoutError as e:
            raise PackError(f"pack at {self.address} not reachable within {timeout}s\n{self._stderr()}") from e

    # -- engine sequence
    def handshake(self, pack_dir: str, engine_address: str) -> None:
        """The engine's first call; pulumi-policy does not implement it, which the engine tolerates."""
        request = analyzer_pb2.AnalyzerHandshakeRequest(
            engine_address=engine_address, root_directory=pack_dir, program_directory=pack_dir)
        try:
            self._stub.Handshake(request, timeout=self.call_timeout)
        except grpc.RpcError as e:
            if e.code() != grpc.StatusCode.UNIMPLEMENTED:
                raise PackError(f"Handshake failed: {e.code().name}: {e.details()}\n{self._stderr()}") from e

    def configure_stack(self, *, dry_run: bool, config: Mapping[str, str] | None = None,
                        tags: Mapping[str, str] | None = None, organization: str = "organization") -> None:
        self._call("ConfigureStack", analyzer_pb2.AnalyzerStackConfigureRequest(
            stack=self.stack, project=self.project, organization=organization, dry_run=dry_run,
            config={k: v if isinstance(v, str) else json.dumps(v) for k, v in (config or {}).items()},
            tags=dict(tags or {})))

    def get_analyzer_info(self) -> AnalyzerInfo:
        if self._info is None:
            r = self._call("GetAnalyzerInfo", empty_pb2.Empty())
            policies = tuple(PolicyInfo(
                name=p.name, description=p.description,
                enforcement_level=_PROTO_TO_LEVEL[p.enforcementLevel],
                policy_type=_POLICY_TYPES.get(p.policy_type, "unspecified"),
                config_schema=json_format.MessageToDict(p.configSchema.properties),
                required=tuple(p.configSchema.required), remediation_steps=p.remediation_steps,
                severity=_SEVERITIES.get(p.severity, ""), tags=tuple(p.tags)) for p in r.policies)
            initial = {}
            for name, c in r.initialConfig.items():
                initial[name] = {"enforcementLevel": _PROTO_TO_LEVEL[c.enforcementLevel],
                                 **json_format.MessageToDict(c.properties)}
            self._info = AnalyzerInfo(name=r.name, version=self._version or r.version, supports_config=r.supportsConfig,
                                      policies=policies, initial_config=initial)
        return self._info

    def configure(self, overrides: Mapping[str, Any] | None = None) -> dict:
        """Reconcile (see `reconcile_config`) and send `Configure`; returns the config sent."""
        config = reconcile_config(self.get_analyzer_info(), overrides)
        request = analyzer_pb2.ConfigureAnalyzerRequest()
        for name, entry in config.items():
            props = {k: v for k, v in entry.items() if k != "enforcementLevel"}
            pc = request.policyConfig[name]
            pc.enforcementLevel = _LEVEL_TO_PROTO[entry["enforcementLevel"]]
            pc.properties.update(props)
        self._call("Configure", request)
        return config

    def urn_of(self, resource: Resource) -> str:
        return resource.urn or make_urn(self.project, self.stack, resource.type, resource.name)

    def _request(self, resource: Resource, properties: struct_pb2.Struct) -> analyzer_pb2.AnalyzeRequest:
        return analyzer_pb2.AnalyzeRequest(
            type=resource.type, name=resource.name, urn=self.urn_of(resource), properties=properties,
            options=analyzer_pb2.AnalyzerResourceOptions(parent=resource.parent))

    def analyze(self, resource: Resource) -> list[Diagnostic]:
        """`Remediate` then `Analyze`, as the engine does for every resource it is about to step."""
        properties = _struct(resource.properties)
        remediated = self._call("Remediate", self._request(resource, properties))
        diagnostics = []
        for r in remediated.remediations:
            if r.diagnostic:  # a remediation that could not run (e.g. unknowns during preview)
                diagnostics.append(Diagnostic(r.policyName, r.diagnostic, self.urn_of(resource),
                                              "advisory", "", r.description, r.policyPackName))
            if r.HasField("properties") and r.properties.fields:
                properties = r.properties  # later analyzers see the remediated inputs
        response = self._call("Analyze", self._request(resource, properties))
        # The engine files every diagnostic of a resource analysis under that resource's URN.
        return diagnostics + [_diagnostic(d, default_urn=self.urn_of(resource))
                              for d in response.diagnostics]

    def analyze_many(self, resources: Iterable[Resource]) -> list[list[Diagnostic]]:
        """`analyze` for many resources concurrently over one channel (results in input order)."""
        with futures.ThreadPoolExecutor(max_workers=self._workers) as pool:
            return list(pool.map(self.analyze, resources))

    def analyze_stack(self, resources: Iterable[Resource]) -> list[Diagnostic]:
        request = analyzer_pb2.AnalyzeStackRequest()
        for r in resources:
            request.resources.append(analyzer_pb2.AnalyzerResource(
                type=r.type, name=r.name, urn=self.urn_of(r), properties=_struct(r.properties),
                options=analyzer_pb2.AnalyzerResourceOptions(parent=r.parent),
                parent=r.parent, dependencies=list(r.dependencies),
                propertyDependencies={k: analyzer_pb2.AnalyzerPropertyDependencies(urns=list(v))
                                      for k, v in r.property_dependencies.items() if v}))
        return [_diagnostic(d) for d in self._call("AnalyzeStack", request).diagnostics]

    def close(self) -> None:
        self._channel.close()


# ---- the engine's own service (the <engine-address> argument) --------------------------------------

@dataclass(frozen=True)
class LogRecord:
    severity: str
    message: str
    urn: str


class _Engine(engine_pb2_grpc.EngineServicer):
    _SEVERITY = {engine_pb2.DEBUG: "debug", engine_pb2.INFO: "info",
                 engine_pb2.WARNING: "warning", engine_pb2.ERROR: "error"}

    def __init__(self):
        self.logs: list[LogRecord] = []
        self.root_urn = ""

    def Log(self, request, context):
        self.logs.append(LogRecord(self._SEVERITY.get(request.severity, str(request.severity)),
                                   request.message, request.urn))
        return empty_pb2.Empty()

    def GetRootResource(self, request, context):
        return engine_pb2.GetRootResourceResponse(urn=self.root_urn)

    def SetRootResource(self, request, context):
        self.root_urn = request.urn
        return engine_pb2.SetRootResourceResponse()

    def StartDebugging(self, request, context):
        return empty_pb2.Empty()  # no debugger here: acknowledged and ignored

    def RequirePulumiVersion(self, request, context):
        return engine_pb2.RequirePulumiVersionResponse()


# ---- launching a pack ------------------------------------------------------------------------------

class PackProcess:
    """A running pack plus the engine service it was given. Use as a context manager."""

    def __init__(self, process: subprocess.Popen, engine: _Engine, engine_server: grpc.Server,
                 engine_address: str, port: int, client: AnalyzerClient, stderr_lines: list[str]):
        self.process, self.engine, self._engine_server = process, engine, engine_server
        self.engine_address, self.port, self.client = engine_address, port, client
        self._stderr_lines = stderr_lines

    @property
    def stderr(self) -> str:
        return "".join(self._stderr_lines)

    @property
    def logs(self) -> list[LogRecord]:
        return list(self.engine.logs)

    def close(self) -> None:
        self.client.close()
        processes.stop(self.process, grace=10)  # and anything the pack started
        self._engine_server.stop(0)

    def __enter__(self) -> "PackProcess":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _pack_version(pack_dir: Path) -> str:
    meta = yaml.safe_load(safe_files.read_text(pack_dir / "PulumiPolicy.yaml")) or {}
    return str(meta.get("version", "")) if isinstance(meta, dict) else ""


def _drain(stream, sink: list[str], first_line: "queue.Queue | None" = None) -> None:
    for i, line in enumerate(iter(stream.readline, "")):
        if i == 0 and first_line is not None:
            first_line.put(line)
        else:
            sink.append(line)
    if first_line is not None:
        first_line.put(None)  # EOF before (or after) the port line
    stream.close()


def _start_engine_service() -> tuple[_Engine, grpc.Server, str]:
    """The engine's own gRPC service on loopback (the pack's <engine-address>)."""
    engine = _Engine()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2), options=_CHANNEL_OPTIONS)
    engine_pb2_grpc.add_EngineServicer_to_server(engine, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    return engine, server, f"127.0.0.1:{port}"


def _pack_environment(*, project: str, stack: str, organization: str, dry_run: bool,
                      config: Mapping[str, Any] | None, env: Mapping[str, str] | None,
                      drop_env: Iterable[str]) -> dict:
    """What the CLI sets for a policy pack; none of the caller's own Pulumi variables."""
    dropped = set(drop_env)
    child_env = {k: v for k, v in os.environ.items() if not k.startswith("PULUMI_") and k not in dropped}
    child_env.update(env or {})
    child_env.update(gate_environment())  # the pack ends with us, even if we are killed outright
    child_env.update({
        "PULUMI_PROJECT": project, "PULUMI_STACK": stack, "PULUMI_ORGANIZATION": organization,
        "PULUMI_DRY_RUN": "true" if dry_run else "false",
    })
    if config:  # the engine only sets it when there is config
        child_env["PULUMI_CONFIG"] = json.dumps(dict(config))
    return child_env


def _read_port(process: subprocess.Popen, timeout: float, fail) -> tuple[int, list[str]]:
    """The port the pack prints first (and the list its stderr drains into); `fail(reason)` raises."""
    stdout_lines: list[str] = []
    stderr_lines: list[str] = []
    port_line: queue.Queue = queue.Queue()
    threading.Thread(target=_drain, args=(process.stdout, stdout_lines, port_line), daemon=True).start()
    threading.Thread(target=_drain, args=(process.stderr, stderr_lines), daemon=True).start()
    try:
        line = port_line.get(timeout=timeout)
    except queue.Empty:
        fail(f"printed no port within {timeout}s", stderr_lines)
    if line is None:
        try:
            process.wait(timeout=5)  # let stderr drain
        except subprocess.TimeoutExpired:
            pass
        fail(f"exited (code {process.poll()}) before printing its port", stderr_lines)
    try:
        return int(line.strip()), stderr_lines
    except ValueError:
        fail(f"printed {line.strip()!r} instead of its port", stderr_lines)


def launch_pack(pack_dir: str | os.PathLike, *, project: str = "project", stack: str = "dev",
                dry_run: bool = True, config: Mapping[str, Any] | None = None,
                python: str = sys.executable, timeout: float = 60,
                organization: str = "organization", env: Mapping[str, str] | None = None,
                drop_env: Iterable[str] = (), workers: int = DEFAULT_WORKERS,
                call_timeout: float = CALL_TIMEOUT) -> PackProcess:
    """Start the pack as the CLI does and connect an `AnalyzerClient` to it.

    Sends Handshake and ConfigureStack like the engine; `GetAnalyzerInfo`/`Configure` are left to
    the caller (`pack.client.configure(...)`), who decides on overrides. `env` is added to the
    pack's environment; `drop_env` names variables of ours it must not inherit. `timeout`: for the
    pack to start; `call_timeout`: for each call.
    """
    pack_dir = Path(pack_dir).resolve()
    if not (pack_dir / "PulumiPolicy.yaml").is_file():
        raise PackError(f"{pack_dir} is not a policy pack (no PulumiPolicy.yaml)")
    try:  # before anything starts: nothing to clean up if the pack's metadata is broken
        version = _pack_version(pack_dir)
    except (OSError, yaml.YAMLError) as e:
        raise PackError(f"{pack_dir / 'PulumiPolicy.yaml'} is unreadable: {e}") from e

    engine, server, engine_address = _start_engine_service()
    child_env = _pack_environment(project=project, stack=stack, organization=organization, dry_run=dry_run,
                                  config=config, env=env, drop_env=drop_env)
    try:
        process = processes.popen(
            [python, "-u", "-m", "pulumi.policy", engine_address, "."], cwd=pack_dir, env=child_env,
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    except OSError as e:
        server.stop(0)
        raise PackError(f"cannot run {python}: {e}") from e

    def fail(reason: str, stderr_lines: list[str]):
        processes.stop(process)
        server.stop(0)
        raise PackError(f"policy pack {pack_dir} {reason}\n--- pack stderr ---\n{''.join(stderr_lines)}")

    port, stderr_lines = _read_port(process, timeout, fail)
    client = AnalyzerClient(f"127.0.0.1:{port}", project=project, stack=stack,
                            stderr=lambda: "".join(stderr_lines), workers=workers, version=version,
                            call_timeout=call_timeout)
    pack = PackProcess(process, engine, server, engine_address, port, client, stderr_lines)
    try:
        client.wait_ready(timeout)
        client.handshake(str(pack_dir), engine_address)
        client.configure_stack(dry_run=dry_run, config=config, organization=organization)
    except BaseException:
        pack.close()
        raise
    return pack
