"""What the Kubernetes provider registers for a `kubernetes:yaml/v2:ConfigGroup` or `ConfigFile`,
computed offline.

Under Pulumi's mocks these components register nothing: their children come from the provider's
Construct, which does not run here. The gate therefore expands them as the provider does
(pulumi-kubernetes provider/pkg/provider/yaml/v2: configgroup.go, configfile.go and yaml.go's
Parse, Normalize and Register):

- sources, in this order: `files` (paths relative to the program's folder; glob patterns for a
  ConfigGroup, sorted; a ConfigFile's `file` is never a pattern), the `yaml` text, then `objs`;
  every YAML document that is empty is skipped, any other that is not a mapping is an error;
- an object with an `items` list is a list: its items take its place (recursively);
- every object needs `apiVersion`, `kind` and `metadata.name`; `core/v1` is `v1`;
- a namespaced kind without `metadata.namespace` gets the provider's default namespace (namespaced:
  the provider's table of built-in kinds, else a CustomResourceDefinition among the objects; the
  provider would ask the cluster, which the gate cannot, so such an object must name its namespace);
- the child's Pulumi name is `<namespace>/<name>` (or `<name>`) prefixed by `<resourcePrefix>:`,
  the prefix defaulting to the component's name (yaml.go `register`: `"%s:%s"`);
- `skipAwait` adds the `pulumi.com/skipAwait: "true"` annotation; a `v1` Secret's `data` and
  `stringData` are secret.

Normalize and Register (`register`) are shared with the helm/v4 Chart and the kustomize/v2 Directory,
whose Construct runs the same steps over helm's or kustomize's output (`gate/render/helm_components.py`).

URLs cannot be fetched offline: they are an `ExpansionError`, as is anything the provider rejects.
Values stay in Pulumi's wire form (secret markers); YAML text given as a secret makes the children's
contents secret too (apiVersion, kind, name and namespace excepted).
"""
from __future__ import annotations

import glob as globbing
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

import yaml

from stateless_pack.gate.program.values import is_secret_marker, secret_marker
from stateless_pack.policies.strict_yaml import StrictLoader

CONFIG_GROUP = "kubernetes:yaml/v2:ConfigGroup"
CONFIG_FILE = "kubernetes:yaml/v2:ConfigFile"
COMPONENTS = frozenset({CONFIG_GROUP, CONFIG_FILE})
SKIP_AWAIT = "pulumi.com/skipAwait"

# pulumi-kubernetes provider/pkg/kinds/kinds.go `Namespaced()`, for its built-in group versions.
_BUILTIN_GROUPS = frozenset({
    "", "admissionregistration.k8s.io", "apiextensions.k8s.io", "apiregistration.k8s.io", "apps",
    "auditregistration.k8s.io", "authentication.k8s.io", "authorization.k8s.io", "autoscaling", "batch",
    "certificates.k8s.io", "coordination.k8s.io", "discovery.k8s.io", "events.k8s.io", "extensions",
    "flowcontrol.apiserver.k8s.io", "meta", "networking.k8s.io", "node.k8s.io", "policy",
    "rbac.authorization.k8s.io", "scheduling.k8s.io", "settings.k8s.io", "storage.k8s.io",
})
_NAMESPACED = frozenset({
    "Binding", "ConfigMap", "ControllerRevision", "CronJob", "DaemonSet", "Deployment", "Endpoints",
    "EndpointSlice", "Event", "HorizontalPodAutoscaler", "Ingress", "Job", "Lease", "LimitRange",
    "LocalSubjectAccessReview", "NetworkPolicy", "PersistentVolumeClaim", "Pod", "PodDisruptionBudget",
    "PodTemplate", "ReplicaSet", "ReplicationController", "ResourceQuota", "Role", "RoleBinding",
    "Secret", "Service", "ServiceAccount", "StatefulSet",
})
_CLUSTER_SCOPED = frozenset({
    "APIService", "CertificateSigningRequest", "ClusterRole", "ClusterRoleBinding", "CSIDriver",
    "CSINode", "CustomResourceDefinition", "IngressClass", "MutatingWebhookConfiguration", "Namespace",
    "Node", "PersistentVolume", "PodSecurityPolicy", "PriorityClass", "RuntimeClass",
    "SelfSubjectAccessReview", "SelfSubjectRulesReview", "StorageClass", "SubjectAccessReview",
    "TokenReview", "ValidatingWebhookConfiguration", "VolumeAttachment",
})
_GLOB = re.compile(r"(?:^|[^\\])[*?\[]")       # yaml.go isGlobPattern
_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")  # Go's url.Parse(...).IsAbs(): a scheme


class ExpansionError(Exception):
    """The component's manifests cannot be expanded offline (or the provider would reject them)."""


