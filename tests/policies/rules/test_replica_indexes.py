"""The indexed stack rules (HpaIndex, PDBs by namespace) decide exactly like the brute force they replaced.

min-replicas and pdb-coverage used to scan the whole stack for every workload (O(n^2)). They now
index autoscalers (HPAs, KEDA ScaledObjects) once by (namespace, scaleTargetRef.kind,
scaleTargetRef.name) and only look at the PodDisruptionBudgets that may select the workload's pods.
The property tests below compare them, violation by violation, with a brute-force oracle (the
pre-index implementation, brought to the same semantics: every replicated controller, autoscalers'
ranges, budgets that keep no replica), on arbitrary small stacks full of preview UNKNOWNs and
malformed values.
"""
from __future__ import annotations

from typing import Any, Iterator

import pytest
from hypothesis import event, given, settings, strategies as st

from stateless_pack.policies.catalog import Violation
from stateless_pack.policies.manifest import UNKNOWN, get, kind_of, mapping, name_of, sequence
from stateless_pack.policies.rules import min_replicas, pdb_coverage
from stateless_pack.policies.rules.replica_indexes import (
    SCALER_KINDS, HpaIndex, _scales, all_of as _all, equal as _equal, int_or as _int_or, min_n as _min_n,
    namespace_or_unknown as _namespace, replicated_workload, scaler_floor, selects,
)


# --- oracle: the brute force the indexes replace ---------------------------------------------------
# What decides without an index (an autoscaler's own range, a budget's arithmetic) is the rules' own
# code; what the indexes answer (which autoscaler scales which workload, which PDB selects it) is
# recomputed here by scanning every manifest. Do not "fix" these to call the indexes.

def _scaling_hpas(manifests, workload) -> tuple[list, list]:
    """Brute force: scans every manifest for autoscalers that (might) scale `workload`."""
    sure, maybe = [], []
    for i, doc in enumerate(manifests):
        if kind_of(doc) in SCALER_KINDS:
            hit = _scales(doc, workload)
            (sure if hit is True else maybe if hit is UNKNOWN else []).append(i)
    return sure, maybe


def effective_min_replicas(manifests, workload) -> Any:
    """Brute-force effective minimum replica count."""
    sure, maybe = _scaling_hpas(manifests, workload)
    if sure:
        return scaler_floor(manifests[sure[0]])
    if maybe:
        return UNKNOWN
    return _int_or(get(workload, "spec", "replicas", default=1), 1)


def old_min_replicas(manifests, cfg) -> Iterator[tuple[int, Violation]]:
    """Brute-force min-replicas (O(n^2) autoscaler scan)."""
    n = _min_n(cfg)
    docs = sequence(manifests)
    for i, doc in enumerate(docs):
        kind = kind_of(doc)
        if kind == "HorizontalPodAutoscaler":
            yield from ((i, v) for v in min_replicas._hpa(doc, n))
        elif kind == "ScaledObject":
            yield from ((i, v) for v in min_replicas._scaled_object(doc, n))
        elif replicated_workload(doc):
            sure, maybe = _scaling_hpas(docs, doc)
            if sure:
                continue  # the autoscaler decides, and it is judged on its own
            replicas = _int_or(get(doc, "spec", "replicas", default=1), 1)
            if replicas is UNKNOWN:
                yield i, Violation("spec.replicas", "replicas is unknown during preview", unknown=True)
            elif replicas < n and maybe:
                yield i, Violation("spec.replicas", f"replicas is {replicas} and whether an autoscaler "
                                   f"scales this {kind} is unknown during preview", unknown=True)
            elif replicas < n:
                yield i, Violation("spec.replicas", f"{kind} runs {replicas} replica(s) (unset means 1) "
                                   f"and no HorizontalPodAutoscaler or KEDA ScaledObject keeps {n} or more")


