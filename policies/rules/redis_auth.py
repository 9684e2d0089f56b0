"""Rule redis-auth: a Redis container requires a password."""
from __future__ import annotations

from typing import Any

from stateless_pack.policies.manifest import (
    UNKNOWN, WORKLOAD_KINDS, containers, dotted, env_entries, get, pod_unknowns, sequence, volumes,
)
from stateless_pack.policies.rule import Rule, Violation
from stateless_pack.policies.rules.command_line import command_words, requirepass_values
from stateless_pack.policies.rules.redis_containers import PASSWORD_ENV, REDIS_IMAGES, REDIS_SERVERS, runs_redis


def _secret_backed(volume: Any) -> Any:
    if volume is UNKNOWN:
        return UNKNOWN
    if get(volume, "secret") is not None:
        return True
    sources = get(volume, "projected", "sources")
    if sources is UNKNOWN:
        return UNKNOWN
    return bool(sequence(sources)) and all(get(s, "secret") is not None for s in sequence(sources))


def _volume_at(manifest, container, path: str) -> Any:
    """(name, volume) of the most specific volumeMount holding `path`; None if no mount holds it or the
    volume is missing; UNKNOWN if the mounts or volumes are unknown during preview."""
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
        return None
    for _, volume in volumes(manifest):
        if volume.get("name") == best[1]:
            return best[1], volume
    # not among the known volumes: unknown if the volume list is (partly) unknown, else missing
    return UNKNOWN if any(True for _ in pod_unknowns(manifest, ("volumes",))) else None


def _has_secret_env(container) -> Any:
    """Does the container get a value from a Secret (env valueFrom.secretKeyRef or envFrom secretRef)?"""
    unknown = False
    for _, entry in env_entries(container):
        ref = get(entry, "valueFrom", "secretKeyRef")
        if ref is not None and ref is not UNKNOWN:
            return True
        unknown = unknown or entry is UNKNOWN or ref is UNKNOWN
    env_from = get(container, "envFrom")
    for source in sequence(env_from):
        ref = get(source, "secretRef")
        if ref is not None and ref is not UNKNOWN:
            return True
        unknown = unknown or source is UNKNOWN or ref is UNKNOWN
    return UNKNOWN if unknown or env_from is UNKNOWN else False


def _written_from_secret(manifest, volume_name: str) -> Any:
    """Is the scratch volume written, before Redis starts, by an init container that holds a value from
    a Secret? (the placeholder pattern: redis.conf comes from a ConfigMap with `requirepass <placeholder>`
    and the init container writes the real password into a copy on an emptyDir)"""
    unknown = any(True for _ in pod_unknowns(manifest, ("initContainers",)))
    for cpath, init in containers(manifest):
        if cpath[-2] != "initContainers":
            continue
        mounts = get(init, "volumeMounts")
        writes = UNKNOWN if mounts is UNKNOWN else False
        for mount in sequence(mounts):
            name, read_only = get(mount, "name"), get(mount, "readOnly")
            if UNKNOWN in (name, read_only):
                writes = UNKNOWN
            elif name == volume_name and read_only is not True:
                writes = True
                break
        if writes is False:
            continue
        secret = _has_secret_env(init)
        if writes is True and secret is True:
            return True
        unknown = unknown or secret is not False
    return UNKNOWN if unknown else False


def _config_file_evidence(manifest, container, path: str) -> Any:
    """Does the config file at `path` carry a password Redis can trust (True / False / UNKNOWN)?
    A Secret volume does; so does a scratch volume an init container fills from a Secret. A ConfigMap
    never does: whatever password it holds is a literal."""
    found = _volume_at(manifest, container, path)
    if found is None or found is UNKNOWN:
        return UNKNOWN if found is UNKNOWN else False
    name, volume = found
    backed = _secret_backed(volume)
    if backed is not False:
        return backed
    if "emptyDir" in volume:
        return _written_from_secret(manifest, name)
    return False


