"""Rule no-local-session-store: no server-local session store configured through literal env values."""
from __future__ import annotations

from typing import Iterator

from stateless_pack.policies.manifest import (
    UNKNOWN, WORKLOAD_KINDS, containers, dotted, env_entries, get, pod_unknowns,
)
from stateless_pack.policies.rule import Rule, Violation
from stateless_pack.policies.rules.session_settings import Setting, local_stores


def _literal_env(container_path, container) -> Iterator[tuple[str, Setting]]:
    """(name, Setting) of the container's literal env values, in order; an entry whose name is unknown
    during preview comes as ("", Setting(UNKNOWN, path))."""
    for rel, entry in env_entries(container):
        path = dotted(container_path + rel)
        if entry is UNKNOWN or get(entry, "name") is UNKNOWN:
            yield "", Setting(UNKNOWN, path)
            continue
        name = get(entry, "name")
        if isinstance(name, str) and isinstance(entry, dict) and "value" in entry:
            yield name, Setting(entry["value"], f"{path}.value")


def _local_session_store(manifest, _cfg):
    for path in pod_unknowns(manifest):
        yield Violation(dotted(path), "containers are unknown during preview: cannot check their "
                        "session store settings", unknown=True)
    for cpath, container in containers(manifest):
        env = {}
        for name, setting in _literal_env(cpath, container):
            if not name:
                yield Violation(setting.path, "env is unknown during preview: cannot check the session store",
                                unknown=True)
            else:
                env[name] = setting
        for store in local_stores(env):
            yield Violation(store.path, f"env {store.message}", unknown=store.unknown)


RULE = Rule(
    name="no-local-session-store",
    checkov_id="CKV_STL_3",
    category="sessions",
    description=(
        "No server-local session store configured through a container's literal env values "
        "(`env[].value`, in every container, init container and native sidecar; values from "
        "ConfigMaps and Secrets and framework config files are judged by no-local-session-config, "
        "settings baked into the image are not visible). Detected (values case-insensitive): Django "
        "`SESSION_ENGINE=django.contrib.sessions.backends.file`, or `...backends.cache` together with "
        "`CACHE_BACKEND` / `DJANGO_CACHE_BACKEND` = `django.core.cache.backends.locmem.LocMemCache` or "
        "`...filebased.FileBasedCache` (`db`, `cached_db` and `signed_cookies` pass); Flask-Session "
        "`SESSION_TYPE` = `filesystem` or `cachelib`; Laravel `SESSION_DRIVER` = `file`, `array` or "
        "`apc`; PHP `PHP_SESSION_SAVE_HANDLER` / `SESSION_SAVE_HANDLER` = `files`; Spring "
        "`SPRING_SESSION_STORE_TYPE=none` or `SERVER_SERVLET_SESSION_PERSISTENT=true`; express-session "
        "`SESSION_STORE` = `memory` or `MemoryStore`."
    ),
    remediation="Point the framework's session store at the shared Redis session store (e.g. Django "
                "`django.contrib.sessions.backends.cache` with a Redis cache, Flask-Session `redis`, "
                "Laravel `redis`, PHP `redis`, Spring Session `redis`, express `connect-redis`), or use "
                "signed client-side cookies.",
    kinds=WORKLOAD_KINDS,
    check=_local_session_store,
    judges_partial_manifests=True,  # flags only what a manifest contains
)
