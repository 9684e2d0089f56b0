"""The registered resources as a Pulumi stack export (`pulumi stack export` shape, deployment v3).

So that a user with the Pulumi CLI (3.249+) can cross-check the gate with the real engine:

    pulumi policy analyze --policy-pack policies --file out/state.json

Secrets keep their secret marker but never their value: there is no secrets provider here to
encrypt with, so each is written as Pulumi's plaintext secret form holding `"<redacted>"`.
Custom Kubernetes resources reference a default `pulumi:providers:kubernetes` resource (as the
engine's default provider would), so the snapshot is complete enough for `pulumi stack import` too.
"""
from __future__ import annotations

import hashlib
import json
import os
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

from stateless_pack.gate.program.pulumi_wire import SECRET_SIG, SIG_KEY, STACK_TYPE
from stateless_pack.gate.program.runner import ProgramRun
from stateless_pack.gate.program.values import Secret
from stateless_pack.policies.redaction import REDACTED

DEPLOYMENT_VERSION = 3


def _value(value: Any) -> Any:
    if isinstance(value, Secret):
        return {SIG_KEY: SECRET_SIG, "plaintext": json.dumps(REDACTED)}
    if isinstance(value, dict):
        return {k: _value(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_value(v) for v in value]
    return value


def _version(distribution: str) -> str:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "0.0.0"


def deployment(run: ProgramRun, now: datetime | None = None) -> dict:
    """The untyped deployment document `pulumi stack export` would print for these resources."""
    now = (now or datetime.now(timezone.utc)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    sdk_version = f"v{_version('pulumi')}"
    k8s_version = _version("pulumi_kubernetes")
    provider_name = f"default_{k8s_version.replace('.', '_')}"
    provider_urn = f"urn:pulumi:{run.stack}::{run.project}::pulumi:providers:kubernetes::{provider_name}"
    provider_id = "00000000-0000-0000-0000-000000000000"
    registered = [r for r in run.resources if not r.gate_only]  # a Release's objects are in no state
    needs_default = any(r.custom and r.type.startswith("kubernetes:") and not r.provider for r in registered)
    resources = []
    for r in registered:
        entry: dict = {"urn": r.urn, "custom": r.custom, "type": r.type}
        if r.custom:
            entry["id"] = r.id or r.name
        entry["inputs"] = _value(r.inputs)
        entry["outputs"] = _value(r.inputs)  # the gate's mocks return inputs as outputs
        if r.parent:
            entry["parent"] = r.parent
        if r.dependencies:
            entry["dependencies"] = list(r.dependencies)
        if r.property_dependencies:
            entry["propertyDependencies"] = {k: list(v) for k, v in r.property_dependencies.items()}
        if r.custom and r.type.startswith("kubernetes:"):
            entry["provider"] = r.provider or f"{provider_urn}::{provider_id}"
        entry["created"] = entry["modified"] = now
        resources.append(entry)
        if r.type == STACK_TYPE and needs_default:  # providers come right after the stack, before use
            resources.append({"urn": provider_urn, "custom": True, "id": provider_id,
                              "type": "pulumi:providers:kubernetes",
                              "inputs": {"version": k8s_version}, "outputs": {"version": k8s_version},
                              "created": now, "modified": now})
    return {
        "version": DEPLOYMENT_VERSION,
        "deployment": {
            "manifest": {"time": now, "version": sdk_version,
                         # the CLI checks magic = sha256(version) when it reads a manifest
                         "magic": hashlib.sha256(sdk_version.encode()).hexdigest()},
            "resources": resources,
        },
    }


def write(run: ProgramRun, path: str | os.PathLike) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(deployment(run), indent=2) + "\n", encoding="utf-8")
