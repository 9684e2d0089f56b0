"""Reading Kubernetes manifests the way every rule needs to: safely, whatever shape they have.

Rules see plain dicts (as `kubectl get -o yaml` prints them). Values Pulumi cannot know during a
preview arrive as `UNKNOWN`; malformed input (a list where a dict belongs, a number for a name)
must never make a rule raise, so every accessor here returns a safe default instead.
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Iterator


class _Unknown:
    """A value that is computed later (Pulumi preview). Rules must not treat it as absent."""

    _instance = None

    def __new__(cls):
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "<unknown>"

    def __bool__(self) -> bool:  # an unknown is never "present and false" nor "absent"
        raise TypeError("UNKNOWN has no truth value: test is_unknown() first")


UNKNOWN = _Unknown()


def is_unknown(value: Any) -> bool:
    return value is UNKNOWN


def mapping(value: Any) -> Mapping:
    """`value` if it is a mapping, else an empty one."""
    return value if isinstance(value, Mapping) else {}


def sequence(value: Any) -> list:
    """`value` if it is a list, else an empty one."""
    return value if isinstance(value, list) else []


def get(obj: Any, *path: Any, default: Any = None) -> Any:
    """Walk dict keys / list indexes; `default` where the path does not exist or has the wrong type.

    An UNKNOWN on the way is returned as UNKNOWN: the caller decides what an unknown means.
    """
    cur = obj
    for key in path:
        if cur is UNKNOWN:
            return UNKNOWN
        if isinstance(key, int):
            if not isinstance(cur, list) or not -len(cur) <= key < len(cur):
                return default
            cur = cur[key]
        else:
            if not isinstance(cur, Mapping) or key not in cur:
                return default
            cur = cur[key]
    return cur


def kind_of(manifest: Any) -> str:
    kind = get(manifest, "kind")
    return kind if isinstance(kind, str) else ""


def name_of(manifest: Any) -> str:
    name = get(manifest, "metadata", "name")
    return name if isinstance(name, str) else ""


def namespace_of(manifest: Any) -> str:
    ns = get(manifest, "metadata", "namespace")
    return ns if isinstance(ns, str) and ns else "default"


def lower_text(value: Any) -> str:
    """A setting's value as stripped lower-case text ("" for None): how controllers compare them."""
    return str(value).strip().lower() if value is not None else ""


def annotations_of(manifest: Any) -> Mapping:
    return mapping(get(manifest, "metadata", "annotations"))


_TEMPLATE = ("spec", "template", "spec")
# Where each workload kind keeps its pod spec: the one table. A key is a kind of any API group (the
# built-in controllers, and custom kinds whose names nothing else uses) or "group/Kind" for that group
# only (Knative's Service is not the core Service).
POD_SPEC_PATHS: dict[str, tuple[str, ...]] = {
    "Pod": ("spec",),
    "PodTemplate": ("template", "spec"),
    "Deployment": _TEMPLATE,
    "ReplicaSet": _TEMPLATE,
    "ReplicationController": _TEMPLATE,
    "StatefulSet": _TEMPLATE,   # also OpenKruise's Advanced StatefulSet (apps.kruise.io)
    "DaemonSet": _TEMPLATE,     # also OpenKruise's Advanced DaemonSet
    "Job": _TEMPLATE,
    "CronJob": ("spec", "jobTemplate", "spec", "template", "spec"),
    "Rollout": _TEMPLATE,           # Argo Rollouts (argoproj.io)
    "CloneSet": _TEMPLATE,          # OpenKruise (apps.kruise.io)
    "BroadcastJob": _TEMPLATE,      # OpenKruise
    "DeploymentConfig": _TEMPLATE,  # OpenShift (apps.openshift.io)
    "ScaledJob": ("spec", "jobTargetRef", "template", "spec"),  # KEDA (keda.sh)
    "serving.knative.dev/Service": _TEMPLATE,
    "serving.knative.dev/Configuration": _TEMPLATE,
    "serving.knative.dev/Revision": ("spec",),
}
# A `Rule.kinds` member: every resource that carries a pod template, whatever its kind (see
# `pod_spec_paths`). It stands for the kinds above and for kinds the table does not know.
POD_TEMPLATES = "(every resource with a pod template)"
WORKLOAD_KINDS = frozenset({POD_TEMPLATES})  # what a rule that judges pod templates lists as its kinds
# API groups whose objects hold pod-shaped patterns and patches that are no pod templates (policies).
_NOT_POD_TEMPLATE_GROUPS = ("kyverno.io",)
# Kubernetes' own API groups (besides `*.k8s.io`; `*.x-k8s.io` are projects' CRDs, e.g. JobSet): every
# workload kind they define is in the table, so their other kinds need no search (nor do a
# ControllerRevision's copies of a template count as one).
_BUILT_IN_GROUPS = frozenset({"", "apps", "batch", "autoscaling", "policy"})
_MAX_DEPTH = 100  # as deep as a manifest may nest at all (scan refuses deeper: gate/render/manifest_files.py):
                 # no pod template is skipped for its depth (a Crossplane pipeline Composition's sits at 12)


