"""Drive the component provider the way the Pulumi engine does, without the Pulumi CLI.

Launch: like pulumi-language-python's RunPlugin for a plugin folder with PulumiPlugin.yaml and
`__main__.py`, `<python> <plugin folder> <engine address>` with the folder as working directory;
the provider prints its port on stdout. The engine address points at the gate's minimal Engine
service on loopback (it records `Log` calls).

Protocol, in the engine's order (sdk/go/common/resource/plugin/provider_plugin.go): `Handshake`
(UNIMPLEMENTED by the Python SDK's provider: the engine falls back), `GetPluginInfo`, `GetSchema`
when it needs the schema, `CheckConfig` (UNIMPLEMENTED: the engine takes the config as given),
`Configure`, then `Construct` for every remote component, with `monitorEndpoint` pointing at a
ResourceMonitor: here `RecordingMonitor`, a real gRPC server of pulumi's ResourceMonitor service
that records what the provider registers and answers like the engine does under Pulumi's mocks
(outputs = inputs, id namespace/name). Inputs are marshalled as the engine does for a provider
that accepts secrets, resources and outputs (KeepUnknowns, KeepSecrets, KeepOutputValues).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from concurrent import futures
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import grpc
from google.protobuf import empty_pb2, json_format, struct_pb2
from pulumi.runtime.proto import provider_pb2, provider_pb2_grpc, resource_pb2, resource_pb2_grpc

from stateless_pack.gate import processes
from stateless_pack.gate.pack.engine import _read_port, _start_engine_service, encode
from stateless_pack.gate.program.pulumi_wire import SIG_KEY
from stateless_pack.gate.program.values import Secret, decode, secret_marker

OUTPUT_VALUE_SIG = "d0e6a833031e9bbcd3f4e8bde6ca49a4"  # pulumi's rpc._special_output_value_sig
STACK_TYPE = "pulumi:pulumi:Stack"
CALL_TIMEOUT = 120
# What the current engine's monitor supports (pulumi's resource_pb2.SupportsFeature ids, GetDeploymentInfo's enum).
FEATURES = {"secrets": resource_pb2.RESOURCE_MONITOR_FEATURE_SECRETS,
            "resourceReferences": resource_pb2.RESOURCE_MONITOR_FEATURE_RESOURCE_REFERENCES,
            "outputValues": resource_pb2.RESOURCE_MONITOR_FEATURE_OUTPUT_VALUES,
            "deletedWith": resource_pb2.RESOURCE_MONITOR_FEATURE_DELETED_WITH,
            "aliasSpecs": resource_pb2.RESOURCE_MONITOR_FEATURE_ALIAS_SPECS}


UNKNOWN = object()  # an OutputValue's value during a preview, before its resource exists


@dataclass(frozen=True)
class OutputValue:
    """An input that came from another resource, as the engine forwards it: its value and who made it."""
    value: Any
    dependencies: tuple = ()
    secret: bool = False


def wire(value: Any) -> Any:
    """A test value as the engine marshals Construct inputs (secrets, output values kept)."""
    if isinstance(value, OutputValue):
        out = {SIG_KEY: OUTPUT_VALUE_SIG, "dependencies": list(value.dependencies)}
        if value.value is not UNKNOWN:  # an unknown output value has no "value" at all
            out["value"] = wire(value.value)
        return {**out, "secret": True} if value.secret else out
    if isinstance(value, Secret):
        return secret_marker(wire(value.value))
    if isinstance(value, dict):
        return {k: wire(v) for k, v in value.items()}
    if isinstance(value, list):
        return [wire(v) for v in value]
    return encode(value)  # the gate's Unknown as the engine's sentinel


def unwire(value: Any) -> Any:
    """Wire JSON -> values with `Secret` wrappers (output values reduced to their value); 2.0 -> 2."""
    if isinstance(value, Secret):
        return Secret(unwire(value.value))
    if isinstance(value, dict) and value.get(SIG_KEY) == OUTPUT_VALUE_SIG:
        inner = unwire(value.get("value"))
        return Secret(inner) if value.get("secret") else inner
    if isinstance(value, dict):
        decoded = decode(value) if SIG_KEY in value else {k: unwire(v) for k, v in value.items()}
        return Secret(unwire(decoded.value)) if isinstance(decoded, Secret) else decoded
    if isinstance(value, list):
        return [unwire(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def struct(props: Mapping[str, Any]) -> struct_pb2.Struct:
    s = struct_pb2.Struct()
    s.update(wire(dict(props)))
    return s


def plain_struct(s: struct_pb2.Struct) -> dict:
    return unwire(json_format.MessageToDict(s))


# ---- the test's own resource monitor ------------------------------------------------------------------

@dataclass
class Registration:
    type: str
    name: str
    urn: str
    parent: str
    custom: bool
    remote: bool
    inputs: dict                      # Secret-wrapped, like gate.program.runner.RegisteredResource.inputs
    dependencies: tuple = ()
    property_dependencies: dict = field(default_factory=dict)
    outputs: dict | None = None       # from RegisterResourceOutputs


class RecordingMonitor(resource_pb2_grpc.ResourceMonitorServicer):
    """pulumi's ResourceMonitor service, recording RegisterResource, RegisterResourceOutputs and the
    feature questions. `legacy`: an engine without GetDeploymentInfo (the SDK then asks SupportsFeature).
    `preview`: resources are being created in a preview, so they have no id yet (the engine answers "")."""

    def __init__(self, project: str, stack: str, legacy: bool = False, preview: bool = False):
        self.project, self.stack, self.legacy, self.preview = project, stack, legacy, preview
        self.address = ""  # set by serve_monitor
        self.registrations: list[Registration] = []
        self.features_asked: list[str] = []
        self._lock = threading.Lock()

    def urn(self, type_: str, name: str, parent: str = "") -> str:
        qualified = type_
        parent_type = parent.split("::")[2] if parent else ""
        if parent_type and parent_type != STACK_TYPE:  # the engine does not qualify by the stack's type
            qualified = f"{parent_type}${type_}"
        return f"urn:pulumi:{self.stack}::{self.project}::{qualified}::{name}"

    def GetDeploymentInfo(self, request, context):
        if self.legacy:
            context.abort(grpc.StatusCode.UNIMPLEMENTED, "GetDeploymentInfo is not implemented")
        with self._lock:
            self.features_asked.append("GetDeploymentInfo")
        return resource_pb2.DeploymentInfo(supportedFeatures=sorted(FEATURES.values()))

    def SupportsFeature(self, request, context):
        with self._lock:
            self.features_asked.append(request.id)
        return resource_pb2.SupportsFeatureResponse(hasSupport=request.id in FEATURES)

    def RegisterResource(self, request, context):
        urn = self.urn(request.type, request.name, request.parent)
        inputs = plain_struct(request.object)
        with self._lock:
            self.registrations.append(Registration(
                type=request.type, name=request.name, urn=urn, parent=request.parent, custom=request.custom,
                remote=request.remote, inputs=inputs, dependencies=tuple(request.dependencies),
                property_dependencies={k: tuple(v.urns) for k, v in request.propertyDependencies.items()}))
        if not request.custom:
            return resource_pb2.RegisterResourceResponse(urn=urn)
        meta = inputs.get("metadata") if isinstance(inputs.get("metadata"), dict) else {}
        ident = "/".join(str(p) for p in (meta.get("namespace"), meta.get("name")) if p) or request.name
        return resource_pb2.RegisterResourceResponse(  # outputs = inputs
            urn=urn, id="" if self.preview else ident, object=request.object)

    def RegisterResourceOutputs(self, request, context):
        with self._lock:
            for r in self.registrations:
                if r.urn == request.urn:
                    r.outputs = plain_struct(request.outputs)
        return empty_pb2.Empty()

    def children_of(self, urn: str) -> list[Registration]:
        return [r for r in self.registrations if r.parent == urn]

    def one(self, type_: str, name: str) -> Registration:
        [found] = [r for r in self.registrations if r.type == type_ and r.name == name]
        return found


def serve_monitor(monitor: RecordingMonitor) -> grpc.Server:
    """Serve `monitor` on loopback; its `address` is the `monitorEndpoint` to send."""
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
    resource_pb2_grpc.add_ResourceMonitorServicer_to_server(monitor, server)
    monitor.address = f"127.0.0.1:{server.add_insecure_port('127.0.0.1:0')}"
    server.start()
    return server


# ---- the provider process ----------------------------------------------------------------------------

class ProviderError(RuntimeError):
    pass


@dataclass
class Constructed:
    urn: str
    state: dict                 # Secret-wrapped values, schema names
    state_dependencies: dict


class ProviderProcess:
    """A running provider plugin and a client that speaks to it as the engine does."""

    def __init__(self, process: subprocess.Popen, port: int, stderr_lines: list, engine_server, engine):
        self.process, self.port, self._stderr_lines = process, port, stderr_lines
        self._engine_server, self.engine = engine_server, engine
        self.channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        self.stub = provider_pb2_grpc.ResourceProviderStub(self.channel)

    @property
    def stderr(self) -> str:
        return "".join(self._stderr_lines)

    def handshake(self, plugin_dir: Path, engine_address: str) -> provider_pb2.ProviderHandshakeResponse | None:
        """None when the provider does not implement it (the engine then carries on without)."""
        try:
            return self.stub.Handshake(provider_pb2.ProviderHandshakeRequest(
                engine_address=engine_address, root_directory=str(plugin_dir), program_directory=str(plugin_dir),
                configure_with_urn=True, supports_views=True), timeout=CALL_TIMEOUT)
        except grpc.RpcError as e:
            if e.code() != grpc.StatusCode.UNIMPLEMENTED:
                raise
            return None

    def plugin_info(self) -> str:
        return self.stub.GetPluginInfo(empty_pb2.Empty(), timeout=CALL_TIMEOUT).version

    def schema(self) -> dict:
        return json.loads(self.stub.GetSchema(provider_pb2.GetSchemaRequest(version=0), timeout=CALL_TIMEOUT).schema)

    def check_config(self, urn: str) -> None:
        try:
            self.stub.CheckConfig(provider_pb2.CheckRequest(urn=urn, olds=struct({}), news=struct({})),
                                  timeout=CALL_TIMEOUT)
        except grpc.RpcError as e:
            if e.code() != grpc.StatusCode.UNIMPLEMENTED:
                raise

    def configure(self) -> provider_pb2.ConfigureResponse:
        return self.stub.Configure(provider_pb2.ConfigureRequest(
            acceptSecrets=True, acceptResources=True, sends_old_inputs=True, sends_old_inputs_to_delete=True),
            timeout=CALL_TIMEOUT)

    def construct(self, monitor: RecordingMonitor, type_: str, name: str, inputs: Mapping[str, Any], *,
                  dry_run: bool = False, dependencies: tuple = ()) -> Constructed:
        """Construct as the engine sends it for `new <type>(name, inputs, {dependsOn})` at the stack's top
        level; inputDependencies from the inputs' OutputValues. Raises grpc.RpcError as the engine sees it."""
        deps = {k: provider_pb2.ConstructRequest.PropertyDependencies(urns=list(v.dependencies))
                for k, v in inputs.items() if isinstance(v, OutputValue)}
        response = self.stub.Construct(provider_pb2.ConstructRequest(
            project=monitor.project, stack=monitor.stack, organization="organization", dryRun=dry_run, parallel=16,
            monitorEndpoint=monitor.address, type=type_, name=name, inputs=struct(inputs), inputDependencies=deps,
            dependencies=list(dependencies),
            parent=monitor.urn(STACK_TYPE, f"{monitor.project}-{monitor.stack}"), accepts_output_values=True),
            timeout=CALL_TIMEOUT)
        return Constructed(urn=response.urn, state=plain_struct(response.state),
                           state_dependencies={k: tuple(v.urns) for k, v in response.stateDependencies.items()})

    def close(self) -> None:
        self.channel.close()
        processes.stop(self.process)
        self._engine_server.stop(0)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def launch_provider(plugin_dir: Path, python: str = sys.executable, timeout: float = 60,
                    env: Mapping[str, str] | None = None) -> ProviderProcess:
    """Start the plugin as pulumi-language-python's RunPlugin does and connect to the port it prints.
    `env`: the plugin's environment (default: ours), without any PULUMI_ variable."""
    engine, engine_server, engine_address = _start_engine_service()
    child_env = {k: v for k, v in (os.environ if env is None else env).items() if not k.startswith("PULUMI_")}
    process = processes.popen([python, str(plugin_dir), engine_address], cwd=plugin_dir, env=child_env,
                              stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def fail(reason: str, stderr_lines: list):
        processes.stop(process)
        engine_server.stop(0)
        raise ProviderError(f"provider {plugin_dir} {reason}\n--- provider stderr ---\n{''.join(stderr_lines)}")

    port, stderr_lines = _read_port(process, timeout, fail)
    provider = ProviderProcess(process, port, stderr_lines, engine_server, engine)
    provider.engine_address = engine_address
    try:
        grpc.channel_ready_future(provider.channel).result(timeout=timeout)
    except grpc.FutureTimeoutError:
        provider.close()
        raise ProviderError(f"provider {plugin_dir} does not answer on port {port}:\n{provider.stderr}")
    return provider
