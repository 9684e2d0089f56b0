"""Matching workloads with their autoscalers and PodDisruptionBudgets across a stack.

The workloads are the pod controllers that run `spec.replicas` copies of their template
(`REPLICATED_KINDS`: one set for min-replicas and pdb-coverage), unless a controller owns them (a
Deployment's ReplicaSets, as `kubectl get -o yaml` prints them: their Deployment is judged). Their
autoscalers are HorizontalPodAutoscalers and KEDA ScaledObjects (which run an HPA of their own).

Matching is three-valued (True / False / UNKNOWN): during a preview an HPA's target name or a PDB's
selector may be unknown, and "might match" must not count as "matches" nor as "does not match".
The indexes make each lookup constant time instead of a scan of the stack per workload."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from stateless_pack.policies.manifest import UNKNOWN, get, kind_of, mapping, sequence

# Pod controllers whose `spec.replicas` (unset means 1) says how many pods they run: the built-in ones,
# Argo Rollouts, OpenKruise CloneSets (and Advanced StatefulSets) and OpenShift DeploymentConfigs.
REPLICATED_KINDS = frozenset({"Deployment", "ReplicaSet", "ReplicationController", "StatefulSet",
                              "Rollout", "CloneSet", "DeploymentConfig"})
HPA, SCALED_OBJECT = "HorizontalPodAutoscaler", "ScaledObject"
SCALER_KINDS = frozenset({HPA, SCALED_OBJECT})
_KEDA_DEFAULTS = {"minReplicaCount": 0, "maxReplicaCount": 100}  # keda.sh/v1alpha1 ScaledObject


def replicated_workload(manifest) -> bool:
    """A workload the replica rules judge: a REPLICATED_KINDS controller that no controller owns."""
    if kind_of(manifest) not in REPLICATED_KINDS:
        return False
    return not any(get(owner, "controller") is True for owner in sequence(get(manifest, "metadata", "ownerReferences")))


def all_of(results) -> Any:
    """Three-valued AND."""
    results = list(results)
    if any(r is False for r in results):
        return False
    return UNKNOWN if any(r is UNKNOWN for r in results) else True


def equal(a, b) -> Any:
    return UNKNOWN if a is UNKNOWN or b is UNKNOWN else a == b


def namespace_or_unknown(manifest) -> Any:
    ns = get(manifest, "metadata", "namespace")
    if ns is UNKNOWN:
        return UNKNOWN
    return ns if isinstance(ns, str) and ns else "default"


def int_or(value, default) -> Any:
    """An integer field: UNKNOWN stays UNKNOWN; absent or malformed counts as `default`."""
    if value is UNKNOWN:
        return UNKNOWN
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def scaler_range(scaler) -> tuple[Any, Any]:
    """(fewest, most) replicas an HPA (minReplicas, unset 1; maxReplicas) or a KEDA ScaledObject
    (minReplicaCount, unset 0; maxReplicaCount, unset 100) keeps; None for an HPA's missing maximum."""
    if kind_of(scaler) == SCALED_OBJECT:
        return tuple(int_or(get(scaler, "spec", field, default=_KEDA_DEFAULTS[field]), _KEDA_DEFAULTS[field])
                     for field in ("minReplicaCount", "maxReplicaCount"))
    return int_or(get(scaler, "spec", "minReplicas", default=1), 1), None


def scaler_floor(scaler) -> Any:
    """The fewest replicas a scaler keeps its target at (capped by a ScaledObject's maximum)."""
    low, high = scaler_range(scaler)
    if low is UNKNOWN or high is UNKNOWN:
        return UNKNOWN
    return low if high is None else min(low, high)


def _target_of(scaler) -> tuple:
    """(kind, name) of the workload a scaler scales (a ScaledObject's kind defaults to Deployment)."""
    ref = get(scaler, "spec", "scaleTargetRef")
    default = "Deployment" if kind_of(scaler) == SCALED_OBJECT and ref is not UNKNOWN else None
    return get(ref, "kind", default=default), get(ref, "name")


def _scales(scaler, workload) -> Any:
    kind, name = _target_of(scaler)
    return all_of([equal(namespace_or_unknown(scaler), namespace_or_unknown(workload)),
                 equal(kind, kind_of(workload)), equal(name, get(workload, "metadata", "name"))])


class HpaIndex:
    """The autoscalers (HPAs and KEDA ScaledObjects) of a stack, indexed once by target (namespace,
    kind, name): looking up a workload's autoscalers is then constant time, not a scan of the stack
    per workload. Autoscalers whose target is partly unknown (preview) are kept aside and matched one
    by one."""

    def __init__(self, manifests):
        self._manifests = manifests
        self._all: list = []        # every autoscaler, for workloads whose own identity is not plain text
        self._by_target: dict = {}
        self._uncertain: list = []
        for i, doc in enumerate(manifests):
            if kind_of(doc) not in SCALER_KINDS:
                continue
            self._all.append(i)
            key = (namespace_or_unknown(doc), *_target_of(doc))
            if any(part is UNKNOWN for part in key):
                self._uncertain.append(i)
            elif all(isinstance(part, str) for part in key):  # else it can only match the malformed
                self._by_target.setdefault(key, []).append(i)

    def scaling(self, workload) -> tuple[list, list]:
        """(indexes of autoscalers that scale `workload`, indexes of those that might, their target unknown)."""
        key = (namespace_or_unknown(workload), kind_of(workload), get(workload, "metadata", "name"))
        plain = all(isinstance(part, str) for part in key)
        sure = list(self._by_target.get(key, [])) if plain else []
        maybe = []
        for i in self._uncertain if plain else self._all:
            hit = _scales(self._manifests[i], workload)
            (sure if hit is True else maybe if hit is UNKNOWN else []).append(i)
        return sorted(sure), maybe

    def effective_min_replicas(self, workload) -> Any:
        """The fewest replicas a workload runs: its autoscaler's floor (`scaler_floor`), else
        spec.replicas (default 1); UNKNOWN when that depends on a value unknown during preview."""
        sure, maybe = self.scaling(workload)
        if sure:
            return scaler_floor(self._manifests[sure[0]])
        if maybe:
            return UNKNOWN
        return int_or(get(workload, "spec", "replicas", default=1), 1)


def min_n(cfg) -> int:
    n = int_or(cfg.get("minReplicas"), 2)
    return 2 if n is UNKNOWN else n


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
    checks = [equal(labels.get(k, None), v) if k in labels else (UNKNOWN if v is UNKNOWN else False)
              for k, v in mapping(match_labels).items()]
    checks += [_expression_holds(e, labels) for e in sequence(expressions)]
    return all_of(checks)


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
            namespace, pair = namespace_or_unknown(pdb), _plain_pair(get(pdb, "spec", "selector"))
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
