"""Rule no-local-session-config (stack): no server-local session store set in ConfigMaps and Secrets a pod reads.

A stack rule: the settings live in other resources of the same stack or scan (ConfigMaps, Secrets),
which a rule over one manifest (and so Checkov) never sees. Literal env values and the command line
stay with the resource rule no-local-session-store; a finding here always involves a ConfigMap or
Secret, so the two never report the same thing.

A ConfigMap or Secret that is not in the input cannot be checked, so it does not pass: every
envFrom source, a key reference under a session setting's name and a volume that mounts a session
config file are findings of their own, unless the `externalSources` setting names them (objects
made elsewhere that the platform team vouches for).
"""
from __future__ import annotations

import fnmatch
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Iterator

from stateless_pack.policies.manifest import (
    CONTAINER_FIELDS, UNKNOWN, WORKLOAD_KINDS, carries_pod_template, containers, dotted, env_entries, get, sequence,
    volumes,
)
from stateless_pack.policies.rule import Rule, Violation
from stateless_pack.policies.rules.config_sources import ConfigSources
from stateless_pack.policies.rules.pod_unknowns import unknown_pod
from stateless_pack.policies.rules.replica_indexes import namespace_or_unknown
from stateless_pack.policies.rules.session_files import file_format, session_file_findings
from stateless_pack.policies.rules.session_settings import Setting, is_session_setting, local_stores

_ENV_FROM = (("ConfigMap", "configMapRef"), ("Secret", "secretRef"))
_KEY_REFS = (("ConfigMap", "configMapKeyRef"), ("Secret", "secretKeyRef"))


@dataclass(frozen=True)
class _Elsewhere:
    """The value of a key reference to a ConfigMap or Secret that is not in the input."""
    kind: str
    name: str


def _unknown(where: str, what: str) -> Violation:
    return Violation(where, f"{what} is unknown during preview: cannot check the session settings it "
                     "configures", unknown=True)


def _not_in_input(where: str, kind: str, name: str, what: str) -> Violation:
    return Violation(where, f"{kind} {name!r} is not in the stack or scan: {what} cannot be verified "
                     "(add it to the input, or name it in this rule's externalSources setting)")


@dataclass(frozen=True)
class _Lookup:
    """The ConfigMaps and Secrets one workload's namespace can read."""
    sources: ConfigSources
    namespace: Any
    external: tuple  # `Kind/namespace/name` patterns of objects made elsewhere, vouched for

    def data(self, kind: str, name: Any, files: bool = False) -> Any:
        return self.sources.data(kind, self.namespace, name, files)

    def missing(self, kind: str, name: Any, data: Any) -> bool:
        """Is this a named object the input lacks, and not one vouched for?"""
        if data is not None or not isinstance(name, str) or not isinstance(self.namespace, str):
            return False
        return not any(fnmatch.fnmatchcase(f"{kind}/{self.namespace}/{name}", p) for p in self.external)


def _env_from(cpath, container, lookup: _Lookup, env: dict) -> Iterator[Violation]:
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
            data = UNKNOWN if UNKNOWN in (ref, prefix) else lookup.data(kind, name)
            if data is UNKNOWN:
                yield _unknown(where, f"{where} ({kind} {name!r} or its data)")
            elif lookup.missing(kind, name, data):
                yield _not_in_input(where, kind, name, "the env it gives the container through envFrom")
            elif data is not None:
                prefix = prefix if isinstance(prefix, str) else ""
                env.update((f"{prefix}{key}", Setting(value, where, f"{kind} {name!r} through envFrom"))
                           for key, value in data.items() if isinstance(key, str))


def _key_ref(entry, where: str, lookup: _Lookup) -> Setting:
    """The value an env entry takes from a ConfigMap or Secret key (None when it is not visible,
    `_Elsewhere` when the object is not in the input)."""
    for kind, field in _KEY_REFS:
        ref = get(entry, "valueFrom", field)
        if ref is None:
            continue
        name, key = get(ref, "name"), get(ref, "key")
        data = UNKNOWN if ref is UNKNOWN else lookup.data(kind, name)
        source = f"{kind} {name!r} key {key!r}"
        if data is UNKNOWN or (data is not None and key is UNKNOWN):
            return Setting(UNKNOWN, where, source)
        if lookup.missing(kind, name, data):
            return Setting(_Elsewhere(kind, name), where, source)
        if isinstance(data, Mapping) and isinstance(key, str):
            return Setting(data.get(key), where, source)
    return Setting(UNKNOWN if get(entry, "valueFrom") is UNKNOWN else None, where, "valueFrom")


