"""Rule pdb-coverage (stack): every multi-replica workload is selected by a PodDisruptionBudget."""
from __future__ import annotations

from typing import Iterator

from stateless_pack.policies.manifest import UNKNOWN, get, kind_of, mapping, name_of, sequence
from stateless_pack.policies.rule import Rule, Violation
from stateless_pack.policies.rules.replica_indexes import HpaIndex, PdbIndex, all_of, equal, namespace_or_unknown, selects


def _pdb_coverage(manifests, _cfg) -> Iterator[tuple[int, Violation]]:
    docs = sequence(manifests)
    hpas, pdbs = HpaIndex(docs), PdbIndex(docs)
    for i, doc in enumerate(docs):
        if kind_of(doc) not in ("Deployment", "StatefulSet"):
            continue
        replicas = hpas.effective_min_replicas(doc)
        if isinstance(replicas, int) and replicas < 2:
            continue  # a single replica: min-replicas speaks about that
        labels = get(doc, "spec", "template", "metadata", "labels")
        namespace = namespace_or_unknown(doc)
        covered = [all_of([equal(namespace_or_unknown(pdb), namespace),
                         selects(get(pdb, "spec", "selector"), labels)])
                   for pdb in pdbs.candidates(namespace, labels)]
        if any(c is True for c in covered):
            continue
        path = "spec.template.metadata.labels"
        if replicas is UNKNOWN or any(c is UNKNOWN for c in covered):
            yield i, Violation(path, f"{kind_of(doc)} {name_of(doc)!r}: its replica count or whether a "
                               "PodDisruptionBudget selects its pods is unknown during preview", unknown=True)
        else:
            yield i, Violation(path, f"{kind_of(doc)} {name_of(doc)!r} runs {replicas} replicas but no "
                               f"PodDisruptionBudget in its namespace selects its pod labels "
                               f"{dict(mapping(labels))!r}")


RULE = Rule(
    name="pdb-coverage",
    checkov_id="CKV_STL_10",
    category="resilience",
    description="Every Deployment or StatefulSet that runs two or more replicas (its effective minimum, "
                "as in min-replicas) is selected by a PodDisruptionBudget in the same namespace: "
                "`matchLabels` a subset of the pod template labels and every `matchExpressions` entry "
                "(In, NotIn, Exists, DoesNotExist) satisfied.",
    remediation="Add a PodDisruptionBudget (e.g. maxUnavailable: 1) whose selector matches the pod "
                "template labels, so node drains keep enough instances serving.",
    kinds=frozenset({"Deployment", "StatefulSet", "HorizontalPodAutoscaler", "PodDisruptionBudget"}),
    check=_pdb_coverage,
    stack=True,
)
