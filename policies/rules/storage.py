"""Storage rules: no files on the host, persistent volumes only when waived, read-only root
filesystems with bounded scratch space, object buckets only against approved storage classes."""
from __future__ import annotations

from typing import Iterator

from policies.catalog import Rule, Violation
from policies.manifest import (
    UNKNOWN, WORKLOAD_KINDS, api_group, containers, dotted, find, get, kind_of, name_of,
    pod_unknowns, sequence, volumes,
)


def _unknown_pod(manifest, fields, what) -> Iterator[Violation]:
    for path in pod_unknowns(manifest, fields):
        yield Violation(dotted(path) or "spec", f"{dotted(path) or 'the pod template'} is unknown during "
                        f"preview: cannot check {what}", unknown=True)


def _volume_source(vpath, volume, source) -> Iterator[tuple[str, object]]:
    """(dotted path, value) of `volume[source]` when present (UNKNOWN volumes hide every source)."""
    if source in volume:
        yield dotted(vpath + (source,)), volume[source]


# --- no-host-path -----------------------------------------------------------------------------

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
    yield from _unknown_pod(manifest, ("volumes",), "for hostPath volumes")
    for vpath, volume in volumes(manifest):
        for where, value in _volume_source(vpath, volume, "hostPath"):
            if value is UNKNOWN:
                yield Violation(where, f"{where} is unknown during preview", unknown=True)
            elif value is not None:
                yield Violation(where, f"volume {volume.get('name')!r} mounts host path "
                                f"{get(value, 'path')!r} from the node")


NO_HOST_PATH = Rule(
    name="no-host-path",
    checkov_id="CKV_STL_4",
    category="storage",
    description="No files on the host machine: no `hostPath` volumes in workloads, no PersistentVolume "
                "with `spec.hostPath` or `spec.local`.",
    remediation="Store files in the S3-compatible object storage (an object bucket claim); use an "
                "`emptyDir` with a `sizeLimit` for scratch space that may be lost.",
    kinds=frozenset({*WORKLOAD_KINDS, "PersistentVolume"}),
    check=_host_path,
)


# --- no-persistent-volume-claims --------------------------------------------------------------

def _persistent_claims(manifest, _cfg):
    kind = kind_of(manifest)
    if kind == "PersistentVolumeClaim":
        yield Violation("kind", f"PersistentVolumeClaim {name_of(manifest)!r} requests a persistent volume")
        return
    yield from _unknown_pod(manifest, ("volumes",), "for persistent volume claims")
    for vpath, volume in volumes(manifest):
        for where, value in _volume_source(vpath, volume, "persistentVolumeClaim"):
            if value is UNKNOWN:
                yield Violation(where, f"{where} is unknown during preview", unknown=True)
            elif value is not None:
                yield Violation(where, f"volume {volume.get('name')!r} mounts persistent volume claim "
                                f"{get(value, 'claimName')!r}")
    if kind == "StatefulSet":
        for path, template in find(manifest, "spec", "volumeClaimTemplates"):
            if template is UNKNOWN:
                yield Violation(dotted(path), f"{dotted(path)} is unknown during preview", unknown=True)
        for path, template in find(manifest, "spec", "volumeClaimTemplates", "*"):
            if template is UNKNOWN:
                yield Violation(dotted(path), f"{dotted(path)} is unknown during preview", unknown=True)
            else:
                yield Violation(dotted(path), "volumeClaimTemplate "
                                f"{get(template, 'metadata', 'name')!r} gives each replica a persistent volume")


NO_PERSISTENT_VOLUME_CLAIMS = Rule(
    name="no-persistent-volume-claims",
    checkov_id="CKV_STL_5",
    category="storage",
    description="Persistent volumes only when required, and then waived: flags pod volumes with "
                "`persistentVolumeClaim`, StatefulSet `spec.volumeClaimTemplates` and standalone "
                "PersistentVolumeClaim objects. Generic `ephemeral` volumes (deleted with the pod) pass.",
    remediation="Keep persistent files in the S3-compatible object storage; use `emptyDir` (with a "
                "`sizeLimit`) or an `ephemeral` volume for scratch. If a volume is truly required, "
                "record a waiver.",
    kinds=frozenset({*WORKLOAD_KINDS, "PersistentVolumeClaim"}),
    check=_persistent_claims,
    waiver_approver=None,
)


# --- no-stateful-workloads --------------------------------------------------------------------

def _stateful_workload(manifest, _cfg):
    kind = kind_of(manifest)
    why = {"StatefulSet": "gives its pods a fixed identity and their own state",
           "DaemonSet": "ties one pod to every node"}[kind]
    yield Violation("kind", f"{kind} {name_of(manifest)!r} {why}")


