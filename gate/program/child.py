"""The host of a user's Pulumi program under the gate's mocks (forked by `gate/program/supervisor.py`).

It reads the run's spec (project, stack, program, config) as JSON from stdin and writes JSON lines to
the pipe RESULT_FD, each as it happens: every resource as the program registers it (`{"resource":
...}`: the gate checks it while the program still runs), every value the program marks secret the
moment the SDK makes it (`{"secrets": [...]}`, `gate/program/secret_watch.py`: the gate redacts it
from everything before any of the program's output is shown), the program's log messages
(`{"log": ...}`: pulumi.log info/warn/error; debug is dropped, as the CLI hides it), then the answer:
`{"done": <number of resources>}` or `{"error": text, "kind": "program" | "gate", "exception": name}`.
A program's error shows what the Pulumi CLI shows (the message, and the traceback of the program's own
frames: none of the SDK, asyncio, runpy or this host); the gate's own refusals are one line. Messages
are bounded (`gate/program/diagnostics.py`). Nothing goes through the disk: the config and the
resources carry secret values in plaintext. Pulumi keeps its runtime state in process globals, and a
program may crash, exit or print: that is why this is a process of its own.

The mocks answer as the engine and the Kubernetes provider would where that can be done offline:
outputs are the inputs (plus the provider's auto-name; `additional_secret_outputs` marked secret),
`yaml/v2` ConfigGroup/ConfigFile register their children (`gate/render/yaml_components.py`), the v1
YAML components' `kubernetes:yaml:decode` is answered. Helm charts and kustomizations are rendered by
the real helm and kubectl (`gate/render/helm_components.py`): the `helm.sh/v4` Chart's and
`kustomize/v2` Directory's children are registered as the provider's Construct would, a `helm.sh/v3`
Release's objects are recorded as checked by the gate only, and the v3 Chart's and v1 Directory's
invokes are answered so that the SDK registers their children itself. A remote component is recorded
as one (`remote`): the gate cannot run another provider's Construct, and refuses to pass it unchecked
(`gate/render/coverage.py`). Each resource carries its source position: the line of the project's own
code that created it (from the stack trace the SDK sends), else the SDK's `sourcePosition`.
"""
from __future__ import annotations

import asyncio
import hashlib
import json
import os
import runpy
import sys
import threading
import traceback
from pathlib import Path
from typing import Any, Callable
from urllib.parse import unquote, urlparse

import pulumi
import pulumi.config as pulumi_config_api
from google.protobuf import empty_pb2, json_format, struct_pb2
from pulumi.runtime import config as pulumi_config
from pulumi.runtime import mocks, rpc, settings
from pulumi.runtime import stack as pulumi_stack
from pulumi.runtime.proto import engine_pb2
from pulumi.runtime.sync_await import _sync_await

from stateless_pack.gate.program import diagnostics, output_wait, secret_watch
from stateless_pack.gate.program.pulumi_wire import (
    ARCHIVE_SIG,
    ASSET_SIG,
    RESOURCE_SIG,
    SECRET_SIG,
    SIG_KEY,
    STACK_TYPE,
    UNKNOWN_VALUE,
)
from stateless_pack.gate.program.values import is_secret_marker, secret_marker, secret_values
from stateless_pack.gate.render import helm_components, yaml_components
from stateless_pack.policies.gc_tuning import collect_rarely

PROVIDER_TYPE = "pulumi:providers:kubernetes"
_SECRET_DATA_TYPES = ("kubernetes:core/v1:Secret", "kubernetes:core/v1:SecretPatch")


# ---- values -----------------------------------------------------------------------------------------

