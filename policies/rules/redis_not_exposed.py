"""Rule redis-not-exposed: Redis is never reachable from outside the cluster."""
from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from stateless_pack.policies.manifest import UNKNOWN, get, sequence
from stateless_pack.policies.rule import Rule, Violation

REDIS_PORT = 6379
_REDIS_WORDS = frozenset({"redis", "valkey"})


def _names_redis(value: Any) -> bool:
    return isinstance(value, str) and bool(_REDIS_WORDS & set(re.split(r"[-_./:]", value.lower())))


def _redis_evidence(service) -> tuple[Any, str]:
    """(True/False/UNKNOWN, why) does this Service route to Redis?"""
    ports, selector = get(service, "spec", "ports"), get(service, "spec", "selector")
    unknown = ports is UNKNOWN or selector is UNKNOWN
    for i, port in enumerate(sequence(ports)):
        if port is UNKNOWN:
            unknown = True
            continue
        for field in ("port", "targetPort", "name"):
            value = get(port, field)
            unknown = unknown or value is UNKNOWN
            if value == REDIS_PORT or value == str(REDIS_PORT) or _names_redis(value):
                return True, f"ports[{i}].{field} is {value!r}"
    if isinstance(selector, Mapping):
        for key, value in selector.items():
            unknown = unknown or value is UNKNOWN
            if _names_redis(value):
                return True, f"selector {key}={value}"
    return (UNKNOWN if unknown else False), ""


def _redis_not_exposed(manifest, _cfg):
    service_type, external_ips = get(manifest, "spec", "type"), get(manifest, "spec", "externalIPs")
    exposed = []
    if service_type is UNKNOWN:
        exposed.append(("spec.type", UNKNOWN))
    elif service_type in ("NodePort", "LoadBalancer"):
        exposed.append(("spec.type", f"type {service_type}"))
    if external_ips is UNKNOWN:
        exposed.append(("spec.externalIPs", UNKNOWN))
    elif sequence(external_ips):
        exposed.append(("spec.externalIPs", "externalIPs"))
    if not exposed:
        return
    redis, why = _redis_evidence(manifest)
    if redis is False:
        return
    for path, how in exposed:
        if redis is UNKNOWN or how is UNKNOWN:
            yield Violation(path, f"whether this Service exposes Redis outside the cluster is unknown "
                            f"during preview ({path} or its ports/selector)", unknown=True)
        else:
            yield Violation(path, f"Service exposes Redis outside the cluster through {how} ({why})")


RULE = Rule(
    name="redis-not-exposed",
    checkov_id="CKV_STL_13",
    category="data-store",
    description=(
        "Redis is never reachable from outside the cluster: a Service of type NodePort or LoadBalancer, "
        f"or with `externalIPs`, fails when it routes to Redis: a port or targetPort {REDIS_PORT}, a port "
        "name or named targetPort containing the word redis/valkey, or a selector label value containing "
        "that word (words split on - _ . / :)."
    ),
    remediation="Use a ClusterIP Service (the default) for Redis; clients in the cluster reach it by "
                "its DNS name. Remove externalIPs.",
    kinds=frozenset({"Service"}),
    check=_redis_not_exposed,
    judges_partial_manifests=True,  # flags only what a manifest contains
)