@dataclass(frozen=True)
class Child:
    """A resource the provider would register under the component."""
    type: str         # Pulumi type token, e.g. kubernetes:core/v1:Service
    name: str         # Pulumi resource name, e.g. app:shop/web
    inputs: dict      # the object, wire form
    source: str = ""  # where its document came from, when a renderer says (a chart's template file)


@dataclass(frozen=True)
class Parsed:
    """One object of the component's manifests, before Normalize."""
    obj: dict
    secret: bool = False  # its text was secret: its contents stay secret
    source: str = ""


def _plain(value: Any) -> tuple[Any, bool]:
    """(value without an outer secret marker, whether it was secret)."""
    if is_secret_marker(value):
        inner, _ = _plain(value.get("value"))
        return inner, True
    return value, False


def decode_documents(text: str, where: str) -> list[dict]:
    """The non-empty documents of a YAML text, each a mapping (strict loader: no duplicate keys, no
    alias bombs)."""
    try:
        documents = list(yaml.load_all(text, Loader=StrictLoader))
    except yaml.YAMLError as err:
        raise ExpansionError(f"{where}: decoding YAML: {err}") from None
    out = []
    for document in documents:
        if document is None or document == {}:
            continue  # the provider skips empty blocks
        if not isinstance(document, dict):
            raise ExpansionError(f"{where}: a YAML document is a {type(document).__name__}, not an object")
        out.append(document)
    return out


def _file_texts(file: str, pattern: bool, base: Path) -> Iterable[tuple[str, str]]:
    if _URL.match(file):
        raise ExpansionError(f"{file}: a URL cannot be fetched offline; download it into the project "
                             "and name the file instead")
    path = base / file
    if pattern and _GLOB.search(file):
        extra = {"include_hidden": True} if sys.version_info >= (3, 11) else {}
        names = sorted(globbing.glob(str(path), **extra))  # Go's filepath.Glob matches dot files
    else:
        names = [str(path)]
    for name in names:
        try:
            yield name, Path(name).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as err:
            raise ExpansionError(f"reading YAML file from disk: {err}") from None


def _sources(component_type: str, args: dict, base: Path) -> list[Parsed]:
    """The objects in the provider's order: files, the yaml text, objs."""
    found: list[Parsed] = []
    if component_type == CONFIG_FILE:
        files, secret_files = _plain(args.get("file"))
        files, pattern = ([files] if files else []), False
    else:
        files, secret_files = _plain(args.get("files"))
        files, pattern = (files if isinstance(files, list) else [files] if files else []), True
    for entry in files:
        entry, secret = _plain(entry)
        for name, text in _file_texts(str(entry), pattern, base):
            found += [Parsed(doc, secret or secret_files) for doc in decode_documents(text, name)]
    texts, secret_text = _plain(args.get("yaml"))
    for text in texts if isinstance(texts, list) else [texts] if texts else []:
        text, secret = _plain(text)
        found += [Parsed(doc, secret or secret_text) for doc in decode_documents(str(text), "yaml")]
    objs, secret_objs = _plain(args.get("objs"))
    for obj in objs if isinstance(objs, list) else []:
        obj, secret = _plain(obj)
        if not isinstance(obj, dict):
            raise ExpansionError(f"objs: an entry is a {type(obj).__name__}, not an object")
        found.append(Parsed(obj, secret or secret_objs))
    return found


def _expand_lists(objects: list[Parsed]) -> list[Parsed]:
    """yaml.go `expand`: an object with an `items` list is replaced by its items, recursively."""
    out, queue = [], list(objects)
    while queue:
        parsed = queue.pop(0)
        items, _ = _plain(parsed.obj.get("items"))
        if isinstance(items, list):
            if not all(isinstance(_plain(i)[0], dict) for i in items):
                raise ExpansionError(f"YAML object is invalid: {_brief(parsed.obj)}: an item is not an object")
            queue[:0] = [Parsed(_plain(i)[0], parsed.secret, parsed.source) for i in items]
            continue
        out.append(parsed)
    return out


def _brief(obj: dict) -> str:
    text = repr({k: obj.get(k) for k in ("apiVersion", "kind") if k in obj})
    return text[:100]


def _text(obj: Any, *path: str) -> str:
    for key in path:
        obj, _ = _plain(obj.get(key) if isinstance(obj, dict) else None)
    return obj if isinstance(obj, str) else ""


def _group(api_version: str) -> str:
    return api_version.rpartition("/")[0]


def known_namespaced(obj: dict, objects: list[dict]) -> bool | None:
    """clients.IsNamespacedKind: the built-in table, then a CRD among the objects; None: the
    provider would have to ask the cluster."""
    api_version, kind = _text(obj, "apiVersion"), _text(obj, "kind")
    group = _group(api_version)
    if group in _BUILTIN_GROUPS:
        base = kind[:-len("Patch")] if kind.endswith("Patch") else kind
        if base in _NAMESPACED:
            return True
        if base in _CLUSTER_SCOPED:
            return False
    for crd in objects:
        if (_text(crd, "kind") == "CustomResourceDefinition"
                and _group(_text(crd, "apiVersion")) == "apiextensions.k8s.io"
                and _text(crd, "spec", "group") == group and _text(crd, "spec", "names", "kind") == kind):
            return _text(crd, "spec", "scope") == "Namespaced"
    return None