def encode(value: Any) -> Any:
    """Mock-monitor values -> JSON: secrets keep Pulumi's marker, resource refs become URNs."""
    if isinstance(value, dict):
        sig = value.get(SIG_KEY)
        if sig == SECRET_SIG:
            return secret_marker(encode(value.get("value")))
        if sig == RESOURCE_SIG:  # a resource reference: its URN is what a manifest can hold
            return value.get("urn", "")
        if sig in (ASSET_SIG, ARCHIVE_SIG):
            return {"asset": value.get("path") or value.get("uri") or "<asset>"}
        return {str(k): encode(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [encode(v) for v in value]
    if value is rpc.UNKNOWN or value == UNKNOWN_VALUE:
        return UNKNOWN_VALUE
    if isinstance(value, pulumi.Resource):
        return value._name if not hasattr(value, "urn") else _resource_urn(value)
    if isinstance(value, (pulumi.Asset, pulumi.Archive)):
        return {"asset": getattr(value, "path", None) or getattr(value, "uri", None) or "<asset>"}
    if isinstance(value, float) and value.is_integer():
        return int(value)  # protobuf numbers are doubles; manifests say `replicas: 3`
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


def _resource_urn(resource: Any) -> str:
    try:
        return _sync_await(resource.urn.future())
    except Exception:  # an unresolvable reference is still a reference: keep its name
        return str(getattr(resource, "_name", "<resource>"))


def autoname(type_: str, name: str, urn: str, inputs: dict) -> dict:
    """What the Kubernetes provider's Check does for a missing metadata.name: logical name + suffix."""
    if not type_.startswith("kubernetes:") or not isinstance(inputs.get("kind"), str):
        return inputs
    metadata = inputs.get("metadata")
    metadata = dict(metadata) if isinstance(metadata, dict) else {}
    if metadata.get("name") is None and metadata.get("generateName") is None:
        # deterministic (the real provider's suffix is random): same program, same report
        metadata["name"] = f"{name}-{hashlib.sha256(urn.encode()).hexdigest()[:8]}"
        return {**inputs, "metadata": metadata}
    return inputs


def _secret_fields(value: Any) -> Any:
    """A Secret's data/stringData: secret outputs of the provider, always."""
    if not isinstance(value, dict):
        return value
    marked = dict(value)
    for key in ("data", "stringData"):
        if key in marked and not is_secret_marker(marked[key]):
            marked[key] = secret_marker(marked[key])
    return marked


def mark_secret_data(type_: str, inputs: dict) -> dict:
    """Secrets (also as patches and as list items) with their data marked secret."""
    if type_ in _SECRET_DATA_TYPES:
        return _secret_fields(inputs)
    if type_ == "kubernetes:core/v1:SecretList" and isinstance(inputs.get("items"), list):
        return {**inputs, "items": [_secret_fields(item) for item in inputs["items"]]}
    return inputs


# ---- what the child records -------------------------------------------------------------------------

class Channel:
    """The answer pipe: one JSON line per message, from any thread. Knows every secret sent so far."""

    def __init__(self, send: Callable[[dict], None]):
        self._send = send
        self.lock = threading.Lock()
        self.secrets: set[str] = set()
        self.longest_secret = 0
        self.logs_left = diagnostics.MAX_DIAGNOSTICS

    def send(self, message: dict) -> None:
        with self.lock:
            self._send(message)

    def announce(self, value: Any) -> None:
        """Tell the gate about secret values (once each) before the program can show them."""
        with self.lock:
            new = [text for text in secret_watch.scalars(value) if text not in self.secrets]
            if new:
                self.secrets.update(new)
                self.longest_secret = max(self.longest_secret, *(len(repr(t)) for t in new))
                self._send({"secrets": new})

    def excerpt(self, text: str) -> str:
        """`text` bounded; no secret cut in half at the cut (`gate/program/diagnostics.py`)."""
        return diagnostics.excerpt(text, margin=self.longest_secret)

    def log(self, severity: str, message: str, urn: str) -> None:
        with self.lock:
            if self.logs_left <= 0:
                return
            self.logs_left -= 1
        self.send({"log": {"severity": severity, "message": self.excerpt(message), "urn": urn}})


class Recording:
    """Everything the child learns while the program runs."""

    def __init__(self, spec: dict, channel: Channel):
        self.project, self.stack = spec["project"], spec["stack"]
        self.channel = channel  # gets each record as it is made
        self.project_dir = Path(spec.get("project_dir") or Path(spec["main"]).parent)
        self.default_namespace = spec["config"].get("kubernetes:namespace") or "default"
        self.records = 0
        self.errors: list[str] = []      # pulumi.log.error messages: they fail a real run too
        self.problems: list[str] = []    # components the gate could not expand
        self.providers: dict[str, dict] = {}  # kubernetes provider URN -> inputs
        self.registering = threading.local()  # the URN being registered, for new_resource's autoname
        self.lock = threading.Lock()
        self.tools = helm_components.Tools(spec.get("tools"))
        # (release, apiVersion, kind, namespace, name) -> (chart, template) of the v3 Charts rendered
        self.chart_sources: dict[tuple, tuple[str, str]] = {}

    def make_urn(self, parent: str, type_: str, name: str) -> str:
        # As the engine does (the mock keeps only the parent's last type and adds the stack's):
        # the parent's whole qualified type, and nothing for the root stack.
        qualified = type_
        if parent:
            parent_type = parent.split("::")[2]
            if parent_type != STACK_TYPE:
                qualified = f"{parent_type}${type_}"
        return f"urn:pulumi:{self.stack}::{self.project}::{qualified}::{name}"

    def record(self, entry: dict) -> None:
        self.channel.announce([v for v in secret_values(entry["inputs"])])  # before the program sees outputs
        with self.lock:
            self.records += 1
            self.channel.send({"resource": entry})

    def source(self, request) -> list | None:
        """[file, line] of the project's own code that created the resource: the innermost frame of
        the SDK's stack trace inside the project folder, else the SDK's own source position."""
        frames = [frame.pc for frame in request.stackTrace.frames if frame.HasField("pc")]
        own = request.sourcePosition if request.HasField("sourcePosition") else None
        for position in frames + ([own] if own is not None else []):
            path = _file_of(position)
            if path is not None and Path(path).is_relative_to(self.project_dir):
                return [path, position.line]
        fallback = own if own is not None else (frames[0] if frames else None)
        path = _file_of(fallback) if fallback is not None else None
        return [path, fallback.line] if path is not None else None

    def provider_inputs(self, request) -> dict:
        """The inputs of the explicit Kubernetes provider the component uses ({}: the default one)."""
        ref = request.provider or dict(request.providers).get("kubernetes", "")
        return self.providers.get(ref.rsplit("::", 1)[0], {}) if ref else {}

    def namespace_for(self, request) -> str:
        """The default namespace of the provider the component uses (its `namespace` input), else the
        stack's `kubernetes:namespace`, else `default` (a kubeconfig context cannot be read here)."""
        namespace = self.provider_inputs(request).get("namespace")
        return namespace if isinstance(namespace, str) and namespace else self.default_namespace

    def helm_template(self, args: dict) -> list[dict]:
        """The v3 Chart's `kubernetes:helm:template`, rendered; each object's template remembered."""
        if not isinstance(args.get("jsonOpts"), str):
            raise RuntimeError("missing required field 'jsonOpts' of type string")
        opts = json.loads(args["jsonOpts"])
        rendered = helm_components.helm_template(opts, self.tools)
        chart = str(opts.get("path") or opts.get("chart") or "")
        with self.lock:
            release = str(opts.get("release_name") or "")
            for parsed in rendered:
                self.chart_sources[(release, *_identity(parsed.obj))] = (chart, parsed.source)
        return [parsed.obj for parsed in rendered]

    def sdk_child_origin(self, parent: str, inputs: dict) -> dict:
        """Where a child the SDK registers under a v3 Chart or v1 Directory came from ({}: not one)."""
        parent_type = parent.split("::")[2].split("$")[-1] if parent.count("::") >= 3 else ""
        if parent_type not in helm_components.SDK_COMPONENTS:
            return {}
        with self.lock:
            chart, template = self.chart_sources.get((parent.rsplit("::", 1)[-1], *_identity(inputs)), ("", ""))
        return helm_components.origin(parent, chart, template)


def _identity(obj: dict) -> tuple:
    metadata = obj.get("metadata") if isinstance(obj.get("metadata"), dict) else {}
    return (obj.get("apiVersion"), obj.get("kind"), metadata.get("namespace") or "", metadata.get("name"))


def mark_secret_outputs(response, names) -> list:
    """The engine marks the outputs named in `additional_secret_outputs` secret: so do the mocks. Their
    plain values (to announce before the program sees them)."""
    fields, values = response.object.fields, []
    for name in names:
        if name in fields:
            values.append(json_format.MessageToDict(fields[name]))
            marked = struct_pb2.Value()
            json_format.ParseDict(secret_marker(values[-1]), marked)
            fields[name].CopyFrom(marked)
    return values


def _file_of(position) -> str | None:
    uri = urlparse(position.uri)
    return unquote(uri.path) if uri.scheme == "file" and uri.path else None


class Recorder(mocks.Mocks):
    """Outputs = inputs (plus the provider's autoname), so the program sees known values."""

    def __init__(self, recording: Recording):
        self.recording = recording

    def new_resource(self, args: mocks.MockResourceArgs):
        urn = getattr(self.recording.registering, "urn", args.name)
        outputs = autoname(args.typ, args.name, urn, dict(args.inputs))
        meta = outputs.get("metadata") if isinstance(outputs.get("metadata"), dict) else {}
        ident = "/".join(str(p) for p in (meta.get("namespace"), meta.get("name")) if p) or args.name
        return f"{ident}", outputs

    def call(self, args: mocks.MockCallArgs):
        if args.token == "kubernetes:yaml:decode":  # yaml.ConfigFile / ConfigGroup (v1)
            return {"result": yaml_components.decode_documents(args.args.get("text") or "", "yaml")}
        if args.token == helm_components.HELM_TEMPLATE:  # helm.v3.Chart: the SDK registers the objects
            return {"result": self.recording.helm_template(args.args)}
        if args.token == helm_components.KUSTOMIZE_DIRECTORY:  # kustomize.Directory (v1), likewise
            if not isinstance(args.args.get("directory"), str):
                raise RuntimeError("missing required field 'directory' of type string")
            return {"result": helm_components.kustomize_directory(args.args["directory"], self.recording.tools)}
        raise RuntimeError(f"function {args.token} cannot run offline under the gate's mocks")


class Monitor(mocks.MockMonitor):
    """Records what the engine would see: parent, dependencies, custom-ness, inputs."""

    def __init__(self, recorder: Recorder):
        super().__init__(recorder)
        self.recording = recorder.recording

    def make_urn(self, parent: str, type_: str, name: str) -> str:
        return self.recording.make_urn(parent, type_, name)

    def RegisterResource(self, request):
        recording = self.recording
        recording.registering.urn = self.make_urn(request.parent, request.type, request.name)
        response = super().RegisterResource(request)
        # The wire form, not rpc.deserialize_properties: that lifts a nested secret to its
        # top-level property (a secret env value would make the whole `spec` secret).
        inputs = {} if request.type == STACK_TYPE else json_format.MessageToDict(request.object)
        urn = response.urn
        if request.custom and request.type.startswith("kubernetes:"):
            inputs = mark_secret_data(request.type, autoname(request.type, request.name, urn, inputs))
        if request.type == PROVIDER_TYPE:
            recording.providers[urn] = inputs
        recording.record({
            "type": request.type, "name": request.name, "urn": urn,
            "custom": bool(request.custom), "inputs": encode(inputs),
            "parent": request.parent, "dependencies": list(request.dependencies),
            "property_dependencies": {k: list(v.urns) for k, v in request.propertyDependencies.items()
                                      if v.urns},
            "provider": request.provider, "id": response.id, "remote": bool(request.remote),
            "origin": recording.sdk_child_origin(request.parent, inputs),
            "source": None if request.type == STACK_TYPE else recording.source(request)})
        if request.type in yaml_components.COMPONENTS or request.type in helm_components.COMPONENTS:
            self._register_children(request, urn, inputs)
        recording.channel.announce(mark_secret_outputs(response, request.additionalSecretOutputs))
        return response

    def _register_children(self, request, urn: str, inputs: dict) -> None:
        """The children the provider's Construct would register under a yaml/v2 component, a v4
        Chart or a v2 Directory; the objects a v3 Release would install (checked by the gate only)."""
        recording = self.recording
        namespace = recording.namespace_for(request)
        try:
            if request.type in yaml_components.COMPONENTS:
                children = yaml_components.expand(request.type, request.name, inputs, default_namespace=namespace)
            else:
                render_mode = bool(recording.provider_inputs(request).get("renderYamlToDirectory"))
                children = helm_components.expand(request.type, request.name, urn, inputs,
                                                  default_namespace=namespace, run=recording.tools,
                                                  hooks_in_render_mode=render_mode)
        except yaml_components.ExpansionError as err:
            where = "" if request.type in helm_components.COMPONENTS else f"{request.type} {request.name!r}: "
            recording.problems.append(f"{where}{err}")
            return
        source = helm_components.source_of(inputs)
        for child in children:
            meta = child.inputs.get("metadata") if isinstance(child.inputs.get("metadata"), dict) else {}
            recording.record({
                "type": child.type, "name": child.name, "urn": self.make_urn(urn, child.type, child.name),
                "custom": True, "inputs": encode(child.inputs), "parent": urn, "dependencies": [],
                "property_dependencies": {}, "provider": request.provider,
                "id": "/".join(str(p) for p in (meta.get("namespace"), meta.get("name")) if p),
                "origin": helm_components.origin(urn, source, child.source,
                                                 gate_only=request.type == helm_components.RELEASE),
                "source": list(child.document) or None})  # its YAML file's line, else its component's




class Engine:
    """The engine's log endpoint: pulumi.log messages go to the gate (debug is dropped, as the CLI
    hides it; ephemeral ones too: the CLI shows them only while they are current); errors fail the
    run, as they fail a real one."""

    SEVERITIES = {engine_pb2.INFO: diagnostics.INFO, engine_pb2.WARNING: diagnostics.WARNING,
                  engine_pb2.ERROR: diagnostics.ERROR}

    def __init__(self, recording: Recording):
        self.recording = recording
        self.stack_urn = f"urn:pulumi:{recording.stack}::{recording.project}::{STACK_TYPE}::" \
                         f"{recording.project}-{recording.stack}"

    def Log(self, request) -> None:
        severity = self.SEVERITIES.get(request.severity)
        if severity is None or request.ephemeral:
            return
        if severity == diagnostics.ERROR:
            self.recording.errors.append(self.recording.channel.excerpt(request.message))
        self.recording.channel.log(severity, request.message, request.urn or self.stack_urn)


# ---- running ------------------------------------------------------------------------------------------

class GateRefusal(Exception):
    """The gate's own refusal, not the program's error: shown as its one line, without a traceback."""


def _guard_secure_config(secure_keys: dict) -> None:
    """Reading a `secure:` value the gate could not decrypt fails with its line (`gate/program/project.py`)."""
    plain_get_config = pulumi_config.get_config

    def get_config(key: str) -> Any:
        if key in secure_keys:
            raise GateRefusal(secure_keys[key])
        return plain_get_config(key)

    pulumi_config_api.get_config = get_config  # what pulumi.Config.get() calls


def _config_secrets(spec: dict) -> list[str]:
    return [spec["config"][k] for k in spec["secret_keys"] if spec["config"].get(k)]


def _configure(spec: dict, recording: Recording) -> Monitor:
    _guard_secure_config(spec["secure_keys"])
    secret_watch.install(recording.channel.announce)
    output_wait.install()  # the SDK's wait for pending outputs is quadratic in their number
    monitor = Monitor(Recorder(recording))
    # pulumi before 3.23x asks the monitor feature by feature (SupportsFeature) instead
    features = set(monitor.GetDeploymentInfo(empty_pb2.Empty()).supportedFeatures) \
        if hasattr(monitor, "GetDeploymentInfo") else None
    settings.configure(mocks.MockSettings(
        monitor=monitor, engine=Engine(recording), monitor_features=features,
        project=spec["project"], stack=spec["stack"], dry_run=False,
        organization="organization", callbacks=None))
    settings.ROOT.set(None)
    pulumi_config.set_all_config(spec["config"], spec["secret_keys"])
    return monitor


def _hidden_folders() -> tuple[str, ...]:
    """Where the frames that are not the program's own live: the SDK, asyncio, runpy, threads, this
    host and stateless-pack itself (the project's copy too: its components raise for bad arguments)."""
    import concurrent.futures

    modules = [pulumi, asyncio, concurrent.futures] + [
        module for name, module in list(sys.modules.items())
        if name.split(".")[0] in ("stateless_pack", __name__.split(".")[0])]
    folders = {os.path.dirname(getattr(m, "__file__", None) or "") for m in modules} - {""}
    return tuple(sorted(folder + os.sep for folder in folders))


def _shown(filename: str, hidden: tuple[str, ...]) -> bool:
    return not (filename.startswith(hidden) or filename in (runpy.__file__, threading.__file__)
                or filename.startswith("<frozen "))


def program_traceback(exc: BaseException) -> str:
    """The traceback as the Pulumi CLI shows it, with only the program's own frames."""
    hidden = _hidden_folders()
    shown = traceback.TracebackException(type(exc), exc, exc.__traceback__)
    pending, seen = [shown], set()
    while pending:
        part = pending.pop()
        if part is None or id(part) in seen:
            continue
        seen.add(id(part))
        part.stack = traceback.StackSummary.from_list([f for f in part.stack if _shown(f.filename, hidden)])
        pending += [part.__cause__, part.__context__]
    return "".join(shown.format()).rstrip()


def _refusal(exc: BaseException) -> GateRefusal | None:
    seen = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, GateRefusal):
            return exc
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return None


def failure(exc: BaseException, channel: Channel) -> dict:
    """The answer for a program that raised: the gate's refusal alone, a RunError's message alone (as
    the CLI), else the program's traceback; bounded."""
    refusal = _refusal(exc)
    if refusal is not None:
        return {"error": channel.excerpt(str(refusal)), "kind": "gate"}
    text = str(exc) if isinstance(exc, pulumi.RunError) else program_traceback(exc)
    return {"error": channel.excerpt(text), "kind": "program", "exception": type(exc).__name__}


def _run_python(spec: dict, monitor: Monitor) -> None:
    main = Path(spec["main"])
    os.chdir(main.parent)
    sys.path.insert(0, str(main.parent))
    sys.argv = [str(main)]
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    loop.run_until_complete(pulumi_stack.run_in_stack(lambda: runpy.run_path(str(main), run_name="__main__")))


def run(spec: dict, channel: Channel, program: Callable[[dict, Monitor], dict | None] = _run_python) -> dict:
    """Run the program, sending what it does over `channel`; the answer: {"done": number of
    resources} or {"error": text, "kind": ...}. `program` runs it against the monitor (a Python
    program here; `gate/program/node_bridge.py` hosts a Node.js one) and returns its failure, if any."""
    recording = Recording(spec, channel)
    channel.announce(_config_secrets(spec))
    try:
        failed = program(spec, _configure(spec, recording))
    except BaseException as exc:  # SystemExit and KeyboardInterrupt from a program fail too
        return failure(exc, channel)
    if failed:
        return {**failed, "error": channel.excerpt(str(failed.get("error")))}
    if recording.errors:
        return {"error": "the program logged errors:\n" + "\n".join(recording.errors[:20]), "kind": "program"}
    if recording.problems:
        return {"error": "cannot expand offline:\n" + "\n".join(recording.problems), "kind": "gate"}
    return {"done": recording.records}


def main(argv: list[str], program: Callable[[dict, Monitor], dict | None] = _run_python) -> int:
    collect_rarely()  # policies/gc_tuning.py: 30% of the program's time at 5,000 resources
    result_fd = int(argv[1])
    os.set_inheritable(result_fd, False)  # the program's own children must not hold the answer open
    spec = json.loads(sys.stdin.read())
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)  # the program reads nothing: stdin carried the spec
    with os.fdopen(result_fd, "w", encoding="utf-8") as out:
        def send(message: dict) -> None:  # one line each: the gate reads them as they come
            out.write(json.dumps(message) + "\n")
            out.flush()

        channel = Channel(send)
        channel.send(run(spec, channel, program))
    return 0
