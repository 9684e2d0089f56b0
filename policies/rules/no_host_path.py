"""Rule no-host-path: no files on the host machine (hostPath volumes, node-local PersistentVolumes)."""
from __future__ import annotations

from typing import Iterator

from stateless_pack.policies.manifest import UNKNOWN, WORKLOAD_KINDS, dotted, find, get, kind_of, volumes
from stateless_pack.policies.rule import Rule, Violation
from stateless_pack.policies.rules.pod_unknowns import unknown_pod


def _volume_source(vpath, volume, source) -> Iterator[tuple[str, object]]:
    """(dotted path, value) of `volume[source]` when present (UNKNOWN volumes hide every source)."""
    if source in volume:
        yield dotted(vpath + (source,)), volume[source]


def _host_path(manifest, _cfg):
    if kind_of(manifest) == "PersistentVolume":
        if get(manifest, "spec") is UNKNOWN:
            yield Violation("spec", "spec is unknown during preview: cannot tell whether the "
                            "volume lives on a node", unknown=True)
            return
        for source in ("hostPath", "local"):
            for path, value in find(manifest, "spec", source):
                if value is None:
                    continue
                where = dotted(path)
                if value is UNKNOWN:
                    yield Violation(where, f"{where} is unknown during preview", unknown=True)
                else:
                    yield Violation(where, f"PersistentVolume keeps data on one node's disk "
                                    f"({source} path {get(value, 'path')!r})")
        return
    yield from unknown_pod(manifest, ("volumes",), "for hostPath volumes")
    for vpath, volume in volumes(manifest):
        for where, value in _volume_source(vpath, volume, "hostPath"):
            if value is UNKNOWN:
                yield Violation(where, f"{where} is unknown during preview", unknown=True)
            elif value is not None:
                yield Violation(where, f"volume {volume.get('name')!r} mounts host path "
                                f"{get(value, 'path')!r} from the node")


RULE = Rule(
    name="no-host-path",
    checkov_id="CKV_STL_4",
    category="storage",
    description="No files on the host machine: no `hostPath` volumes in workloads, no PersistentVolume "
                "with `spec.hostPath` or `spec.local`.",
    remediation="Store files in the S3-compatible object storage (an object bucket claim); use an "
                "`emptyDir` with a `sizeLimit` for scratch space that may be lost.",
    kinds=frozenset({*WORKLOAD_KINDS, "PersistentVolume"}),
    check=_host_path,
    judges_partial_manifests=True,  # flags only what a manifest contains
)