_PLAIN_KEY = re.compile(r"^[A-Za-z_$][A-Za-z0-9_$-]*$")


def dotted(path: tuple) -> str:
    """('spec', 'containers', 0, 'image') -> 'spec.containers[0].image'.

    Keys that contain dots or slashes (annotation keys) are quoted so the path stays unambiguous:
    ('metadata', 'annotations', 'a.io/b') -> 'metadata.annotations["a.io/b"]'.
    """
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        elif not _PLAIN_KEY.match(str(part)):
            out += f'["{part}"]'
        else:
            out += f".{part}" if out else str(part)
    return out


_PATH_PART = re.compile(r'\.?([A-Za-z_$][A-Za-z0-9_$-]*)|\[(\d+)\]|\["(.*?)"\]|\[\'(.*?)\'\]')


def undotted(text: str) -> tuple:
    """The inverse of `dotted`: 'spec.containers[0].image' -> ('spec', 'containers', 0, 'image').

    Stops at the first part it cannot read (the parts before it are still a valid path).
    """
    parts: list = []
    position = 0
    while position < len(text):
        found = _PATH_PART.match(text, position)
        if found is None or found.end() == position:
            break
        plain, index, quoted, single = found.groups()
        parts.append(int(index) if index is not None else next(p for p in (plain, quoted, single) if p is not None))
        position = found.end()
    return tuple(parts)


def unknown_prefix(obj: Any, *path: Any) -> tuple | None:
    """The shortest prefix of `path` whose value is UNKNOWN (the whole object is `()`), else None."""
    cur = obj
    for depth in range(len(path) + 1):
        if cur is UNKNOWN:
            return tuple(path[:depth])
        if depth == len(path):
            return None
        key = path[depth]
        if isinstance(key, int):
            cur = cur[key] if isinstance(cur, list) and -len(cur) <= key < len(cur) else None
        else:
            cur = cur.get(key) if isinstance(cur, Mapping) else None
    return None


def api_group(manifest: Any) -> str | None:
    """The API group of `apiVersion` ("" for core), or None when apiVersion is absent (Pulumi inputs)."""
    version = get(manifest, "apiVersion")
    if not isinstance(version, str):
        return None
    return version.rpartition("/")[0]


class PodFocus(dict):
    """A manifest seen through one of its pod templates (`pod_views`): to a rule, the only one it has."""

    focus: tuple = ()


_BY_KIND = {key: path for key, path in POD_SPEC_PATHS.items() if "/" not in key}
_BY_GROUP_AND_KIND = {tuple(key.rsplit("/", 1)): path for key, path in POD_SPEC_PATHS.items() if "/" in key}
_GROUPED_KINDS = frozenset(kind for _, kind in _BY_GROUP_AND_KIND)


