"""Rule redis-not-exposed: Redis is never reachable from outside the cluster."""
from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from stateless_pack.policies.manifest import (
    UNKNOWN, WORKLOAD_KINDS, carries_pod_template, containers, dotted, get, pod_spec, sequence,
)
from stateless_pack.policies.rule import Rule, Violation
from stateless_pack.policies.rules.pod_unknowns import unknown_pod
from stateless_pack.policies.rules.redis_containers import REDIS_PORT, runs_redis

_REDIS_WORDS = frozenset({"redis", "valkey", "keydb", "dragonfly"})  # Redis and servers that speak its protocol


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


def _host_exposure(container, cpath) -> list[tuple[str, object]]:
    """(path, port or UNKNOWN) of each hostPort the container binds on its node."""
    ports = get(container, "ports")
    if ports is UNKNOWN:
        return [(dotted(cpath + ("ports",)), UNKNOWN)]
    found = []
    for i, port in enumerate(sequence(ports)):
        host_port = get(port, "hostPort")
        if host_port is UNKNOWN or (host_port not in (None, 0) and not isinstance(host_port, bool)):
            found.append((dotted(cpath + ("ports", i, "hostPort")), host_port))
    return found


def _workload_exposure(manifest):
    """Redis reachable on a node's address: a hostPort, or the pod on the node's network."""
    spec_path, spec = pod_spec(manifest)
    host_network = spec.get("hostNetwork")
    on_node_network = host_network is UNKNOWN or host_network is True
    network_path = dotted(spec_path + ("hostNetwork",))
    yield from unknown_pod(manifest, ("initContainers", "containers"), "whether Redis binds a node's ports")
    network_verdicts = []
    for cpath, container in containers(manifest):
        exposed = _host_exposure(container, cpath)
        if not exposed and not on_node_network:
            continue
        redis, how = runs_redis(container)
        if redis is False:
            continue
        name = container.get("name")
        for path, port in exposed:
            if redis is UNKNOWN or port is UNKNOWN:
                yield Violation(path, f"whether container {name!r} exposes Redis on its node is unknown "
                                f"during preview ({path} or what it runs)", unknown=True)
            else:
                yield Violation(path, f"Redis container {name!r} ({how}) binds hostPort {port} on its node: "
                                "reachable from outside the cluster")
        if on_node_network:
            network_verdicts.append((redis is True and host_network is True, name, how))
    if network_verdicts:  # one finding for the pod, definite if any Redis container surely is on it
        sure = next((v for v in network_verdicts if v[0]), None)
        if sure:
            yield Violation(network_path, f"Redis container {sure[1]!r} ({sure[2]}) runs on the node's "
                            "network (hostNetwork: true): reachable from outside the cluster")
        else:
            yield Violation(network_path, f"whether a Redis container runs on the node's network is "
                            f"unknown during preview ({network_path} or what the containers run)", unknown=True)


def _redis_not_exposed(manifest, _cfg):
    if carries_pod_template(manifest):  # a workload (a Knative Service too), not a core Service
        yield from _workload_exposure(manifest)
        return
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
        f"name or named targetPort containing the word {'/'.join(sorted(_REDIS_WORDS))}, or a selector "
        "label value containing that word (words split on - _ . / :). A Redis container (or one of a "
        "Redis-compatible server: Valkey, KeyDB, Dragonfly; recognised by image, command or port "
        "as in redis-auth) fails when it binds a `hostPort` or its pod uses `hostNetwork: true`: both "
        "put it on the node's address."
    ),
    remediation="Use a ClusterIP Service (the default) for Redis; clients in the cluster reach it by "
                "its DNS name. Remove externalIPs, hostPort and hostNetwork.",
    kinds=frozenset({"Service", *WORKLOAD_KINDS}),
    check=_redis_not_exposed,
    judges_partial_manifests=True,  # flags only what a manifest contains
)