def _namespaced(obj: dict, objects: list[dict]) -> bool:
    found = known_namespaced(obj, objects)
    if found is None:
        raise ExpansionError(f"cannot tell offline whether {_text(obj, 'apiVersion')} {_text(obj, 'kind')} "
                             f"{_text(obj, 'metadata', 'name')!r} is namespaced (the provider would ask the "
                             "cluster): set its metadata.namespace")
    return found


def _normalized(objects: list[Parsed], default_namespace: str) -> list[Parsed]:
    """yaml.go `Normalize`: identity checks, `core/v1` -> `v1`, the default namespace."""
    plain = [parsed.obj for parsed in objects]
    out = []
    for parsed in objects:
        obj = parsed.obj
        if not _text(obj, "kind") or not _text(obj, "apiVersion"):
            raise ExpansionError(f"Kubernetes resources require a kind and apiVersion: {_brief(obj)}")
        if not _text(obj, "metadata", "name"):
            raise ExpansionError(f"Kubernetes resources require a .metadata.name: {_brief(obj)}")
        obj = {**obj, "apiVersion": _text(obj, "apiVersion"), "kind": _text(obj, "kind")}
        if obj["apiVersion"].startswith("core/"):
            obj["apiVersion"] = obj["apiVersion"][len("core/"):]
        if not _text(obj, "metadata", "namespace") and _namespaced(obj, plain):
            metadata, secret_metadata = _plain(obj["metadata"])
            metadata = {**metadata, "namespace": default_namespace}
            obj["metadata"] = secret_marker(metadata) if secret_metadata else metadata
        out.append(Parsed(obj, parsed.secret, parsed.source))
    return out


def type_token(api_version: str, kind: str) -> str:
    """The Pulumi type the provider registers an object as (CustomResource: `kubernetes:<apiVersion>:<kind>`)."""
    group, _, version = api_version.rpartition("/")
    return f"kubernetes:{group or 'core'}/{version}:{kind}"


def _secret_contents(obj: dict) -> dict:
    """An object whose text was secret: everything but its identity stays secret."""
    out = {}
    for key, value in obj.items():
        if key in ("apiVersion", "kind"):
            out[key] = value
        elif key == "metadata" and isinstance(value, dict):
            out[key] = {k: v if k in ("name", "namespace") else secret_marker(v) for k, v in value.items()}
        else:
            out[key] = secret_marker(value)
    return out


def _child(parsed: Parsed, prefix: str, skip_await: bool) -> Child:
    obj = parsed.obj
    name, namespace = _text(obj, "metadata", "name"), _text(obj, "metadata", "namespace")
    resource_name = f"{namespace}/{name}" if namespace else name
    if prefix:
        resource_name = f"{prefix}:{resource_name}"
    obj = dict(obj)
    if skip_await:
        metadata, _ = _plain(obj["metadata"])
        annotations, _ = _plain(metadata.get("annotations"))
        obj["metadata"] = {**metadata, "annotations": {**(annotations or {}), SKIP_AWAIT: "true"}}
    if parsed.secret:
        obj = _secret_contents(obj)
    if f"{obj['apiVersion']}/{obj['kind']}" == "v1/Secret":
        for key in ("data", "stringData"):  # always secret, as the provider marks them
            if key in obj and not is_secret_marker(obj[key]):
                obj[key] = secret_marker(obj[key])
    return Child(type_token(obj["apiVersion"], obj["kind"]), resource_name, obj, parsed.source)


def expand(component_type: str, name: str, inputs: dict, *, default_namespace: str = "default",
           base: Path | None = None) -> list[Child]:
    """The children the provider would register for the component `name` with these (wire) inputs."""
    if component_type not in COMPONENTS:
        raise ValueError(f"{component_type} is not a yaml/v2 component")
    return register(_sources(component_type, inputs, base or Path.cwd()), name, inputs,
                    default_namespace=default_namespace)


def register(objects: list[Parsed], name: str, inputs: dict, *, default_namespace: str) -> list[Child]:
    """yaml.go's Normalize and Register over the parsed objects of the component `name`: what the
    provider registers for them (the helm/v4 Chart and kustomize/v2 Directory share these steps).
    `inputs` give `resourcePrefix` (default: the component's name) and `skipAwait`."""
    prefix, _ = _plain(inputs.get("resourcePrefix", name))  # an explicit "" means no prefix
    skip_await, _ = _plain(inputs.get("skipAwait"))
    return [_child(parsed, str(prefix or ""), skip_await is True)
            for parsed in _normalized(_expand_lists(objects), default_namespace)]