def old_pdb_coverage(manifests, _cfg) -> Iterator[tuple[int, Violation]]:
    """Brute-force pdb-coverage (every PDB of the stack for every workload)."""
    docs = sequence(manifests)
    pdbs = [doc for doc in docs if kind_of(doc) == "PodDisruptionBudget"]
    for i, doc in enumerate(docs):
        if not replicated_workload(doc):
            continue
        replicas = effective_min_replicas(docs, doc)
        if isinstance(replicas, int) and replicas < 2:
            continue  # a single replica: min-replicas speaks about that
        labels = get(doc, "spec", "template", "metadata", "labels")
        chosen = [_all([_equal(_namespace(pdb), _namespace(doc)), selects(get(pdb, "spec", "selector"), labels)])
                  for pdb in pdbs]
        covered = [_all([c, pdb_coverage.keeps_a_replica(pdb, replicas)]) for c, pdb in zip(chosen, pdbs)]
        if any(c is True for c in covered):
            continue
        path, what = "spec.template.metadata.labels", f"{kind_of(doc)} {name_of(doc)!r}"
        selecting = [pdb for c, pdb in zip(chosen, pdbs) if c is True]
        if replicas is UNKNOWN or any(c is UNKNOWN for c in covered):
            yield i, Violation(path, f"{what}: its replica count or whether a PodDisruptionBudget selects its "
                               "pods and keeps one of them is unknown during preview", unknown=True)
        elif selecting:
            pdb = min(selecting, key=lambda p: (name_of(p), pdb_coverage._budget_text(p)))
            yield i, Violation(path, f"{what} runs {replicas} replicas but PodDisruptionBudget "
                               f"{name_of(pdb)!r} ({pdb_coverage._budget_text(pdb)}) lets all of them be "
                               "evicted at once: it keeps none")
        else:
            yield i, Violation(path, f"{what} runs {replicas} replicas but no PodDisruptionBudget in its "
                               f"namespace selects its pod labels {dict(mapping(labels))!r}")


# --- strategies: small pools, so HPAs and PDBs actually hit their workloads ----------------------

ABSENT = object()  # a field that is left out of the manifest


def _put(d: dict, key: str, value) -> dict:
    if value is not ABSENT:
        d[key] = value
    return d


# Each pool leans towards one plain value (one_of picks a branch uniformly), so that HPAs surely
# scale their workloads often enough, next to the unknown and malformed cases.
namespaces = st.one_of(st.sampled_from([ABSENT, "a"]),
                       st.sampled_from([ABSENT, "default", "a", "b", UNKNOWN, 5, ""]))
names = st.one_of(st.just("web"), st.sampled_from(["web", "api", UNKNOWN, None, ABSENT, 7]))
counts = st.sampled_from([ABSENT, 0, 1, 2, 3, UNKNOWN, "x"])
label_keys = st.sampled_from(["app", "tier"])
label_values = st.sampled_from(["web", "api", "db", UNKNOWN])
labels = st.one_of(st.dictionaries(label_keys, label_values, max_size=2),
                   st.sampled_from([ABSENT, UNKNOWN, ["app"]]))
target_kinds = st.one_of(st.just("Deployment"),
                         st.sampled_from(["Deployment", "StatefulSet", "Rollout", UNKNOWN, ABSENT]))
budgets = st.sampled_from([ABSENT, 0, 1, 2, "50%", "67%", "100%", "0%", UNKNOWN, "x"])
owners = st.sampled_from([ABSENT, [], [{"kind": "Deployment", "name": "web", "controller": True}],
                          [{"kind": "Deployment", "name": "web"}], UNKNOWN])


@st.composite
def metadata(draw):
    if draw(st.integers(0, 19)) == 0:
        return UNKNOWN
    meta: dict = {}
    _put(meta, "name", draw(names))
    _put(meta, "namespace", draw(namespaces))
    return meta


@st.composite
def workload(draw, kind):
    meta = draw(metadata())
    if isinstance(meta, dict):
        _put(meta, "ownerReferences", draw(owners))
    spec: dict = {}
    _put(spec, "replicas", draw(counts))
    template_labels = draw(labels)
    if template_labels is not ABSENT:
        spec["template"] = {"metadata": {"labels": template_labels}}
    if draw(st.integers(0, 24)) == 0:
        spec = UNKNOWN
    return {"kind": kind, "metadata": meta, "spec": spec}


@st.composite
def hpa(draw):
    ref: Any = {}
    _put(ref, "kind", draw(target_kinds))
    _put(ref, "name", draw(names))
    if draw(st.integers(0, 19)) == 0:
        ref = UNKNOWN
    spec: Any = {"scaleTargetRef": ref}
    keda = draw(st.booleans())
    if keda:  # a KEDA ScaledObject: a range, its kind defaulting to Deployment
        _put(spec, "minReplicaCount", draw(counts))
        _put(spec, "maxReplicaCount", draw(counts))
    else:
        _put(spec, "minReplicas", draw(counts))
    if draw(st.integers(0, 24)) == 0:
        spec = UNKNOWN
    kind = "ScaledObject" if keda else "HorizontalPodAutoscaler"
    return {"kind": kind, "metadata": draw(metadata()), "spec": spec}


