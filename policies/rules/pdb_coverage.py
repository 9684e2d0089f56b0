"""Rule pdb-coverage (stack): every multi-replica workload is selected by a PodDisruptionBudget that keeps a replica."""
from __future__ import annotations

import re
from typing import Any, Iterator

from stateless_pack.policies.manifest import UNKNOWN, get, kind_of, mapping, name_of, sequence
from stateless_pack.policies.rule import Rule, Violation
from stateless_pack.policies.rules.replica_indexes import (
    REPLICATED_KINDS, SCALER_KINDS, HpaIndex, PdbIndex, all_of, equal, namespace_or_unknown, replicated_workload,
    selects,
)

_PERCENT = re.compile(r"^(\d+)%$")


def _scaled(value, replicas: int) -> Any:
    """An IntOrString budget field as a number of pods of `replicas`, as the disruption controller
    computes it (percentages round up); None when the API server would refuse the value."""
    if value is UNKNOWN:
        return UNKNOWN
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    percent = _PERCENT.match(value) if isinstance(value, str) else None
    digits = percent[1].lstrip("0") or "0" if percent else ""
    if not digits or len(digits) > 3:  # over 999%: the API server refuses more than 100% anyway
        return None
    return -(-int(digits) * replicas // 100)  # rounded up, in integers: any replica count


def _keeps(spec, replicas: int) -> Any:
    max_unavailable, min_available = get(spec, "maxUnavailable"), get(spec, "minAvailable")
    if max_unavailable is not None:
        allowed = _scaled(max_unavailable, replicas)
        return allowed if allowed is UNKNOWN else allowed is not None and replicas - allowed >= 1
    if min_available is not None:
        kept = _scaled(min_available, replicas)
        return kept if kept is UNKNOWN else kept is not None and kept >= 1
    return True  # neither field: not judged here


def keeps_a_replica(pdb, replicas) -> Any:
    """Does the budget keep at least one of `replicas` pods through a drain (True / False / UNKNOWN)?
    `maxUnavailable` of all of them (100%, or a percentage that rounds up to all) or `minAvailable` 0
    lets every pod go at once; a value the API server refuses keeps none. With the replica count
    unknown (it is 2 or more, or the rule would not ask), a budget is judged at 2 and at any number: it
    keeps more the more replicas there are, so agreeing verdicts hold for every count."""
    spec = get(pdb, "spec")
    if spec is UNKNOWN:
        return UNKNOWN
    if replicas is not UNKNOWN:
        return _keeps(spec, replicas)
    at_two, at_many = _keeps(spec, 2), _keeps(spec, 10**9)
    return at_two if at_two is at_many else UNKNOWN


def _budget_text(pdb) -> str:
    spec = mapping(get(pdb, "spec"))
    field = "maxUnavailable" if spec.get("maxUnavailable") is not None else "minAvailable"
    return f"{field} {spec.get(field)!r}"


def _uncovered(doc, replicas, pdbs) -> Iterator[Violation]:
    labels = get(doc, "spec", "template", "metadata", "labels")
    namespace = namespace_or_unknown(doc)
    selecting, covered = [], []
    for pdb in pdbs.candidates(namespace, labels):
        chosen = all_of([equal(namespace_or_unknown(pdb), namespace), selects(get(pdb, "spec", "selector"), labels)])
        if chosen is False:
            continue
        verdict = all_of([chosen, keeps_a_replica(pdb, replicas)])
        if verdict is True:
            return  # covered: the first budget that keeps a replica settles it
        covered.append(verdict)
        if chosen is True:
            selecting.append(pdb)
    path, what = "spec.template.metadata.labels", f"{kind_of(doc)} {name_of(doc)!r}"
    if replicas is UNKNOWN or any(c is UNKNOWN for c in covered):
        yield Violation(path, f"{what}: its replica count or whether a PodDisruptionBudget selects its pods "
                        "and keeps one of them is unknown during preview", unknown=True)
    elif selecting:
        pdb = min(selecting, key=lambda p: (name_of(p), _budget_text(p)))  # the same one in any order
        yield Violation(path, f"{what} runs {replicas} replicas but PodDisruptionBudget "
                        f"{name_of(pdb)!r} ({_budget_text(pdb)}) lets all of them be evicted at once: it keeps none")
    else:
        yield Violation(path, f"{what} runs {replicas} replicas but no PodDisruptionBudget in its namespace "
                        f"selects its pod labels {dict(mapping(labels))!r}")


def _pdb_coverage(manifests, _cfg) -> Iterator[tuple[int, Violation]]:
    docs = sequence(manifests)
    scalers, pdbs = HpaIndex(docs), PdbIndex(docs)
    for i, doc in enumerate(docs):
        if not replicated_workload(doc):
            continue
        replicas = scalers.effective_min_replicas(doc)
        if isinstance(replicas, int) and replicas < 2:
            continue  # a single replica: min-replicas speaks about that
        yield from ((i, v) for v in _uncovered(doc, replicas, pdbs))


RULE = Rule(
    name="pdb-coverage",
    checkov_id="CKV_STL_10",
    category="resilience",
    description="Every pod controller with `replicas` (as in min-replicas) that runs two or more (its "
                "effective minimum, as in min-replicas) is selected by a PodDisruptionBudget in the same "
                "namespace (`matchLabels` a subset of the pod template labels and every "
                "`matchExpressions` entry (In, NotIn, Exists, DoesNotExist) satisfied) that keeps at "
                "least one replica at that minimum: `maxUnavailable` 100% (or a percentage that rounds "
                "up to every replica: Kubernetes rounds up) and `minAvailable` 0 or \"0%\" keep none.",
    remediation="Add a PodDisruptionBudget (e.g. maxUnavailable: 1) whose selector matches the pod "
                "template labels, so node drains keep enough instances serving.",
    kinds=frozenset({*REPLICATED_KINDS, *SCALER_KINDS, "PodDisruptionBudget"}),
    check=_pdb_coverage,
    stack=True,
)
