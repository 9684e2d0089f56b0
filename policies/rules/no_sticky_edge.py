"""Rule no-sticky-edge: no sticky sessions at the edge (ingress controllers, Gateway API, Istio)."""
from __future__ import annotations

import re
from typing import Any, Iterator

from stateless_pack.policies.manifest import UNKNOWN, api_group, dotted, find, get, kind_of, lower_text, sequence
from stateless_pack.policies.rule import Rule, Violation


def _go_true(value: Any) -> bool:
    # Traefik, the Application Gateway controller: Go's strconv.ParseBool.
    return value is True or lower_text(value) in {"1", "t", "true"}


def _non_empty(value: Any) -> bool:
    return lower_text(value) != ""


def _target_group_stickiness(value: Any) -> bool:
    """AWS Load Balancer Controller target group attributes, a stringMap `k1=v1,k2=v2`:
    `stickiness.enabled=true` turns stickiness on (lb_cookie / app_cookie on ALB, source_ip on NLB)."""
    attributes = dict(part.split("=", 1) for part in str(value).split(",") if "=" in part)
    return lower_text({k.strip(): v for k, v in attributes.items()}.get("stickiness.enabled")) == "true"


# NGINX directives that pin clients to one upstream: a consistent `hash` (on $cookie_..., or any
# key), `ip_hash`, NGINX Plus `sticky`. A directive starts a line or follows `;`, `{` or `}`.
_STICKY_DIRECTIVE = re.compile(r"(?:^|[;{}])\s*(?:hash|ip_hash|sticky)(?:\s|;)", re.MULTILINE)


def _sticky_snippet(value: Any) -> bool:
    text = re.sub(r"#[^\n]*", "", value) if isinstance(value, str) else ""
    return bool(_STICKY_DIRECTIVE.search(text))


# (kinds the controller reads it on, annotation key, does this value turn stickiness on?, what it is)
# Only keys a controller actually honours on that kind: the same key elsewhere does nothing.
# Sources: ingress-nginx annotations (affinity, upstream-hash-by, configuration-/server-snippet);
# Traefik 1.7 docs/configuration/backends/kubernetes.md ("applicable on the Service object":
# traefik.ingress.kubernetes.io/affinity, deprecated traefik.backend.loadbalancer.sticky, both prefixes
# traefik.ingress.kubernetes.io/ and ingress.kubernetes.io/) and 1.5's traefik.backend.loadbalancer.
# stickiness; aws-load-balancer-controller docs/guide/ingress/annotations.md (target-group-attributes:
# Ingress and Service) and its Service annotations (aws-load-balancer-target-group-attributes);
# Application Gateway Ingress Controller annotations (cookie-based-affinity, bool); F5 NGINX Ingress
# Controller's nginx.com/sticky-cookie-services (NGINX Plus).
_STICKY_ANNOTATIONS = (
    ({"Ingress"}, "nginx.ingress.kubernetes.io/affinity", lambda v: lower_text(v) == "cookie",
     "ingress-nginx cookie affinity"),
    ({"Ingress"}, "nginx.ingress.kubernetes.io/upstream-hash-by", _non_empty,
     "ingress-nginx consistent hashing of requests to one pod"),
    ({"Ingress"}, "nginx.ingress.kubernetes.io/configuration-snippet", _sticky_snippet,
     "NGINX hashing or sticky directives in an ingress-nginx snippet"),
    ({"Ingress"}, "nginx.ingress.kubernetes.io/server-snippet", _sticky_snippet,
     "NGINX hashing or sticky directives in an ingress-nginx snippet"),
    ({"Ingress"}, "nginx.com/sticky-cookie-services", _non_empty, "NGINX Plus sticky cookies"),
    ({"Service"}, "traefik.ingress.kubernetes.io/service.sticky.cookie", _go_true,
     "Traefik sticky cookie"),
    ({"Service"}, "traefik.ingress.kubernetes.io/affinity", _go_true, "Traefik 1.x sticky sessions"),
    ({"Service"}, "traefik.backend.loadbalancer.sticky", lambda v: lower_text(v) == "true",
     "Traefik 1.x sticky sessions (deprecated annotation)"),
    ({"Service"}, "traefik.backend.loadbalancer.stickiness", lambda v: lower_text(v) == "true",
     "Traefik 1.5 sticky sessions"),
    ({"Ingress", "Service"}, "haproxy.org/cookie-persistence", _non_empty,
     "HAProxy Kubernetes Ingress cookie persistence"),
    ({"Ingress", "Service"}, "haproxy-ingress.github.io/affinity", lambda v: lower_text(v) == "cookie",
     "HAProxy Ingress cookie affinity"),
    ({"Ingress", "Service"}, "ingress.kubernetes.io/affinity", lambda v: lower_text(v) == "cookie",
     "HAProxy Ingress cookie affinity (legacy annotation prefix)"),
    ({"Service"}, "ingress.kubernetes.io/affinity", _go_true, "Traefik 1.x sticky sessions"),
    ({"Ingress", "Service"}, "alb.ingress.kubernetes.io/target-group-attributes", _target_group_stickiness,
     "AWS ALB target group stickiness"),
    ({"Service"}, "service.beta.kubernetes.io/aws-load-balancer-target-group-attributes",
     _target_group_stickiness, "AWS NLB target group stickiness"),
    ({"Ingress"}, "appgw.ingress.kubernetes.io/cookie-based-affinity", _go_true,
     "Azure Application Gateway cookie-based affinity"),
)