def _known_path(manifest: Any) -> tuple | None:
    kind = kind_of(manifest)
    path = _BY_KIND.get(kind)
    if path is None and kind in _GROUPED_KINDS:
        path = _BY_GROUP_AND_KIND.get((api_group(manifest), kind))
    return path


def _shaped_pod_specs(value: Any, path: tuple) -> Iterator[tuple]:
    """Paths of pod specs by their shape: a mapping whose `spec` holds a `containers` list (a pod
    template, or a Pod), anywhere but in `metadata`/`status`. A pod template left UNKNOWN (preview) is
    one whose contents cannot be seen."""
    if isinstance(value, list) and len(path) < _MAX_DEPTH:
        for i, item in enumerate(value):
            yield from _shaped_pod_specs(item, path + (i,))
    if not isinstance(value, Mapping) or len(path) >= _MAX_DEPTH:
        return
    spec = value.get("spec")
    if isinstance(spec, Mapping) and (isinstance(spec.get("containers"), list) or spec.get("containers") is UNKNOWN):
        yield path + ("spec",)
        return
    if spec is UNKNOWN and path and path[-1] == "template":
        yield path + ("spec",)
        return
    for key, item in value.items():
        if key in ("metadata", "status"):
            continue
        if item is UNKNOWN and key == "template":
            yield path + (key, "spec")
        else:
            yield from _shaped_pod_specs(item, path + (key,))


def pod_spec_paths(manifest: Any) -> tuple[tuple, ...]:
    """Where the manifest keeps pod specs: its kind's path (POD_SPEC_PATHS), else every pod template
    found by its shape, so that a controller the catalog does not know (a RayCluster, a JobSet, a
    Crossplane composition's Deployment) is judged by the pod templates it carries.

    Checked, not refused: a pod template means the same wherever it sits (Kubernetes' PodSpec), so the
    pod-template rules judge it as they judge a Deployment's, and a compliant one passes without a
    waiver. What the catalog cannot know of an unknown kind is how many replicas it runs: the replica
    rules judge only the controllers whose `replicas` they know. An unknown kind whose whole `spec` is
    unknown during preview shows no pod template at all. Kyverno policies are not workloads: their
    patterns and patches look like pod templates.
    """
    focus = getattr(manifest, "focus", ())
    if focus:
        return (focus,)
    known = _known_path(manifest)
    if known is not None:
        return (known,)
    group = api_group(manifest)
    if group is not None and (group in _BUILT_IN_GROUPS or group.endswith(".k8s.io") and not group.endswith(".x-k8s.io")):
        return ()
    if any(group == g or (group or "").endswith("." + g) for g in _NOT_POD_TEMPLATE_GROUPS):
        return ()
    return tuple(_shaped_pod_specs(manifest, ()))


def carries_pod_template(manifest: Any) -> bool:
    """Is this a workload: a kind of POD_SPEC_PATHS, or a manifest holding something shaped like a pod
    template?"""
    return bool(pod_spec_paths(manifest))


def pod_views(manifest: Any) -> list:
    """The manifest once per pod template it carries: itself for the kinds of POD_SPEC_PATHS (one pod
    template each) and for non-workloads; a `PodFocus` per template of other kinds, so that a rule
    matching a container with its pod's volumes never mixes two pods (a RayCluster's head and workers)."""
    if not isinstance(manifest, Mapping) or getattr(manifest, "focus", ()) or _known_path(manifest) is not None:
        return [manifest]
    views = []
    for path in pod_spec_paths(manifest):
        view = PodFocus(manifest)
        view.focus = path
        views.append(view)
    return views or [manifest]


def pod_spec(manifest: Any) -> tuple[tuple, Mapping] | None:
    """(path, pod spec) of a workload manifest (its first pod template), or None for other kinds."""
    paths = pod_spec_paths(manifest)
    if not paths:
        return None
    return paths[0], mapping(get(manifest, *paths[0]))


