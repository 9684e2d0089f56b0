"""Rule read-only-root-filesystem: read-only root filesystems, writable scratch only in bounded emptyDir."""
from __future__ import annotations

from stateless_pack.policies.manifest import UNKNOWN, WORKLOAD_KINDS, containers, dotted, find, get, volumes
from stateless_pack.policies.rule import Rule, Violation
from stateless_pack.policies.rules.pod_unknowns import unknown_pod


def _read_only_root(manifest, _cfg):
    yield from unknown_pod(manifest, ("initContainers", "containers", "ephemeralContainers", "volumes"),
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


RULE = Rule(
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