def _session_affinity(value: Any, _parent: Any) -> bool:
    return lower_text(value) not in {"", "none"}


def _contour_policy(strategy: Any, policy: Any) -> Any:
    """Contour's Cookie strategy, or RequestHash with a valid hash policy (exactly one of
    hashSourceIP, headerHashOptions, queryParameterHashOptions; without one Contour balances round
    robin). internal/dag/policy.go loadBalancerRequestHashPolicies."""
    if strategy != "RequestHash":
        return strategy == "Cookie"
    hashes = get(policy, "requestHashPolicies")
    if hashes is UNKNOWN or any(h is UNKNOWN for h in sequence(hashes)):
        return UNKNOWN
    return any([get(h, "hashSourceIP") is True, get(h, "headerHashOptions") is not None,
                get(h, "queryParameterHashOptions") is not None].count(True) == 1 for h in sequence(hashes))


def _consistent_hash(value: Any, _parent: Any) -> bool:
    return value == "ConsistentHash"  # Envoy Gateway: on a cookie, header, query parameter or client IP


# CRD kind -> (API groups it belongs to, [(pattern, test of the value found)], what it is): a test of
# None means present at all; a test gets the value and the object holding it.
_SESSION_PERSISTENCE = "Gateway API session persistence"
_STICKY_FIELDS = {
    "IngressRoute": ({"traefik.io", "traefik.containo.us"},
                     [(("spec", "routes", "*", "services", "*", "sticky", "cookie"), None)],
                     "Traefik IngressRoute sticky cookie"),
    "TraefikService": ({"traefik.io", "traefik.containo.us"},
                       [(("spec", "weighted", "sticky", "cookie"), None),
                        (("spec", "weighted", "services", "*", "sticky", "cookie"), None)],
                       "Traefik weighted service sticky cookie"),
    "HTTPRoute": ({"gateway.networking.k8s.io"}, [(("spec", "rules", "*", "sessionPersistence"), None)],
                  _SESSION_PERSISTENCE),
    "GRPCRoute": ({"gateway.networking.k8s.io"}, [(("spec", "rules", "*", "sessionPersistence"), None)],
                  _SESSION_PERSISTENCE),
    "BackendLBPolicy": ({"gateway.networking.k8s.io"}, [(("spec", "sessionPersistence"), None)],
                        _SESSION_PERSISTENCE),
    # Gateway API v1.3 renamed the experimental BackendLBPolicy into XBackendTrafficPolicy.
    "XBackendTrafficPolicy": ({"gateway.networking.x-k8s.io"}, [(("spec", "sessionPersistence"), None)],
                              _SESSION_PERSISTENCE),
    "DestinationRule": ({"networking.istio.io"},
                        [((*policy, *where, "loadBalancer", "consistentHash"), None)
                         for policy in (("spec", "trafficPolicy"), ("spec", "subsets", "*", "trafficPolicy"))
                         for where in ((), ("portLevelSettings", "*"))],
                        "Istio consistent-hash load balancing"),
    "BackendConfig": ({"cloud.google.com"}, [(("spec", "sessionAffinity", "affinityType"), _session_affinity)],
                      "GKE BackendConfig session affinity"),
    "GCPBackendPolicy": ({"networking.gke.io"},
                         [(("spec", "default", "sessionAffinity", "type"), _session_affinity)],
                         "GKE Gateway session affinity"),
    "HTTPProxy": ({"projectcontour.io"},
                  [(("spec", "routes", "*", "loadBalancerPolicy", "strategy"), _contour_policy),
                   (("spec", "tcpproxy", "loadBalancerPolicy", "strategy"), _contour_policy)],
                  "Contour cookie affinity or request hashing"),
    "BackendTrafficPolicy": ({"gateway.envoyproxy.io"}, [(("spec", "loadBalancer", "type"), _consistent_hash)],
                             "Envoy Gateway consistent-hash load balancing"),
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
        for key in dict.fromkeys(entry[1] for entry in relevant if entry[1] in annotations):
            value = annotations[key]
            where = dotted(("metadata", "annotations", key))
            found = [what for _, k, sticky, what in relevant if k == key and value is not UNKNOWN and sticky(value)]
            if value is UNKNOWN:
                yield Violation(where, f"{key} is unknown during preview", unknown=True)
            elif found:
                shown = value if len(str(value)) <= 80 else f"{str(value)[:77]}..."
                yield Violation(where, f"{key}: {shown!r} turns on {found[0]}: clients stick to one pod")


def _field_violation(manifest, path: tuple, value: Any, sticky, what: str) -> Violation | None:
    verdict = UNKNOWN if value is UNKNOWN else True if sticky is None else sticky(value, get(manifest, *path[:-1]))
    if verdict is UNKNOWN:
        return Violation(dotted(path) or "spec", f"{dotted(path) or 'the resource'} is unknown during preview: "
                         "cannot tell whether it turns on sticky sessions", unknown=True)
    if not verdict:
        return None
    shown = f"{dotted(path)}: {value!r}" if sticky is not None else dotted(path)
    return Violation(dotted(path), f"{what} is configured ({shown}): clients stick to one pod")


def _sticky_fields(manifest) -> Iterator[Violation]:
    known = _STICKY_FIELDS.get(kind_of(manifest))
    if known is None:
        return
    groups, patterns, what = known
    group = api_group(manifest)
    if group is not None and group not in groups:
        return  # a same-named kind of another API: not what this controller reads
    seen = set()
    for pattern, sticky in patterns:
        for path, value in find(manifest, *pattern):
            if value is None or path in seen:
                continue
            seen.add(path)  # an UNKNOWN high up is found by every pattern: report it once
            found = _field_violation(manifest, path, value, sticky, what)
            if found is not None:
                yield found


def _sticky_edge(manifest, _cfg):
    yield from _sticky_annotations(manifest)
    yield from _sticky_fields(manifest)


RULE = Rule(
    name="no-sticky-edge",
    checkov_id="CKV_STL_2",
    category="sessions",
    description=(
        "No sticky sessions at the edge, wherever a controller would honour them: "
        "ingress-nginx `nginx.ingress.kubernetes.io/affinity: cookie`, a non-empty "
        "`upstream-hash-by`, or a `configuration-snippet` / `server-snippet` with an NGINX `hash`, "
        "`ip_hash` or `sticky` directive on an Ingress (`affinity-mode` alone does nothing); F5 NGINX "
        "`nginx.com/sticky-cookie-services`; Traefik `traefik.ingress.kubernetes.io/service.sticky.cookie: "
        "\"true\"` on a Service (Traefik reads it only there), `sticky.cookie` on IngressRoute services and "
        "on weighted TraefikServices, and Traefik 1.x's Service annotations "
        "(`traefik.ingress.kubernetes.io/affinity` or `ingress.kubernetes.io/affinity: \"true\"`, "
        "`traefik.backend.loadbalancer.sticky` / `.stickiness: \"true\"`); on an Ingress or Service, HAProxy "
        "`haproxy.org/cookie-persistence` (non-empty), `haproxy-ingress.github.io/affinity` or "
        "`ingress.kubernetes.io/affinity: cookie`; AWS Load Balancer "
        "Controller `alb.ingress.kubernetes.io/target-group-attributes` (Ingress, Service) and "
        "`service.beta.kubernetes.io/aws-load-balancer-target-group-attributes` (Service) with "
        "`stickiness.enabled=true`; `appgw.ingress.kubernetes.io/cookie-based-affinity: \"true\"` "
        "(Azure Application Gateway); GKE BackendConfig `sessionAffinity.affinityType` and "
        "GCPBackendPolicy `default.sessionAffinity.type` other than NONE; Contour HTTPProxy "
        "`loadBalancerPolicy.strategy: Cookie`, or `RequestHash` with a hash policy (per route and "
        "for `tcpproxy`); Envoy Gateway BackendTrafficPolicy `loadBalancer.type: ConsistentHash`; "
        "Gateway API `sessionPersistence` on HTTPRoute/GRPCRoute rules, BackendLBPolicy and "
        "XBackendTrafficPolicy; Istio DestinationRule `loadBalancer.consistentHash` (top-level, per "
        "port, per subset)."
    ),
    remediation="Remove the affinity/persistence setting and keep session state in the shared Redis "
                "session store, so any instance can serve any request; sticky sessions need a waiver "
                "approved by the Head of DevOps.",
    kinds=frozenset({"Ingress", "Service", *_STICKY_FIELDS}),
    check=_sticky_edge,
    judges_partial_manifests=True,  # flags only what a manifest contains
    waiver_approver="head-of-devops",
)
