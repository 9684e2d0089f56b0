"""Resilience rules: enough replicas, a disruption budget for each, traffic only to ready pods.

min-replicas and pdb-coverage are stack rules: they need HorizontalPodAutoscalers and
PodDisruptionBudgets next to the workloads, which a per-resource engine (Checkov) never sees.

Matching across resources is three-valued (True / False / UNKNOWN): during a preview an HPA's
target name or a PDB's selector may be unknown, and "might match" must not count as "matches"
nor as "does not match".
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Iterator

from policies.catalog import Rule, Violation
from policies.manifest import (
    UNKNOWN, containers, dotted, get, kind_of, mapping, name_of, pod_unknowns, sequence,
)


def _all(results) -> Any:
    """Three-valued AND."""
    results = list(results)
    if any(r is False for r in results):
        return False
    return UNKNOWN if any(r is UNKNOWN for r in results) else True


def _equal(a, b) -> Any:
    return UNKNOWN if a is UNKNOWN or b is UNKNOWN else a == b


def _namespace(manifest) -> Any:
    ns = get(manifest, "metadata", "namespace")
    if ns is UNKNOWN:
        return UNKNOWN
    return ns if isinstance(ns, str) and ns else "default"


def _int_or(value, default) -> Any:
    """An integer field: UNKNOWN stays UNKNOWN; absent or malformed counts as `default`."""
    if value is UNKNOWN:
        return UNKNOWN
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def _hpa_targets(hpa, workload) -> Any:
    ref = get(hpa, "spec", "scaleTargetRef")
    return _all([_equal(_namespace(hpa), _namespace(workload)),
                 _equal(get(ref, "kind"), kind_of(workload)),
                 _equal(get(ref, "name"), get(workload, "metadata", "name"))])


class HpaIndex:
    """The HorizontalPodAutoscalers of a stack, indexed once by target (namespace, kind, name):
    looking up a workload's HPAs is then constant time, not a scan of the stack per workload.
    HPAs whose target is partly unknown (preview) are kept aside and matched one by one."""

    def __init__(self, manifests):
        self._manifests = manifests
        self._all: list = []        # every HPA, for workloads whose own identity is not plain text
        self._by_target: dict = {}
        self._uncertain: list = []
        for i, doc in enumerate(manifests):
            if kind_of(doc) != "HorizontalPodAutoscaler":
                continue
            self._all.append(i)
            ref = get(doc, "spec", "scaleTargetRef")
            key = (_namespace(doc), get(ref, "kind"), get(ref, "name"))
            if any(part is UNKNOWN for part in key):
                self._uncertain.append(i)
            elif all(isinstance(part, str) for part in key):  # else it can only match the malformed
                self._by_target.setdefault(key, []).append(i)

    def scaling(self, workload) -> tuple[list, list]:
        """(indexes of HPAs that scale `workload`, indexes of HPAs that might, their target unknown)."""
        key = (_namespace(workload), kind_of(workload), get(workload, "metadata", "name"))
        plain = all(isinstance(part, str) for part in key)
        sure = list(self._by_target.get(key, [])) if plain else []
        maybe = []
        for i in self._uncertain if plain else self._all:
            hit = _hpa_targets(self._manifests[i], workload)
            (sure if hit is True else maybe if hit is UNKNOWN else []).append(i)
        return sorted(sure), maybe

    def effective_min_replicas(self, workload) -> Any:
        """The fewest replicas a workload runs: its HPA's minReplicas (default 1), else spec.replicas
        (default 1); UNKNOWN when that depends on a value unknown during preview."""
        sure, maybe = self.scaling(workload)
        if sure:
            return _int_or(get(self._manifests[sure[0]], "spec", "minReplicas", default=1), 1)
        if maybe:
            return UNKNOWN
        return _int_or(get(workload, "spec", "replicas", default=1), 1)


def _min_n(cfg) -> int:
    n = _int_or(cfg.get("minReplicas"), 2)
    return 2 if n is UNKNOWN else n


# --- min-replicas -----------------------------------------------------------------------------

def _min_replicas(manifests, cfg) -> Iterator[tuple[int, Violation]]:
    n = _min_n(cfg)
    docs = sequence(manifests)
    hpas = HpaIndex(docs)
    for i, doc in enumerate(docs):
        kind = kind_of(doc)
        if kind == "HorizontalPodAutoscaler":
            low = _int_or(get(doc, "spec", "minReplicas", default=1), 1)
            if low is UNKNOWN:
                yield i, Violation("spec.minReplicas", "minReplicas is unknown during preview", unknown=True)
            elif low < n:
                yield i, Violation("spec.minReplicas", f"HorizontalPodAutoscaler minReplicas is {low} "
                                   f"(unset means 1); at least {n} are required")
        elif kind == "Deployment":
            sure, maybe = hpas.scaling(doc)
            if sure:
                continue  # the HPA's minReplicas decides, and the HPA is judged on its own
            replicas = _int_or(get(doc, "spec", "replicas", default=1), 1)
            if replicas is UNKNOWN:
                yield i, Violation("spec.replicas", "replicas is unknown during preview", unknown=True)
            elif replicas < n and maybe:
                yield i, Violation("spec.replicas", f"replicas is {replicas} and whether a "
                                   "HorizontalPodAutoscaler scales this Deployment is unknown during "
                                   "preview", unknown=True)
            elif replicas < n:
                yield i, Violation("spec.replicas", f"Deployment runs {replicas} replica(s) (unset means 1) "
                                   f"and no HorizontalPodAutoscaler keeps {n} or more")


MIN_REPLICAS = Rule(
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


# --- pdb-coverage -----------------------------------------------------------------------------

def _expression_holds(expr, labels: Mapping) -> Any:
    if expr is UNKNOWN:
        return UNKNOWN
    key, op, values = get(expr, "key"), get(expr, "operator"), get(expr, "values", default=[])
    if UNKNOWN in (key, op) or values is UNKNOWN or any(v is UNKNOWN for v in sequence(values)):
        return UNKNOWN
    if not isinstance(key, str):
        return False
    value = labels.get(key, None)
    if value is UNKNOWN:
        return UNKNOWN
    if op == "In":
        return key in labels and value in sequence(values)
    if op == "NotIn":
        return key not in labels or value not in sequence(values)
    if op == "Exists":
        return key in labels
    if op == "DoesNotExist":
        return key not in labels
    return False  # an operator the API server would reject selects nothing


def selects(selector, labels) -> Any:
    """Does a PodDisruptionBudget's label selector select pods with `labels`? (policy/v1: a missing
    selector selects nothing, an empty one selects every pod in the namespace.)"""
    if selector is UNKNOWN or labels is UNKNOWN:
        return UNKNOWN
    if not isinstance(selector, Mapping):
        return False
    labels = mapping(labels)
    match_labels, expressions = selector.get("matchLabels"), selector.get("matchExpressions")
    if match_labels is UNKNOWN or expressions is UNKNOWN:
        return UNKNOWN
    checks = [_equal(labels.get(k, None), v) if k in labels else (UNKNOWN if v is UNKNOWN else False)
              for k, v in mapping(match_labels).items()]
    checks += [_expression_holds(e, labels) for e in sequence(expressions)]
    return _all(checks)


def _plain_pair(selector) -> tuple | None:
    """One `matchLabels` key=value pair (both text) that a selected pod must carry, if the selector's
    verdict can hinge on it (None: the selector must be matched the long way)."""
    if not isinstance(selector, Mapping) or selector.get("matchExpressions") is UNKNOWN:
        return None
    match_labels = selector.get("matchLabels")
    if not isinstance(match_labels, Mapping):
        return None
    return next(((k, v) for k, v in match_labels.items() if isinstance(k, str) and isinstance(v, str)), None)


class PdbIndex:
    """The PodDisruptionBudgets of a stack, indexed by namespace and by one `matchLabels` pair each: a
    PDB that requires `k: v` can only select pods labelled `k: v` (or `k: <unknown>`), so each workload
    is matched against those PDBs, not against every PDB of its namespace. PDBs without such a pair,
    or whose namespace is unknown, are matched one by one."""

    def __init__(self, manifests):
        self.all = [doc for doc in manifests if kind_of(doc) == "PodDisruptionBudget"]
        self._by_pair: dict = {}   # (namespace, key, value) -> PDBs
        self._by_key: dict = {}    # (namespace, key) -> the same PDBs, for pod labels with unknown values
        self._rest: dict = {}      # namespace (or UNKNOWN) -> PDBs without a plain pair
        for pdb in self.all:
            namespace, pair = _namespace(pdb), _plain_pair(get(pdb, "spec", "selector"))
            if namespace is UNKNOWN or pair is None:
                self._rest.setdefault(namespace, []).append(pdb)
            else:
                self._by_pair.setdefault((namespace, *pair), []).append(pdb)
                self._by_key.setdefault((namespace, pair[0]), []).append(pdb)

    def candidates(self, namespace, labels) -> list:
        """The PDBs that might select pods with `labels` in `namespace` (the others certainly do not)."""
        if namespace is UNKNOWN or labels is UNKNOWN:
            return self.all
        found = self._rest.get(namespace, []) + self._rest.get(UNKNOWN, [])
        for key, value in mapping(labels).items():
            if value is UNKNOWN:
                found += self._by_key.get((namespace, key), [])
            elif isinstance(value, str):
                found += self._by_pair.get((namespace, key, value), [])
        return found


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
        namespace = _namespace(doc)
        covered = [_all([_equal(_namespace(pdb), namespace),
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


PDB_COVERAGE = Rule(
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


# --- readiness-probe --------------------------------------------------------------------------

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


READINESS_PROBE = Rule(
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

RULES = [MIN_REPLICAS, PDB_COVERAGE, READINESS_PROBE]
