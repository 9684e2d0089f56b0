"""Run a Pulumi Python program offline under Pulumi's mocks and collect every registered resource.

The program runs in a child Python process (`python -m stateless_pack.gate.program SPEC`): Pulumi keeps its
runtime state in process globals, and a program may crash, exit or print; none of that may touch
the gate. The child answers with one JSON document; this module turns it into `RegisteredResource`s.

Values keep Pulumi's secret-ness: a secret input arrives as a `Secret` wrapper, so that renderers and
reports can redact it and the engine driver can send it as a secret, exactly as Pulumi would.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import yaml

# Pulumi's wire markers (pulumi/runtime/rpc.py): used for the child -> gate JSON as well.
SIG_KEY = "4dabf18193072939515e22adb298388d"
SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"
UNKNOWN_VALUE = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"
RESOURCE_SIG = "5cf8f73096256a8f31e491e813e4eb8e"
ASSET_SIG = "c44067f5952c0a294b673a41bacd8c17"
ARCHIVE_SIG = "0def7320c3a5731c473e5ecbe6d01bc7"

STACK_TYPE = "pulumi:pulumi:Stack"
DEFAULT_TIMEOUT = 600.0


class ProgramError(Exception):
    """The program could not be run: bad project files, undecryptable config, crash, timeout."""


@dataclass(frozen=True)
class Secret:
    """A value Pulumi treats as secret. Never print `.value`; `repr` is safe."""

    value: Any

    def __repr__(self) -> str:
        return "Secret(<redacted>)"


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


@dataclass(frozen=True)
class ProgramRun:
    project: str
    stack: str
    program_dir: Path          # folder with Pulumi.yaml
    main: Path                 # the program file that ran
    resources: list            # RegisteredResource, in registration order (stack first)
    config: Mapping[str, str]  # the config the program saw (secure keys excluded)


# --- values --------------------------------------------------------------------------------------

def reveal(value: Any) -> Any:
    """The value with every `Secret` unwrapped (for the rules, which must see real values)."""
    if isinstance(value, Secret):
        return reveal(value.value)
    if isinstance(value, dict):
        return {k: reveal(v) for k, v in value.items()}
    if isinstance(value, list):
        return [reveal(v) for v in value]
    return value


def redact(value: Any, placeholder: str = "<redacted>") -> Any:
    """The value with every `Secret` replaced by `placeholder` (for anything written or printed)."""
    if isinstance(value, Secret):
        return placeholder
    if isinstance(value, dict):
        return {k: redact(v, placeholder) for k, v in value.items()}
    if isinstance(value, list):
        return [redact(v, placeholder) for v in value]
    return value


def secret_values(value: Any) -> list:
    """Every scalar inside a `Secret` (what must never appear in output)."""
    out: list = []

    def walk(v: Any, inside: bool) -> None:
        if isinstance(v, Secret):
            walk(v.value, True)
        elif isinstance(v, dict):
            for item in v.values():
                walk(item, inside)
        elif isinstance(v, list):
            for item in v:
                walk(item, inside)
        elif inside and v is not None and not isinstance(v, bool):
            out.append(v)

    walk(value, False)
    return out


def _decode(value: Any) -> Any:
    """Child JSON -> Python values with `Secret` wrappers."""
    if isinstance(value, dict):
        if value.get(SIG_KEY) == SECRET_SIG:
            return Secret(_decode(value.get("value")))
        return {k: _decode(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_decode(v) for v in value]
    return value


# --- project and stack config --------------------------------------------------------------------

def _read_yaml(path: Path) -> Any:
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ProgramError(f"cannot read {path}: {exc}") from None


def _config_string(value: Any) -> str:
    """Pulumi hands config to programs as strings; structured values as JSON."""
    return value if isinstance(value, str) else json.dumps(value)


def _contains_secure(value: Any) -> bool:
    if isinstance(value, dict):
        return "secure" in value and len(value) == 1 or any(_contains_secure(v) for v in value.values())
    if isinstance(value, list):
        return any(_contains_secure(v) for v in value)
    return False


def _full_key(project: str, key: str) -> str:
    return key if ":" in key else f"{project}:{key}"


def load_project(program_dir: Path) -> dict:
    path = program_dir / "Pulumi.yaml"
    if not path.is_file():
        raise ProgramError(f"{program_dir} is not a Pulumi project: no Pulumi.yaml")
    project = _read_yaml(path)
    if not isinstance(project, dict) or not isinstance(project.get("name"), str):
        raise ProgramError(f"{path}: expected a mapping with a `name`")
    runtime = project.get("runtime")
    runtime_name = runtime.get("name") if isinstance(runtime, dict) else runtime
    if runtime_name != "python":
        raise ProgramError(f"{path}: runtime {runtime_name!r} is not supported (the gate runs Python programs)")
    return project


def main_file(program_dir: Path, project: Mapping) -> Path:
    main = program_dir / str(project.get("main") or ".")
    target = main / "__main__.py" if main.is_dir() else main
    if not target.is_file():
        raise ProgramError(f"no program to run: {target} does not exist")
    return target


def stack_names(program_dir: Path, project: Mapping) -> list:
    folder = program_dir / str(project.get("stackConfigDir") or ".")
    return sorted(p.name[len("Pulumi."):-len(".yaml")] for p in folder.glob("Pulumi.*.yaml"))


def default_stack(program_dir: Path, project: Mapping) -> str:
    """The only stack with a config file; `dev` among several; else the caller must choose."""
    names = stack_names(program_dir, project)
    if len(names) == 1:
        return names[0]
    if "dev" in names or not names:
        return "dev"
    raise ProgramError(f"several stacks ({', '.join(names)}): choose one with --stack")


def load_config(program_dir: Path, project: Mapping, stack: str) -> tuple[dict, list, list]:
    """(config, secret keys, secure keys) the program sees, from Pulumi.yaml defaults + the stack file.

    Secure values are encrypted by the CLI's secrets provider: they stay out of `config`, and the child
    fails with the key's name if the program reads one.
    """
    name = project["name"]
    config: dict = {}
    secret: list = []
    secure: list = []
    declared = project.get("config") or {}
    if not isinstance(declared, dict):
        raise ProgramError("Pulumi.yaml: `config` must be a mapping")
    for key, spec in declared.items():
        full = _full_key(name, key)
        if isinstance(spec, dict) and ("default" in spec or "type" in spec or "secret" in spec):
            if "default" in spec:
                config[full] = _config_string(spec["default"])
            if spec.get("secret"):
                secret.append(full)
        else:
            config[full] = _config_string(spec)
    folder = program_dir / str(project.get("stackConfigDir") or ".")
    path = folder / f"Pulumi.{stack}.yaml"
    if not path.is_file():
        known = ", ".join(stack_names(program_dir, project)) or "none"
        if stack != "dev" or known != "none":
            raise ProgramError(f"no stack config {path} (stacks with a config file: {known})")
        return config, secret, secure
    doc = _read_yaml(path) or {}
    if not isinstance(doc, dict) or not isinstance(doc.get("config") or {}, dict):
        raise ProgramError(f"{path}: `config` must be a mapping")
    if doc.get("environment"):
        raise ProgramError(f"{path}: Pulumi ESC environments cannot be resolved offline")
    for key, value in (doc.get("config") or {}).items():
        full = _full_key(name, str(key))
        if _contains_secure(value):
            config.pop(full, None)
            secure.append(full)
            secret.append(full)
        else:
            config[full] = _config_string(value)
    return config, secret, secure


# --- running -------------------------------------------------------------------------------------

def run_program(program_dir: str | os.PathLike, stack: str | None = None,
                timeout: float = DEFAULT_TIMEOUT, python: str | None = None) -> ProgramRun:
    """Run the program under mocks in a child process and return what it registered."""
    program_dir = Path(program_dir).resolve()
    if not program_dir.is_dir():
        raise ProgramError(f"{program_dir} is not a folder")
    project = load_project(program_dir)
    main = main_file(program_dir, project)
    stack = stack or default_stack(program_dir, project)
    config, secret_keys, secure_keys = load_config(program_dir, project, stack)
    spec = {"project": project["name"], "stack": stack, "main": str(main),
            "config": config, "secret_keys": secret_keys, "secure_keys": secure_keys}
    with tempfile.TemporaryDirectory(prefix="stateless-pack-program-") as tmp:
        spec_path, result_path = Path(tmp, "spec.json"), Path(tmp, "result.json")
        spec["result"] = str(result_path)
        spec_path.write_text(json.dumps(spec), encoding="utf-8")
        try:
            proc = subprocess.run(
                [python or sys.executable, "-m", "stateless_pack.gate.program", str(spec_path)],
                cwd=program_dir, capture_output=True, text=True,
                timeout=timeout, env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"})
        except subprocess.TimeoutExpired:
            raise ProgramError(f"program {main} did not finish within {timeout:.0f}s") from None
        result = None
        if result_path.is_file():
            try:
                result = json.loads(result_path.read_text(encoding="utf-8"))
            except ValueError:
                result = None
    if result is None or "error" in result:
        detail = (result or {}).get("error") or _tail(proc.stderr) or f"exit code {proc.returncode}"
        raise ProgramError(f"program {main} failed (stack {stack}):\n{detail}")
    resources = [RegisteredResource(
        type=r["type"], name=r["name"], urn=r["urn"], custom=r["custom"], inputs=_decode(r["inputs"]),
        parent=r["parent"], dependencies=tuple(r["dependencies"]),
        property_dependencies={k: tuple(v) for k, v in r["property_dependencies"].items()},
        provider=r["provider"], id=r["id"]) for r in result["resources"]]
    return ProgramRun(project=project["name"], stack=stack, program_dir=program_dir, main=main,
                      resources=_ordered(resources), config=config)


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


# --- the child process ---------------------------------------------------------------------------
# Everything below runs only in the child: it imports Pulumi and hosts the user's program.

def _encode(value: Any) -> Any:
    """Mock-monitor values -> JSON: secrets keep Pulumi's marker, resource refs become URNs."""
    from pulumi.runtime import rpc
    import pulumi

    if isinstance(value, dict):
        sig = value.get(SIG_KEY)
        if sig == SECRET_SIG:
            return {SIG_KEY: SECRET_SIG, "value": _encode(value.get("value"))}
        if sig == RESOURCE_SIG:  # a resource reference: its URN is what a manifest can hold
            return value.get("urn", "")
        if sig in (ASSET_SIG, ARCHIVE_SIG):
            return {"asset": value.get("path") or value.get("uri") or "<asset>"}
        return {str(k): _encode(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_encode(v) for v in value]
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
    from pulumi.runtime.sync_await import _sync_await

    try:
        return _sync_await(resource.urn.future())
    except Exception:  # an unresolvable reference is still a reference: keep its name
        return str(getattr(resource, "_name", "<resource>"))


def _autoname(type_: str, name: str, urn: str, inputs: dict) -> dict:
    """What the Kubernetes provider's Check does for a missing metadata.name: logical name + suffix."""
    import hashlib

    if not type_.startswith("kubernetes:") or not isinstance(inputs.get("kind"), str):
        return inputs
    metadata = inputs.get("metadata")
    metadata = dict(metadata) if isinstance(metadata, dict) else {}
    if metadata.get("name") is None and metadata.get("generateName") is None:
        # deterministic (the real provider's suffix is random): same program, same report
        metadata["name"] = f"{name}-{hashlib.sha256(urn.encode()).hexdigest()[:8]}"
        return {**inputs, "metadata": metadata}
    return inputs


def _child(spec_path: str) -> int:
    import asyncio
    import logging
    import runpy
    import threading
    import traceback

    spec = json.loads(Path(spec_path).read_text(encoding="utf-8"))
    result_path = Path(spec["result"])
    from pulumi.runtime import mocks, settings, stack as pulumi_stack
    from pulumi.runtime import config as pulumi_config
    import pulumi.config as pulumi_config_api
    from google.protobuf import empty_pb2, json_format

    records: list = []
    errors: list = []
    registering = threading.local()  # the URN being registered, for new_resource's autoname

    class Recorder(mocks.Mocks):
        """Outputs = inputs (plus the provider's autoname), so the program sees known values."""

        def new_resource(self, args: mocks.MockResourceArgs):
            outputs = _autoname(args.typ, args.name, getattr(registering, "urn", args.name),
                                dict(args.inputs))
            meta = outputs.get("metadata") if isinstance(outputs.get("metadata"), dict) else {}
            ident = "/".join(str(p) for p in (meta.get("namespace"), meta.get("name")) if p) or args.name
            return f"{ident}", outputs

        def call(self, args: mocks.MockCallArgs):
            if args.token == "kubernetes:yaml:decode":  # yaml.ConfigFile / ConfigGroup (v1)
                return {"result": [d for d in yaml.safe_load_all(args.args.get("text") or "") if d]}
            raise RuntimeError(f"function {args.token} cannot run offline under the gate's mocks")

    class Monitor(mocks.MockMonitor):
        """Records what the engine would see: parent, dependencies, custom-ness, inputs."""

        def make_urn(self, parent: str, type_: str, name: str) -> str:
            # As the engine does (the mock keeps only the parent's last type and adds the stack's):
            # the parent's whole qualified type, and nothing for the root stack.
            qualified = type_
            if parent:
                parent_type = parent.split("::")[2]
                if parent_type != STACK_TYPE:
                    qualified = f"{parent_type}${type_}"
            return f"urn:pulumi:{spec['stack']}::{spec['project']}::{qualified}::{name}"

        def RegisterResource(self, request):
            registering.urn = self.make_urn(request.parent, request.type, request.name)
            response = super().RegisterResource(request)
            # The wire form, not rpc.deserialize_properties: that lifts a nested secret to its
            # top-level property (a secret env value would make the whole `spec` secret).
            inputs = {} if request.type == STACK_TYPE else json_format.MessageToDict(request.object)
            urn = response.urn
            if request.custom and request.type.startswith("kubernetes:"):
                inputs = _autoname(request.type, request.name, urn, inputs)
                if request.type == "kubernetes:core/v1:Secret":
                    for key in ("data", "stringData"):  # secret outputs of the provider, always
                        if key in inputs and not (isinstance(inputs[key], dict)
                                                  and inputs[key].get(SIG_KEY) == SECRET_SIG):
                            inputs[key] = {SIG_KEY: SECRET_SIG, "value": inputs[key]}
            records.append({
                "type": request.type, "name": request.name, "urn": urn,
                "custom": bool(request.custom), "inputs": _encode(inputs),
                "parent": request.parent, "dependencies": list(request.dependencies),
                "property_dependencies": {k: list(v.urns) for k, v in request.propertyDependencies.items()
                                          if v.urns},
                "provider": request.provider, "id": response.id})
            return response

    class ErrorLog(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:  # pulumi.log.error fails a real run too
            if record.levelno >= logging.ERROR:
                errors.append(record.getMessage())

    logger = logging.getLogger("stateless-pack.program")
    logger.propagate = False
    logger.addHandler(ErrorLog())

    secure = set(spec["secure_keys"])
    plain_get_config = pulumi_config.get_config

    def get_config(key: str) -> Any:
        if key in secure and not os.environ.get(pulumi_config.get_config_env_key(key)):
            raise RuntimeError(
                f"config {key} is a secure value: the gate cannot decrypt it without the Pulumi CLI; "
                f"provide it as {pulumi_config.get_config_env_key(key)} in the environment")
        return plain_get_config(key)

    pulumi_config_api.get_config = get_config  # what pulumi.Config.get() calls
    try:
        monitor = Monitor(Recorder())
        settings.configure(mocks.MockSettings(
            monitor=monitor, engine=mocks.MockEngine(logger),
            monitor_features=set(monitor.GetDeploymentInfo(empty_pb2.Empty()).supportedFeatures),
            project=spec["project"], stack=spec["stack"], dry_run=False,
            organization="organization", callbacks=None))
        settings.ROOT.set(None)
        pulumi_config.set_all_config(spec["config"], spec["secret_keys"])
        main = Path(spec["main"])
        os.chdir(main.parent)
        sys.path.insert(0, str(main.parent))
        sys.argv = [str(main)]
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        loop.run_until_complete(pulumi_stack.run_in_stack(
            lambda: runpy.run_path(str(main), run_name="__main__")))
        if errors:
            raise RuntimeError("the program logged errors:\n" + "\n".join(errors))
        answer = {"resources": records}
    except BaseException as exc:  # SystemExit and KeyboardInterrupt from a program fail too
        lines = traceback.format_exception(type(exc), exc, exc.__traceback__)
        answer = {"error": "".join(lines[-12:]).rstrip()}
    result_path.write_text(json.dumps(answer), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(_child(sys.argv[1]))
