"""Rule no-persistent-volume-claims: persistent volumes only when required, and then waived."""
from __future__ import annotations

from typing import Iterator

from stateless_pack.policies.manifest import (
    UNKNOWN, WORKLOAD_KINDS, dotted, find, get, kind_of, name_of, pod_spec_paths, volumes,
)
from stateless_pack.policies.rule import Rule, Violation
from stateless_pack.policies.rules.pod_unknowns import unknown_pod


def _volume_source(vpath, volume, source) -> Iterator[tuple[str, object]]:
    """(dotted path, value) of `volume[source]` when present (UNKNOWN volumes hide every source)."""
    if source in volume:
        yield dotted(vpath + (source,)), volume[source]


def _persistent_claims(manifest, _cfg):
    kind = kind_of(manifest)
    if kind == "PersistentVolumeClaim":
        yield Violation("kind", f"PersistentVolumeClaim {name_of(manifest)!r} requests a persistent volume")
        return
    yield from unknown_pod(manifest, ("volumes",), "for persistent volume claims")
    for vpath, volume in volumes(manifest):
        for where, value in _volume_source(vpath, volume, "persistentVolumeClaim"):
            if value is UNKNOWN:
                yield Violation(where, f"{where} is unknown during preview", unknown=True)
            elif value is not None:
                yield Violation(where, f"volume {volume.get('name')!r} mounts persistent volume claim "
                                f"{get(value, 'claimName')!r}")
    yield from _claim_templates(manifest)


def _claim_templates(manifest) -> Iterator[Violation]:
    """`volumeClaimTemplates` beside a pod template (`spec` of a StatefulSet, an OpenKruise CloneSet or
    Advanced StatefulSet, a template of an unknown kind): a persistent volume for each replica."""
    for pod_path in pod_spec_paths(manifest):
        if pod_path[-2:] != ("template", "spec"):
            continue
        owner = pod_path[:-2]
        for path, template in find(manifest, *owner, "volumeClaimTemplates"):
            if template is UNKNOWN:
                yield Violation(dotted(path), f"{dotted(path)} is unknown during preview", unknown=True)
        for path, template in find(manifest, *owner, "volumeClaimTemplates", "*"):
            if template is UNKNOWN:
                yield Violation(dotted(path), f"{dotted(path)} is unknown during preview", unknown=True)
            else:
                yield Violation(dotted(path), "volumeClaimTemplate "
                                f"{get(template, 'metadata', 'name')!r} gives each replica a persistent volume")


RULE = Rule(
    name="no-persistent-volume-claims",
    checkov_id="CKV_STL_5",
    category="storage",
    description="Persistent volumes only when required, and then waived: flags pod volumes with "
                "`persistentVolumeClaim`, `volumeClaimTemplates` beside a pod template (StatefulSet, "
                "OpenKruise CloneSet and Advanced StatefulSet, ...) and standalone "
                "PersistentVolumeClaim objects. Every other volume type (network and cloud disks, "
                "generic `ephemeral` volumes, inline CSI) is judged by allowed-volume-types.",
    remediation="Keep persistent files in the S3-compatible object storage; use `emptyDir` (with a "
                "`sizeLimit`) for scratch. If a volume is truly required, record a waiver.",
    kinds=frozenset({*WORKLOAD_KINDS, "PersistentVolumeClaim"}),
    check=_persistent_claims,
    judges_partial_manifests=True,  # flags only what a manifest contains
    waiver_approver=None,
)
