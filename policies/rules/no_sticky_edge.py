"""Rule no-sticky-edge: no sticky sessions at the edge (ingress controllers, Gateway API, Istio)."""
from __future__ import annotations

from typing import Any, Iterator

from stateless_pack.policies.manifest import UNKNOWN, api_group, dotted, find, kind_of, lower_text
from stateless_pack.policies.rule import Rule, Violation


def _go_true(value: Any) -> bool:
    # Traefik parses annotation booleans with Go's strconv.ParseBool.
    return value is True or lower_text(value) in {"1", "t", "true"}


# (kinds the controller reads it on, annotation key, does this value turn stickiness on?, what it is)
# Only keys a controller actually honours on that kind: the same key elsewhere does nothing.
_STICKY_ANNOTATIONS = (
    ({"Ingress"}, "nginx.ingress.kubernetes.io/affinity", lambda v: lower_text(v) == "cookie",
     "ingress-nginx cookie affinity"),
    ({"Ingress"}, "nginx.ingress.kubernetes.io/upstream-hash-by", lambda v: lower_text(v) != "",
     "ingress-nginx consistent hashing of requests to one pod"),
    ({"Service"}, "traefik.ingress.kubernetes.io/service.sticky.cookie", _go_true,
     "Traefik sticky cookie"),
    ({"Ingress", "Service"}, "haproxy.org/cookie-persistence", lambda v: lower_text(v) != "",
     "HAProxy Kubernetes Ingress cookie persistence"),
    ({"Ingress", "Service"}, "haproxy-ingress.github.io/affinity", lambda v: lower_text(v) == "cookie",
     "HAProxy Ingress cookie affinity"),
    ({"Ingress", "Service"}, "ingress.kubernetes.io/affinity", lambda v: lower_text(v) == "cookie",
     "HAProxy Ingress cookie affinity (legacy annotation prefix)"),
)

# CRD kind -> (API groups it belongs to, patterns whose presence means sticky, what it is)
_STICKY_FIELDS = {
    "IngressRoute": ({"traefik.io", "traefik.containo.us"},
                     [("spec", "routes", "*", "services", "*", "sticky", "cookie")],
                     "Traefik IngressRoute sticky cookie"),
    "TraefikService": ({"traefik.io", "traefik.containo.us"},
                       [("spec", "weighted", "sticky", "cookie"),
                        ("spec", "weighted", "services", "*", "sticky", "cookie")],
                       "Traefik weighted service sticky cookie"),
    "HTTPRoute": ({"gateway.networking.k8s.io"}, [("spec", "rules", "*", "sessionPersistence")],
                  "Gateway API session persistence"),
    "GRPCRoute": ({"gateway.networking.k8s.io"}, [("spec", "rules", "*", "sessionPersistence")],
                  "Gateway API session persistence"),
    "BackendLBPolicy": ({"gateway.networking.k8s.io"}, [("spec", "sessionPersistence")],
                        "Gateway API session persistence"),
    "DestinationRule": ({"networking.istio.io"},
                        [(*policy, *where, "loadBalancer", "consistentHash")
                         for policy in (("spec", "trafficPolicy"), ("spec", "subsets", "*", "trafficPolicy"))
                         for where in ((), ("portLevelSettings", "*"))],
                        "Istio consistent-hash load balancing"),
}


def _sticky_annotations(manifest) -> Iterator[Violation]:
    kind = kind_of(manifest)
    relevant = [entry for entry in _STICKY_ANNOTATIONS if kind in entry[0]]
    if not relevant:
        return
    for path, annotations in find(manifest, "metadata", "annotations"):
        if annotations is UNKNOWN:
            yield Violation(dotted(path) or "metadata", "annotations are unknown during preview: "
                            "cannot tell whether they turn on sticky sessions", unknown=True)
            return
        if not isinstance(annotations, dict):
            return
        for _, key, sticky, what in relevant:
            if key not in annotations:
                continue
            value = annotations[key]
            where = dotted(("metadata", "annotations", key))
            if value is UNKNOWN:
                yield Violation(where, f"{key} is unknown during preview", unknown=True)
            elif sticky(value):
                yield Violation(where, f"{key}: {value!r} turns on {what}: clients stick to one pod")


def _sticky_fields(manifest) -> Iterator[Violation]:
    known = _STICKY_FIELDS.get(kind_of(manifest))
    if known is None:
        return
    groups, patterns, what = known
    group = api_group(manifest)
    if group is not None and group not in groups:
        return  # a same-named kind of another API: not what this controller reads
    seen = set()
    for pattern in patterns:
        for path, value in find(manifest, *pattern):
            if value is None or path in seen:
                continue
            seen.add(path)  # an UNKNOWN high up is found by every pattern: report it once
            if value is UNKNOWN:
                yield Violation(dotted(path) or "spec", f"{dotted(path) or 'the resource'} is unknown "
                                "during preview: cannot tell whether it turns on sticky sessions",
                                unknown=True)
            else:
                yield Violation(dotted(path), f"{what} is configured ({dotted(path)}): "
                                "clients stick to one pod")


def _sticky_edge(manifest, _cfg):
    yield from _sticky_annotations(manifest)
    yield from _sticky_fields(manifest)


RULE = Rule(
    name="no-sticky-edge",
    checkov_id="CKV_STL_2",
    category="sessions",
    description=(
        "No sticky sessions at the edge, wherever a controller would honour them: "
        "ingress-nginx `nginx.ingress.kubernetes.io/affinity: cookie` or a non-empty "
        "`upstream-hash-by` on an Ingress (`affinity-mode` alone does nothing); Traefik "
        "`traefik.ingress.kubernetes.io/service.sticky.cookie: \"true\"` on a Service (Traefik reads it "
        "only there), `sticky.cookie` on IngressRoute services and on weighted TraefikServices; HAProxy "
        "`haproxy.org/cookie-persistence` (non-empty) or `haproxy-ingress.github.io/affinity` / "
        "`ingress.kubernetes.io/affinity: cookie` on an Ingress or Service; Gateway API "
        "`sessionPersistence` on HTTPRoute/GRPCRoute rules and BackendLBPolicy; Istio DestinationRule "
        "`loadBalancer.consistentHash` (top-level, per port, per subset)."
    ),
    remediation="Remove the affinity/persistence setting and keep session state in the shared Redis "
                "session store, so any instance can serve any request; sticky sessions need a waiver "
                "approved by the Head of DevOps.",
    kinds=frozenset({"Ingress", "Service", *_STICKY_FIELDS}),
    check=_sticky_edge,
    judges_partial_manifests=True,  # flags only what a manifest contains
    waiver_approver="head-of-devops",
)
