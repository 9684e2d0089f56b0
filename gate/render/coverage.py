"""What the gate checks of each resource a program registers, and what it refuses to pass unchecked.

| resource type | checked how |
|---|---|
| a Kubernetes object (`kubernetes:<group>/<version>:<Kind>`, a CustomResource) | rendered; our rules, the pack, Checkov |
| `kubernetes:<group>/<version>:<Kind>List` | each item as its own manifest, like an object |
| `kubernetes:<group>/<version>:<Kind>Patch`, `CustomResourcePatch` | a partial manifest: by the rules that judge what is present (`Rule.judges_partial_manifests`) and by the pack; not by Checkov |
| `kubernetes:yaml/v2:ConfigGroup`, `ConfigFile` | expanded offline as the provider does (`gate/render/yaml_components.py`); the children are checked |
| `kubernetes:yaml:ConfigGroup`, `ConfigFile` (v1) | the SDK registers the children itself; they are checked |
| `kubernetes:helm.sh/v4:Chart`, `kustomize/v2:Directory` | rendered by the real helm / kubectl and registered as the provider's Construct would (`gate/render/helm_components.py`); the children are checked, the pack sees them |
| `kubernetes:helm.sh/v3:Chart`, `kustomize:Directory` (v1) | their invokes are answered with helm's / kubectl's output, so the SDK registers the children itself; they are checked |
| `kubernetes:helm.sh/v3:Release` | the pack sees the Release only (as with the real engine); the gate renders the objects the release installs and checks them with our rules and Checkov, marked "checked by the gate only" |
| a remote component of another package (`ComponentResource(..., remote=True)`) | its provider's Construct registers the children, which the gate cannot run: not checked, so not passed (exit 2) |
| any other resource of the `kubernetes` package that is not an object | not known to the gate: it fails (exit 2) |
| components, providers, other packages | not Kubernetes objects: nothing to check |
| a program with no Kubernetes object at all (nothing, or only what the rows above skip) | `no-kubernetes-resources` blocks (advisory with `preview --allow-empty`) |

A chart that cannot be fetched or rendered, a kustomization that does not build, or a missing helm or
kubectl ends the run (exit 2) with the tool's own message.
"""
from __future__ import annotations

from typing import Iterable, Mapping

from stateless_pack.gate.findings import Finding
from stateless_pack.gate.gate_checks import EMPTY_STACK
from stateless_pack.gate.render import helm_components, yaml_components
from stateless_pack.policies.crossguard.manifests import manifests_from
from stateless_pack.policies.rule import ADVISORY, MANDATORY

# Component types whose children the gate sees (the SDK, yaml_components.py or helm_components.py
# registers them; a Release's objects are rendered by the gate).
EXPANDED = frozenset({*yaml_components.COMPONENTS, "kubernetes:yaml:ConfigGroup", "kubernetes:yaml:ConfigFile",
                      *helm_components.COMPONENTS, *helm_components.SDK_COMPONENTS})
_REAL_ENGINE = ("or rely on `pulumi preview --policy-pack` with the real CLI, where the provider "
                "registers every object and the pack checks each")


class NotCheckable(Exception):
    """The program registered resources whose Kubernetes objects the gate cannot see offline."""


def why_not_checkable(resource) -> str | None:
    """Why the gate cannot check this resource's objects, or None when it can (or there are none)."""
    if resource.type in EXPANDED:
        return None
    if getattr(resource, "remote", False):
        return ("a remote component: its package's provider registers its children, which the gate cannot "
                "run offline; render its Kubernetes objects and check them with `stateless-pack scan`, "
                + _REAL_ENGINE)
    if not resource.type.startswith("kubernetes:"):
        return None
    if resource.custom and manifests_from(resource.type, resource.inputs, resource.name).manifests:
        return None
    kind = "component" if not resource.custom else "resource"
    return f"the gate does not know how to check this {kind}: {_REAL_ENGINE}"


def require_checkable(resources: Iterable) -> None:
    """NotCheckable naming every resource the gate would otherwise pass without checking."""
    problems = [f"{r.type} {r.name!r} ({r.urn}): {why}" for r in resources
                if (why := why_not_checkable(r)) is not None]
    if problems:
        raise NotCheckable("not checked, so not passed:\n  " + "\n  ".join(problems))


def empty_stack(project: str, stack: str, *, allow_empty: bool) -> Finding:
    """The finding for a program that registered no Kubernetes object the gate could check."""
    return Finding(rule=EMPTY_STACK.name, engine="gate", level=ADVISORY if allow_empty else MANDATORY,
                   resource=f"stack {stack} of {project}",
                   message="the program registered no Kubernetes object: nothing was checked",
                   fix=EMPTY_STACK.fix)


def described_origin(origin: Mapping) -> str:
    """Where a rendered resource came from, for the report: the component (type and name), the chart
    or kustomization, the chart's template file. "" for a resource the program registered itself."""
    urn = str(origin.get("component") or "")
    if not urn:
        return ""
    parts = urn.split("::", 3)
    component = f"{parts[2].split('$')[-1]} {parts[3]!r}" if len(parts) == 4 else urn
    what = "chart" if ":helm" in component else "directory"
    details = [f"{what} {origin['source']}"] if origin.get("source") else []
    details += [f"template {origin['template']}"] if origin.get("template") else []
    return component + (f" ({', '.join(details)})" if details else "")
