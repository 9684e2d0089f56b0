"""Session rules: no sticky sessions (Service, edge proxies, meshes), no server-local session stores."""
from __future__ import annotations

from typing import Any, Iterator

from policies.catalog import Rule, Violation
from policies.manifest import (
    UNKNOWN, WORKLOAD_KINDS, api_group, containers, dotted, env_entries, find, get, is_unknown,
    kind_of, pod_unknowns,
)


def _service_affinity(manifest, _cfg):
    affinity = get(manifest, "spec", "sessionAffinity")
    if is_unknown(affinity):
        yield Violation("spec.sessionAffinity", "sessionAffinity is unknown during preview", unknown=True)
    elif affinity == "ClientIP":
        yield Violation("spec.sessionAffinity", "sessionAffinity is ClientIP: clients stick to one pod")


NO_STICKY_SERVICE = Rule(
    name="no-sticky-service",
    checkov_id="CKV_STL_1",
    category="sessions",
    description="Services must not pin clients to one pod (sessionAffinity: ClientIP).",
    remediation="Set spec.sessionAffinity to None and keep session state in the shared Redis session "
                "store; sticky sessions need a waiver approved by the Head of DevOps.",
    kinds=frozenset({"Service"}),
    check=_service_affinity,
    waiver_approver="head-of-devops",
)


# --- no-sticky-edge ---------------------------------------------------------------------------

def _text(value: Any) -> str:
    return str(value).strip().lower() if value is not None else ""


def _go_true(value: Any) -> bool:
    # Traefik parses annotation booleans with Go's strconv.ParseBool.
    return value is True or _text(value) in {"1", "t", "true"}


