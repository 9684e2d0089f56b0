"""Rule no-local-session-store: no server-local session store configured through env."""
from __future__ import annotations

from typing import Any, Iterator

from stateless_pack.policies.manifest import (
    UNKNOWN, WORKLOAD_KINDS, containers, dotted, env_entries, get, lower_text, pod_unknowns,
)
from stateless_pack.policies.rule import Rule, Violation


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
            elif lower_text(value) in stores:
                yield Violation(path, f"env {name}={value}: {stores[lower_text(value)]} keep session state "
                                "on one pod")
        yield from _django_local_cache(env)


def _django_local_cache(env) -> Iterator[Violation]:
    engine, engine_path = env.get("SESSION_ENGINE", (None, None))
    if engine is UNKNOWN or lower_text(engine) != _DJANGO_CACHE_SESSIONS:
        return  # an UNKNOWN engine is already reported above
    for name in _DJANGO_CACHE_VARS:
        backend, path = env.get(name, (None, None))
        if backend is UNKNOWN:
            yield Violation(path, f"env {name} is unknown during preview: cannot tell where cached "
                            "sessions live", unknown=True)
        elif lower_text(backend) in _DJANGO_LOCAL_CACHES:
            yield Violation(engine_path, f"env SESSION_ENGINE={engine} with {name}={backend}: Django "
                            f"cache sessions in a {_DJANGO_LOCAL_CACHES[lower_text(backend)]} stay on one pod")


RULE = Rule(
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
    judges_partial_manifests=True,  # flags only what a manifest contains
)
