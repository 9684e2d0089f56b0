"""Rule min-replicas (stack): every Deployment runs at least `minReplicas` instances (or an HPA keeps that many)."""
from __future__ import annotations

from typing import Iterator

from stateless_pack.policies.manifest import UNKNOWN, get, kind_of, sequence
from stateless_pack.policies.rule import Rule, Violation
from stateless_pack.policies.rules.replica_indexes import HpaIndex, int_or, min_n


def _min_replicas(manifests, cfg) -> Iterator[tuple[int, Violation]]:
    n = min_n(cfg)
    docs = sequence(manifests)
    hpas = HpaIndex(docs)
    for i, doc in enumerate(docs):
        kind = kind_of(doc)
        if kind == "HorizontalPodAutoscaler":
            low = int_or(get(doc, "spec", "minReplicas", default=1), 1)
            if low is UNKNOWN:
                yield i, Violation("spec.minReplicas", "minReplicas is unknown during preview", unknown=True)
            elif low < n:
                yield i, Violation("spec.minReplicas", f"HorizontalPodAutoscaler minReplicas is {low} "
                                   f"(unset means 1); at least {n} are required")
        elif kind == "Deployment":
            sure, maybe = hpas.scaling(doc)
            if sure:
                continue  # the HPA's minReplicas decides, and the HPA is judged on its own
            replicas = int_or(get(doc, "spec", "replicas", default=1), 1)
            if replicas is UNKNOWN:
                yield i, Violation("spec.replicas", "replicas is unknown during preview", unknown=True)
            elif replicas < n and maybe:
                yield i, Violation("spec.replicas", f"replicas is {replicas} and whether a "
                                   "HorizontalPodAutoscaler scales this Deployment is unknown during "
                                   "preview", unknown=True)
            elif replicas < n:
                yield i, Violation("spec.replicas", f"Deployment runs {replicas} replica(s) (unset means 1) "
                                   f"and no HorizontalPodAutoscaler keeps {n} or more")


RULE = Rule(
    name="min-replicas",
    checkov_id="CKV_STL_9",
    category="resilience",
    description="Every Deployment runs at least `minReplicas` instances: the `spec.minReplicas` of a "
                "HorizontalPodAutoscaler in the same namespace whose scaleTargetRef names it, otherwise "
                "`spec.replicas` (unset means 1). Every HorizontalPodAutoscaler must have "
                "`minReplicas` >= the threshold too.",
    remediation="Set spec.replicas (or the HorizontalPodAutoscaler's minReplicas) to at least the "
                "threshold, so losing one pod never loses the service.",
    kinds=frozenset({"Deployment", "HorizontalPodAutoscaler"}),
    check=_min_replicas,
    stack=True,
    config_schema={"minReplicas": {"type": "integer", "minimum": 1, "default": 2,
                                   "description": "fewest replicas a Deployment may run"}},
)
