"""What the gate checks of each resource a program registers, and what it refuses to pass unchecked.

| resource type | checked how |
|---|---|
| a Kubernetes object (`kubernetes:<group>/<version>:<Kind>`, a CustomResource) | rendered; our rules, the pack, Checkov |
| `kubernetes:<group>/<version>:<Kind>List` | each item as its own manifest, like an object |
| `kubernetes:<group>/<version>:<Kind>Patch`, `CustomResourcePatch` | a partial manifest: by the rules that judge what is present (`Rule.judges_partial_manifests`) and by the pack; not by Checkov |
| `kubernetes:yaml/v2:ConfigGroup`, `ConfigFile` | expanded offline as the provider does (`gate/render/yaml_components.py`); the children are checked |
| `kubernetes:yaml:ConfigGroup`, `ConfigFile` (v1) | the SDK registers the children itself; they are checked |
| `kubernetes:helm.sh/v3:Chart`, `helm.sh/v4:Chart`, `helm.sh/v3:Release`, `kustomize:Directory`, `kustomize/v2:Directory` | cannot be rendered offline: the gate fails (exit 2) and says how to check them |
| any other resource of the `kubernetes` package that is not an object | not known to the gate: it fails (exit 2) |
| components, providers, other packages | not Kubernetes objects: nothing to check |
"""
from __future__ import annotations

from typing import Iterable

from stateless_pack.gate.render import yaml_components
from stateless_pack.policies.crossguard.manifests import manifests_from

# Component types whose children the gate sees (the SDK or gate/render/yaml_components.py registers them).
EXPANDED = frozenset({*yaml_components.COMPONENTS, "kubernetes:yaml:ConfigGroup", "kubernetes:yaml:ConfigFile"})
_HELM = ("Helm chart", "render it with `helm template NAME CHART --namespace NS -f values.yaml > "
         "rendered.yaml` and check the output with `stateless-pack scan rendered.yaml`")
_KUSTOMIZE = ("kustomization", "render it with `kubectl kustomize DIR > rendered.yaml` and check the "
              "output with `stateless-pack scan rendered.yaml`")
NOT_RENDERABLE = {
    "kubernetes:helm.sh/v3:Chart": _HELM,
    "kubernetes:helm.sh/v4:Chart": _HELM,
    "kubernetes:helm.sh/v3:Release": ("Helm release", _HELM[1]),
    "kubernetes:kustomize:Directory": _KUSTOMIZE,
    "kubernetes:kustomize/v2:Directory": _KUSTOMIZE,
}
_REAL_ENGINE = ("or rely on `pulumi preview --policy-pack` with the real CLI, where the provider "
                "registers every object and the pack checks each")


class NotCheckable(Exception):
    """The program registered resources whose Kubernetes objects the gate cannot see offline."""


def why_not_checkable(resource) -> str | None:
    """Why the gate cannot check this resource's objects, or None when it can (or there are none)."""
    if not resource.type.startswith("kubernetes:") or resource.type in EXPANDED:
        return None
    if resource.type in NOT_RENDERABLE:
        what, remedy = NOT_RENDERABLE[resource.type]
        return f"a {what} cannot be rendered offline: {remedy}, {_REAL_ENGINE}"
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
