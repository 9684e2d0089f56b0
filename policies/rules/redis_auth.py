"""Rule redis-auth: a Redis container requires a password."""
from __future__ import annotations

from typing import Any

from stateless_pack.policies.manifest import (
    UNKNOWN, WORKLOAD_KINDS, containers, dotted, env_entries, get, pod_unknowns, sequence, volumes,
)
from stateless_pack.policies.rule import Rule, Violation
from stateless_pack.policies.rules.command_line import command_words, requirepass_values


# Image repositories (last path segment, tag and digest removed) that run a Redis-protocol server.
REDIS_IMAGES = frozenset({"redis", "redis-stack", "redis-stack-server", "valkey"})


def image_repository(image: Any) -> str:
    """'docker.io/bitnami/redis:7.2@sha256:..' -> 'redis'."""
    if not isinstance(image, str):
        return ""
    name = image.split("@", 1)[0].rsplit("/", 1)[-1]
    return name.split(":", 1)[0].lower()


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
    tokens = list(command_words(container))
    unknown = any(t is UNKNOWN for _, t in tokens)
    for _, value in requirepass_values(tokens):
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


RULE = Rule(
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
