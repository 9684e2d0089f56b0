"""Helpers for the pack tests: manifests -> Pulumi resources, diagnostics -> (resource, path)."""
from __future__ import annotations

import re
from typing import Any, Mapping

from stateless_pack.gate.pack.engine import Diagnostic, Resource
from stateless_pack.policies.crossguard import messages
from support.paths import PACK_DIR  # noqa: F401 - the pack the tests launch

# API groups pulumi-kubernetes has typed resources for; anything else goes through CustomResource.
_BUILTIN_GROUP = re.compile(r"^(core|apps|batch|policy|autoscaling|[a-z.]*\bk8s\.io)$")


def type_token(manifest: Mapping[str, Any]) -> str:
    """The Pulumi type token a program would use for this manifest."""
    api_version, kind = str(manifest.get("apiVersion", "")), str(manifest.get("kind", ""))
    group, _, version = api_version.rpartition("/")
    group = group or "core"
    if _BUILTIN_GROUP.match(group) and group != "gateway.networking.k8s.io":
        return f"kubernetes:{group}/{version}:{kind}"
    return "kubernetes:apiextensions.k8s.io:CustomResource"


def resource_of(manifest: Mapping[str, Any], name: str | None = None) -> Resource:
    """A Pulumi resource whose inputs are the manifest (Pulumi's input shape is the manifest's)."""
    meta = manifest.get("metadata") if isinstance(manifest.get("metadata"), Mapping) else {}
    pulumi_name = name or f"{meta.get('namespace', 'default')}-{manifest.get('kind')}-{meta.get('name', 'x')}"
    return Resource(type=type_token(manifest), name=str(pulumi_name), properties=manifest)


def who_and_path(diagnostic: Diagnostic) -> tuple[str, str, str]:
    """(Kind, name, path) named by a diagnostic's message; AssertionError if it names none."""
    found = messages.parse(diagnostic.message)
    assert found, f"diagnostic names no resource/field: {diagnostic.message!r}"
    kind, _, name = found.resource.split("/", 2)
    return kind, name, found.path
