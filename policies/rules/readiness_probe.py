"""Rule readiness-probe: every serving container (native sidecars too) has a readinessProbe."""
from __future__ import annotations

from stateless_pack.policies.manifest import (
    UNKNOWN, WORKLOAD_KINDS, containers, dotted, get, runs_with_the_pod, sequence,
)
from stateless_pack.policies.rule import Rule, Violation
from stateless_pack.policies.rules.pod_unknowns import unknown_pod


def _readiness_probe(manifest, _cfg):
    yield from unknown_pod(manifest, ("initContainers", "containers"), "readiness probes")
    for cpath, container in containers(manifest):
        serving = runs_with_the_pod(cpath, container)
        if serving is False:
            continue  # init containers run to completion first; ephemeral ones are for debugging
        ports, probe = get(container, "ports"), get(container, "readinessProbe")
        if probe is not None and probe is not UNKNOWN:
            continue
        if ports is not UNKNOWN and not sequence(ports):
            continue  # a worker: it serves nothing
        where = dotted(cpath + ("readinessProbe",))
        if serving is UNKNOWN or ports is UNKNOWN or probe is UNKNOWN:
            yield Violation(where, f"container {container.get('name')!r}: its ports, readiness probe or "
                            "restartPolicy are unknown during preview", unknown=True)
        else:
            numbers = [get(p, "containerPort") for p in sequence(ports)]
            what = "native sidecar" if cpath[-2] == "initContainers" else "container"
            yield Violation(where, f"{what} {container.get('name')!r} serves ports {numbers} but has "
                            "no readinessProbe: it gets traffic before it is ready")


RULE = Rule(
    name="readiness-probe",
    checkov_id="CKV_STL_11",
    category="resilience",
    description="Every serving container has a `readinessProbe`: a regular container, or a native "
                "sidecar (an init container with `restartPolicy: Always`, which runs beside the app "
                "for the pod's life), that declares `ports`. Containers without ports (workers), init "
                "containers that run to completion and ephemeral containers are not checked.",
    remediation="Add a readinessProbe (httpGet on a health endpoint, or tcpSocket) to each container "
                "and native sidecar that declares ports.",
    kinds=WORKLOAD_KINDS,
    check=_readiness_probe,
)
