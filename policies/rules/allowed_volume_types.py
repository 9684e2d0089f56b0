"""Rule allowed-volume-types: pod volumes by allowlist; any other volume is persistent state, waived or not at all.

A rule of its own rather than an extension of no-persistent-volume-claims: a waiver recorded for a
claim must not silently start to cover an NFS share or a cloud disk added to the same workload later
(waivers name rules), the allowlist has settings of its own (CSI drivers, scratch storage classes),
and claims are also standalone objects that this rule never looks at. `persistentVolumeClaim` and
`hostPath` volumes are left to their own rules (no-persistent-volume-claims, no-host-path), so a
volume is never reported twice.
"""
from __future__ import annotations

from typing import Iterator

from stateless_pack.policies.manifest import (
    UNKNOWN, WORKLOAD_KINDS, dotted, get, sequence, unknown_prefix, volumes,
)
from stateless_pack.policies.rule import Rule, Violation
from stateless_pack.policies.rules.pod_unknowns import unknown_pod

# Volume types that hold no state of their own: bounded by read-only-root-filesystem (emptyDir),
# read-only projections of API objects, or the read-only content of an OCI image (`image`,
# Kubernetes 1.31+: immutable, shipped like the container image itself).
ALLOWED = ("emptyDir", "configMap", "secret", "downwardAPI", "projected", "image")
# Judged by their own rules.
OWN_RULE = {"persistentVolumeClaim": "no-persistent-volume-claims", "hostPath": "no-host-path"}
# What the in-tree types are, for the message; any type not listed here is still a violation.
PERSISTENT = {
    "nfs": "an NFS share", "iscsi": "an iSCSI disk", "rbd": "a Ceph RBD disk", "cephfs": "a CephFS share",
    "glusterfs": "a GlusterFS share", "fc": "a Fibre Channel disk", "cinder": "an OpenStack Cinder disk",
    "azureDisk": "an Azure disk", "azureFile": "an Azure Files share",
    "awsElasticBlockStore": "an AWS EBS disk", "gcePersistentDisk": "a GCE persistent disk",
    "vsphereVolume": "a vSphere disk", "portworxVolume": "a Portworx volume",
    "flexVolume": "a FlexVolume driver's volume", "flocker": "a Flocker dataset",
    "quobyte": "a Quobyte share", "scaleIO": "a ScaleIO volume", "storageos": "a StorageOS volume",
    "photonPersistentDisk": "a Photon disk",
    "gitRepo": "a git checkout made by the node (deprecated; clone in an init container instead)",
}


def _names(cfg, key) -> list[str]:
    return [v for v in sequence(cfg.get(key)) if isinstance(v, str)]


def _csi(path: tuple, name, source, drivers: list[str]) -> Iterator[Violation]:
    where, driver = dotted(path), get(source, "driver")
    if driver is UNKNOWN:
        yield Violation(f"{where}.driver", f"{where}.driver is unknown during preview", unknown=True)
    elif driver not in drivers:
        yield Violation(where, f"volume {name!r} is an inline CSI volume of driver {driver!r}, not one of "
                        f"allowedCsiDrivers ({', '.join(drivers) or 'none'})")


def _ephemeral(path: tuple, name, source, scratch: list[str]) -> Iterator[Violation]:
    where, field = dotted(path), ("volumeClaimTemplate", "spec", "storageClassName")
    hidden = unknown_prefix(source, *field)
    if hidden is not None:
        yield Violation(where, f"{dotted(path + hidden)} is unknown during preview: cannot tell the "
                        "ephemeral volume's storage class", unknown=True)
        return
    storage_class = get(source, *field)
    if storage_class in scratch:
        return
    what = (f"storage class {storage_class!r}" if isinstance(storage_class, str) and storage_class
            else "the cluster's default storage class")
    yield Violation(where, f"volume {name!r} is a generic ephemeral volume on {what}, which is not one of "
                    f"scratchStorageClasses ({', '.join(scratch) or 'none'})")


def _allowed_volume_types(manifest, cfg):
    drivers, scratch = _names(cfg, "allowedCsiDrivers"), _names(cfg, "scratchStorageClasses")
    yield from unknown_pod(manifest, ("volumes",), "volume types")
    for vpath, volume in volumes(manifest):
        name = volume.get("name")
        for source, value in volume.items():
            if source == "name" or value is None or source in ALLOWED or source in OWN_RULE:
                continue
            where = dotted(vpath + (source,))
            if source == "csi":
                yield from _csi(vpath + (source,), name, value, drivers)
            elif source == "ephemeral":
                yield from _ephemeral(vpath + (source,), name, value, scratch)
            elif source in PERSISTENT:
                yield Violation(where, f"volume {name!r} mounts {PERSISTENT[source]} ({source}): persistent "
                                "state outside the pod, allowed only with a waiver")
            else:
                yield Violation(where, f"volume {name!r} has type {source!r}, which is not on the allowlist "
                                "(an unknown volume type counts as persistent)")


RULE = Rule(
    name="allowed-volume-types",
    checkov_id="CKV_STL_15",
    category="storage",
    description=(
        "Pod volumes by allowlist: without a waiver a pod template may use only `emptyDir` (bounded: "
        "see read-only-root-filesystem), `configMap`, `secret`, `downwardAPI`, `projected`, `image` "
        "(read-only OCI content), inline `csi` volumes of a driver in `allowedCsiDrivers`, and "
        "generic `ephemeral` volumes whose claim template names a storage class in "
        "`scratchStorageClasses`. Every other type is "
        "persistent state and fails: each in-tree network or disk type (nfs, iscsi, rbd, cephfs, "
        "glusterfs, fc, cinder, azureDisk, azureFile, awsElasticBlockStore, gcePersistentDisk, "
        "vsphereVolume, portworxVolume, ...), flexVolume, gitRepo, and any type this rule does not "
        "know. `persistentVolumeClaim` and `hostPath` are judged by no-persistent-volume-claims and "
        "no-host-path. A rule of its own, not part of no-persistent-volume-claims, so that a waiver "
        "for a claim never covers a network volume added later."
    ),
    remediation="Keep persistent files in the S3-compatible object storage (an object bucket claim); "
                "use an `emptyDir` with a `sizeLimit` for scratch. If a network volume is truly "
                "required, record a waiver; list approved CSI drivers and scratch storage classes in the "
                "policy config.",
    kinds=WORKLOAD_KINDS,
    check=_allowed_volume_types,
    config_schema={
        "allowedCsiDrivers": {
            "type": "array", "items": {"type": "string"}, "default": ["secrets-store.csi.k8s.io"],
            "description": "CSI drivers whose inline volumes hold no state of their own (e.g. the "
                           "Secrets Store CSI driver)"},
        "scratchStorageClasses": {
            "type": "array", "items": {"type": "string"}, "default": [],
            "description": "storage classes that generic ephemeral volumes may use as scratch space"},
    },
)