def _effective_env(cpath, container, lookup: _Lookup) -> tuple[dict, list]:
    """(name -> Setting as the container sees it, findings about its sources): envFrom first, then
    env overrides it."""
    env: dict = {}
    found = list(_env_from(cpath, container, lookup, env))
    for rel, entry in env_entries(container):
        name, where = get(entry, "name"), dotted(cpath + rel)
        if not isinstance(name, str):
            continue  # an unknown entry is no-local-session-store's to report
        if isinstance(entry, Mapping) and "value" in entry:
            env[name] = Setting(entry["value"], f"{where}.value")
        else:
            env[name] = _key_ref(entry, f"{where}.valueFrom", lookup)
    for name, setting in env.items():
        if isinstance(setting.value, _Elsewhere) and is_session_setting(name):
            found.append(_not_in_input(setting.path, setting.value.kind, setting.value.name,
                                       f"the {name} it gives the container"))
    return {name: s for name, s in env.items() if not isinstance(s.value, _Elsewhere)}, found


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


def _volume_files(items, keys) -> Any:
    """[(path in the volume, key)] a source shows; UNKNOWN if its `items` are unknown during preview."""
    if items is UNKNOWN or any(UNKNOWN in (i, get(i, "key"), get(i, "path")) for i in sequence(items)):
        return UNKNOWN
    if sequence(items):
        return [(str(get(i, "path")).strip("/"), get(i, "key")) for i in sequence(items)]
    return [(key, key) for key in keys if isinstance(key, str)]


def _mounts(manifest) -> dict:
    """volume name -> [(mountPath, subPath or None)] over every container of the pod (only those
    whose paths are known: an unknown or expanded subPath shows the files under their own names)."""
    found: dict = {}
    for _, container in containers(manifest):
        for mount in sequence(get(container, "volumeMounts")):
            name, mount_path, sub_path = get(mount, "name"), get(mount, "mountPath"), get(mount, "subPath")
            if isinstance(name, str) and isinstance(mount_path, str) and get(mount, "subPathExpr") is None and (
                    sub_path is None or isinstance(sub_path, str)):
                found.setdefault(name, []).append((mount_path.rstrip("/"), sub_path or None))
    return found


def _seen_at(files: list, mounts: list) -> list:
    """[(path a container reads the file at, key)]: the mount paths of the volume's files, or their
    paths in the volume when no container mounts it."""
    if not mounts:
        return files
    seen = []
    for mount_path, sub_path in mounts:
        for rel, key in files:
            if sub_path is None:
                seen.append((f"{mount_path}/{rel}", key))
            elif rel == sub_path or rel.startswith(f"{sub_path}/"):
                seen.append((mount_path + rel[len(sub_path):], key))
    # once each, in order; a key may be any YAML value (a list is not hashable): told apart by its repr
    return list({(path, key if isinstance(key, str) else ("not a string", repr(key))): (path, key)
                 for path, key in seen}.values())


def _file_messages(kind, name, files, data) -> Iterator[tuple[str, bool]]:
    for path, key in files:
        text = data.get(key) if isinstance(key, str) else None
        if file_format(path) is None or text is None:
            continue
        where = f"{kind} {name!r} key {key!r} (mounted as {path})"
        if text is UNKNOWN:
            yield f"{where} is unknown during preview", True
        elif isinstance(text, str):
            yield from ((f"{where}: {message}", False) for message in session_file_findings(path, text))


def _config_files_shown(items, mounts: list) -> list:
    """The session config files a volume from an object not in the input shows: only the names its
    `items` and the mounts' subPaths give are known."""
    shown = _volume_files(items, [sub for _, sub in mounts if sub and "/" not in sub])
    return [] if shown is UNKNOWN else [path for path, _ in _seen_at(shown, mounts) if file_format(path)]


def _mounted_files(manifest, lookup: _Lookup) -> Iterator[Violation]:
    mounts = _mounts(manifest)
    for vpath, volume in volumes(manifest):
        volume_mounts = mounts.get(volume.get("name"), []) if isinstance(volume.get("name"), str) else []
        for path, kind, name, items in _volume_sources(vpath, volume):
            data = lookup.data(kind, name, files=True)
            if lookup.missing(kind, name, data):
                config = _config_files_shown(items, volume_mounts)
                if config:
                    yield _not_in_input(dotted(path), kind, name, f"the config files it mounts ({', '.join(config)})")
                continue
            files = UNKNOWN if data is UNKNOWN else _volume_files(items, data) if data is not None else []
            if files is UNKNOWN:
                yield _unknown(dotted(path), f"{kind} {name!r} (its data or the files it mounts)")
                continue
            for message, unknown in _file_messages(kind, name, _seen_at(files, volume_mounts), data):
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


