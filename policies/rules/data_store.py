"""Data-store hygiene: Redis requires a password and stays inside the cluster; credentials come from
Secrets, never from literals in the manifest. Messages never print a credential's value."""
from __future__ import annotations

import re
import shlex
from collections.abc import Mapping
from typing import Any, Iterator

from policies.catalog import Rule, Violation
from policies.manifest import (
    UNKNOWN, WORKLOAD_KINDS, command_line, containers, dotted, env_entries, get, pod_unknowns,
    sequence, volumes,
)

# Image repositories (last path segment, tag and digest removed) that run a Redis-protocol server.
REDIS_IMAGES = frozenset({"redis", "redis-stack", "redis-stack-server", "valkey"})
REDIS_PORT = 6379
_REDIS_WORDS = frozenset({"redis", "valkey"})


def image_repository(image: Any) -> str:
    """'docker.io/bitnami/redis:7.2@sha256:..' -> 'redis'."""
    if not isinstance(image, str):
        return ""
    name = image.split("@", 1)[0].rsplit("/", 1)[-1]
    return name.split(":", 1)[0].lower()


def _tokens(container) -> Iterator[tuple[tuple, Any]]:
    """(path of the item relative to the container, token) over command + args; shell strings are split into words."""
    for rel, item in command_line(container):
        if item is UNKNOWN:
            yield rel, UNKNOWN
        elif isinstance(item, str):
            try:
                words = shlex.split(item)
            except ValueError:  # unbalanced quotes: fall back to plain words
                words = item.split()
            for word in words:
                yield rel, word
        elif item is not None:
            yield rel, str(item)


def _requirepass_values(tokens) -> Iterator[tuple[tuple, Any]]:
    """(path, value) of every `--requirepass` option ('' if it has no value)."""
    for i, (rel, token) in enumerate(tokens):
        if not isinstance(token, str):
            continue
        if token == "--requirepass":
            following = tokens[i + 1] if i + 1 < len(tokens) else (rel, "")
            yield following[0], following[1]
        elif token.startswith("--requirepass="):
            yield rel, token.split("=", 1)[1]


def _is_reference(text: str) -> bool:
    """`$(VAR)` (expanded by Kubernetes) or `$VAR` / `${VAR}` (expanded by a shell)."""
    return bool(re.fullmatch(r"\$\([A-Za-z_][A-Za-z0-9_]*\)|\$\{?[A-Za-z_][A-Za-z0-9_]*\}?", text))


# --- redis-auth -------------------------------------------------------------------------------

def _secret_backed(volume: Any) -> Any:
    if volume is UNKNOWN:
        return UNKNOWN
    if get(volume, "secret") is not None:
        return True
    sources = get(volume, "projected", "sources")
    if sources is UNKNOWN:
        return UNKNOWN
    return bool(sequence(sources)) and all(get(s, "secret") is not None for s in sequence(sources))


def _config_from_secret(manifest, container, path: str) -> Any:
    """Does the file at `path` come from a Secret volume? (by the most specific volumeMount)"""
    mounts = get(container, "volumeMounts")
    if mounts is UNKNOWN:
        return UNKNOWN
    best = None
    for mount in sequence(mounts):
        mount_path, name = get(mount, "mountPath"), get(mount, "name")
        if mount_path is UNKNOWN or name is UNKNOWN:
            return UNKNOWN
        if isinstance(mount_path, str) and (path == mount_path or path.startswith(mount_path.rstrip("/") + "/")):
            if best is None or len(mount_path) > len(best[0]):
                best = (mount_path, name)
    if best is None:
        return False
    for _, volume in volumes(manifest):
        if volume.get("name") == best[1]:
            return _secret_backed(volume)
    # not among the known volumes: unknown if the volume list is (partly) unknown, else missing
    return UNKNOWN if any(True for _ in pod_unknowns(manifest, ("volumes",))) else False


