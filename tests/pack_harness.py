"""Helpers for the pack tests: manifests -> Pulumi resources, diagnostics -> (resource, path)."""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Mapping

from policies.gate.engine import Diagnostic, Resource

REPO = Path(__file__).resolve().parent.parent
PACK_DIR = REPO / "policies"

# API groups pulumi-kubernetes has typed resources for; anything else goes through CustomResource.
_BUILTIN_GROUP = re.compile(r"^(core|apps|batch|policy|autoscaling|[a-z.]*\bk8s\.io)$")
# `<Kind>/<namespace>/<name>: ... (field <path>)`: the shape crossguard.message_for writes.
# (After the SDK's description line, or after its "can't run policy ... during preview: " prefix.)
_WHO_AND_PATH = re.compile(r"(?:^|: )(?P<kind>[A-Za-z0-9]+)/(?P<ns>[^/\s]+)/(?P<name>[^:\s]+): .*?"
                           r"\(field (?P<path>[^()\s]+)\)", re.MULTILINE)


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
    match = _WHO_AND_PATH.search(diagnostic.message)
    assert match, f"diagnostic names no resource/field: {diagnostic.message!r}"
    return match["kind"], match["name"], match["path"]
