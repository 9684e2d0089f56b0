"""Rule no-bare-pods: a Pod without a controller is one instance that nothing replaces.

A rule of its own rather than part of min-replicas: it needs the Pod alone, so it is a resource rule
that Checkov runs too (min-replicas is a stack rule, which Checkov cannot run), and it holds whatever
`minReplicas` is configured to: even with a threshold of 1, nothing recreates a bare Pod after its
node fails, it is evicted or drained.
"""
from __future__ import annotations

from stateless_pack.policies.manifest import UNKNOWN, get, name_of, sequence
from stateless_pack.policies.rule import Rule, Violation

WHERE = "metadata.ownerReferences"


def _bare_pod(manifest, _cfg):
    owners = get(manifest, "metadata", "ownerReferences")
    unknown = owners is UNKNOWN
    for owner in sequence(owners):
        controller = get(owner, "controller")
        if controller is True:
            return  # created and replaced by its controller (ReplicaSet, Job, StatefulSet, ...)
        unknown = unknown or owner is UNKNOWN or controller is UNKNOWN
    if unknown:
        yield Violation(WHERE, f"Pod {name_of(manifest)!r}: whether a controller owns it is unknown during "
                        "preview", unknown=True)
    else:
        yield Violation(WHERE, f"Pod {name_of(manifest)!r} has no controller: it is a single instance that "
                        "nothing replaces when it fails, is evicted or its node goes away")


RULE = Rule(
    name="no-bare-pods",
    checkov_id="CKV_STL_16",
    category="resilience",
    description="A Pod is created by a controller: a Pod without an `ownerReferences` entry with "
                "`controller: true` (a bare Pod) is one instance that nothing replaces, like a single "
                "replica that is never rescheduled. Pods a controller made (as `kubectl get -o yaml` "
                "prints them) pass.",
    remediation="Run the Pod's template in a Deployment with at least two replicas (or a Job for a "
                "one-off task); if a single unmanaged instance is truly required, record a waiver.",
    kinds=frozenset({"Pod"}),
    check=_bare_pod,
)
