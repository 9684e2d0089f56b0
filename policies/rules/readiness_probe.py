"""Rule readiness-probe: every serving container has a readinessProbe."""
from __future__ import annotations

from stateless_pack.policies.manifest import UNKNOWN, containers, dotted, get, pod_unknowns, sequence
from stateless_pack.policies.rule import Rule, Violation


def _readiness_probe(manifest, _cfg):
    for path in pod_unknowns(manifest, ("containers",)):
        yield Violation(dotted(path) or "spec", f"{dotted(path) or 'the pod template'} is unknown during "
                        "preview: cannot check readiness probes", unknown=True)
    for cpath, container in containers(manifest):
        if cpath[-2] != "containers":
            continue  # init and ephemeral containers serve no traffic and take no readiness probe
        ports, probe = get(container, "ports"), get(container, "readinessProbe")
        where = dotted(cpath + ("readinessProbe",))
        if probe is not None and probe is not UNKNOWN:
            continue
        if ports is UNKNOWN or (probe is UNKNOWN and sequence(ports)):
            yield Violation(where, f"container {container.get('name')!r}: its ports or readiness probe "
                            "are unknown during preview", unknown=True)
        elif sequence(ports) and probe is None:
            numbers = [get(p, "containerPort") for p in sequence(ports)]
            yield Violation(where, f"container {container.get('name')!r} serves ports {numbers} but has "
                            "no readinessProbe: it gets traffic before it is ready")


RULE = Rule(
    name="readiness-probe",
    checkov_id="CKV_STL_11",
    category="resilience",
    description="Every serving container (a regular container that declares `ports`) has a "
                "`readinessProbe`; containers without ports (workers) are not checked.",
    remediation="Add a readinessProbe (httpGet on a health endpoint, or tcpSocket) to each container "
                "that declares ports.",
    kinds=frozenset({"Pod", "Deployment", "ReplicaSet", "ReplicationController", "StatefulSet",
                     "DaemonSet", "Job", "CronJob"}),
    check=_readiness_probe,
)
