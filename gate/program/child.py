"""The child process of `gate/program/runner.py`: hosts a user's Pulumi program under the gate's mocks.

Run as `python -m stateless_pack.gate.program.child RESULT_FD`. It reads the run's spec (project,
stack, program, config) as JSON from stdin and writes JSON lines to the pipe RESULT_FD: each resource
as the program registers it (`{"resource": ...}`: the gate checks it while the program still runs),
then the answer: `{"done": <number of resources>}` or the (redacted) error. Nothing goes through the disk: the config
and the resources carry secret values in plaintext. Pulumi keeps its runtime state in process
globals, and a program may crash, exit or print: that is why this is a process of its own.

The mocks answer as the engine and the Kubernetes provider would where that can be done offline:
outputs are the inputs (plus the provider's auto-name), `yaml/v2` ConfigGroup/ConfigFile register
their children (`gate/render/yaml_components.py`), the v1 YAML components' `kubernetes:yaml:decode` is
answered. Helm charts and kustomizations are rendered by the real helm and kubectl
(`gate/render/helm_components.py`): the `helm.sh/v4` Chart's and `kustomize/v2` Directory's children
are registered as the provider's Construct would, a `helm.sh/v3` Release's objects are recorded as
checked by the gate only, and the v3 Chart's and v1 Directory's invokes are answered so that the SDK
registers their children itself. A remote component is recorded as one (`remote`): the gate cannot run
another provider's Construct, and refuses to pass it unchecked (`gate/render/coverage.py`).
"""
from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import runpy
import sys
import threading
import traceback
from pathlib import Path
from typing import Any, Callable
from urllib.parse import urlparse
from urllib.request import url2pathname

import pulumi
import pulumi.config as pulumi_config_api
from google.protobuf import empty_pb2, json_format
from pulumi.runtime import config as pulumi_config
from pulumi.runtime import mocks, rpc, settings
from pulumi.runtime import stack as pulumi_stack
from pulumi.runtime.sync_await import _sync_await

from stateless_pack.gate.program import output_wait
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
from stateless_pack.policies.gate_lifetime import end_with_gate
from stateless_pack.policies.gc_tuning import collect_rarely
from stateless_pack.policies.redaction import redact as redact_text

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

class Recording:
    """Everything the child learns while the program runs."""

    def __init__(self, spec: dict, sink: Callable[[dict], None] | None = None):
        self.project, self.stack = spec["project"], spec["stack"]
        self.sink = sink  # gets each record as it is made
        self.default_namespace = spec["config"].get("kubernetes:namespace") or "default"
        self.records: list[dict] = []
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
        with self.lock:
            self.records.append(entry)
            if self.sink is not None:
                self.sink(entry)

    def secrets(self) -> list[str]:
        with self.lock:
            return [str(v) for r in self.records for v in secret_values(r["inputs"])]

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
            "source": source_position(request.sourcePosition)})
        if request.type in yaml_components.COMPONENTS or request.type in helm_components.COMPONENTS:
            self._register_children(request, urn, inputs)
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
                "source": list(child.document) or source_position(request.sourcePosition)})


def source_position(position) -> list:
    """[file, line] of a registration's sourcePosition (the SDK sends the `file://` URI of the line
    that created the resource), [] when it has none."""
    if not position.uri.startswith("file:") or position.line < 1:
        return []
    return [url2pathname(urlparse(position.uri).path), position.line]


class ErrorLog(logging.Handler):
    """pulumi.log.error fails a real run too: collect those messages."""

    def __init__(self, recording: Recording):
        super().__init__()
        self.recording = recording

    def emit(self, record: logging.LogRecord) -> None:
        if record.levelno >= logging.ERROR:
            self.recording.errors.append(record.getMessage())


# ---- running ------------------------------------------------------------------------------------------

def _guard_secure_config(secure_keys: list) -> None:
    """Reading a `secure:` value fails naming the key (it cannot be decrypted without the CLI)."""
    secure = set(secure_keys)
    plain_get_config = pulumi_config.get_config

    def get_config(key: str) -> Any:
        if key in secure and not os.environ.get(pulumi_config.get_config_env_key(key)):
            raise RuntimeError(
                f"config {key} is a secure value: the gate cannot decrypt it without the Pulumi CLI; "
                f"provide it as {pulumi_config.get_config_env_key(key)} in the environment")
        return plain_get_config(key)

    pulumi_config_api.get_config = get_config  # what pulumi.Config.get() calls


def _known_secrets(spec: dict, recording: Recording) -> list[str]:
    """Secret config values (also secure ones given through the environment) and every secret value
    the program registered so far."""
    values = [spec["config"][k] for k in spec["secret_keys"] if spec["config"].get(k)]
    values += [os.environ[pulumi_config.get_config_env_key(k)] for k in spec["secure_keys"]
               if os.environ.get(pulumi_config.get_config_env_key(k))]
    return [v for v in values + recording.secrets() if v]


def _configure(spec: dict, recording: Recording) -> None:
    logger = logging.getLogger("stateless-pack.program")
    logger.propagate = False
    logger.addHandler(ErrorLog(recording))
    _guard_secure_config(spec["secure_keys"])
    output_wait.install()  # the SDK's wait for pending outputs is quadratic in their number
    monitor = Monitor(Recorder(recording))
    settings.configure(mocks.MockSettings(
        monitor=monitor, engine=mocks.MockEngine(logger),
        monitor_features=set(monitor.GetDeploymentInfo(empty_pb2.Empty()).supportedFeatures),
        project=spec["project"], stack=spec["stack"], dry_run=False,
        organization="organization", callbacks=None))
    settings.ROOT.set(None)
    pulumi_config.set_all_config(spec["config"], spec["secret_keys"])


def run(spec: dict, sink: Callable[[dict], None] | None = None) -> dict:
    """Run the program, handing each resource to `sink` as it is recorded; the answer:
    {"done": number of resources} or {"error": text, "secrets": [...]}."""
    recording = Recording(spec, sink)
    try:
        _configure(spec, recording)
        main = Path(spec["main"])
        os.chdir(main.parent)
        sys.path.insert(0, str(main.parent))
        sys.argv = [str(main)]
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        loop.run_until_complete(pulumi_stack.run_in_stack(
            lambda: runpy.run_path(str(main), run_name="__main__")))
        if recording.errors:
            error = "the program logged errors:\n" + "\n".join(recording.errors)
        elif recording.problems:
            error = "cannot expand offline:\n" + "\n".join(recording.problems)
        else:
            return {"done": len(recording.records)}
    except BaseException as exc:  # SystemExit and KeyboardInterrupt from a program fail too
        lines = traceback.format_exception(type(exc), exc, exc.__traceback__)
        error = "".join(lines[-12:]).rstrip()
    secrets = _known_secrets(spec, recording)
    return {"error": redact_text(error, secrets), "secrets": secrets}


def main(argv: list[str]) -> int:
    collect_rarely()  # policies/gc_tuning.py: 30% of the program's time at 5,000 resources
    end_with_gate()  # policies/gate_lifetime.py: a gate killed outright leaves nothing running
    result_fd = int(argv[1])
    os.set_inheritable(result_fd, False)  # the program's own children must not hold the answer open
    spec = json.loads(sys.stdin.read())
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)  # the program reads nothing: stdin carried the spec
    with os.fdopen(result_fd, "w", encoding="utf-8") as out:
        def send(message: dict) -> None:  # one line each: the gate reads them as they come
            out.write(json.dumps(message) + "\n")
            out.flush()

        send(run(spec, lambda entry: send({"resource": entry})))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
