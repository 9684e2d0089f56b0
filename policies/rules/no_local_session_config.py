"""Rule no-local-session-config (stack): no server-local session store set in ConfigMaps and Secrets a pod reads.

A stack rule: the settings live in other resources of the same stack or scan (ConfigMaps, Secrets),
which a rule over one manifest (and so Checkov) never sees. Literal env values stay with the resource
rule no-local-session-store; a finding here always involves a value from a ConfigMap or Secret, so
the two never report the same thing.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Iterator

from stateless_pack.policies.manifest import (
    CONTAINER_FIELDS, UNKNOWN, WORKLOAD_KINDS, containers, dotted, env_entries, get, kind_of, sequence, volumes,
)
from stateless_pack.policies.rule import Rule, Violation
from stateless_pack.policies.rules.config_sources import ConfigSources
from stateless_pack.policies.rules.pod_unknowns import unknown_pod
from stateless_pack.policies.rules.replica_indexes import namespace_or_unknown
from stateless_pack.policies.rules.session_files import file_format, session_file_findings
from stateless_pack.policies.rules.session_settings import Setting, local_stores

_ENV_FROM = (("ConfigMap", "configMapRef"), ("Secret", "secretRef"))
_KEY_REFS = (("ConfigMap", "configMapKeyRef"), ("Secret", "secretKeyRef"))


def _unknown(where: str, what: str) -> Violation:
    return Violation(where, f"{what} is unknown during preview: cannot check the session settings it "
                     "configures", unknown=True)


def _env_from(cpath, container, namespace, sources, env: dict) -> Iterator[Violation]:
    """Fill `env` from the container's envFrom ConfigMaps and Secrets (later entries win)."""
    if get(container, "envFrom") is UNKNOWN:
        yield _unknown(dotted(cpath + ("envFrom",)), "envFrom")
    for j, ref in enumerate(sequence(get(container, "envFrom"))):
        where = dotted(cpath + ("envFrom", j))
        for kind, field in _ENV_FROM:
            target, prefix = get(ref, field), get(ref, "prefix", default="")
            if target is None:
                continue
            name = get(target, "name")
            data = UNKNOWN if UNKNOWN in (ref, prefix) else sources.data(kind, namespace, name)
            if data is UNKNOWN:
                yield _unknown(where, f"{where} ({kind} {name!r} or its data)")
            elif data is not None:
                prefix = prefix if isinstance(prefix, str) else ""
                env.update((f"{prefix}{key}", Setting(value, where, f"{kind} {name!r} through envFrom"))
                           for key, value in data.items() if isinstance(key, str))


def _key_ref(entry, where: str, namespace, sources) -> Setting:
    """The value an env entry takes from a ConfigMap or Secret key (None when it is not visible)."""
    for kind, field in _KEY_REFS:
        ref = get(entry, "valueFrom", field)
        if ref is None:
            continue
        name, key = get(ref, "name"), get(ref, "key")
        data = UNKNOWN if ref is UNKNOWN else sources.data(kind, namespace, name)
        source = f"{kind} {name!r} key {key!r}"
        if data is UNKNOWN or (data is not None and key is UNKNOWN):
            return Setting(UNKNOWN, where, source)
        if isinstance(data, Mapping) and isinstance(key, str):
            return Setting(data.get(key), where, source)
    return Setting(UNKNOWN if get(entry, "valueFrom") is UNKNOWN else None, where, "valueFrom")


def _effective_env(cpath, container, namespace, sources) -> tuple[dict, list]:
    """(name -> Setting as the container sees it, unknowns): envFrom first, then env overrides it."""
    env: dict = {}
    unknowns = list(_env_from(cpath, container, namespace, sources, env))
    for rel, entry in env_entries(container):
        name, where = get(entry, "name"), dotted(cpath + rel)
        if not isinstance(name, str):
            continue  # an unknown entry is no-local-session-store's to report
        if isinstance(entry, Mapping) and "value" in entry:
            env[name] = Setting(entry["value"], f"{where}.value")
        else:
            env[name] = _key_ref(entry, f"{where}.valueFrom", namespace, sources)
    return env, unknowns


def _volume_sources(vpath, volume) -> Iterator[tuple[tuple, str, Any, Any]]:
    """(path, kind, name, items) of every ConfigMap and Secret a volume projects into the pod."""
    for kind, field, name_field in (("ConfigMap", "configMap", "name"), ("Secret", "secret", "secretName")):
        if volume.get(field) is not None:
            source = volume[field]
            yield vpath + (field,), kind, get(source, name_field), get(source, "items")
    sources = get(volume, "projected", "sources")
    for k, source in enumerate(sequence(sources)):
        for kind, field in (("ConfigMap", "configMap"), ("Secret", "secret")):
            if get(source, field) is not None:
                projected = get(source, field)
                yield (vpath + ("projected", "sources", k, field), kind, get(projected, "name"),
                       get(projected, "items"))