def _workload(manifest, sources, external) -> Iterator[Violation]:
    lookup = _Lookup(sources, namespace_or_unknown(manifest), tuple(external))
    found = list(unknown_pod(manifest, CONTAINER_FIELDS + ("volumes",), "session settings from ConfigMaps "
                             "and Secrets"))
    for cpath, container in containers(manifest):
        env, about_sources = _effective_env(cpath, container, lookup)
        found += about_sources
        found += [Violation(s.path, f"env {s.message}", unknown=s.unknown)
                  for s in local_stores(env) if any(s.sources)]
    found += _mounted_files(manifest, lookup)
    yield from _merged(found)


def _local_session_config(manifests, cfg) -> Iterator[tuple[int, Violation]]:
    docs = sequence(manifests)
    sources = ConfigSources(docs)
    external = [p for p in sequence(cfg.get("externalSources")) if isinstance(p, str)]
    for i, doc in enumerate(docs):
        if carries_pod_template(doc):
            yield from ((i, v) for v in _workload(doc, sources, external))


RULE = Rule(
    name="no-local-session-config",
    checkov_id="CKV_STL_17",
    category="sessions",
    description=(
        "No server-local session store configured through ConfigMaps or Secrets of the same stack or "
        "scan: in every container, init container and native sidecar, the env a container sees "
        "(`envFrom` ConfigMaps and Secrets, with their `prefix`, then `env` entries that override them, "
        "including `configMapKeyRef`/`secretKeyRef` values) is judged like no-local-session-store's "
        "literal env (JVM options and SPRING_APPLICATION_JSON included); and framework config files "
        "mounted from a ConfigMap or Secret (volume or projected source, `items` paths respected) are "
        "read by their format, judged by the path the container reads them at (mountPath, subPath) or, "
        "unmounted, by their name: PHP `*.ini` (`session.save_handler = files`, also as "
        "`php_value[...]`/`php_admin_value[...]`), PHP-FPM pools (`php-fpm.d/*.conf`, `pool.d/*.conf`, "
        "`www.conf`: the same directives and `env[SESSION_DRIVER]`), Spring Boot "
        "`application*`/`bootstrap*` `.properties` / `.yml|yaml` (`spring.session.store-type=none`, "
        "`server.servlet.session.persistent=true`), Django/Flask `*.py` settings (`SESSION_ENGINE`, "
        "`SESSION_TYPE`, `CACHES` local-memory or file cache behind cache sessions), Tomcat `*.xml` "
        "(`PersistentManager` whose `Store` is not `JDBCStore`/`DataSourceStore`), ASP.NET Core "
        "`appsettings*.json` (a `DistributedCache`/`Session` section whose `Provider`/`Type`/`Mode` is "
        "`Memory`/`InMemory`; ABP `Redis:IsEnabled=false`) and dotenv `.env` files. A mounted file "
        "of one of these formats that does not parse fails too: it cannot be checked. A ConfigMap or "
        "Secret that is not in the stack or scan fails as cannot be verified (optional ones too) where "
        "it could set a session store: every `envFrom` source, a key reference under a session "
        "setting's name, a volume that mounts a config file of these formats; not a key reference "
        "under another name (a password, a host) nor a folder of unknown files. The ConfigMap and "
        "Secret an ObjectBucketClaim's provisioner makes and the Secret a COSI BucketAccess names "
        "count as in the input. `externalSources` names objects made elsewhere that hold no session "
        "settings."
    ),
    remediation="Point the framework's session store at the shared Redis session store in the "
                "ConfigMap, Secret or config file (PHP `session.save_handler = redis`, Spring Session "
                "`redis`/`jdbc`, Django cache sessions on a Redis cache, Tomcat `JDBCStore` or a Redis "
                "session manager, ASP.NET `AddStackExchangeRedisCache`), or use signed client-side cookies. "
                "For a ConfigMap or Secret made outside the stack or scan, add it to the input or list it "
                "in `externalSources`.",
    kinds=frozenset({*WORKLOAD_KINDS, "ConfigMap", "Secret", "ObjectBucketClaim", "BucketAccess"}),
    check=_local_session_config,
    stack=True,
    config_schema={
        "externalSources": {
            "type": "array", "items": {"type": "string"}, "default": [],
            "description": "ConfigMaps and Secrets made outside the stack or scan that hold no session "
                           "settings, as `Kind/namespace/name` patterns (`*` matches anything, e.g. "
                           "`Secret/*/db-credentials`); any other object a pod reads that is not in the "
                           "input fails as cannot be verified"},
    },
)
