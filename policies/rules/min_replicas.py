"""Rule min-replicas (stack): every replicated workload runs at least `minReplicas` instances (or its autoscaler keeps that many)."""
from __future__ import annotations

from typing import Iterator

from stateless_pack.policies.manifest import UNKNOWN, get, kind_of, sequence
from stateless_pack.policies.rule import Rule, Violation
from stateless_pack.policies.rules.replica_indexes import (
    HPA, REPLICATED_KINDS, SCALED_OBJECT, HpaIndex, int_or, min_n, replicated_workload, scaler_range,
)


def _hpa(doc, n) -> Iterator[Violation]:
    low, _ = scaler_range(doc)
    if low is UNKNOWN:
        yield Violation("spec.minReplicas", "minReplicas is unknown during preview", unknown=True)
    elif low < n:
        yield Violation("spec.minReplicas", f"HorizontalPodAutoscaler minReplicas is {low} "
                        f"(unset means 1); at least {n} are required")


def _scaled_object(doc, n) -> Iterator[Violation]:
    """A KEDA ScaledObject runs an HPA between its minimum and maximum (one verdict, the first that holds)."""
    low, high = scaler_range(doc)
    if UNKNOWN in (low, high):
        field = "minReplicaCount" if low is UNKNOWN else "maxReplicaCount"
        yield Violation(f"spec.{field}", f"{field} is unknown during preview", unknown=True)
    elif low > high:
        yield Violation("spec.minReplicaCount", f"ScaledObject minReplicaCount {low} is above its "
                        f"maxReplicaCount {high}: KEDA refuses it and keeps no replica count")
    elif high < n:
        yield Violation("spec.maxReplicaCount", f"ScaledObject maxReplicaCount is {high}: KEDA never runs "
                        f"more than {high} replica(s); at least {n} are required")
    elif low < n:
        yield Violation("spec.minReplicaCount", f"ScaledObject minReplicaCount is {low} (unset means 0): "
                        f"at low load KEDA runs fewer than {n} replicas; at least {n} are required")


def _workload(doc, n, scalers) -> Iterator[Violation]:
    sure, maybe = scalers.scaling(doc)
    if sure:
        return  # the autoscaler's range decides, and the autoscaler is judged on its own
    replicas = int_or(get(doc, "spec", "replicas", default=1), 1)
    if replicas is UNKNOWN:
        yield Violation("spec.replicas", "replicas is unknown during preview", unknown=True)
    elif replicas < n and maybe:
        yield Violation("spec.replicas", f"replicas is {replicas} and whether an autoscaler scales this "
                        f"{kind_of(doc)} is unknown during preview", unknown=True)
    elif replicas < n:
        yield Violation("spec.replicas", f"{kind_of(doc)} runs {replicas} replica(s) (unset means 1) and no "
                        f"HorizontalPodAutoscaler or KEDA ScaledObject keeps {n} or more")


def _min_replicas(manifests, cfg) -> Iterator[tuple[int, Violation]]:
    n = min_n(cfg)
    docs = sequence(manifests)
    scalers = HpaIndex(docs)
    for i, doc in enumerate(docs):
        kind = kind_of(doc)
        if kind == HPA:
            found = _hpa(doc, n)
        elif kind == SCALED_OBJECT:
            found = _scaled_object(doc, n)
        elif replicated_workload(doc):
            found = _workload(doc, n, scalers)
        else:
            continue
        yield from ((i, v) for v in found)


RULE = Rule(
    name="min-replicas",
    checkov_id="CKV_STL_9",
    category="resilience",
    description="Every pod controller with `replicas` (Deployment, ReplicaSet, ReplicationController, "
                "StatefulSet, Argo Rollout, OpenKruise CloneSet, OpenShift DeploymentConfig; not one a "
                "controller owns, such as a Deployment's ReplicaSets) runs at least `minReplicas` "
                "instances: the range of an autoscaler in the same namespace whose scaleTargetRef names "
                "it, otherwise `spec.replicas` (unset means 1). Every HorizontalPodAutoscaler must have "
                "`minReplicas` >= the threshold too, and every KEDA ScaledObject `minReplicaCount` "
                "(unset means 0) and `maxReplicaCount` >= the threshold, its minimum not above its maximum.",
    remediation="Set spec.replicas (or the HorizontalPodAutoscaler's minReplicas, the ScaledObject's "
                "minReplicaCount and maxReplicaCount) to at least the threshold, so losing one pod never "
                "loses the service.",
    kinds=frozenset({*REPLICATED_KINDS, HPA, SCALED_OBJECT}),
    check=_min_replicas,
    stack=True,
    config_schema={"minReplicas": {"type": "integer", "minimum": 1, "default": 2,
                                   "description": "fewest replicas a replicated workload may run"}},
)