def _files(items, data: Mapping) -> Any:
    """[(file name, key)] the volume shows; UNKNOWN if its `items` are unknown during preview."""
    if items is UNKNOWN or any(UNKNOWN in (i, get(i, "key"), get(i, "path")) for i in sequence(items)):
        return UNKNOWN
    if sequence(items):
        return [(str(get(i, "path")).rsplit("/", 1)[-1], get(i, "key")) for i in sequence(items)]
    return [(key, key) for key in data if isinstance(key, str)]


def _file_messages(kind, name, files, data) -> Iterator[tuple[str, bool]]:
    for file_name, key in files:
        text = data.get(key) if isinstance(key, str) else None
        if file_format(file_name) is None or text is None:
            continue
        where = f"{kind} {name!r} key {key!r} (mounted as {file_name})"
        if text is UNKNOWN:
            yield f"{where} is unknown during preview", True
        elif isinstance(text, str):
            yield from ((f"{where}: {message}", False) for message in session_file_findings(file_name, text))


def _mounted_files(manifest, namespace, sources) -> Iterator[Violation]:
    for vpath, volume in volumes(manifest):
        for path, kind, name, items in _volume_sources(vpath, volume):
            data = sources.data(kind, namespace, name, files=True)
            files = UNKNOWN if data is UNKNOWN else _files(items, data) if data is not None else []
            if files is UNKNOWN:
                yield _unknown(dotted(path), f"{kind} {name!r} (its data or the files it mounts)")
                continue
            for message, unknown in _file_messages(kind, name, files, data):
                yield Violation(dotted(path), message, unknown=unknown)


def _merged(violations: list[Violation]) -> Iterator[Violation]:
    """One violation per path: the definite ones joined, else the unknown ones (several settings can
    come through one envFrom entry or one volume)."""
    by_path: dict = {}
    for v in violations:
        by_path.setdefault(v.path, []).append(v)
    for path, found in by_path.items():
        definite = [v.message for v in found if not v.unknown]
        messages = definite or [v.message for v in found]
        yield Violation(path, "; ".join(dict.fromkeys(messages)), unknown=not definite)


def _workload(manifest, sources) -> Iterator[Violation]:
    namespace = namespace_or_unknown(manifest)
    found = list(unknown_pod(manifest, CONTAINER_FIELDS + ("volumes",), "session settings from ConfigMaps "
                             "and Secrets"))
    for cpath, container in containers(manifest):
        env, unknowns = _effective_env(cpath, container, namespace, sources)
        found += unknowns
        found += [Violation(s.path, f"env {s.message}", unknown=s.unknown)
                  for s in local_stores(env) if any(s.sources)]
    found += _mounted_files(manifest, namespace, sources)
    yield from _merged(found)


def _local_session_config(manifests, _cfg) -> Iterator[tuple[int, Violation]]:
    docs = sequence(manifests)
    sources = ConfigSources(docs)
    if not sources:
        return  # no ConfigMap or Secret in the stack: nothing here can configure a session store
    for i, doc in enumerate(docs):
        if kind_of(doc) in WORKLOAD_KINDS:
            yield from ((i, v) for v in _workload(doc, sources))


RULE = Rule(
    name="no-local-session-config",
    checkov_id="CKV_STL_17",
    category="sessions",
    description=(
        "No server-local session store configured through ConfigMaps or Secrets of the same stack or "
        "scan: in every container, init container and native sidecar, the env a container sees "
        "(`envFrom` ConfigMaps and Secrets, with their `prefix`, then `env` entries that override them, "
        "including `configMapKeyRef`/`secretKeyRef` values) is judged like no-local-session-store's "
        "literal env; and framework config files mounted from a ConfigMap or Secret (volume or "
        "projected source, `items` paths respected) are read by their format: PHP `*.ini` "
        "(`session.save_handler = files`), Spring Boot `application*.properties` / "
        "`application*.yml|yaml` (`spring.session.store-type=none`, "
        "`server.servlet.session.persistent=true`), Django/Flask `*.py` settings (`SESSION_ENGINE`, "
        "`SESSION_TYPE`, `CACHES` local-memory or file cache behind cache sessions), Tomcat `*.xml` "
        "(`PersistentManager` whose `Store` is not `JDBCStore`/`DataSourceStore`), ASP.NET Core "
        "`appsettings*.json` (a `DistributedCache`/`Session` section whose `Provider`/`Type`/`Mode` is "
        "`Memory`/`InMemory`; ABP `Redis:IsEnabled=false`) and dotenv `.env` files. A mounted file "
        "of one of these formats that does not parse fails too: it cannot be checked. ConfigMaps and "
        "Secrets made outside the stack or scan are not visible."
    ),
    remediation="Point the framework's session store at the shared Redis session store in the "
                "ConfigMap, Secret or config file (PHP `session.save_handler = redis`, Spring Session "
                "`redis`/`jdbc`, Django cache sessions on a Redis cache, Tomcat `JDBCStore` or a Redis "
                "session manager, ASP.NET `AddStackExchangeRedisCache`), or use signed client-side cookies.",
    kinds=frozenset({*WORKLOAD_KINDS, "ConfigMap", "Secret"}),
    check=_local_session_config,
    stack=True,
)