def _redis_auth_evidence(manifest, cpath, container) -> tuple[Any, str, str]:
    """(True/False/UNKNOWN, path, why) for one Redis container."""
    tokens = list(_tokens(container))
    unknown = any(t is UNKNOWN for _, t in tokens)
    for _, value in _requirepass_values(tokens):
        if value is UNKNOWN:
            unknown = True
        elif value:
            return True, "", ""
    for _, token in tokens:
        if isinstance(token, str) and token.endswith(".conf"):
            backed = _config_from_secret(manifest, container, token)
            if backed is True:
                return True, "", ""
            unknown = unknown or backed is UNKNOWN
    offending = None
    for rel, entry in env_entries(container):
        name = get(entry, "name")
        if entry is UNKNOWN or name is UNKNOWN:
            unknown = True
            continue
        if name in ("REDIS_PASSWORD", "VALKEY_PASSWORD"):
            if get(entry, "valueFrom", "secretKeyRef") is not None:
                return True, "", ""
            value = get(entry, "value")
            if value is UNKNOWN:
                unknown = True
            elif isinstance(value, str) and value:
                return True, "", ""
        if name == "ALLOW_EMPTY_PASSWORD":
            value = get(entry, "value")
            if value is True or (isinstance(value, str) and value.strip().lower() in ("yes", "true", "1")):
                offending = (dotted(cpath + rel + ("value",)), "ALLOW_EMPTY_PASSWORD=yes lets clients in "
                             "without a password")
    if offending is None:
        for i, (rel, token) in enumerate(tokens):
            following = tokens[i + 1][1] if i + 1 < len(tokens) else None
            if token == "--protected-mode" and following == "no" or token == "--protected-mode=no":
                offending = (dotted(cpath + rel), "--protected-mode no without a password accepts any client")
                break
    if unknown:
        return UNKNOWN, dotted(cpath), "its command, args, env or config volume is unknown during preview"
    if offending:
        return False, *offending
    return False, dotted(cpath + ("args",)), ("no --requirepass, no redis.conf from a Secret volume, no "
                                              "REDIS_PASSWORD from a Secret")


def _redis_auth(manifest, _cfg):
    for path in pod_unknowns(manifest, ("initContainers", "containers")):
        yield Violation(dotted(path) or "spec", f"{dotted(path) or 'the pod template'} is unknown during "
                        "preview: cannot tell whether it runs Redis without a password", unknown=True)
    for cpath, container in containers(manifest):
        image = get(container, "image")
        if image is not UNKNOWN and image_repository(image) not in REDIS_IMAGES:
            continue
        ok, path, why = _redis_auth_evidence(manifest, cpath, container)
        if ok is True:
            continue
        if image is UNKNOWN:
            yield Violation(dotted(cpath + ("image",)), f"container {container.get('name')!r}: image is unknown "
                            "during preview and no password is configured: if it runs Redis it needs auth",
                            unknown=True)
        elif ok is UNKNOWN:
            yield Violation(path, f"Redis container {container.get('name')!r}: {why}", unknown=True)
        else:
            yield Violation(path, f"Redis container {container.get('name')!r} ({image}) requires no "
                            f"password: {why}")


REDIS_AUTH = Rule(
    name="redis-auth",
    checkov_id="CKV_STL_12",
    category="data-store",
    description=(
        "A Redis container requires a password. Redis containers are those whose image repository "
        f"(last path segment, without tag or digest) is one of: {', '.join(sorted(REDIS_IMAGES))}. "
        "Accepted as auth: `--requirepass <value>` in command/args (shell strings are split into words), "
        "a `*.conf` argument whose path is mounted from a Secret volume (its content, e.g. requirepass "
        "or an ACL, is secret and not visible), or `REDIS_PASSWORD`/`VALKEY_PASSWORD` in env (Bitnami "
        "images). `ALLOW_EMPTY_PASSWORD=yes` or `--protected-mode no` without any of these is named as "
        "the cause."
    ),
    remediation="Run `redis-server /etc/redis/redis.conf` with redis.conf (containing requirepass or "
                "ACL users) mounted from a Secret, or pass `--requirepass $(REDIS_PASSWORD)` with "
                "REDIS_PASSWORD from a secretKeyRef; never set ALLOW_EMPTY_PASSWORD.",
    kinds=WORKLOAD_KINDS,
    check=_redis_auth,
)


# --- redis-not-exposed ------------------------------------------------------------------------

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


REDIS_NOT_EXPOSED = Rule(
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
)


# --- no-literal-credentials -------------------------------------------------------------------

_CREDENTIAL_NAME = re.compile(
    r"PASSWORD|PASSWD|PASSPHRASE|SECRET|TOKEN|API_?KEY|ACCESS_?KEY|PRIVATE_?KEY|CREDENTIALS?|"
    r"AUTH_?KEY|SIGNING_?KEY|ENCRYPTION_?KEY")