def containers(manifest: Any) -> Iterator[tuple[tuple, Mapping]]:
    """(path, container) for every container, init container and ephemeral container."""
    for path in pod_spec_paths(manifest):
        spec = mapping(get(manifest, *path))
        for field in ("initContainers", "containers", "ephemeralContainers"):
            for i, container in enumerate(sequence(spec.get(field))):
                if isinstance(container, Mapping):
                    yield path + (field, i), container


def volumes(manifest: Any) -> Iterator[tuple[tuple, Mapping]]:
    """(path, volume) for every pod volume of a workload."""
    for path in pod_spec_paths(manifest):
        for i, volume in enumerate(sequence(get(mapping(get(manifest, *path)), "volumes"))):
            if isinstance(volume, Mapping):
                yield path + ("volumes", i), volume


CONTAINER_FIELDS = ("initContainers", "containers", "ephemeralContainers")


def runs_with_the_pod(container_path: tuple, container: Any) -> Any:
    """Does this container run for the pod's whole life (True / False / UNKNOWN)?

    Regular containers do, and so do native sidecars (`initContainers` with `restartPolicy: Always`):
    they serve traffic and hold files like containers. Other init containers run to completion before
    the pod starts; ephemeral containers are debugging sessions.
    """
    field = container_path[-2] if len(container_path) >= 2 else None
    if field == "containers":
        return True
    if field != "initContainers":
        return False
    policy = get(container, "restartPolicy")
    return UNKNOWN if policy is UNKNOWN else policy == "Always"


def pod_unknowns(manifest: Any, fields: tuple[str, ...] = CONTAINER_FIELDS) -> Iterator[tuple]:
    """Paths where the pod template itself is UNKNOWN, hiding containers/volumes from the rules.

    `fields` are the pod-spec lists the caller looks at (e.g. ("volumes",)): an UNKNOWN list or list
    item is reported, as is an UNKNOWN anywhere on the way to the pod spec.
    """
    for path in pod_spec_paths(manifest):
        hidden = unknown_prefix(manifest, *path)
        if hidden is not None:
            yield hidden
            continue
        spec = mapping(get(manifest, *path))
        for field in fields:
            items = spec.get(field)
            if items is UNKNOWN:
                yield path + (field,)
            for i, item in enumerate(sequence(items)):
                if item is UNKNOWN:
                    yield path + (field, i)


def env_entries(container: Any) -> Iterator[tuple[tuple, Any]]:
    """(relative path, env entry) for every `env` item of a container; entries may be UNKNOWN."""
    env = get(container, "env")
    if env is UNKNOWN:
        yield ("env",), UNKNOWN
        return
    for i, entry in enumerate(sequence(env)):
        yield ("env", i), entry


def command_line(container: Any) -> Iterator[tuple[tuple, Any]]:
    """(relative path, item) of `command` then `args`: what the container runs. Items may be UNKNOWN."""
    for field in ("command", "args"):
        items = get(container, field)
        if items is UNKNOWN:
            yield (field,), UNKNOWN
            continue
        for i, item in enumerate(sequence(items)):
            yield (field, i), item


def find(obj: Any, *pattern: Any, _prefix: tuple = ()) -> Iterator[tuple[tuple, Any]]:
    """(path, value) for every place `pattern` matches; "*" stands for every item of a list.

    Where an UNKNOWN hides the rest of the pattern, yields (path so far, UNKNOWN) so the caller can
    report "cannot be verified" instead of passing silently. Missing keys yield nothing.
    """
    if obj is UNKNOWN:
        yield _prefix, UNKNOWN
        return
    if not pattern:
        yield _prefix, obj
        return
    key, rest = pattern[0], pattern[1:]
    if key == "*":
        for i, item in enumerate(sequence(obj)):
            yield from find(item, *rest, _prefix=_prefix + (i,))
    elif isinstance(obj, Mapping) and key in obj:
        yield from find(obj[key], *rest, _prefix=_prefix + (key,))