# (kinds the controller reads it on, annotation key, does this value turn stickiness on?, what it is)
# Only keys a controller actually honours on that kind: the same key elsewhere does nothing.
_STICKY_ANNOTATIONS = (
    ({"Ingress"}, "nginx.ingress.kubernetes.io/affinity", lambda v: _text(v) == "cookie",
     "ingress-nginx cookie affinity"),
    ({"Ingress"}, "nginx.ingress.kubernetes.io/upstream-hash-by", lambda v: _text(v) != "",
     "ingress-nginx consistent hashing of requests to one pod"),
    ({"Service"}, "traefik.ingress.kubernetes.io/service.sticky.cookie", _go_true,
     "Traefik sticky cookie"),
    ({"Ingress", "Service"}, "haproxy.org/cookie-persistence", lambda v: _text(v) != "",
     "HAProxy Kubernetes Ingress cookie persistence"),
    ({"Ingress", "Service"}, "haproxy-ingress.github.io/affinity", lambda v: _text(v) == "cookie",
     "HAProxy Ingress cookie affinity"),
    ({"Ingress", "Service"}, "ingress.kubernetes.io/affinity", lambda v: _text(v) == "cookie",
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


NO_STICKY_EDGE = Rule(
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
    waiver_approver="head-of-devops",
)


# --- no-local-session-store -------------------------------------------------------------------

# env var -> {value (lower case) -> what it means}: session stores that live inside one pod.
_LOCAL_STORES = {
    "SESSION_ENGINE": {"django.contrib.sessions.backends.file": "Django file-based sessions"},
    "SESSION_TYPE": {"filesystem": "Flask-Session filesystem sessions",
                     "cachelib": "Flask-Session cachelib sessions (a local file cache by default)"},
    "SESSION_DRIVER": {"file": "Laravel file sessions", "array": "Laravel in-memory (array) sessions",
                       "apc": "Laravel APCu sessions (per-server memory)"},
    "PHP_SESSION_SAVE_HANDLER": {"files": "PHP `files` session save handler"},
    "SESSION_SAVE_HANDLER": {"files": "PHP `files` session save handler"},
    "SPRING_SESSION_STORE_TYPE": {"none": "Spring Session disabled (servlet container's in-memory sessions)"},
    "SESSION_STORE": {"memory": "express-session MemoryStore", "memorystore": "express-session MemoryStore"},
}
_DJANGO_CACHE_SESSIONS = "django.contrib.sessions.backends.cache"
_DJANGO_CACHE_VARS = ("CACHE_BACKEND", "DJANGO_CACHE_BACKEND")
_DJANGO_LOCAL_CACHES = {"django.core.cache.backends.locmem.locmemcache": "local-memory cache",
                        "django.core.cache.backends.filebased.filebasedcache": "file-based cache"}


def _literal_env(container_path, container) -> Iterator[tuple[str, Any, str]]:
    """(name, literal value or UNKNOWN, dotted path) of env entries; UNKNOWN names come as ("", UNKNOWN)."""
    for rel, entry in env_entries(container):
        path = dotted(container_path + rel)
        if entry is UNKNOWN or get(entry, "name") is UNKNOWN:
            yield "", UNKNOWN, path
            continue
        name = get(entry, "name")
        if isinstance(name, str) and isinstance(entry, dict) and "value" in entry:
            yield name, entry["value"], f"{path}.value"


def _local_session_store(manifest, _cfg):
    for path in pod_unknowns(manifest):
        yield Violation(dotted(path), "containers are unknown during preview: cannot check their "
                        "session store settings", unknown=True)
    for cpath, container in containers(manifest):
        env = {}
        for name, value, path in _literal_env(cpath, container):
            if not name:
                yield Violation(path, "env is unknown during preview: cannot check the session store",
                                unknown=True)
                continue
            env[name] = (value, path)
        for name, stores in _LOCAL_STORES.items():
            if name not in env:
                continue
            value, path = env[name]
            if value is UNKNOWN:
                yield Violation(path, f"env {name} is unknown during preview", unknown=True)
            elif _text(value) in stores:
                yield Violation(path, f"env {name}={value}: {stores[_text(value)]} keep session state "
                                "on one pod")
        yield from _django_local_cache(env)


def _django_local_cache(env) -> Iterator[Violation]:
    engine, engine_path = env.get("SESSION_ENGINE", (None, None))
    if engine is UNKNOWN or _text(engine) != _DJANGO_CACHE_SESSIONS:
        return  # an UNKNOWN engine is already reported above
    for name in _DJANGO_CACHE_VARS:
        backend, path = env.get(name, (None, None))
        if backend is UNKNOWN:
            yield Violation(path, f"env {name} is unknown during preview: cannot tell where cached "
                            "sessions live", unknown=True)
        elif _text(backend) in _DJANGO_LOCAL_CACHES:
            yield Violation(engine_path, f"env SESSION_ENGINE={engine} with {name}={backend}: Django "
                            f"cache sessions in a {_DJANGO_LOCAL_CACHES[_text(backend)]} stay on one pod")


NO_LOCAL_SESSION_STORE = Rule(
    name="no-local-session-store",
    checkov_id="CKV_STL_3",
    category="sessions",
    description=(
        "No server-local session store configured through a container's literal env values "
        "(`env[].value`; values from ConfigMaps/Secrets and settings baked into the image are not "
        "visible). Detected (values case-insensitive): Django `SESSION_ENGINE="
        "django.contrib.sessions.backends.file`, or `...backends.cache` together with `CACHE_BACKEND` / "
        "`DJANGO_CACHE_BACKEND` = `django.core.cache.backends.locmem.LocMemCache` or "
        "`...filebased.FileBasedCache` (`db`, `cached_db` and `signed_cookies` pass); Flask-Session "
        "`SESSION_TYPE` = `filesystem` or `cachelib`; Laravel `SESSION_DRIVER` = `file`, `array` or "
        "`apc`; PHP `PHP_SESSION_SAVE_HANDLER` / `SESSION_SAVE_HANDLER` = `files`; Spring "
        "`SPRING_SESSION_STORE_TYPE=none`; express-session `SESSION_STORE` = `memory` or `MemoryStore`."
    ),
    remediation="Point the framework's session store at the shared Redis session store (e.g. Django "
                "`django.contrib.sessions.backends.cache` with a Redis cache, Flask-Session `redis`, "
                "Laravel `redis`, PHP `redis`, Spring Session `redis`, express `connect-redis`), or use "
                "signed client-side cookies.",
    kinds=WORKLOAD_KINDS,
    check=_local_session_store,
)

RULES = [NO_STICKY_SERVICE, NO_STICKY_EDGE, NO_LOCAL_SESSION_STORE]
