"""A Pulumi resource as the Kubernetes manifest a rule expects.

- type token `kubernetes:<group>/<version>:<Kind>` -> `apiVersion: <group>/<version>` (`core` -> `v1`),
  `kind: <Kind>` (the token wins over the inputs, as for the provider); for
  `kubernetes:apiextensions.k8s.io:CustomResource` the `apiVersion`/`kind` of the inputs are used.
  Non-Kubernetes types and Helm/YAML/Kustomize wrappers (their children are analyzed one by one)
  give no manifest.
- `<Kind>List` resources give one manifest per item (an item without its own `apiVersion`/`kind`
  takes the list's; without a name, `<resource name>-<index>`): Kubernetes never stores a list,
  it creates each item.
- `<Kind>Patch` resources (and `CustomResourcePatch`) give one *partial* manifest: a patch names
  only the fields it changes, so only rules that judge what is present may judge it
  (`Rule.judges_partial_manifests`); "X is missing" would be a false alarm.
- inputs are Pulumi's input shape, which is the manifest shape (camelCase); the Struct numbers the
  engine sends (doubles) are turned back into ints when integral, so `replicas: 2.0` reads as `2`.
- a missing `metadata.name` is filled with the Pulumi resource name (what auto-naming starts from).

Preview unknowns: pulumi-policy wraps inputs in a proxy that raises `UnknownValueError` on any
unknown value, which would abort a whole policy with a generic message. `unwrap` takes the proxy's
raw target and turns Pulumi's unknown sentinels into `policies.manifest.UNKNOWN`, so rules decide
what an unknown means.
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pulumi_policy import Secret
from pulumi_policy.proxy import (
    UNKNOWN_ARCHIVE_VALUE,
    UNKNOWN_ARRAY_VALUE,
    UNKNOWN_ASSET_VALUE,
    UNKNOWN_BOOLEAN_VALUE,
    UNKNOWN_NUMBER_VALUE,
    UNKNOWN_OBJECT_VALUE,
    UNKNOWN_STRING_VALUE,
)

from stateless_pack.policies.crossguard import request_memo
from stateless_pack.policies.manifest import UNKNOWN

UNKNOWN_SENTINELS = frozenset({
    UNKNOWN_BOOLEAN_VALUE, UNKNOWN_NUMBER_VALUE, UNKNOWN_STRING_VALUE, UNKNOWN_ARRAY_VALUE,
    UNKNOWN_ASSET_VALUE, UNKNOWN_ARCHIVE_VALUE, UNKNOWN_OBJECT_VALUE,
})

CUSTOM_RESOURCE_TOKEN = "kubernetes:apiextensions.k8s.io:CustomResource"
CUSTOM_RESOURCE_PATCH_TOKEN = "kubernetes:apiextensions.k8s.io:CustomResourcePatch"
# Pulumi resources in the kubernetes package that are not Kubernetes objects themselves.
_NOT_MANIFEST_GROUPS = ("helm.sh", "yaml", "kustomize")
_TOKEN = re.compile(r"^kubernetes:(?P<group>[^:/]+)/(?P<version>[^:/]+):(?P<kind>[A-Za-z0-9]+)$")


def unwrap(value: Any) -> Any:
    """Plain dicts/lists from pulumi-policy's unknown-checking proxy; sentinels -> UNKNOWN.

    Integral floats become ints: the engine sends numbers as Struct doubles.
    """
    if isinstance(value, Secret):  # only in Remediate's secrets-preserving deserialization
        return unwrap(value.value)
    if isinstance(value, Mapping):
        target = value["__target"] if _is_proxy(value) else value
        return {k: unwrap(v) for k, v in target.items()}
    if isinstance(value, (list, tuple)) or _is_proxy(value):
        target = value["__target"] if _is_proxy(value) else value
        return [unwrap(v) for v in target]
    if isinstance(value, str) and value in UNKNOWN_SENTINELS:
        return UNKNOWN
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _is_proxy(value: Any) -> bool:
    # _DictProxy/_ListProxy (and the secrets proxies) hand out their raw target under "__target".
    return type(value).__module__.startswith("pulumi_policy.")


@dataclass(frozen=True)
class ResourceManifests:
    """The Kubernetes manifests one Pulumi resource stands for."""
    manifests: tuple = ()   # none for non-Kubernetes resources; several for a List
    partial: bool = False   # a Patch: only the fields it changes

    def __iter__(self):
        return iter(self.manifests)


NOT_A_MANIFEST = ResourceManifests()


def _named(manifest: dict, name: str) -> dict:
    metadata = manifest.get("metadata")
    if metadata is None:
        metadata = manifest["metadata"] = {}
    if isinstance(metadata, dict) and "name" not in metadata and name:
        metadata["name"] = name
    return manifest


def _list_items(manifest: dict, resource_name: str) -> tuple:
    """A List's items as manifests; an unknown item (preview) is a manifest whose body is unknown,
    so that the rules say "cannot be verified" instead of passing."""
    api_version, kind = manifest["apiVersion"], manifest["kind"][:-len("List")]
    items = manifest.get("items")
    if items is UNKNOWN:
        items = [UNKNOWN]
    out = []
    for i, item in enumerate(items if isinstance(items, list) else []):
        if item is UNKNOWN:
            item = {"metadata": {"annotations": UNKNOWN}, "spec": UNKNOWN}
        if not isinstance(item, dict):
            continue
        item = {"apiVersion": api_version, **({"kind": kind} if kind else {}), **item}
        out.append(_named(item, f"{resource_name}-{i}"))
    return tuple(out)


def manifests_from(resource_type: str, props: Any, resource_name: str = "") -> ResourceManifests:
    """The Kubernetes manifests of a Pulumi resource (see the module docstring)."""
    if resource_type in (CUSTOM_RESOURCE_TOKEN, CUSTOM_RESOURCE_PATCH_TOKEN):
        manifest = unwrap(props)
        if not isinstance(manifest, dict):
            return NOT_A_MANIFEST
        return ResourceManifests((_named(manifest, resource_name),),
                                 partial=resource_type == CUSTOM_RESOURCE_PATCH_TOKEN)
    match = _TOKEN.match(resource_type)
    if match is None or match["group"].startswith(_NOT_MANIFEST_GROUPS):
        return NOT_A_MANIFEST
    manifest = unwrap(props)
    if not isinstance(manifest, dict):
        return NOT_A_MANIFEST
    group, version, kind = match["group"], match["version"], match["kind"]
    partial = kind.endswith("Patch")
    # A typed token fixes apiVersion/kind (the provider uses the token), even if inputs say otherwise.
    manifest["apiVersion"] = version if group == "core" else f"{group}/{version}"
    manifest["kind"] = kind[:-len("Patch")] if partial else kind
    if kind.endswith("List"):
        return ResourceManifests(_list_items(manifest, resource_name))
    return ResourceManifests((_named(manifest, resource_name),), partial=partial)


def cached_manifests(resource_type: str, props: Any, resource_name: str = "") -> ResourceManifests:
    """`manifests_from`, computed once per gRPC call for all policies (policies/request_memo.py).
    The policies share the result: rules only read manifests."""
    return request_memo.memoized(("manifests", resource_type, resource_name), props,
                                 lambda: manifests_from(resource_type, props, resource_name))
