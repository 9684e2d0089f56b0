"""A Pulumi resource as the Kubernetes manifest a rule expects.

- type token `kubernetes:<group>/<version>:<Kind>` -> `apiVersion: <group>/<version>` (`core` -> `v1`),
  `kind: <Kind>` (the token wins over the inputs, as for the provider); for
  `kubernetes:apiextensions.k8s.io:CustomResource` the `apiVersion`/`kind` of the inputs are used.
  Non-Kubernetes types, Helm/YAML/Kustomize wrappers (their children are analyzed one by one),
  `*List` and `*Patch` resources are not single manifests and give None.
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


def manifest_from(resource_type: str, props: Any, resource_name: str = "") -> dict | None:
    """The Kubernetes manifest of a Pulumi resource, or None if it is not a Kubernetes object."""
    if resource_type == CUSTOM_RESOURCE_TOKEN:
        manifest = unwrap(props)
        if not isinstance(manifest, dict):
            return None
    else:
        match = _TOKEN.match(resource_type)
        if match is None or match["group"].startswith(_NOT_MANIFEST_GROUPS):
            return None
        kind = match["kind"]
        if kind.endswith(("List", "Patch")):
            return None  # List: a bag of objects; Patch: a partial object (would read as "missing X")
        group, version = match["group"], match["version"]
        manifest = unwrap(props)
        if not isinstance(manifest, dict):
            return None
        # A typed token fixes apiVersion/kind (the provider uses the token), even if inputs say otherwise.
        manifest["apiVersion"] = version if group == "core" else f"{group}/{version}"
        manifest["kind"] = kind
    metadata = manifest.get("metadata")
    if metadata is None:
        metadata = manifest["metadata"] = {}
    if isinstance(metadata, dict) and "name" not in metadata and resource_name:
        metadata["name"] = resource_name
    return manifest


def cached_manifest(resource_type: str, props: Any, resource_name: str = "") -> dict | None:
    """`manifest_from`, computed once per gRPC call for all policies (policies/request_memo.py).
    The policies share the result: rules only read manifests."""
    return request_memo.memoized(("manifest", resource_type, resource_name), props,
                                 lambda: manifest_from(resource_type, props, resource_name))