expressions = st.one_of(
    st.builds(lambda key, op, values: _put({"key": key, "operator": op}, "values", values),
              st.sampled_from(["app", "tier", UNKNOWN, 3]),
              st.sampled_from(["In", "NotIn", "Exists", "DoesNotExist", "Bogus", UNKNOWN]),
              st.one_of(st.just(ABSENT), st.just(UNKNOWN),
                        st.lists(st.sampled_from(["web", "api", "db", UNKNOWN]), max_size=2))),
    st.just(UNKNOWN),
)


@st.composite
def pdb(draw):
    selector: Any = {}
    _put(selector, "matchLabels", draw(st.one_of(st.dictionaries(label_keys, label_values, max_size=2),
                                                 st.sampled_from([ABSENT, UNKNOWN]))))
    _put(selector, "matchExpressions", draw(st.one_of(st.lists(expressions, max_size=2),
                                                      st.sampled_from([ABSENT, UNKNOWN]))))
    choice = draw(st.integers(0, 14))
    selector = {0: UNKNOWN, 1: ABSENT, 2: "app=web"}.get(choice, selector)
    spec: dict = _put({}, "selector", selector)
    _put(spec, draw(st.sampled_from(["maxUnavailable", "minAvailable"])), draw(budgets))
    return {"kind": "PodDisruptionBudget", "metadata": draw(metadata()), "spec": spec}


other = st.sampled_from([{"kind": "Service", "metadata": {"name": "web"}},
                         {"kind": "ConfigMap", "metadata": {"name": "api", "namespace": "a"}},
                         {"metadata": {"name": "web"}}, "not a manifest", UNKNOWN])

manifest = st.one_of(workload("Deployment"), workload("Deployment"), workload("StatefulSet"),
                     workload("ReplicaSet"), workload("Rollout"), hpa(), hpa(), pdb(), pdb(), other)
stacks = st.lists(manifest, max_size=12)


def _label(docs) -> None:
    """Record how often the generated stacks exercise the interesting paths."""
    workloads = [d for d in docs if replicated_workload(d)]
    index = HpaIndex(docs)
    sure = sum(1 for w in workloads if index.scaling(w)[0])
    maybe = sum(1 for w in workloads if index.scaling(w)[1])
    event("an HPA surely scales a workload" if sure else "no HPA surely scales a workload")
    event("an HPA might scale a workload" if maybe else "no HPA might scale a workload")


# --- the properties -----------------------------------------------------------------------------

@settings(max_examples=300, deadline=None)
@given(stacks, st.sampled_from([{}, {"minReplicas": 3}]))
def test_min_replicas_matches_the_brute_force(docs, cfg):
    _label(docs)
    assert list(min_replicas._min_replicas(docs, cfg)) == list(old_min_replicas(docs, cfg))


@settings(max_examples=300, deadline=None)
@given(stacks)
def test_pdb_coverage_matches_the_brute_force(docs):
    _label(docs)
    new = list(pdb_coverage._pdb_coverage(docs, {}))
    event("pdb-coverage reports something" if new else "pdb-coverage reports nothing")
    assert new == list(old_pdb_coverage(docs, {}))


@settings(max_examples=300, deadline=None)
@given(stacks)
def test_effective_min_replicas_matches_the_brute_force(docs):
    index = HpaIndex(docs)
    for doc in docs:
        if replicated_workload(doc):
            new, old = index.effective_min_replicas(doc), effective_min_replicas(docs, doc)
            assert new is UNKNOWN if old is UNKNOWN else new == old
            sure, maybe = index.scaling(doc)
            assert (sure, maybe) == _scaling_hpas(docs, doc)


def test_violation_equality_is_by_value():
    """The comparisons above rely on Violation being a value (dataclass equality)."""
    assert Violation("p", "m", unknown=True) == Violation("p", "m", unknown=True)
    assert Violation("p", "m") != Violation("p", "m", unknown=True)


# --- explicit examples: the pools do produce matches -------------------------------------------

def _deployment(name, replicas=1, namespace="a", labels=None):
    return {"kind": "Deployment", "metadata": {"name": name, "namespace": namespace},
            "spec": {"replicas": replicas, "template": {"metadata": {"labels": labels or {"app": name}}}}}


def _hpa(target, min_replicas, namespace="a", kind="Deployment"):
    return {"kind": "HorizontalPodAutoscaler", "metadata": {"name": f"{target}-hpa", "namespace": namespace},
            "spec": {"scaleTargetRef": {"kind": kind, "name": target}, "minReplicas": min_replicas}}