def _password_env(container) -> tuple[Any, Any]:
    """(auth evidence True/False/UNKNOWN, (path, why) of an offending ALLOW_EMPTY_PASSWORD or None)."""
    unknown, offending = False, None
    for rel, entry in env_entries(container):
        name = get(entry, "name")
        if entry is UNKNOWN or name is UNKNOWN:
            unknown = True
            continue
        if isinstance(name, str) and name in PASSWORD_ENV:
            if get(entry, "valueFrom", "secretKeyRef") is not None:
                return True, None
            value = get(entry, "value")
            if value is UNKNOWN:
                unknown = True
            elif isinstance(value, str) and value:
                return True, None
        if name == "ALLOW_EMPTY_PASSWORD":
            value = get(entry, "value")
            if value is True or (isinstance(value, str) and value.strip().lower() in ("yes", "true", "1")):
                offending = (rel + ("value",), "ALLOW_EMPTY_PASSWORD=yes lets clients in without a password")
    return (UNKNOWN if unknown else False), offending


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
            backed = _config_file_evidence(manifest, container, token)
            if backed is True:
                return True, "", ""
            unknown = unknown or backed is UNKNOWN
    from_env, offending = _password_env(container)
    if from_env is True:
        return True, "", ""
    unknown = unknown or from_env is UNKNOWN
    if offending is None:
        for i, (rel, token) in enumerate(tokens):
            following = tokens[i + 1][1] if i + 1 < len(tokens) else None
            if token == "--protected-mode" and following == "no" or token == "--protected-mode=no":
                offending = (rel, "--protected-mode no without a password accepts any client")
                break
    if unknown:
        return UNKNOWN, dotted(cpath), "its command, args, env or config volume is unknown during preview"
    if offending:
        return False, dotted(cpath + offending[0]), offending[1]
    return False, dotted(cpath + ("args",)), ("no --requirepass, no redis.conf from a Secret volume (or "
                                              "written by an init container from a Secret), no "
                                              "password env (REDIS_PASSWORD, ...) from a Secret")


def _redis_auth(manifest, _cfg):
    for path in pod_unknowns(manifest, ("initContainers", "containers")):
        yield Violation(dotted(path) or "spec", f"{dotted(path) or 'the pod template'} is unknown during "
                        "preview: cannot tell whether it runs Redis without a password", unknown=True)
    for cpath, container in containers(manifest):
        redis, how = runs_redis(container)
        if redis is False:
            continue
        ok, path, why = _redis_auth_evidence(manifest, cpath, container)
        if ok is True:
            continue
        name = container.get("name")
        if redis is UNKNOWN:
            yield Violation(dotted(cpath), f"container {name!r}: whether it runs Redis (its image, command or "
                            "ports) is unknown during preview and no password is configured: if it runs "
                            "Redis it needs auth", unknown=True)
        elif ok is UNKNOWN:
            yield Violation(path, f"Redis container {name!r}: {why}", unknown=True)
        else:
            yield Violation(path, f"Redis container {name!r} ({how}) requires no password: {why}")


RULE = Rule(
    name="redis-auth",
    checkov_id="CKV_STL_12",
    category="data-store",
    description=(
        "A Redis container (or one of a Redis-compatible server: Valkey, KeyDB, Dragonfly) requires a "
        "password. A container runs Redis when its command or args "
        f"start {', '.join(sorted(REDIS_SERVERS))} (not as a `-h` host value), when it declares "
        "containerPort 6379 (except an HAProxy image: a TCP proxy whose clients the Redis behind it "
        "authenticates), or when it keeps the image's own command and its image repository (last path "
        f"segment, without tag or digest) is one of: {', '.join(sorted(REDIS_IMAGES))}. Clients and "
        "exporters are none of these. Accepted as auth: `--requirepass <value>` in command/args (shell "
        "strings are split into words); a `*.conf` argument whose path is mounted from a Secret volume "
        "(its content, e.g. requirepass or an ACL, is secret and not visible), or from an `emptyDir` "
        "that an init container writes while holding a value from a Secret (env `secretKeyRef` or "
        "`envFrom` secretRef: the HA pattern that fills a ConfigMap's `requirepass <placeholder>` "
        f"before start); {'/'.join(f'`{n}`' for n in sorted(PASSWORD_ENV))} in env (Bitnami images, "
        "Dragonfly's flag from env). A `*.conf` read "
        "straight from a ConfigMap is never accepted. `ALLOW_EMPTY_PASSWORD=yes` or `--protected-mode "
        "no` without any of these is named as the cause."
    ),
    remediation="Run `redis-server /etc/redis/redis.conf` with redis.conf (containing requirepass or "
                "ACL users) mounted from a Secret, or pass `--requirepass $(REDIS_PASSWORD)` with "
                "REDIS_PASSWORD from a secretKeyRef; never set ALLOW_EMPTY_PASSWORD.",
    kinds=WORKLOAD_KINDS,
    check=_redis_auth,
)