# Names that mention a credential but hold something else: where it lives, its id, a setting about it.
_NOT_A_CREDENTIAL_SUFFIX = frozenset({"FILE", "PATH", "DIR", "NAME", "ID", "TTL", "EXPIRY", "EXPIRES",
                                      "LENGTH", "TIMEOUT", "ENABLED", "DISABLED", "TYPE", "HEADER",
                                      "URL", "ENDPOINT", "HOST", "PORT"})
_NOT_A_CREDENTIAL_PREFIX = frozenset({"ALLOW", "ENABLE", "DISABLE", "USE", "REQUIRE", "SKIP"})
_URL_PASSWORD = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://[^/@\s:]*:(?P<password>[^/@\s]+)@")


def is_credential_name(name: str) -> bool:
    words = [w for w in re.split(r"[^A-Z0-9]+", name.upper()) if w]
    if not words or words[-1] in _NOT_A_CREDENTIAL_SUFFIX or words[0] in _NOT_A_CREDENTIAL_PREFIX:
        return False
    return bool(_CREDENTIAL_NAME.search(name.upper()))


def _literal_credentials(manifest, _cfg):
    for path in pod_unknowns(manifest):
        yield Violation(dotted(path) or "spec", f"{dotted(path) or 'the pod template'} is unknown during "
                        "preview: cannot check for literal credentials", unknown=True)
    for cpath, container in containers(manifest):
        for rel, entry in env_entries(container):
            where = dotted(cpath + rel)
            name = get(entry, "name")
            if entry is UNKNOWN or name is UNKNOWN:
                yield Violation(where, f"{where} is unknown during preview", unknown=True)
                continue
            if not isinstance(name, str) or not isinstance(entry, Mapping) or "value" not in entry:
                continue  # valueFrom (Secret/ConfigMap reference) or malformed
            value = entry["value"]
            if value is UNKNOWN:
                if is_credential_name(name):
                    yield Violation(f"{where}.value", f"env {name}: its value is unknown during preview "
                                    "(a literal value, maybe a credential)", unknown=True)
                continue
            if not isinstance(value, str) or not value.strip() or _is_reference(value.strip()):
                continue
            if is_credential_name(name):
                yield Violation(f"{where}.value", f"env {name} holds a literal credential (value not shown)")
            else:
                match = _URL_PASSWORD.match(value.strip())
                if match and not _is_reference(match["password"]):
                    yield Violation(f"{where}.value", f"env {name} is a URL with a literal password "
                                    "(value not shown)")
        tokens = list(_tokens(container))
        for rel, value in _requirepass_values(tokens):
            where = dotted(cpath + rel)
            if value is UNKNOWN:
                yield Violation(where, f"{where}: the --requirepass value is unknown during preview",
                                unknown=True)
            elif isinstance(value, str) and value and not _is_reference(value):
                yield Violation(where, f"container {container.get('name')!r} passes a literal "
                                "--requirepass password (value not shown)")


NO_LITERAL_CREDENTIALS = Rule(
    name="no-literal-credentials",
    checkov_id="CKV_STL_14",
    category="data-store",
    description=(
        "Credentials come from Secret references, never literals: fails on a non-empty literal "
        "`env[].value` whose name mentions PASSWORD, PASSWD, PASSPHRASE, SECRET, TOKEN, API_KEY, "
        "ACCESS_KEY, PRIVATE_KEY, CREDENTIAL(S), AUTH_KEY, SIGNING_KEY or ENCRYPTION_KEY (except names "
        "ending in _FILE, _PATH, _DIR, _NAME, _ID, _URL, _HOST, _PORT, _TTL, _TIMEOUT, _ENABLED, ... or "
        "starting with ALLOW_/ENABLE_/..., and values that are only a `$(VAR)` reference); on any literal "
        "env value that is a URL carrying a password (`scheme://user:pass@host`); and on "
        "`--requirepass <literal>` in command/args. Values are never printed."
    ),
    remediation="Put the value in a Kubernetes Secret and reference it with env[].valueFrom.secretKeyRef "
                "(or mount it as a file); in URLs and args use `$(VAR)` with VAR from a secretKeyRef.",
    kinds=WORKLOAD_KINDS,
    check=_literal_credentials,
)

RULES = [REDIS_AUTH, REDIS_NOT_EXPOSED, NO_LITERAL_CREDENTIALS]