def _pdb(app, namespace="a"):
    return {"kind": "PodDisruptionBudget", "metadata": {"name": f"{app}-pdb", "namespace": namespace},
            "spec": {"selector": {"matchLabels": {"app": app}}}}


def test_an_hpa_decides_the_deployment_minimum():
    docs = [_deployment("web", replicas=1), _hpa("web", 3), _deployment("api", replicas=1)]
    index = HpaIndex(docs)
    assert index.scaling(docs[0]) == ([1], [])
    assert index.effective_min_replicas(docs[0]) == 3
    assert index.effective_min_replicas(docs[2]) == 1
    found = list(min_replicas._min_replicas(docs, {"minReplicas": 3}))
    assert [i for i, _ in found] == [2]  # web is scaled by its HPA (minReplicas 3); api runs 1
    assert found == list(old_min_replicas(docs, {"minReplicas": 3}))
    # pdb-coverage sees web's effective 3 replicas and wants a PDB for it
    assert [i for i, _ in pdb_coverage._pdb_coverage(docs, {})] == [0]
    assert list(pdb_coverage._pdb_coverage(docs + [_pdb("web")], {})) == []


def test_an_unknown_target_name_might_scale_and_is_reported_unknown():
    docs = [_deployment("web", replicas=1), _hpa(UNKNOWN, 3)]
    assert HpaIndex(docs).scaling(docs[0]) == ([], [1])
    found = list(min_replicas._min_replicas(docs, {}))
    assert found == list(old_min_replicas(docs, {}))
    assert [(i, v.unknown) for i, v in found] == [(0, True)]


def test_a_pdb_in_another_namespace_never_covers_and_one_of_unknown_namespace_might():
    other = [_deployment("web", replicas=2), _pdb("web", namespace="b")]
    assert [(i, v.unknown) for i, v in pdb_coverage._pdb_coverage(other, {})] == [(0, False)]
    unknown = [_deployment("web", replicas=2), _pdb("web", namespace=UNKNOWN)]
    assert [(i, v.unknown) for i, v in pdb_coverage._pdb_coverage(unknown, {})] == [(0, True)]
    for docs in (other, unknown):
        assert list(pdb_coverage._pdb_coverage(docs, {})) == list(old_pdb_coverage(docs, {}))


# --- scale: the index is correct on large stacks ------------------------------------------------

N = 2000


def _large_stack(namespace_of_index):
    docs = []
    for i in range(N):
        ns = namespace_of_index(i)
        docs += [_deployment(f"d{i}", replicas=1, namespace=ns), _hpa(f"d{i}", 2, namespace=ns),
                 _pdb(f"d{i}", namespace=ns)]
    return docs


def test_min_replicas_on_2000_deployments_hpas_and_pdbs_in_one_namespace():
    docs = _large_stack(lambda i: "a")
    assert list(min_replicas._min_replicas(docs, {})) == []  # every Deployment's HPA keeps 2
    index = HpaIndex(docs)
    assert all(index.scaling(docs[3 * i]) == ([3 * i + 1], []) for i in range(N))

    docs[3 * 1234 + 1]["spec"]["scaleTargetRef"]["name"] = "elsewhere"  # d1234 loses its HPA
    found = list(min_replicas._min_replicas(docs, {}))
    assert found == [(3 * 1234, Violation("spec.replicas", "Deployment runs 1 replica(s) (unset means 1) "
                                          "and no HorizontalPodAutoscaler or KEDA ScaledObject keeps 2 or more"))]


def test_pdb_coverage_on_2000_deployments_hpas_and_pdbs_in_one_namespace():
    # PDBs are indexed by a matchLabels pair too: one namespace of 2,000 PDBs is no quadratic scan.
    docs = _large_stack(lambda i: "a")
    assert list(min_replicas._min_replicas(docs, {})) == []
    assert list(pdb_coverage._pdb_coverage(docs, {})) == []  # every HPA keeps 2 and every PDB selects

    del docs[3 * 777 + 2]  # d777 loses its PodDisruptionBudget
    found = list(pdb_coverage._pdb_coverage(docs, {}))
    assert found == [(3 * 777, Violation(
        "spec.template.metadata.labels",
        "Deployment 'd777' runs 2 replicas but no PodDisruptionBudget in its namespace selects its pod "
        "labels {'app': 'd777'}"))]