NO_STATEFUL_WORKLOADS = Rule(
    name="no-stateful-workloads",
    checkov_id="CKV_STL_6",
    category="storage",
    description="Applications run as Deployments: a StatefulSet or DaemonSet is allowed only with a "
                "waiver (e.g. platform agents, data stores run by the platform team).",
    remediation="Run the application as a Deployment with its state in shared services (Redis, object "
                "storage); if a StatefulSet/DaemonSet is truly required, record a waiver.",
    kinds=frozenset({"StatefulSet", "DaemonSet"}),
    check=_stateful_workload,
)


# --- read-only-root-filesystem ----------------------------------------------------------------

def _read_only_root(manifest, _cfg):
    yield from _unknown_pod(manifest, ("initContainers", "containers", "ephemeralContainers", "volumes"),
                            "root filesystems and scratch volumes")
    for cpath, container in containers(manifest):
        where = dotted(cpath + ("securityContext", "readOnlyRootFilesystem"))
        for path, value in find(container, "securityContext", "readOnlyRootFilesystem"):
            if value is UNKNOWN:
                yield Violation(dotted(cpath + path), f"{dotted(cpath + path)} is unknown during preview",
                                unknown=True)
                break
            if value is not True:
                yield Violation(where, f"container {container.get('name')!r} has "
                                f"readOnlyRootFilesystem {value!r}, not true")
            break
        else:
            yield Violation(where, f"container {container.get('name')!r} does not set "
                            "readOnlyRootFilesystem: true (its root filesystem is writable)")
    for vpath, volume in volumes(manifest):
        if "emptyDir" not in volume:
            continue
        empty_dir = volume["emptyDir"]
        where = dotted(vpath + ("emptyDir", "sizeLimit"))
        limit = get(empty_dir, "sizeLimit")
        if empty_dir is UNKNOWN or limit is UNKNOWN:
            yield Violation(where, f"{where} is unknown during preview", unknown=True)
        elif limit is None or limit == "":
            yield Violation(where, f"emptyDir volume {volume.get('name')!r} has no sizeLimit: "
                            "scratch space can fill the node")


READ_ONLY_ROOT_FILESYSTEM = Rule(
    name="read-only-root-filesystem",
    checkov_id="CKV_STL_7",
    category="storage",
    description="Every container (init and ephemeral containers too) sets "
                "`securityContext.readOnlyRootFilesystem: true`, and every `emptyDir` volume has a "
                "`sizeLimit`: writable scratch only in bounded `emptyDir`.",
    remediation="Set securityContext.readOnlyRootFilesystem: true on each container and mount an "
                "`emptyDir` with a `sizeLimit` (e.g. 64Mi) where the program must write (/tmp, caches).",
    kinds=WORKLOAD_KINDS,
    check=_read_only_root,
)


# --- approved-bucket-storage-class ------------------------------------------------------------

# kind -> (API group, field naming the class)
_BUCKET_CLAIMS = {
    "ObjectBucketClaim": ("objectbucket.io", "storageClassName"),
    "BucketClaim": ("objectstorage.k8s.io", "bucketClassName"),
}


def _approved_bucket_class(manifest, cfg):
    kind = kind_of(manifest)
    group, field = _BUCKET_CLAIMS[kind]
    if api_group(manifest) not in (None, group):
        return  # a same-named kind of another API
    approved = [c for c in sequence(cfg.get("approvedStorageClasses")) if isinstance(c, str)]
    where = f"spec.{field}"
    value = get(manifest, "spec", field)
    if value is UNKNOWN:
        yield Violation(where, f"{where} is unknown during preview", unknown=True)
    elif not isinstance(value, str) or not value:
        yield Violation(where, f"{kind} names no {field}; approved: {', '.join(approved) or 'none'}")
    elif value not in approved:
        yield Violation(where, f"{field} {value!r} is not an approved object storage class "
                        f"(approved: {', '.join(approved) or 'none'})")


APPROVED_BUCKET_STORAGE_CLASS = Rule(
    name="approved-bucket-storage-class",
    checkov_id="CKV_STL_8",
    category="storage",
    description="Object bucket claims use an approved storage class: ObjectBucketClaim "
                "(objectbucket.io) `spec.storageClassName` and COSI BucketClaim (objectstorage.k8s.io) "
                "`spec.bucketClassName` must be one of `approvedStorageClasses`.",
    remediation="Set the claim's storage/bucket class to an approved one (the on-prem S3-compatible "
                "object storage), e.g. use the paved-road object bucket component.",
    kinds=frozenset(_BUCKET_CLAIMS),
    check=_approved_bucket_class,
    config_schema={"approvedStorageClasses": {
        "type": "array", "items": {"type": "string"}, "default": ["dit-s3"],
        "description": "storage / bucket class names object bucket claims may use"}},
)

RULES = [NO_HOST_PATH, NO_PERSISTENT_VOLUME_CLAIMS, NO_STATEFUL_WORKLOADS, READ_ONLY_ROOT_FILESYSTEM,
         APPROVED_BUCKET_STORAGE_CLASS]
