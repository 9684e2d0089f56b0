"""Rule read-only-root-filesystem: read-only root filesystems, writable scratch only in bounded emptyDir."""
from __future__ import annotations

from stateless_pack.policies.manifest import UNKNOWN, WORKLOAD_KINDS, containers, dotted, find, get, volumes
from stateless_pack.policies.quantities import SIZE_PATTERN, parse_quantity
from stateless_pack.policies.rule import Rule, Violation
from stateless_pack.policies.rules.pod_unknowns import unknown_pod

DEFAULT_BOUND = "10Gi"


def _unbounded(limit, bound_text: str) -> str | None:
    """Why an emptyDir `sizeLimit` does not bound scratch space (None: it does). The kubelet enforces
    only a positive limit: 0 is none."""
    if limit is None or limit == "":
        return "has no sizeLimit: scratch space can fill the node"
    size, bound = parse_quantity(limit), parse_quantity(bound_text)
    if bound is None:
        bound_text, bound = DEFAULT_BOUND, parse_quantity(DEFAULT_BOUND)
    if size is None:
        return f"has sizeLimit {limit!r}, which is not a Kubernetes quantity (e.g. 64Mi)"
    if size <= 0:
        return f"has sizeLimit {limit!r}: the kubelet enforces no limit of 0 or less"
    if size > bound:
        return f"has sizeLimit {limit!r}, above the bound of {bound_text} for scratch space"
    return None


def _read_only_root(manifest, cfg):
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
        elif (why := _unbounded(limit, cfg.get("maxEmptyDirSize"))) is not None:
            yield Violation(where, f"emptyDir volume {volume.get('name')!r} {why}")


RULE = Rule(
    name="read-only-root-filesystem",
    checkov_id="CKV_STL_7",
    category="storage",
    description="Every container (init and ephemeral containers too) sets "
                "`securityContext.readOnlyRootFilesystem: true`, and every `emptyDir` volume has a "
                "`sizeLimit` above 0 and at most `maxEmptyDirSize` (a Kubernetes quantity; 10Gi unless "
                "configured): writable scratch only in bounded `emptyDir`.",
    remediation="Set securityContext.readOnlyRootFilesystem: true on each container and mount an "
                "`emptyDir` with a `sizeLimit` (e.g. 64Mi) where the program must write (/tmp, caches).",
    kinds=WORKLOAD_KINDS,
    check=_read_only_root,
    config_schema={"maxEmptyDirSize": {
        "type": "string", "pattern": SIZE_PATTERN, "default": DEFAULT_BOUND,
        "description": "largest emptyDir sizeLimit that still bounds scratch space (a Kubernetes quantity)"}},
)
